package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	warden "github.com/warden-dev/warden/clients/go"
)

// TestCreateParents: create -p makes every missing parent with empty
// data; existing parents are fine; the node itself must not exist.
func TestCreateParents(t *testing.T) {
	e := startAgent(t)
	c := e.dial()
	if r := e.cli("create", "/a/b/c", "v"); r.code != 1 || !strings.Contains(r.stderr, "does not exist") {
		t.Fatalf("create without -p under a missing parent: %+v", r)
	}
	if r := e.cli("create", "-p", "/a/b/c", "v"); r.code != 0 || r.stdout != "/a/b/c\n" {
		t.Fatalf("create -p: %+v", r)
	}
	e.wantValue("/a", nil)
	e.wantValue("/a/b", nil)
	e.wantValue("/a/b/c", []byte("v"))
	if r := e.cli("create", "--parents", "/a/b/d", "w"); r.code != 0 {
		t.Fatalf("create -p with the parents there: %+v", r)
	}
	e.wantValue("/a/b/d", []byte("w"))
	if r := e.cli("create", "-p", "/a/b/c", "again"); r.code != 1 || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("create -p of an existing node: %+v", r)
	}
	r := e.cli("create", "-p", "--sequential", "/q/r/item-", "x")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "/q/r/item-") {
		t.Fatalf("create -p --sequential: %+v", r)
	}
	kids, _, err := c.Children(testCtx(t, 10*time.Second), "/q/r")
	if err != nil || len(kids) != 1 {
		t.Fatalf("children of /q/r: %v %v", kids, err)
	}
	// A path the create refuses gets no parents.
	for _, p := range []string{"/p1/p2/", "/p1/p2/./x", "/p1/\x01/x"} {
		if r := e.cli("create", "-p", p, "v"); r.code != 1 || !strings.Contains(r.stderr, "invalid path") {
			t.Fatalf("create -p %q: %+v", p, r)
		}
	}
	e.wantMissing(c, "/p1")
}

// TestRemoveRecursive: rm -r deletes a node and everything below it and
// nothing else; it refuses / and a PATH that is not there.
func TestRemoveRecursive(t *testing.T) {
	e := startAgent(t)
	c := e.dial()
	ctx := testCtx(t, 60*time.Second)
	for _, p := range []string{"/r", "/r/a", "/r/a/x", "/r/a/x/y", "/r/b", "/rr", "/keep"} {
		if _, err := c.Create(ctx, p, []byte(p), warden.Persistent); err != nil {
			t.Fatal(err)
		}
	}
	if r := e.cli("rm", "/r"); r.code != 1 || !strings.Contains(r.stderr, "children") {
		t.Fatalf("rm of a node with children: %+v", r)
	}
	if r := e.cli("rm", "-r", "/r"); r.code != 0 {
		t.Fatalf("rm -r: %+v", r)
	}
	for _, p := range []string{"/r", "/r/a", "/r/a/x/y", "/r/b"} {
		e.wantMissing(c, p)
	}
	e.wantValue("/rr", []byte("/rr"))
	e.wantValue("/keep", []byte("/keep"))
	if r := e.cli("rm", "-r", "/r"); r.code != 1 || !strings.Contains(r.stderr, "does not exist") {
		t.Fatalf("rm -r of a missing node: %+v", r)
	}
	if r := e.cli("rm", "-r", "/"); r.code != 2 || !strings.Contains(r.stderr, "refusing") {
		t.Fatalf("rm -r /: %+v", r)
	}
	if r := e.cli("rm", "-r", "--version", "3", "/rr"); r.code != 2 {
		t.Fatalf("rm -r --version: %+v", r)
	}
	e.wantValue("/keep", []byte("/keep"))
}

// TestRemoveAllConcurrent: two removeAll of one subtree at once both
// succeed, each finding nodes the other deleted under its feet, and
// the subtree is gone.
func TestRemoveAllConcurrent(t *testing.T) {
	e := startAgent(t)
	c := e.dial()
	ctx := testCtx(t, 120*time.Second)
	if _, err := c.Create(ctx, "/c", nil, warden.Persistent); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		p := fmt.Sprintf("/c/%d", i)
		if _, err := c.Create(ctx, p, nil, warden.Persistent); err != nil {
			t.Fatal(err)
		}
		for j := range 6 {
			if _, err := c.Create(ctx, p+"/"+strconv.Itoa(j), nil, warden.Persistent); err != nil {
				t.Fatal(err)
			}
		}
	}
	clients := []*warden.Client{e.dial(), e.dial()}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = removeAll(ctx, cl, "/c")
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("removeAll: %v, %v", errs[0], errs[1])
	}
	e.wantMissing(c, "/c")
}

