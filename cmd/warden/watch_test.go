package main

import (
	"context"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/localapi/wire"
)

// watchOut parses `warden watch` output: one JSON object per line, with
// exactly the keys each line has (zxids checked, then dropped, by the
// caller).
func watchOut(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// zxidsOf checks that every line has a zxid, that they never decrease, and
// that changes (not resync or synced lines) strictly increase; it returns
// them and removes them from the lines.
func zxidsOf(t *testing.T, lines []map[string]any) []uint64 {
	t.Helper()
	var zs []uint64
	var last uint64
	for i, l := range lines {
		f, ok := l["zxid"].(float64)
		if !ok || f <= 0 {
			t.Fatalf("line %d has no zxid: %v", i, l)
		}
		z := uint64(f)
		typ := l["type"]
		if z < last || (z == last && typ != "resync" && typ != "synced") {
			t.Fatalf("line %d: zxid %d after %d: %v", i, z, last, lines)
		}
		last = z
		zs = append(zs, z)
		delete(l, "zxid")
	}
	return zs
}

func lineCount(b *bg) int { return strings.Count(b.out.String(), "\n") }

func wantLines(t *testing.T, got []map[string]any, want ...map[string]any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("warden watch printed\n%v\nwant\n%v", got, want)
	}
}

// TestWatchCLI: `warden watch PATH` prints the current state (a resync
// line and a synced line), then each change in order (binary data as
// data_b64), and exits after --count changes; --from resumes after a
// zxid with exactly the changes that followed, and no resync.
func TestWatchCLI(t *testing.T) {
	e := startAgent(t)
	c := e.dial()
	ctx := testCtx(t, 30*time.Second)
	if _, err := c.Create(ctx, "/w", nil, warden.Persistent); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, "/w/a", []byte("1"), warden.Persistent); err != nil {
		t.Fatal(err)
	}
	b := e.start("watch", "--count", "3", "/w/a")
	agenttest.Eventually(t, 10*time.Second, "the resync and synced lines", func() bool { return lineCount(b) >= 2 })
	if _, err := c.Set(ctx, "/w/a", []byte("2"), warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Set(ctx, "/w/a", []byte{0xff, 0xfe, 0}, warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "/w/a", warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if code := b.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("warden watch exited %d: %s", code, b.errb)
	}
	lines := watchOut(t, b.out.String())
	zs := zxidsOf(t, lines)
	wantLines(t, lines,
		map[string]any{"type": "resync", "path": "/w/a", "version": 0.0, "data": "1"},
		map[string]any{"type": "synced", "path": "/w/a"},
		map[string]any{"type": "data_changed", "path": "/w/a", "version": 1.0, "data": "2"},
		map[string]any{"type": "data_changed", "path": "/w/a", "version": 2.0, "data_b64": "//4A"},
		map[string]any{"type": "deleted", "path": "/w/a", "version": 2.0},
	)
	if zs[0] != zs[1] || zs[2] <= zs[1] {
		t.Fatalf("zxids %v: resync and synced share the state's zxid, changes come after it", zs)
	}

	// Resume after the first change: the other two, and no resync.
	r := e.cli("watch", "--from", strconv.FormatUint(zs[2], 10), "--count", "2", "/w/a")
	if r.code != 0 {
		t.Fatalf("warden watch --from: %+v", r)
	}
	lines = watchOut(t, r.stdout)
	if got := zxidsOf(t, lines); !reflect.DeepEqual(got, zs[3:]) {
		t.Fatalf("resumed zxids %v, want %v", got, zs[3:])
	}
	wantLines(t, lines,
		map[string]any{"type": "data_changed", "path": "/w/a", "version": 2.0, "data_b64": "//4A"},
		map[string]any{"type": "deleted", "path": "/w/a", "version": 2.0},
	)

	// A node that does not exist: nothing to resync but the synced line.
	b = e.start("watch", "--count", "1", "/w/a")
	agenttest.Eventually(t, 10*time.Second, "the synced line", func() bool { return lineCount(b) >= 1 })
	if _, err := c.Create(ctx, "/w/a", []byte(""), warden.Persistent); err != nil {
		t.Fatal(err)
	}
	if code := b.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("warden watch exited %d: %s", code, b.errb)
	}
	lines = watchOut(t, b.out.String())
	zxidsOf(t, lines)
	wantLines(t, lines,
		map[string]any{"type": "synced", "path": "/w/a"},
		map[string]any{"type": "created", "path": "/w/a", "version": 0.0, "data": ""},
	)

	for _, args := range [][]string{
		{"watch"},
		{"watch", "--recursive", "--children", "/w"},
		{"watch", "--count", "-1", "/w"},
	} {
		if r := e.cli(args...); r.code != 2 {
			t.Errorf("warden %v: want a usage error (exit 2), got %+v", args, r)
		}
	}
	if r := e.cli("watch", "bad-path"); r.code != 1 || !strings.Contains(r.stderr, "bad_arguments") && !strings.Contains(r.stderr, "path") {
		t.Errorf("warden watch bad-path: %+v", r)
	}
}

