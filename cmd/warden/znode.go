package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	warden "github.com/warden-dev/warden/clients/go"
)

func init() {
	register("create", command{usage: "[--sequential] [--container] PATH [DATA]", help: "create a node", run: runCreate})
	register("set", command{usage: "[--version N] PATH DATA", help: "set a node's data", run: runSet})
	register("get", command{usage: "PATH", help: "print a node's data", run: runGet})
	register("stat", command{usage: "[--json] PATH", help: "print a node's Stat", run: runStat})
	register("ls", command{usage: "PATH", help: "list a node's children", run: runLs})
	register("rm", command{usage: "[--version N] PATH", help: "delete a node", run: runRm})
}

func runCreate(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("create", flag.ContinueOnError)
	cf.register(fs)
	seq := fs.Bool("sequential", false, "append an increasing 10-digit suffix")
	container := fs.Bool("container", false, "delete the node once its last child goes")
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
	cl, ctx, done, err := cf.dial()
	if err != nil {
		return err
	}
	defer done()
	path, err := cl.Create(ctx, fs.Arg(0), []byte(fs.Arg(1)), mode)
	if err != nil {
		return err
	}
	fmt.Println(path)
	return nil
}

func runSet(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("set", flag.ContinueOnError)
	cf.register(fs)
	v := fs.Int("version", -1, "only if the node has this version (-1: any)")
	return cf.run(fs, args, 2, 2, func(ctx context.Context, cl *warden.Client) error {
		_, err := cl.Set(ctx, fs.Arg(0), []byte(fs.Arg(1)), int32(*v))
		return err
	})
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
	return cf.run(fs, args, 1, 1, func(ctx context.Context, cl *warden.Client) error {
		return cl.Delete(ctx, fs.Arg(0), int32(*v))
	})
}