// TestTreeCLI: tree draws the subtree, --depth cuts it (saying how many
// children lie below), --json nests it.
func TestTreeCLI(t *testing.T) {
	e := startAgent(t)
	c := e.dial()
	ctx := testCtx(t, 30*time.Second)
	for _, p := range []string{"/t", "/t/b", "/t/a", "/t/a/x", "/t/a/y", "/t/a/y/z", "/u"} {
		if _, err := c.Create(ctx, p, []byte("12"), warden.Persistent); err != nil {
			t.Fatal(err)
		}
	}
	r := e.cli("tree", "/t")
	want := "/t\n├── a\n│   ├── x\n│   └── y\n│       └── z\n└── b\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("tree /t:\n%s\nwant\n%s(%+v)", r.stdout, want, r)
	}
	r = e.cli("tree", "--depth", "1", "/t")
	if want := "/t\n├── a [2 more below]\n└── b\n"; r.code != 0 || r.stdout != want {
		t.Fatalf("tree --depth 1 /t:\n%s\nwant\n%s", r.stdout, want)
	}
	r = e.cli("tree", "--json", "--depth", "2", "/t")
	var got treeNode
	if err := json.Unmarshal([]byte(r.stdout), &got); r.code != 0 || err != nil {
		t.Fatalf("tree --json: %v %+v", err, r)
	}
	leaf := func(p string, kids int32) *treeNode { return &treeNode{Path: p, NumChildren: kids, DataLength: 2} }
	a := leaf("/t/a", 2)
	a.Children = []*treeNode{leaf("/t/a/x", 0), leaf("/t/a/y", 1)}
	wantTree := &treeNode{Path: "/t", NumChildren: 2, DataLength: 2, Children: []*treeNode{a, leaf("/t/b", 0)}}
	if !reflect.DeepEqual(&got, wantTree) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(wantTree)
		t.Fatalf("tree --json:\n%s\nwant\n%s", g, w)
	}
	if r := e.cli("tree", "/nope"); r.code != 1 || !strings.Contains(r.stderr, "does not exist") {
		t.Fatalf("tree /nope: %+v", r)
	}
	if r := e.cli("tree", "--depth", "-2", "/t"); r.code != 2 {
		t.Fatalf("tree --depth -2: %+v", r)
	}
}

// TestSyncCLI: sync prints the zxid the agent reached, at least that of
// the last write; a bad PATH is refused.
func TestSyncCLI(t *testing.T) {
	e := startAgent(t)
	c := e.dial()
	ctx := testCtx(t, 30*time.Second)
	if _, err := c.Create(ctx, "/s", nil, warden.Persistent); err != nil {
		t.Fatal(err)
	}
	st, _, err := c.Exists(ctx, "/s")
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"sync"}, {"sync", "--op-timeout", "10s", "/s"}} {
		r := e.cli(args...)
		zxid, err := strconv.ParseUint(strings.TrimSpace(r.stdout), 10, 64)
		if r.code != 0 || err != nil || zxid < uint64(st.Czxid) {
			t.Fatalf("warden %v: %+v; want a zxid >= %d", args, r, st.Czxid)
		}
	}
	if r := e.cli("sync", "no-slash"); r.code != 1 || !strings.Contains(r.stderr, "path") {
		t.Fatalf("sync no-slash: %+v", r)
	}
}

// TestNodeVerbsHelp: each verb's -h shows its usage line with its
// positional arguments, and every new verb takes --op-timeout.
func TestNodeVerbsHelp(t *testing.T) {
	e := startAgent(t)
	for verb, usage := range map[string]string{
		"create": "usage: warden create [-p] [--sequential] [--container | --ttl DURATION] PATH [DATA | - | @FILE]",
		"set":    "usage: warden set [--version N] PATH [DATA | - | @FILE]",
		"rm":     "usage: warden rm [--version N | -r] PATH",
		"tree":   "usage: warden tree [--depth N] [--json] PATH",
		"sync":   "usage: warden sync [PATH]",
	} {
		r := e.cli(verb, "-h")
		if r.code != 0 || !strings.HasPrefix(r.stdout, usage+"\n") || !strings.Contains(r.stdout, "-op-timeout") {
			t.Errorf("warden %s -h: %+v", verb, r)
		}
	}
	if r := e.cli("tree", "--op-timeout", "1ns", "/"); r.code != 1 {
		t.Errorf("tree with a 1ns op timeout: %+v", r)
	}
}
