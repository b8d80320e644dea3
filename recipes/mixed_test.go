package recipes

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/warden-dev/warden/fsm"
)

// The lock and the election share their lines with Curator's
// InterProcessMutex and LeaderLatch, whose protected nodes put a prefix
// before the infix: _c_<uuid>-lock-N, _c_<uuid>-latch-N. These tests make
// such nodes the way Curator does (ephemeral sequential creates in the
// same parent) and check that Warden orders them by sequence, not by name.

// foreign creates an ephemeral sequential node named like Curator's
// protected mode, for session sid, and returns its path and czxid.
func foreign(t *testing.T, st *electionStore, sid uint64, path, uuid, infix, data string) (string, uint64) {
	t.Helper()
	r, err := st.Write(context.Background(), sid, []fsm.Op{
		{Kind: fsm.OpCreate, Path: path + "/_c_" + uuid + "-" + infix, Data: []byte(data), Ephemeral: true, Sequential: true}})
	if err != nil || r.Error() != nil {
		t.Fatalf("create under %s: %v %v", path, err, r.Error())
	}
	return r.Ops[0].Path, r.Ops[0].Stat.Czxid
}

func remove(t *testing.T, st *electionStore, sid uint64, key string) {
	t.Helper()
	r, err := st.Write(context.Background(), sid, []fsm.Op{{Kind: fsm.OpDelete, Path: key, Version: fsm.AnyVersion}})
	if err != nil || r.Error() != nil {
		t.Fatalf("delete %s: %v %v", key, err, r.Error())
	}
}

func childCount(st *electionStore, path string) int {
	kids, _, _, _ := st.Children(path, false)
	return len(kids)
}

// TestLockLineWithCuratorContenders: a Curator contender that came first
// holds the lock against Warden; when it goes, the lock passes to the next
// by sequence (Warden's lock-N), not to a later Curator node whose
// name sorts first (_c_0...-lock-M, M > N), and Check agrees.
func TestLockLineWithCuratorContenders(t *testing.T) {
	const path = "/mixed/lock"
	st := newElectionStore(t)
	c1, c2, w := st.open(), st.open(), st.open()
	ws := Session{Store: st, ID: w}
	if _, err := (Session{Store: st, ID: c1}).createWithContainers(context.Background(), path,
		fsm.Op{Kind: fsm.OpCreate, Path: path + "/readme", Data: []byte("not in line")}); err != nil {
		t.Fatal(err)
	}
	k1, tok1 := foreign(t, st, c1, path, "ffffffff-0000-0000-0000-000000000001", lockPrefix, "")
	if _, err := ws.Acquire(context.Background(), path, 0); !errors.Is(err, ErrNotAcquired) {
		t.Fatalf("try while a Curator contender holds: %v", err)
	}
	if ok, err := Check(st, path, tok1); err != nil || !ok {
		t.Fatalf("Check(Curator holder) = %v, %v; want true", ok, err)
	}
	type acquired struct {
		l   *Lease
		err error
	}
	got := make(chan acquired, 1)
	go func() {
		l, err := ws.Acquire(context.Background(), path, -1)
		got <- acquired{l, err}
	}()
	eventuallyTrue(t, func() bool { return childCount(st, path) == 3 }) // readme, c1, w
	k2, tok2 := foreign(t, st, c2, path, "00000000-0000-0000-0000-000000000002", lockPrefix, "")
	select {
	case a := <-got:
		t.Fatalf("acquired while a Curator contender holds: %+v %v", a.l, a.err)
	default:
	}
	remove(t, st, c1, k1)
	var a acquired
	select {
	case a = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("not granted after the Curator holder released")
	}
	if a.err != nil {
		t.Fatal(a.err)
	}
	// Granted though k2's name sorts first: k2 came later.
	if !(baseName(k2) < baseName(a.l.Key)) || !lineBefore(baseName(a.l.Key), baseName(k2), lockPrefix) {
		t.Fatalf("granted %s with %s in line: not the case under test", a.l.Key, k2)
	}
	if ok, _ := Check(st, path, a.l.Token); !ok {
		t.Fatal("Check(Warden holder) = false")
	}
	if ok, _ := Check(st, path, tok2); ok {
		t.Fatalf("Check(%s, behind the holder) = true", k2)
	}
	h, err := Holdings(st, st.Ephemerals(w))
	if err != nil || len(h) != 1 || h[0].State != StateHeld {
		t.Fatalf("holdings of the Warden holder: %+v %v", h, err)
	}
	// The Curator contender behind: the line's second place.
	if first, err := predecessor(st, path, k2); err != nil || first != a.l.Key {
		t.Fatalf("predecessor of %s = %q, %v; want %s", k2, first, err, a.l.Key)
	}
}