// TestWatchCLIRecursiveAndChildren: --recursive covers the node and every
// node below it (the state parents first, then changes anywhere below, and
// nothing outside); --children only the direct children.
func TestWatchCLIRecursiveAndChildren(t *testing.T) {
	e := startAgent(t)
	c := e.dial()
	ctx := testCtx(t, 30*time.Second)
	for _, p := range []string{"/t", "/t/a", "/t/a/x", "/tt"} {
		if _, err := c.Create(ctx, p, []byte(p), warden.Persistent); err != nil {
			t.Fatal(err)
		}
	}
	rec := e.start("watch", "--recursive", "--count", "5", "/t")
	kids := e.start("watch", "--children", "--count", "3", "/t")
	agenttest.Eventually(t, 10*time.Second, "the resync lines", func() bool { return lineCount(rec) >= 4 && lineCount(kids) >= 2 })

	if _, err := c.Create(ctx, "/t/b", []byte("b"), warden.Persistent); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, "/tt/z", nil, warden.Persistent); err != nil { // outside
		t.Fatal(err)
	}
	if _, err := c.Set(ctx, "/t/a/x", []byte("x2"), warden.AnyVersion); err != nil { // a grandchild
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "/t/a/x", warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Set(ctx, "/t/a", []byte("a2"), warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Set(ctx, "/t", []byte("root"), warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "/t/b", warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*bg{rec, kids} {
		if code := b.wait(t, 10*time.Second); code != 0 {
			t.Fatalf("warden %v exited %d: %s", b.cmd.Args[1:], code, b.errb)
		}
	}
	lines := watchOut(t, rec.out.String())
	zxidsOf(t, lines)
	wantLines(t, lines,
		map[string]any{"type": "resync", "path": "/t", "version": 0.0, "data": "/t"},
		map[string]any{"type": "resync", "path": "/t/a", "version": 0.0, "data": "/t/a"},
		map[string]any{"type": "resync", "path": "/t/a/x", "version": 0.0, "data": "/t/a/x"},
		map[string]any{"type": "synced", "path": "/t"},
		map[string]any{"type": "created", "path": "/t/b", "version": 0.0, "data": "b"},
		map[string]any{"type": "data_changed", "path": "/t/a/x", "version": 1.0, "data": "x2"},
		map[string]any{"type": "deleted", "path": "/t/a/x", "version": 1.0},
		map[string]any{"type": "data_changed", "path": "/t/a", "version": 1.0, "data": "a2"},
		map[string]any{"type": "data_changed", "path": "/t", "version": 1.0, "data": "root"},
	)
	lines = watchOut(t, kids.out.String())
	zxidsOf(t, lines)
	wantLines(t, lines,
		map[string]any{"type": "resync", "path": "/t/a", "version": 0.0, "data": "/t/a"},
		map[string]any{"type": "synced", "path": "/t"},
		map[string]any{"type": "created", "path": "/t/b", "version": 0.0, "data": "b"},
		map[string]any{"type": "data_changed", "path": "/t/a", "version": 1.0, "data": "a2"},
		map[string]any{"type": "deleted", "path": "/t/b", "version": 0.0},
	)
}

// TestWatchFromBeyondCurrent: watch --from a zxid past the current one
// fails at once (exit 1), naming the current zxid, instead of hanging.
func TestWatchFromBeyondCurrent(t *testing.T) {
	e := startAgent(t)
	c := e.dial()
	ctx := testCtx(t, 30*time.Second)
	if _, err := c.Create(ctx, "/w", nil, warden.Persistent); err != nil {
		t.Fatal(err)
	}
	cur, err := c.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := e.start("watch", "--from", strconv.FormatUint(cur+1_000_000, 10), "/w")
	if code := b.wait(t, 20*time.Second); code != 1 {
		t.Fatalf("warden watch --from beyond: exit %d, stderr %s", code, b.errb)
	}
	// The current zxid, as the agent tells it: at least cur (a write may
	// have come since).
	_, after, _ := strings.Cut(b.errb.String(), "current zxid ")
	named, err := strconv.ParseUint(strings.TrimRight(after[:strings.IndexAny(after+":", ": ")], ":"), 10, 64)
	if err != nil || named < cur || named >= cur+1_000_000 {
		t.Fatalf("stderr %q does not name the current zxid (%d or a little more)", b.errb, cur)
	}
	if b.out.String() != "" {
		t.Fatalf("printed %q", b.out)
	}
}

// TestWatchFromThroughReplica: a zxid handed out by the leader is a good
// resume point on a replica, even one that has not applied it yet: the
// agent catches up before it judges a from_zxid beyond its own zxid.
func TestWatchFromThroughReplica(t *testing.T) {
	cl := agenttest.StartCluster(t, 1, 1)
	dial := func(p *agenttest.Proc) *warden.Client {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := warden.Dial(ctx, warden.Options{Socket: p.Socket, Name: t.Name(), NoSession: p == cl.Replicas[0]})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	leader, replica := dial(cl.Servers[0]), dial(cl.Replicas[0])
	ctx := testCtx(t, 60*time.Second)
	if _, err := leader.Create(ctx, "/r", nil, warden.Persistent); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		st, err := leader.Set(ctx, "/r", []byte(strconv.Itoa(i)), warden.AnyVersion)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := replica.Subscribe(ctx, "/r", warden.SubscribeOptions{FromZxid: uint64(st.Mzxid)})
		if err != nil {
			t.Fatalf("resume after zxid %d through the replica: %v", st.Mzxid, err)
		}
		if _, err := leader.Set(ctx, "/r", []byte("next"), warden.AnyVersion); err != nil {
			t.Fatal(err)
		}
		ev, err := sub.Next(ctx)
		if err != nil || ev.Type != wire.ChangeDataChanged || ev.Zxid <= uint64(st.Mzxid) || string(ev.Data) != "next" {
			t.Fatalf("after resuming at %d: %+v, %v", st.Mzxid, ev, err)
		}
		sub.Close(ctx)
	}
}
