package fsm

import (
	"bytes"
	"testing"
)

// writeAt applies a write stamped with time t.
func (a *applier) writeAt(t int64, ops ...Op) *Result {
	a.t.Helper()
	r := a.apply(CmdWrite, &Write{Time: t, Ops: ops})
	if r.Err != nil {
		a.t.Fatalf("write at %d: %v", t, r.Err)
	}
	return r
}

// expire applies a CmdExpireTTL at time t naming nodes and returns the
// paths it deleted.
func (a *applier) expire(t int64, nodes ...TTLExpiry) []string {
	a.t.Helper()
	r := a.apply(CmdExpireTTL, &ExpireTTL{Time: t, Nodes: nodes})
	if r == nil || r.Err != nil {
		a.t.Fatalf("expire at %d: %+v", t, r)
	}
	var out []string
	for _, o := range r.Ops {
		out = append(out, o.Path)
	}
	return out
}

func (a *applier) exists(p string) (Stat, bool) {
	st, ok, _, err := a.f.Exists(p, false)
	if err != nil {
		a.t.Fatal(err)
	}
	return st, ok
}

// TestTTLExpiresAtDeadline: a TTL node is due exactly TTL after its
// Mtime; an expiry entry stamped earlier leaves it, one stamped at the
// deadline deletes it, fires its watch, and two replicas applying the
// same entries end with the same bytes. Watches and subscriptions hear an
// ordinary delete.
func TestTTLExpiresAtDeadline(t *testing.T) {
	a, b := newApplier(t), newApplier(t)
	both := func(f func(*applier)) { f(a); f(b) }
	both(func(x *applier) { x.writeAt(1000, Op{Kind: OpCreate, Path: "/t", Data: []byte("x"), TTL: 500}) })
	st, ok := a.exists("/t")
	if !ok || st.TTL != 500 || st.Mtime != 1000 {
		t.Fatalf("stat of a TTL node: %+v %v", st, ok)
	}
	if got := a.f.ExpiredTTL(1499, 10); len(got) != 0 {
		t.Fatalf("due before its deadline: %+v", got)
	}
	due := a.f.ExpiredTTL(1500, 10)
	if len(due) != 1 || due[0] != (TTLExpiry{Path: "/t", Mzxid: st.Mzxid}) {
		t.Fatalf("due at its deadline: %+v", due)
	}
	_, _, w, _ := a.f.Get("/t", true)
	sub, err := a.f.Subscribe("/t", ScopeNode, a.f.Index())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	both(func(x *applier) {
		if got := x.expire(1499, due...); len(got) != 0 {
			t.Fatalf("an entry stamped before the deadline deleted %v", got)
		}
	})
	if _, ok := a.exists("/t"); !ok {
		t.Fatal("gone before its deadline")
	}
	both(func(x *applier) {
		if got := x.expire(1500, due...); len(got) != 1 || got[0] != "/t" {
			t.Fatalf("at the deadline deleted %v", got)
		}
	})
	if _, ok := a.exists("/t"); ok {
		t.Fatal("still there after its expiry")
	}
	select {
	case ev := <-w.C():
		if ev.Type != EventDeleted || ev.Path != "/t" {
			t.Fatalf("watch heard %+v", ev)
		}
	default:
		t.Fatal("the data watch did not fire on expiry")
	}
	if ev := next(t, sub); ev.Type != EventDeleted || ev.Path != "/t" || ev.Stat.TTL != 500 {
		t.Fatalf("a subscription heard %+v, want /t deleted", ev)
	}
	if a.f.TTLNodes() != 0 {
		t.Fatalf("TTL index still holds %d nodes", a.f.TTLNodes())
	}
	if !bytes.Equal(snapshotBytes(t, a.f), snapshotBytes(t, b.f)) {
		t.Fatal("two replicas applying the same entries differ")
	}
}

