package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/localapi/wire"
)

func init() {
	register("members", command{usage: "[--json]", help: "list the cluster's agents", run: runMembers})
	register("status", command{usage: "[--json]", help: "show this agent's Raft state", run: runStatus})
	register("sessions", command{usage: "[--json]", help: "list the cluster's open sessions, the processes that hold them and what each holds", run: runSessions})
}

func runSessions(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("sessions", flag.ContinueOnError)
	cf.register(fs)
	cf.noSession = true
	asJSON := fs.Bool("json", false, "print JSON, with every node each session holds")
	return cf.run(fs, args, 0, 0, func(ctx context.Context, cl *warden.Client) error {
		ss, err := cl.Sessions(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			if ss == nil {
				ss = []warden.SessionInfo{}
			}
			for i := range ss {
				if ss[i].Holds == nil {
					ss[i].Holds = []wire.Hold{}
				}
			}
			return printJSON(ss)
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tAGENT\tPID\tUID\tGID\tCLIENT\tTIMEOUT\tKIND\tAGE\tHOLDS")
		for _, s := range ss {
			kind := "plain"
			switch {
			case s.Resumable:
				kind = "resumable"
			case s.Heartbeat:
				kind = "heartbeat"
			}
			age := time.Since(time.UnixMilli(s.Created)).Round(time.Second)
			fmt.Fprintf(w, "%d\t%s\t%d\t%d\t%d\t%s\t%v\t%s\t%v\t%s\n", s.ID, s.Agent, s.Pid, s.Uid, s.Gid, s.Client,
				time.Duration(s.TimeoutMs)*time.Millisecond, kind, age, holdsSummary(s.Holds))
		}
		return w.Flush()
	})
}

// holdsSummary is the HOLDS column: what a session holds or waits for,
// recipe by recipe ("lock /a", "lock /b (waiting)", "leader /e",
// "candidate /e", "member /warden/groups/g/m"), then its other ephemeral
// nodes, named when there are at most two and counted otherwise; "-" for
// nothing. --json lists every node.
func holdsSummary(hs []wire.Hold) string {
	var parts, eph []string
	for _, h := range hs {
		switch h.Kind {
		case "ephemeral":
			eph = append(eph, h.Key)
		case "election":
			parts = append(parts, h.State+" "+h.Path)
		case "group":
			parts = append(parts, "member "+h.Key)
		case "task":
			parts = append(parts, "task "+h.Key)
		default:
			p := h.Kind + " " + h.Path
			if h.State != "held" {
				p += " (" + h.State + ")"
			}
			parts = append(parts, p)
		}
	}
	if len(eph) > 2 {
		parts = append(parts, fmt.Sprintf("%d ephemerals", len(eph)))
	} else {
		for _, k := range eph {
			parts = append(parts, "ephemeral "+k)
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
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
			st.Node, st.Role, st.State, leaderLine(st), st.Term, st.CommitIndex, st.AppliedIndex, st.Sessions, st.Znodes)
		return nil
	})
}

// leaderLine is status's leader: its name, or "no leader" and for how
// long (the agent says since when it has known none).
func leaderLine(st warden.Status) string {
	if st.Leader != "" {
		return st.Leader
	}
	if st.NoLeaderMs > 0 {
		return fmt.Sprintf("no leader (for %v)", roundSeconds(time.Duration(st.NoLeaderMs)*time.Millisecond))
	}
	return "no leader"
}

// roundSeconds rounds d for people: tenths of a second below 10 s, whole
// seconds above.
func roundSeconds(d time.Duration) time.Duration {
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func init() {
	register("operator", command{
		usage: "remove-peer NAME",
		help:  "remove a server that is down from the Raft configuration now (docs/operations.md)",
		run:   runOperator,
	})
	register("force-leave", command{
		usage: "NAME",
		help:  "mark a failed agent as left in Serf, and remove it from Raft if it is a server",
		run:   runForceLeave,
	})
}

func runOperator(args []string) error {
	if helpAsked(args) {
		return printVerbUsage("operator")
	}
	if len(args) == 0 {
		return usagef("missing subcommand: remove-peer")
	}
	if args[0] != "remove-peer" {
		return usagef("unknown subcommand %q: remove-peer", args[0])
	}
	return runRemovePeer("operator remove-peer", args[1:], false)
}

func runForceLeave(args []string) error { return runRemovePeer("force-leave", args, true) }

func runRemovePeer(name string, args []string, forceLeave bool) error {
	var cf clientFlags
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	cf.register(fs)
	cf.noSession = true
	asJSON := fs.Bool("json", false, "print JSON")
	return cf.run(fs, args, 1, 1, func(ctx context.Context, cl *warden.Client) error {
		call := cl.RemovePeer
		if forceLeave {
			call = cl.ForceLeave
		}
		res, err := call(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(res)
		}
		if res.LeftSerf {
			fmt.Printf("%s is marked left in Serf\n", res.Node)
		}
		if res.RemovedFromRaft {
			fmt.Printf("%s is removed from the Raft configuration; %d voters remain (quorum %d)\n", res.Node, res.Voters, res.Voters/2+1)
		} else {
			fmt.Printf("%s was not in the Raft configuration\n", res.Node)
		}
		return nil
	})
}
