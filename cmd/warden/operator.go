package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"

	warden "github.com/warden-dev/warden/clients/go"
)

func init() {
	register("members", command{usage: "[--json]", help: "list the cluster's agents", run: runMembers})
	register("status", command{usage: "[--json]", help: "show this agent's Raft state", run: runStatus})
}

func runMembers(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("members", flag.ContinueOnError)
	cf.register(fs)
	cf.noSession = true
	asJSON := fs.Bool("json", false, "print JSON")
	return cf.run(fs, args, 0, 0, func(ctx context.Context, cl *warden.Client) error {
		members, err := cl.Members(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(members)
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tADDRESS\tROLE\tSTATUS\tRAFT")
		for _, m := range members {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", m.Name, m.Addr, m.Role, m.Status, m.Suffrage)
		}
		return w.Flush()
	})
}

func runStatus(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	cf.register(fs)
	cf.noSession = true
	asJSON := fs.Bool("json", false, "print JSON")
	return cf.run(fs, args, 0, 0, func(ctx context.Context, cl *warden.Client) error {
		st, err := cl.Status(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(st)
		}
		fmt.Printf("node           %s\nrole           %s\nraft state     %s\nleader         %s\nterm           %d\ncommit index   %d\napplied index  %d\nsessions       %d\nznodes         %d\n",
			st.Node, st.Role, st.State, st.Leader, st.Term, st.CommitIndex, st.AppliedIndex, st.Sessions, st.Znodes)
		return nil
	})
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
