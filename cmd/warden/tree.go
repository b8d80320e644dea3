package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	warden "github.com/warden-dev/warden/clients/go"
)

// The verbs that walk a subtree (tree, rm -r) and sync.

func init() {
	register("tree", command{usage: "[--depth N] [--json] PATH", help: "print a node and everything below it as an indented tree", run: runTree})
	register("sync", command{usage: "[PATH]", help: "catch this agent up with the leader and print the zxid it reached", run: runSync,
		long: "The agent catches up on the whole tree, whatever PATH says; PATH is\naccepted (and checked) for the habits of zkCli users.\n"})
}

// removeRounds bounds how often removeAll goes back to a node that got new
// children while it was emptying it.
const removeRounds = 10

// removeAll deletes path and every node below it, each node after all of
// its descendants. A node that vanishes meanwhile is fine; one created
// meanwhile below a node being emptied is deleted too, up to removeRounds
// times per node.
func removeAll(ctx context.Context, cl *warden.Client, path string) error {
	for round := 1; ; round++ {
		kids, _, err := cl.Children(ctx, path)
		if errors.Is(err, warden.ErrNoNode) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, k := range kids {
			if err := removeAll(ctx, cl, childPath(path, k)); err != nil {
				return err
			}
		}
		err = cl.Delete(ctx, path, warden.AnyVersion)
		switch {
		case err == nil, errors.Is(err, warden.ErrNoNode):
			return nil
		case errors.Is(err, warden.ErrNotEmpty) && round < removeRounds:
			continue // a child appeared meanwhile
		}
		return fmt.Errorf("deleting %s: %w", path, err)
	}
}

func childPath(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}

// treeNode is one node of `warden tree --json`. Children is absent below
// --depth; NumChildren says whether there was more.
type treeNode struct {
	Path           string      `json:"path"`
	NumChildren    int32       `json:"num_children"`
	DataLength     int32       `json:"data_length"`
	EphemeralOwner uint64      `json:"ephemeral_owner,omitempty"`
	Children       []*treeNode `json:"children,omitempty"`
}

// walkTree reads the subtree at path from the agent's replica, depth
// levels below it (depth < 0: all). It is not a snapshot: each node is
// read on its own, and a node that vanishes meanwhile is left out (nil
// for path itself).
func walkTree(ctx context.Context, cl *warden.Client, path string, depth int) (*treeNode, error) {
	kids, st, err := cl.Children(ctx, path)
	if errors.Is(err, warden.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	n := &treeNode{Path: path, NumChildren: st.NumChildren, DataLength: st.DataLength, EphemeralOwner: st.EphemeralOwner}
	if depth == 0 {
		return n, nil
	}
	slices.Sort(kids)
	for _, k := range kids {
		c, err := walkTree(ctx, cl, childPath(path, k), depth-1)
		if err != nil {
			return nil, err
		}
		if c != nil {
			n.Children = append(n.Children, c)
		}
	}
	n.NumChildren = int32(len(n.Children))
	return n, nil
}

// printTree draws n as tree(1) does. A node whose children lie below
// --depth shows how many it has.
func printTree(w io.Writer, n *treeNode, prefix string, name string) {
	line := name
	if n.Children == nil && n.NumChildren > 0 {
		line += fmt.Sprintf(" [%d more below]", n.NumChildren)
	}
	fmt.Fprintln(w, line)
	for i, c := range n.Children {
		branch, indent := "├── ", "│   "
		if i == len(n.Children)-1 {
			branch, indent = "└── ", "    "
		}
		fmt.Fprint(w, prefix+branch)
		printTree(w, c, prefix+indent, c.Path[strings.LastIndexByte(c.Path, '/')+1:])
	}
}

func runTree(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("tree", flag.ContinueOnError)
	cf.register(fs)
	cf.noSession = true
	depth := fs.Int("depth", -1, "show at most this many levels below PATH (-1: all)")
	asJSON := fs.Bool("json", false, "print the tree as one JSON object (path, num_children, data_length, ephemeral_owner, children)")
	if err := parseArgs(fs, args, 1, 1); err != nil {
		return err
	}
	if *depth < -1 {
		return usagef("--depth must be -1 (all) or more")
	}
	cl, ctx, done, err := cf.dial()
	if err != nil {
		return err
	}
	defer done()
	root, err := walkTree(ctx, cl, fs.Arg(0), *depth)
	if err != nil {
		return err
	}
	if root == nil {
		return fmt.Errorf("node does not exist: %s", fs.Arg(0))
	}
	if *asJSON {
		return printJSON(root)
	}
	printTree(os.Stdout, root, "", root.Path)
	return nil
}

func runSync(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	cf.register(fs)
	cf.noSession = true
	return cf.run(fs, args, 0, 1, func(ctx context.Context, cl *warden.Client) error {
		zxid, err := cl.Sync(ctx)
		if err != nil {
			return err
		}
		if fs.NArg() == 1 {
			if _, _, err := cl.Exists(ctx, fs.Arg(0)); err != nil {
				return err
			}
		}
		fmt.Println(zxid)
		return nil
	})
}
