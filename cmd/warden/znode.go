package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/fsm"
)

func init() {
	register("create", command{usage: "[-p] [--sequential] [--container | --ttl DURATION] PATH [DATA | - | @FILE]", help: "create a node", long: valueHelp + ttlHelp, run: runCreate})
	register("set", command{usage: "[--version N] PATH [DATA | - | @FILE]", help: "set a node's data", long: valueHelp, run: runSet})
	register("get", command{usage: "PATH", help: "print a node's data", run: runGet})
	register("stat", command{usage: "[--json] PATH", help: "print a node's Stat", run: runStat})
	register("ls", command{usage: "PATH", help: "list a node's children", run: runLs})
	register("rm", command{usage: "[--version N | -r] PATH", help: "delete a node (-r: and everything below it)", run: runRm})
}

// ttlHelp is more of create's long help.
const ttlHelp = `
--ttl makes a TTL node (as ZooKeeper's): the cluster deletes it once the
TTL has passed since its last change (its creation or last set, which
restarts the countdown) and it has no children. The TTL is a Go duration
(90s, 30m, 72h) that may start with whole days (7d, 1d12h); the node
keeps it in milliseconds (warden stat shows it).
`

// valueHelp is the long help of create and set.
const valueHelp = `DATA is the value itself; - reads it from standard input, @FILE from a
file, and @@TEXT stores @TEXT. Without DATA the value is read from
standard input when that is a pipe or a file; otherwise create stores an
empty value and set refuses. DATA given while standard input holds
bytes is refused. A value is at most 1 MiB (docs/cli.md).
`

func runCreate(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("create", flag.ContinueOnError)
	cf.register(fs)
	seq := fs.Bool("sequential", false, "append an increasing 10-digit suffix")
	container := fs.Bool("container", false, "delete the node once its last child goes")
	var ttl time.Duration
	fs.Func("ttl", ttlUsage, func(s string) (err error) {
		ttl, err = parseTTL(s)
		return err
	})
	var parents bool
	fs.BoolVar(&parents, "p", false, "create missing parents first, with empty data (like mkdir -p)")
	fs.BoolVar(&parents, "parents", false, "the same as -p")
	if err := parseArgs(fs, args, 1, 2); err != nil {
		return err
	}
	mode := warden.Persistent
	if *seq {
		mode |= warden.Sequential
	}
	if *container {
		mode |= warden.Container
	}
	if ttl > 0 && *container {
		return usagef("--ttl and --container exclude each other: a container cannot have a TTL")
	}
	data, err := nodeValue(fs.Arg(1), fs.NArg() == 2, true)
	if err != nil {
		return err
	}
	cl, ctx, done, err := cf.dial()
	if err != nil {
		return err
	}
	defer done()
	if parents {
		// A path the create would refuse gets no parents either.
		check := fs.Arg(0)
		if *seq {
			check += "0000000000" // the suffix the tree will add
		}
		if err := fsm.ValidatePath(check); err != nil {
			return err
		}
		if err := makeParents(ctx, cl, fs.Arg(0)); err != nil {
			return err
		}
	}
	var path string
	if ttl > 0 {
		path, err = cl.CreateTTL(ctx, fs.Arg(0), data, mode, ttl)
	} else {
		path, err = cl.Create(ctx, fs.Arg(0), data, mode)
	}
	if errors.Is(err, warden.ErrTooLarge) {
		return tooLarge(err, len(data))
	}
	if err != nil {
		return err
	}
	fmt.Println(path)
	return nil
}

// makeParents creates every missing ancestor of path (the parent of a
// sequential prefix such as /q/item- or /q/ is /q), parents first, as
// persistent nodes with empty data. One that exists already, or that
// another client creates meanwhile, is fine.
func makeParents(ctx context.Context, cl *warden.Client, path string) error {
	if !strings.HasPrefix(path, "/") {
		return nil // the create itself says what is wrong
	}
	parent := path[:strings.LastIndexByte(path, '/')]
	for i := 1; i <= len(parent); i++ {
		if i < len(parent) && parent[i] != '/' {
			continue
		}
		_, err := cl.Create(ctx, parent[:i], nil, warden.Persistent)
		if err != nil && !errors.Is(err, warden.ErrNodeExists) {
			return fmt.Errorf("creating parent %s: %w", parent[:i], err)
		}
	}
	return nil
}