// TestTTLWaitsForChildren: a due TTL node with a child is not listed and
// not deleted; once the child goes, it is.
func TestTTLWaitsForChildren(t *testing.T) {
	a := newApplier(t)
	a.writeAt(1000, Op{Kind: OpCreate, Path: "/logs", TTL: 100})
	a.writeAt(1001, Op{Kind: OpCreate, Path: "/logs/a"})
	st, _ := a.exists("/logs")
	if got := a.f.ExpiredTTL(5000, 10); len(got) != 0 {
		t.Fatalf("a node with a child is due: %+v", got)
	}
	if got := a.expire(5000, TTLExpiry{Path: "/logs", Mzxid: st.Mzxid}); len(got) != 0 {
		t.Fatalf("a forged expiry deleted a node with a child: %v", got)
	}
	if _, ok := a.exists("/logs/a"); !ok {
		t.Fatal("the child went")
	}
	a.writeAt(5001, Op{Kind: OpDelete, Path: "/logs/a", Version: AnyVersion})
	due := a.f.ExpiredTTL(5001, 10)
	if len(due) != 1 || due[0].Path != "/logs" {
		t.Fatalf("childless again, due: %+v", due)
	}
	if got := a.expire(5001, due...); len(got) != 1 {
		t.Fatalf("deleted %v", got)
	}
}

// TestTTLSetRestartsCountdown: a set keeps the TTL and moves Mtime, so
// the node is due TTL after the set; an expiry naming the node as it was
// before the set is a no-op even past the new deadline.
func TestTTLSetRestartsCountdown(t *testing.T) {
	a := newApplier(t)
	a.writeAt(1000, Op{Kind: OpCreate, Path: "/t", TTL: 100})
	old, _ := a.exists("/t")
	stale := a.f.ExpiredTTL(1100, 10)
	r := a.writeAt(1050, Op{Kind: OpSet, Path: "/t", Data: []byte("y"), Version: AnyVersion})
	if st := r.Ops[0].Stat; st.TTL != 100 || st.Mtime != 1050 {
		t.Fatalf("stat after set: %+v", st)
	}
	if got := a.f.ExpiredTTL(1100, 10); len(got) != 0 {
		t.Fatalf("due at the old deadline: %+v", got)
	}
	if got := a.expire(1100, stale...); len(got) != 0 {
		t.Fatalf("an expiry seen before the set deleted %v", got)
	}
	if got := a.expire(9999, TTLExpiry{Path: "/t", Mzxid: old.Mzxid}); len(got) != 0 {
		t.Fatalf("an expiry naming the old mzxid deleted %v", got)
	}
	cur, _ := a.exists("/t")
	if got := a.expire(1149, TTLExpiry{Path: "/t", Mzxid: cur.Mzxid}); len(got) != 0 {
		t.Fatalf("deleted before the new deadline: %v", got)
	}
	if due := a.f.ExpiredTTL(1150, 10); len(due) != 1 || due[0].Mzxid != cur.Mzxid {
		t.Fatalf("due at the new deadline: %+v", due)
	}
	if got := a.expire(1150, TTLExpiry{Path: "/t", Mzxid: cur.Mzxid}); len(got) != 1 {
		t.Fatalf("at the new deadline deleted %v", got)
	}
}

// TestTTLForgedExpiryIsNoop: an expiry naming nodes it must not delete
// (no TTL, missing, the root, a bad path) changes nothing and is no error.
func TestTTLForgedExpiryIsNoop(t *testing.T) {
	a := newApplier(t)
	r := a.writeAt(1000, Op{Kind: OpCreate, Path: "/plain"})
	plain, _ := a.exists("/plain")
	root, _ := a.exists("/")
	got := a.expire(1<<50,
		TTLExpiry{Path: "/plain", Mzxid: r.Ops[0].Stat.Mzxid},
		TTLExpiry{Path: "/missing"},
		TTLExpiry{Path: "/"},
		TTLExpiry{Path: "bad//path"})
	if len(got) != 0 {
		t.Fatalf("a forged expiry deleted %v", got)
	}
	plain2, ok := a.exists("/plain")
	root2, _ := a.exists("/")
	if !ok || plain2 != plain || root2 != root || a.f.NodeCount() != 2 {
		t.Fatalf("a forged expiry changed the tree: %+v %+v", plain2, root2)
	}
	if act, err := ActorOf(mustEncode(t, CmdExpireTTL, &ExpireTTL{Time: 1})); err != nil || !act.LeaderOnly {
		t.Fatalf("an expiry entry is not leader-only: %+v %v", act, err)
	}
}

