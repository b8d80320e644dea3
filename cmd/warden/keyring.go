package main

import (
	"flag"
	"fmt"
	"os"
	"text/tabwriter"

	warden "github.com/warden-dev/warden/clients/go"
)

func init() {
	register("keyring", command{
		usage: "--list | --install KEY | --use KEY | --remove KEY [--socket PATH]",
		help:  "rotate the gossip encryption keys of every agent",
		run:   runKeyring,
		long:  keyringHelp,
	})
}

const keyringHelp = `Manage the gossip encryption keys (--encrypt) of every agent in the cluster,
through the local agent. Each request reaches every alive agent; one that
refuses or does not answer is reported, and the command exits 1. Every
agent keeps its keys in DATA_DIR/serf.keyring, so a restarted agent has
them. The agents must run with --encrypt; only the agent's own user or
root may do this.

To rotate the key:
  warden keyring --install NEW   # every agent accepts NEW as well
  warden keyring --use NEW       # every agent encrypts with NEW
  warden keyring --remove OLD    # every agent forgets OLD
  warden keyring --list          # check: only NEW, primary on every agent
`

func runKeyring(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("keyring", flag.ContinueOnError)
	cf.register(fs)
	cf.noSession = true
	list := fs.Bool("list", false, "list the keys every agent holds, and which it encrypts with (primary)")
	install := fs.String("install", "", "add KEY (base64, from warden keygen) to every agent's keyring")
	use := fs.String("use", "", "make KEY, installed on every agent, the key they encrypt with")
	remove := fs.String("remove", "", "remove KEY from every agent's keyring (not the primary key)")
	if err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	chosen := 0
	for _, set := range []bool{*list, *install != "", *use != "", *remove != ""} {
		if set {
			chosen++
		}
	}
	if chosen != 1 {
		return usagef("give exactly one of --list, --install KEY, --use KEY and --remove KEY")
	}
	cl, ctx, closeConn, err := cf.dial()
	if err != nil {
		return err
	}
	defer closeConn()
	return cf.explain(func() error {
		var res *warden.KeyringResult
		var err error
		var done string
		switch {
		case *list:
			res, err = cl.ListKeys(ctx)
		case *install != "":
			res, err = cl.InstallKey(ctx, *install)
			done = "installed the key"
		case *use != "":
			res, err = cl.UseKey(ctx, *use)
			done = "made the key primary"
		default:
			res, err = cl.RemoveKey(ctx, *remove)
			done = "removed the key"
		}
		if err != nil {
			return err
		}
		if *list {
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "KEY\tAGENTS\tPRIMARY ON")
			for _, k := range res.Keys {
				fmt.Fprintf(w, "%s\t%d/%d\t%d\n", k.Key, k.Agents, res.Agents, k.Primary)
			}
			if err := w.Flush(); err != nil {
				return err
			}
		}
		ok := res.Answered - len(res.Failures)
		for _, f := range res.Failures {
			fmt.Fprintf(os.Stderr, "failed on %s: %s\n", f.Node, f.Message)
		}
		if missing := res.Agents - res.Answered; missing > 0 {
			fmt.Fprintf(os.Stderr, "%d of %d agents did not answer in time\n", missing, res.Agents)
		}
		if !res.Complete() {
			what := "listed the keys of"
			if done != "" {
				what = done + " on"
			}
			return fmt.Errorf("%s only %d of %d agents (see above); fix them and run the command again", what, ok, res.Agents)
		}
		if done != "" {
			fmt.Printf("%s on all %d agents\n", done, res.Agents)
		}
		return nil
	}())
}