func runSet(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("set", flag.ContinueOnError)
	cf.register(fs)
	v := fs.Int("version", -1, "only if the node has this version (-1: any)")
	if err := parseArgs(fs, args, 1, 2); err != nil {
		return err
	}
	data, err := nodeValue(fs.Arg(1), fs.NArg() == 2, false)
	if err != nil {
		return err
	}
	cl, ctx, done, err := cf.dial()
	if err != nil {
		return err
	}
	defer done()
	_, err = cl.Set(ctx, fs.Arg(0), data, int32(*v))
	if errors.Is(err, warden.ErrTooLarge) {
		return tooLarge(err, len(data))
	}
	return err
}

func runGet(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	cf.register(fs)
	cf.noSession = true
	return cf.run(fs, args, 1, 1, func(ctx context.Context, cl *warden.Client) error {
		data, _, err := cl.Get(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		if len(data) > 0 && data[len(data)-1] != '\n' && isTerminal(os.Stdout) {
			data = append(data, '\n') // a terminal's prompt starts on a line of its own
		}
		_, err = os.Stdout.Write(data)
		return err
	})
}

func runStat(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("stat", flag.ContinueOnError)
	cf.register(fs)
	cf.noSession = true
	asJSON := fs.Bool("json", false, "print JSON")
	return cf.run(fs, args, 1, 1, func(ctx context.Context, cl *warden.Client) error {
		st, ok, err := cl.Exists(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("node does not exist: %s", fs.Arg(0))
		}
		if *asJSON {
			return json.NewEncoder(os.Stdout).Encode(st)
		}
		fmt.Printf("czxid           %d\nmzxid           %d\npzxid           %d\nctime           %s\nmtime           %s\n"+
			"version         %d\ncversion        %d\naversion        %d\nephemeralOwner  %#x\ndataLength      %d\nnumChildren     %d\n",
			st.Czxid, st.Mzxid, st.Pzxid, msTime(st.Ctime), msTime(st.Mtime),
			st.Version, st.Cversion, st.Aversion, st.EphemeralOwner, st.DataLength, st.NumChildren)
		if st.TTL > 0 {
			fmt.Printf("ttl             %s\n", ttlText(st.TTL, st.Mtime))
		}
		return nil
	})
}

func msTime(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano) }

func runLs(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("ls", flag.ContinueOnError)
	cf.register(fs)
	cf.noSession = true
	return cf.run(fs, args, 1, 1, func(ctx context.Context, cl *warden.Client) error {
		kids, _, err := cl.Children(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		for _, k := range kids {
			fmt.Println(k)
		}
		return nil
	})
}

func runRm(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("rm", flag.ContinueOnError)
	cf.register(fs)
	v := fs.Int("version", -1, "only if the node has this version (-1: any)")
	var recursive bool
	fs.BoolVar(&recursive, "r", false, "delete the node and everything below it, deepest first (not /)")
	fs.BoolVar(&recursive, "recursive", false, "the same as -r")
	if err := parseArgs(fs, args, 1, 1); err != nil {
		return err
	}
	if recursive && *v != -1 {
		return usagef("-r and --version exclude each other")
	}
	if recursive && fs.Arg(0) == "/" {
		return inputf("refusing to delete the whole tree: -r does not take /; remove the children of / one by one (warden ls /)")
	}
	cl, ctx, done, err := cf.dial()
	if err != nil {
		return err
	}
	defer done()
	if recursive {
		// A PATH that is not there is a mistake (a typo?); a node below it
		// that vanishes meanwhile is not.
		if _, ok, err := cl.Exists(ctx, fs.Arg(0)); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("node does not exist: %s", fs.Arg(0))
		}
		return removeAll(ctx, cl, fs.Arg(0))
	}
	return cl.Delete(ctx, fs.Arg(0), int32(*v))
}
