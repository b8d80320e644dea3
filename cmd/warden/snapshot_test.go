package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/fsm"
	"github.com/warden-dev/warden/localapi/wire"
)

// ackedWrite is one acknowledged write of the load: the node's state as
// the write left it.
type ackedWrite struct {
	path string
	data string
	stat warden.Stat // Czxid, Mzxid and Version as acknowledged
	zxid uint64
}

// loadWriter creates and sets nodes under /load through its own session
// until stop closes, recording every acknowledged write. A write whose
// outcome is unknown (an error) marks its path uncertain.
func loadWriter(ctx context.Context, c *warden.Client, id int, stop <-chan struct{}, mu *sync.Mutex, acked *[]ackedWrite, uncertain map[string]bool) {
	var mine []string
	versions := map[string]int32{}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		// Padded so that the snapshot spans several chunks each way.
		data := fmt.Sprintf("w%d-%d:", id, i) + strings.Repeat("p", 24<<10)
		var w ackedWrite
		var err error
		if i%3 == 0 || len(mine) == 0 {
			path := fmt.Sprintf("/load/w%d-%04d", id, i)
			var res []warden.OpResult
			res, err = c.Multi(ctx, warden.CreateOp(path, []byte(data), warden.Persistent))
			if err == nil {
				mine = append(mine, path)
				w = ackedWrite{path: path, data: data, stat: res[0].Stat, zxid: res[0].Stat.Czxid}
			} else {
				mu.Lock()
				uncertain[path] = true
				mu.Unlock()
			}
		} else {
			path := mine[i%len(mine)]
			var st warden.Stat
			st, err = c.Set(ctx, path, []byte(data), versions[path])
			if err == nil {
				w = ackedWrite{path: path, data: data, stat: st, zxid: st.Mzxid}
			} else {
				mu.Lock()
				uncertain[path] = true
				mu.Unlock()
				// Its version is unknown now: leave it alone.
				mine = append(mine[:i%len(mine)], mine[i%len(mine)+1:]...)
			}
		}
		if err != nil {
			continue
		}
		versions[w.path] = w.stat.Version
		mu.Lock()
		*acked = append(*acked, w)
		mu.Unlock()
	}
}