// TestTTLRefusals: a TTL only on a create of a persistent node, within
// bounds; sequential TTL nodes are allowed.
func TestTTLRefusals(t *testing.T) {
	a := newApplier(t)
	sid := a.open()
	a.writeAt(1000, Op{Kind: OpCreate, Path: "/p"})
	for name, op := range map[string]Op{
		"negative":  {Kind: OpCreate, Path: "/p/a", TTL: -1},
		"too long":  {Kind: OpCreate, Path: "/p/a", TTL: MaxTTL + 1},
		"ephemeral": {Kind: OpCreate, Path: "/p/a", TTL: 10, Ephemeral: true},
		"container": {Kind: OpCreate, Path: "/p/a", TTL: 10, Container: true},
		"set":       {Kind: OpSet, Path: "/p", TTL: 10, Version: AnyVersion},
		"delete":    {Kind: OpDelete, Path: "/p", TTL: 10, Version: AnyVersion},
	} {
		r := a.apply(CmdWrite, &Write{Session: sid, Time: 1000, Ops: []Op{op}})
		if CodeOf(r.Error()) != CodeBadArguments {
			t.Errorf("%s: want bad arguments, got %v", name, r.Error())
		}
	}
	r := a.writeAt(1000, Op{Kind: OpCreate, Path: "/p/s-", Sequential: true, TTL: MaxTTL})
	if r.Ops[0].Stat.TTL != MaxTTL {
		t.Fatalf("sequential TTL node: %+v", r.Ops[0])
	}
}

// TestTTLSnapshotRoundTrip: a restored tree keeps each node's TTL and
// rebuilds the index, so its nodes fall due as before.
func TestTTLSnapshotRoundTrip(t *testing.T) {
	a := newApplier(t)
	a.writeAt(1000, Op{Kind: OpCreate, Path: "/t", TTL: 100})
	a.writeAt(1000, Op{Kind: OpCreate, Path: "/plain"})
	f2 := New()
	if err := f2.Restore(nopCloser{bytes.NewBuffer(snapshotBytes(t, a.f))}); err != nil {
		t.Fatal(err)
	}
	st, ok, _, _ := f2.Exists("/t", false)
	if !ok || st.TTL != 100 {
		t.Fatalf("restored TTL node: %+v %v", st, ok)
	}
	if f2.TTLNodes() != 1 {
		t.Fatalf("restored index holds %d nodes", f2.TTLNodes())
	}
	if due := f2.ExpiredTTL(1100, 10); len(due) != 1 || due[0].Path != "/t" {
		t.Fatalf("restored tree, due: %+v", due)
	}
	// A backup restored into another cluster keeps them too.
	b, _, err := ForRestore(bytes.NewReader(persist(t, a.f)), 100, 5000, 0)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := b.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	f3 := New()
	if err := f3.Restore(nopCloser{&buf}); err != nil {
		t.Fatal(err)
	}
	if due := f3.ExpiredTTL(1100, 10); len(due) != 1 || due[0].Path != "/t" {
		t.Fatalf("tree restored from a backup, due: %+v", due)
	}
}

// TestTTLLeavesSnapshotFormat: a tree without TTL nodes snapshots to the
// same bytes as before TTLs existed (no ttl key anywhere), so snapshots
// and backups written by older agents, which have none, load as they did.
func TestTTLLeavesSnapshotFormat(t *testing.T) {
	a := newApplier(t)
	a.writeAt(1000, Op{Kind: OpCreate, Path: "/plain", Data: []byte("x")})
	a.writeAt(1001, Op{Kind: OpSet, Path: "/plain", Version: AnyVersion})
	key := []byte("\xa3ttl") // msgpack's fixstr "ttl"
	if bytes.Contains(snapshotBytes(t, a.f), key) {
		t.Fatal("a snapshot without TTL nodes carries a ttl key")
	}
	a.writeAt(1002, Op{Kind: OpCreate, Path: "/t", TTL: 5})
	if !bytes.Contains(snapshotBytes(t, a.f), key) {
		t.Fatal("a TTL node's snapshot has no ttl key: the test looks for the wrong bytes")
	}
}

// TestTTLExpiredLimit: ExpiredTTL returns at most limit nodes, the
// earliest due first.
func TestTTLExpiredLimit(t *testing.T) {
	a := newApplier(t)
	for i, p := range []string{"/c", "/a", "/b"} {
		a.writeAt(int64(1000+i), Op{Kind: OpCreate, Path: p, TTL: 10})
	}
	due := a.f.ExpiredTTL(2000, 2)
	if len(due) != 2 || due[0].Path != "/c" || due[1].Path != "/a" {
		t.Fatalf("due: %+v", due)
	}
}
