package main

import (
	"flag"
	"fmt"

	"github.com/warden-dev/warden/agent"
)

func init() {
	register("version", command{usage: "[--json]", help: "print the version, commit, Go version and protocol version (also warden --version)", run: runVersion})
}

func runVersion(args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	b := agent.BuildInfo()
	if *asJSON {
		return printJSON(struct {
			Version   string `json:"version"`
			Commit    string `json:"commit"`
			Modified  bool   `json:"modified"`
			GoVersion string `json:"go_version"`
			Protocol  int    `json:"protocol"`
		}{b.Version, b.Commit, b.Modified, b.GoVersion, b.Protocol})
	}
	commit := b.Commit
	switch {
	case commit == "":
		commit = "unknown"
	case b.Modified:
		commit += " (modified)"
	}
	fmt.Printf("warden %s\ncommit    %s\ngo        %s\nprotocol  %d\n", b.Version, commit, b.GoVersion, b.Protocol)
	return nil
}
