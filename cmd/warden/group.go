package main

import (
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
)

func init() {
	register("members-of", command{usage: "[--json] GROUP", help: "list the members of a group", run: runMembersOf})
}

// runMembersOf lists a group's members and their data. With --json it
// prints {"group": GROUP, "members": [{"member": ID, "data": BASE64}...]}.
func runMembersOf(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("members-of", flag.ContinueOnError)
	cf.register(fs)
	cf.noSession = true
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseArgs(fs, args, 1, 1); err != nil {
		return err
	}
	group := fs.Arg(0)
	cl, ctx, done, err := cf.dial()
	if err != nil {
		return err
	}
	defer done()
	members, err := cl.GroupMembers(ctx, group)
	if err != nil {
		return err
	}
	if *asJSON {
		type member struct {
			Member string `json:"member"`
			Data   []byte `json:"data"`
		}
		out := struct {
			Group   string   `json:"group"`
			Members []member `json:"members"`
		}{Group: group, Members: []member{}}
		for _, m := range members {
			out.Members = append(out.Members, member{m.Member, m.Data})
		}
		return printJSON(out)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "MEMBER\tDATA")
	for _, m := range members {
		fmt.Fprintf(w, "%s\t%s\n", m.Member, oneLine(string(m.Data)))
	}
	return w.Flush()
}