// TestElectionWithCuratorLatches: a Curator LeaderLatch's node that came
// first leads against a Warden candidate, Leader and an Observer name it,
// and when it goes, leadership passes by sequence to the Warden candidate,
// not to a later latch whose name sorts first.
func TestElectionWithCuratorLatches(t *testing.T) {
	const path = "/mixed/election"
	st := newElectionStore(t)
	c1, c2, w := st.open(), st.open(), st.open()
	ws := Session{Store: st, ID: w}
	o, err := NewObserver(st, path)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if l := nextLeaderOf(t, o); l.Key != "" {
		t.Fatalf("first event %+v, want none", l)
	}
	if _, err := (Session{Store: st, ID: c1}).createWithContainers(context.Background(), path,
		fsm.Op{Kind: fsm.OpCreate, Path: path + "/readme"}); err != nil {
		t.Fatal(err)
	}
	k1, tok1 := foreign(t, st, c1, path, "ffffffff-0000-0000-0000-000000000001", candidatePrefix, "curator-1")
	if l := nextLeaderOf(t, o); l.Key != k1 || l.Token != tok1 || string(l.Value) != "curator-1" {
		t.Fatalf("observer: %+v, want %s", l, k1)
	}
	if _, err := ws.Campaign(context.Background(), path, []byte("warden"), 0); !errors.Is(err, ErrNotAcquired) {
		t.Fatalf("try while a Curator latch leads: %v", err)
	}
	type won struct {
		l   *Leadership
		err error
	}
	got := make(chan won, 1)
	go func() {
		l, err := ws.Campaign(context.Background(), path, []byte("warden"), -1)
		got <- won{l, err}
	}()
	eventuallyTrue(t, func() bool { return childCount(st, path) == 3 })
	k2, _ := foreign(t, st, c2, path, "00000000-0000-0000-0000-000000000002", candidatePrefix, "curator-2")
	if l, err := Leader(st, path); err != nil || l.Key != k1 {
		t.Fatalf("Leader = %+v, %v; want %s", l, err, k1)
	}
	select {
	case g := <-got:
		t.Fatalf("elected while a Curator latch leads: %+v %v", g.l, g.err)
	default:
	}
	remove(t, st, c1, k1)
	var g won
	select {
	case g = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("not elected after the Curator leader left")
	}
	if g.err != nil {
		t.Fatal(g.err)
	}
	if !(baseName(k2) < baseName(g.l.Key)) || !lineBefore(baseName(g.l.Key), baseName(k2), candidatePrefix) {
		t.Fatalf("elected %s with %s in line: not the case under test", g.l.Key, k2)
	}
	if l, err := Leader(st, path); err != nil || l.Key != g.l.Key || string(l.Value) != "warden" {
		t.Fatalf("Leader = %+v, %v; want %s", l, err, g.l.Key)
	}
	if l := nextLeaderOf(t, o); l.Key != g.l.Key {
		t.Fatalf("observer: %+v, want %s (not %s)", l, g.l.Key, k2)
	}
	// Warden resigns: the later Curator latch leads.
	if err := ws.Resign(context.Background(), g.l.Key, g.l.Token); err != nil {
		t.Fatal(err)
	}
	if l := nextLeaderOf(t, o); l.Key != k2 || string(l.Value) != "curator-2" {
		t.Fatalf("observer after resign: %+v, want %s", l, k2)
	}
}