func dialAt(t *testing.T, p *agenttest.Proc, noSession bool) *warden.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := warden.Dial(ctx, warden.Options{Socket: p.Socket, Name: t.Name(), NoSession: noSession})
	if err != nil {
		t.Fatalf("dial %s: %v", p.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func inspectJSON(t *testing.T, file string) snapshotInfo {
	t.Helper()
	r := runWarden(t, nil, "snapshot", "inspect", "--json", file)
	if r.code != 0 {
		t.Fatalf("snapshot inspect: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var info snapshotInfo
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, r.stdout)
	}
	return info
}

// TestSnapshotSaveUnderLoadRestore saves a snapshot of a 3-server cluster
// through a follower while writers create and set nodes, restores it into
// a fresh 3-server cluster, and checks that the restored tree is the
// source's at the snapshot's zxid: every acknowledged write with a zxid up
// to it is there with its data and versions, none after it; and that
// writes after the restore get zxids above the snapshot's.
func TestSnapshotSaveUnderLoadRestore(t *testing.T) {
	src := agenttest.StartCluster(t, 3, 0)
	ctx := testCtx(t, 4*time.Minute)
	setup := dialAt(t, src.Servers[0], false)
	if _, err := setup.Create(ctx, "/load", nil, warden.Persistent); err != nil {
		t.Fatal(err)
	}
	// An ephemeral node of a live session: the restore ends the
	// snapshot's sessions, so it must not come back.
	if _, err := setup.Create(ctx, "/eph", []byte("e"), warden.Ephemeral); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var acked []ackedWrite
	uncertain := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		c := dialAt(t, src.Servers[i%3], false)
		wg.Add(1)
		go func() {
			defer wg.Done()
			loadWriter(ctx, c, i, stop, &mu, &acked, uncertain)
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	agenttest.Eventually(t, time.Minute, "300 writes before the save", func() bool { return count() >= 300 })

	// Through a follower: it must catch up with the leader first.
	via := src.Servers[0]
	if leader := src.Leader(); leader == via {
		via = src.Servers[1]
	}
	file := filepath.Join(t.TempDir(), "backup.snap")
	before := count()
	r := wardenAt(t, via, "snapshot", "save", file)
	if r.code != 0 {
		t.Fatalf("snapshot save: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	savedAfter := count()
	agenttest.Eventually(t, time.Minute, "300 writes after the save", func() bool { return count() >= savedAfter+300 })
	close(stop)
	wg.Wait()
	if _, err := os.Stat(file + ".part"); !os.IsNotExist(err) {
		t.Errorf("FILE.part left behind: %v", err)
	}

	info := inspectJSON(t, file)
	z := info.Zxid
	// Every write acknowledged before the save began is in it.
	mu.Lock()
	for _, w := range acked[:before] {
		if w.zxid > z {
			t.Errorf("write at zxid %d, acknowledged before the save began, is after the snapshot's zxid %d", w.zxid, z)
		}
	}
	mu.Unlock()

	// The model: each path's last acknowledged state at zxid <= z.
	want := map[string]ackedWrite{}
	after := 0
	for _, w := range acked {
		if uncertain[w.path] {
			continue
		}
		if w.zxid > z {
			after++
			continue
		}
		if prev, ok := want[w.path]; !ok || w.zxid > prev.zxid {
			want[w.path] = w
		}
	}
	if after == 0 || len(want) == 0 {
		t.Fatalf("the load must straddle the snapshot: %d writes before zxid %d, %d after", len(want), z, after)
	}
	t.Logf("snapshot zxid %d, %d znodes, %d bytes; %d acknowledged writes (%d after the snapshot), %d uncertain paths",
		z, info.Nodes, info.Size, len(acked), after, len(uncertain))

	if info.Size <= 2*wire.MaxSnapshotChunk {
		t.Fatalf("the snapshot is %d bytes: too small to span chunks", info.Size)
	}

	// Through a follower: the upload goes on to the leader.
	dst := agenttest.StartCluster(t, 3, 0)
	via = dst.Servers[2]
	if leader := dst.Leader(); leader == via {
		via = dst.Servers[1]
	}
	r = wardenAt(t, via, "snapshot", "restore", file)
	if r.code != 0 {
		t.Fatalf("snapshot restore: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The seven sessions of the load (six writers and setup) ended.
	if !strings.Contains(r.stdout, fmt.Sprintf("zxid %d, %d znodes", z, info.Nodes-1)) || !strings.Contains(r.stdout, "; 7 sessions of the snapshot ended") {
		t.Errorf("restore output does not name zxid %d, %d znodes and 7 sessions ended:\n%s", z, info.Nodes-1, r.stdout)
	}

	// Every server of the new cluster holds exactly the model.
	var trees []map[string]node
	for _, p := range dst.Servers {
		c := dialAt(t, p, true)
		if _, err := c.Sync(ctx); err != nil {
			t.Fatalf("sync %s: %v", p.Name, err)
		}
		tree := snapshotTree(t, c, "/")
		trees = append(trees, tree)
		if uint64(len(tree)) != info.Nodes-1 {
			t.Errorf("%s: %d znodes after the restore; the snapshot has %d, /eph included", p.Name, len(tree), info.Nodes)
		}
		if _, ok := tree["/eph"]; ok {
			t.Errorf("%s: the ephemeral node of a session of the old cluster was restored", p.Name)
		}
		for path, w := range want {
			got, ok := tree[path]
			switch {
			case !ok:
				t.Errorf("%s: %s (acknowledged at zxid %d <= %d) is missing", p.Name, path, w.zxid, z)
			case got.data != w.data || got.stat.Version != w.stat.Version || got.stat.Mzxid != w.stat.Mzxid || got.stat.Czxid != w.stat.Czxid:
				t.Errorf("%s: %s is %q v%d czxid %d mzxid %d; acknowledged at the snapshot: %q v%d czxid %d mzxid %d",
					p.Name, path, got.data, got.stat.Version, got.stat.Czxid, got.stat.Mzxid, w.data, w.stat.Version, w.stat.Czxid, w.stat.Mzxid)
			}
		}
		for path, n := range tree {
			if _, ok := want[path]; ok || path == "/" || path == "/load" || uncertain[path] {
				continue
			}
			t.Errorf("%s: %s (czxid %d, mzxid %d) is not in the source's tree at zxid %d", p.Name, path, n.stat.Czxid, n.stat.Mzxid, z)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	for i := 1; i < len(trees); i++ {
		if len(trees[i]) != len(trees[0]) {
			t.Errorf("servers disagree: %d and %d znodes", len(trees[0]), len(trees[i]))
		}
	}

	// Writes after the restore go on above the snapshot's zxid.
	c := dialAt(t, dst.Servers[0], false)
	res, err := c.Multi(ctx, warden.CreateOp("/after-restore", []byte("x"), warden.Persistent))
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Stat.Czxid <= z {
		t.Errorf("a create after the restore got zxid %d, not above the snapshot's %d", res[0].Stat.Czxid, z)
	}
	paths := make([]string, 0, len(want))
	for p := range want {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	w := want[paths[0]]
	st, err := c.Set(ctx, w.path, []byte("new"), w.stat.Version)
	if err != nil {
		t.Fatalf("set %s at its restored version %d: %v", w.path, w.stat.Version, err)
	}
	if st.Mzxid <= z || st.Version != w.stat.Version+1 {
		t.Errorf("set after the restore: mzxid %d version %d; want above %d and %d", st.Mzxid, st.Version, z, w.stat.Version+1)
	}

	// The cluster now holds data: a second restore is refused without
	// --force, and replaces the tree with it.
	r = wardenAt(t, dst.Servers[1], "snapshot", "restore", file)
	if r.code == 0 || !strings.Contains(r.stderr, "already holds data") || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("restore into a cluster with data: exit %d, want a refusal naming --force\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, _, err := c.Get(ctx, "/after-restore"); err != nil {
		t.Fatalf("the refused restore changed the tree: %v", err)
	}
	reached, err := c.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r = wardenAt(t, dst.Servers[1], "snapshot", "restore", "--force", file)
	if r.code != 0 {
		t.Fatalf("snapshot restore --force: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The cluster's zxids go on above where they were, although the
	// snapshot's zxid is below them: on every server, a sync after the
	// restore reaches past the index before it, and the tree there is
	// the snapshot's.
	for _, p := range dst.Servers {
		ro := dialAt(t, p, true)
		after, err := ro.Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if after <= reached {
			t.Errorf("%s: sync after the forced restore at zxid %d; the cluster was at %d before it", p.Name, after, reached)
		}
		if _, _, err := ro.Get(ctx, "/after-restore"); err == nil {
			t.Errorf("%s: /after-restore survived a forced restore of a snapshot without it", p.Name)
		}
	}
	// The restore ended c's session, as every session of the cluster.
	c = dialAt(t, dst.Servers[0], false)
	res, err = c.Multi(ctx, warden.CreateOp("/after-force", []byte("x"), warden.Persistent))
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Stat.Czxid <= reached {
		t.Errorf("a create after the forced restore got zxid %d, not above the %d the cluster had reached", res[0].Stat.Czxid, reached)
	}
}

// TestSnapshotInspectAndBadFiles: inspect prints a snapshot's zxid, nodes
// and size, offline; a corrupted or truncated file is refused by inspect
// and by restore (reached anything reaches the cluster); a save that fails
// leaves no file.
func TestSnapshotInspectAndBadFiles(t *testing.T) {
	e := startAgent(t)
	c := e.dial()
	ctx := testCtx(t, time.Minute)
	for i := 0; i < 50; i++ {
		if _, err := c.Create(ctx, fmt.Sprintf("/n%02d", i), []byte(strings.Repeat("x", i)), warden.Persistent); err != nil {
			t.Fatal(err)
		}
	}
	zxid, err := c.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "a.snap")
	if r := e.cli("snapshot", "save", file); r.code != 0 {
		t.Fatalf("save: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	info := inspectJSON(t, file)
	st, _ := os.Stat(file)
	if info.Zxid < zxid || info.Nodes != 51 || info.Size != uint64(st.Size())-fsm.BackupHeaderSize || info.Version != fsm.BackupVersion || len(info.SHA256) != 64 {
		t.Errorf("inspect --json: %+v (file of %d bytes; synced at zxid %d; want 51 nodes)", info, st.Size(), zxid)
	}
	r := runWarden(t, nil, "snapshot", "inspect", file)
	for _, s := range []string{fmt.Sprintf("zxid      %d", info.Zxid), "znodes    51", fmt.Sprintf("size      %d bytes", info.Size), "(verified)"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("inspect output lacks %q:\n%s%s", s, r.stdout, r.stderr)
		}
	}

	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	bad := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flipped := append([]byte(nil), raw...)
	flipped[len(flipped)/2] ^= 0x40
	cases := []struct{ file, want string }{
		{bad("flipped.snap", flipped), "checksum mismatch"},
		{bad("truncated.snap", raw[:len(raw)-10]), "truncated"},
		{bad("short.snap", raw[:20]), "not a warden snapshot file"},
		{bad("other.snap", []byte(strings.Repeat("not a snapshot ", 10))), "bad magic"},
	}
	for _, tc := range cases {
		for _, verb := range []string{"inspect", "restore"} {
			r := e.cli("snapshot", verb, "--force", tc.file)
			if verb == "inspect" {
				r = e.cli("snapshot", verb, tc.file)
			}
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("snapshot %s %s: exit %d, want 1 with %q\n%s%s", verb, filepath.Base(tc.file), r.code, tc.want, r.stdout, r.stderr)
			}
		}
	}
	// The agent's side checks the file too, whatever a client sends.
	ro := dialAt(t, e.proc, true)
	if _, err := ro.RestoreSnapshot(ctx, bytes.NewReader(flipped), true); !errors.Is(err, warden.ErrBadArguments) || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("a flipped byte uploaded through the Go client: %v; want bad_arguments naming the checksum", err)
	}
	// Nothing reached the tree: it is as it was.
	if _, _, err := c.Get(ctx, "/n49"); err != nil {
		t.Errorf("after refused restores: %v", err)
	}

	// A save that fails (the agent is gone) leaves neither FILE nor
	// FILE.part.
	e.proc.Kill()
	failed := filepath.Join(dir, "failed.snap")
	if r := e.cli("snapshot", "save", "--op-timeout", "2s", failed); r.code == 0 {
		t.Errorf("save without an agent succeeded")
	}
	for _, p := range []string{failed, failed + ".part"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s exists after a failed save (%v)", filepath.Base(p), err)
		}
	}
}
