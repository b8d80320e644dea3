package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"unicode/utf8"

	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/localapi/wire"
)

func init() {
	register("watch", command{
		usage: "[--recursive | --children] [--from ZXID] [--count N] PATH",
		help:  "print every change under a node as JSON lines, until interrupted",
		run:   runWatch,
	})
}

// watchLine is one line `warden watch` prints. Data is the node's data
// when it is valid UTF-8, DataB64 its base64 otherwise; neither is printed
// for deleted and synced, nor version for synced.
type watchLine struct {
	Type    string  `json:"type"`
	Path    string  `json:"path"`
	Zxid    uint64  `json:"zxid"`
	Version *int32  `json:"version,omitempty"`
	Data    *string `json:"data,omitempty"`
	DataB64 string  `json:"data_b64,omitempty"`
}

func toWatchLine(ev warden.Event) watchLine {
	l := watchLine{Type: ev.Type, Path: ev.Path, Zxid: ev.Zxid}
	if ev.Type == wire.ChangeSynced {
		return l
	}
	v := ev.Stat.Version
	l.Version = &v
	if ev.Type == wire.ChangeDeleted {
		return l
	}
	if utf8.Valid(ev.Data) {
		s := string(ev.Data)
		l.Data = &s
	} else {
		l.DataB64 = base64.StdEncoding.EncodeToString(ev.Data)
	}
	return l
}

// runWatch subscribes to a node (or its children, or its subtree) and
// prints one JSON line per event: first the current state (type "resync",
// one line per node, then one "synced" line) unless --from resumes after a
// zxid the agent still has history for, then every change in order. It
// exits on Ctrl-C, or after --count changes. If the agent goes away it
// fails, naming the zxid to resume from with --from.
func runWatch(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	cf.register(fs)
	recursive := fs.Bool("recursive", false, "watch the node and everything below it")
	children := fs.Bool("children", false, "watch the node's direct children")
	from := fs.Uint64("from", 0, "resume after this zxid (the last line's zxid) instead of starting with the current state")
	count := fs.Int("count", 0, "exit after this many changes (resync and synced lines do not count; 0: run until interrupted)")
	if err := parseArgs(fs, args, 1, 1); err != nil {
		return err
	}
	scope := wire.ScopeNode
	switch {
	case *recursive && *children:
		return usagef("--recursive and --children exclude each other")
	case *recursive:
		scope = wire.ScopeSubtree
	case *children:
		scope = wire.ScopeChildren
	}
	if *count < 0 {
		return usagef("--count must not be negative")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dctx, dcancel := context.WithTimeout(ctx, cf.timeout)
	cl, err := warden.Dial(dctx, warden.Options{Socket: cf.socket, Name: "warden-watch", NoSession: true})
	if err != nil {
		dcancel()
		return err
	}
	defer cl.Close()
	sub, err := cl.Subscribe(dctx, fs.Arg(0), warden.SubscribeOptions{Scope: scope, FromZxid: *from})
	dcancel()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	last, changes := *from, 0
	for *count == 0 || changes < *count {
		ev, err := sub.Next(ctx)
		if ctx.Err() != nil {
			return nil // interrupted: a clean exit
		}
		if err != nil {
			return fmt.Errorf("%w (resume with --from %d)", err, last)
		}
		if err := enc.Encode(toWatchLine(ev)); err != nil {
			return err
		}
		switch ev.Type {
		case wire.ChangeResync:
			// Resuming needs the whole state: only after "synced".
		case wire.ChangeSynced:
			last = ev.Zxid
		default:
			last = ev.Zxid
			changes++
		}
	}
	return nil
}
