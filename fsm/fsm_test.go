package fsm

import (
	"bytes"
	"errors"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// applier feeds commands to an FSM with increasing indexes, as Raft would.
type applier struct {
	t     testing.TB
	f     *FSM
	index uint64
}

func newApplier(t testing.TB) *applier { return &applier{t: t, f: New()} }

func (a *applier) apply(ct CommandType, body any) *Result {
	a.t.Helper()
	b, err := Encode(ct, body)
	if err != nil {
		a.t.Fatal(err)
	}
	a.index++
	r, _ := a.f.Apply(&raft.Log{Index: a.index, Type: raft.LogCommand, Data: b}).(*Result)
	return r
}

func (a *applier) open() uint64 {
	a.t.Helper()
	r := a.apply(CmdOpenSession, &OpenSession{Time: 1, Session: Session{TimeoutMs: 1000, Owner: "t"}})
	if r.Err != nil {
		a.t.Fatal(r.Err)
	}
	return r.Session
}

func (a *applier) write(sid uint64, ops ...Op) *Result {
	a.t.Helper()
	return a.apply(CmdWrite, &Write{Session: sid, Time: int64(a.index) * 10, Ops: ops})
}

func TestCreateGetDelete(t *testing.T) {
	a := newApplier(t)
	sid := a.open()
	r := a.write(sid, Op{Kind: OpCreate, Path: "/a", Data: []byte("x")})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	data, st, _, err := a.f.Get("/a", false)
	if err != nil || string(data) != "x" || st.Czxid != r.Zxid || st.Version != 0 || st.DataLength != 1 {
		t.Fatalf("get: %q %+v %v", data, st, err)
	}
	r = a.write(sid, Op{Kind: OpCreate, Path: "/a", Data: []byte("y")})
	if !errors.Is(r.Error(), ErrNodeExists) {
		t.Fatalf("want node exists, got %v", r.Error())
	}
	r = a.write(sid, Op{Kind: OpCreate, Path: "/a/s-", Sequential: true, Ephemeral: true})
	if r.Err != nil || r.Ops[0].Path != "/a/s-0000000000" {
		t.Fatalf("sequential: %+v", r)
	}
	_, pst, _, _ := a.f.Get("/a", false)
	if pst.NumChildren != 1 || pst.Cversion != 1 || pst.Pzxid != r.Zxid {
		t.Fatalf("parent stat %+v", pst)
	}
	if r := a.write(sid, Op{Kind: OpDelete, Path: "/a", Version: AnyVersion}); !errors.Is(r.Error(), ErrNotEmpty) {
		t.Fatalf("want not empty, got %v", r.Error())
	}
	a.apply(CmdCloseSession, &CloseSession{Session: sid, Reason: CloseClean})
	kids, _, _, _ := a.f.Children("/a", false)
	if len(kids) != 0 {
		t.Fatalf("ephemeral survived its session: %v", kids)
	}
}

func TestMultiAllOrNothing(t *testing.T) {
	a := newApplier(t)
	r := a.write(0,
		Op{Kind: OpCreate, Path: "/x"},
		Op{Kind: OpCreate, Path: "/x/y"},
		Op{Kind: OpCheck, Path: "/x", Version: 7},
	)
	if !errors.Is(r.Error(), ErrBadVersion) || r.Failed != 2 {
		t.Fatalf("want bad version at op 2, got %+v", r)
	}
	if _, ok, _, _ := a.f.Exists("/x", false); ok {
		t.Fatal("failed multi left /x behind")
	}
}

func TestWatchFiresOnDelete(t *testing.T) {
	a := newApplier(t)
	a.write(0, Op{Kind: OpCreate, Path: "/w"})
	_, ok, w, _ := a.f.Exists("/w", true)
	if !ok || w == nil {
		t.Fatal("exists")
	}
	a.write(0, Op{Kind: OpDelete, Path: "/w", Version: AnyVersion})
	select {
	case ev := <-w.C():
		if ev.Type != EventDeleted || ev.Path != "/w" {
			t.Fatalf("event %+v", ev)
		}
	default:
		t.Fatal("watch did not fire")
	}
	if n := a.f.WatchCount(); n != 0 {
		t.Fatalf("%d watches left", n)
	}
}

func TestContainerGoesWithLastChild(t *testing.T) {
	a := newApplier(t)
	a.write(0, Op{Kind: OpCreate, Path: "/c", Container: true})
	a.write(0, Op{Kind: OpCreate, Path: "/c/k"})
	a.write(0, Op{Kind: OpDelete, Path: "/c/k", Version: AnyVersion})
	if _, ok, _, _ := a.f.Exists("/c", false); ok {
		t.Fatal("container survived its last child")
	}
}

func TestDedupRetriedWrite(t *testing.T) {
	a := newApplier(t)
	sid := a.open()
	w := &Write{Session: sid, Seq: 1, MinUnacked: 1, Ops: []Op{{Kind: OpCreate, Path: "/q-", Sequential: true}}}
	r1 := a.apply(CmdWrite, w)
	r2 := a.apply(CmdWrite, w)
	if r1.Err != nil || r2.Ops[0].Path != r1.Ops[0].Path {
		t.Fatalf("retry not deduplicated: %+v %+v", r1, r2)
	}
	kids, _, _, _ := a.f.Children("/", false)
	if len(kids) != 1 {
		t.Fatalf("retry created a second node: %v", kids)
	}
	a.apply(CmdWrite, &Write{Session: sid, Seq: 2, MinUnacked: 2, Ops: []Op{{Kind: OpCreate, Path: "/z"}}})
	if r := a.apply(CmdWrite, w); !errors.Is(r.Error(), ErrStaleRequest) {
		t.Fatalf("want stale request, got %+v", r)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	a := newApplier(t)
	sid := a.open()
	a.write(sid, Op{Kind: OpCreate, Path: "/a", Data: []byte("1")})
	a.write(sid, Op{Kind: OpCreate, Path: "/a/e", Ephemeral: true})
	var buf bytes.Buffer
	if err := a.f.current().writeTo(&buf); err != nil {
		t.Fatal(err)
	}
	f2 := New()
	if err := f2.Restore(nopCloser{&buf}); err != nil {
		t.Fatal(err)
	}
	var b1, b2 bytes.Buffer
	_ = a.f.current().writeTo(&b1)
	_ = f2.current().writeTo(&b2)
	if !bytes.Equal(b1.Bytes(), b2.Bytes()) {
		t.Fatal("restored tree differs")
	}
	if got := f2.current().ephemeralsOf(sid); len(got) != 1 || got[0] != "/a/e" {
		t.Fatalf("ephemeral index not rebuilt: %v", got)
	}
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

func TestCheckEntry(t *testing.T) {
	good, _ := Encode(CmdWrite, &Write{Ops: []Op{{Kind: OpCreate, Path: "/a"}}})
	if err := Check(good); err != nil {
		t.Fatalf("good entry refused: %v", err)
	}
	for name, e := range map[string][]byte{
		"empty":        nil,
		"unknown type": {0x7f, 0x80},
		"garbage body": {byte(CmdWrite), 0xc1},
		"wrong shape":  {byte(CmdOpenSession), 0x93, 1, 2, 3},
	} {
		if Check(e) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := Check([]byte{byte(IgnoreUnknownFlag | 0x10), 0xc1}); err != nil {
		t.Errorf("an ignorable unknown command was refused: %v", err)
	}
}

// TestCreateIfMissing: a create-if-missing of an existing node succeeds
// and changes nothing (no version, no event); of a missing one, creates it.
func TestCreateIfMissing(t *testing.T) {
	a := newApplier(t)
	a.write(0, Op{Kind: OpCreate, Path: "/p", Data: []byte("mine")})
	var events []Event
	a.f.OnApply = func(_ uint64, evs []Event) { events = append(events, evs...) }
	r := a.write(0,
		Op{Kind: OpCreate, Path: "/p", Container: true, IfMissing: true},
		Op{Kind: OpCreate, Path: "/p/c", Container: true, IfMissing: true},
		Op{Kind: OpCreate, Path: "/p/c/n-", Sequential: true})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if len(events) != 4 { // /p/c created, /p's children, /p/c/n created, /p/c's children
		t.Fatalf("want the events of two creates, got %+v", events)
	}
	data, st, _, _ := a.f.Get("/p", false)
	if string(data) != "mine" || st.Version != 0 || r.Ops[0].Stat.Czxid != st.Czxid {
		t.Fatalf("/p changed: %q %+v (result %+v)", data, st, r.Ops[0])
	}
	if r := a.write(0, Op{Kind: OpCreate, Path: "/p/x-", Sequential: true, IfMissing: true}); CodeOf(r.Err) != CodeBadArguments {
		t.Fatalf("sequential if-missing: want bad_arguments, got %v", r.Err)
	}
}

// TestParentAndQuoteName: the path helpers the recipes and the socket
// server share.
func TestParentAndQuoteName(t *testing.T) {
	for p, want := range map[string]string{"/": "/", "/a": "/", "/a/b": "/a", "/a/b/c-0000000001": "/a/b"} {
		if got := Parent(p); got != want {
			t.Errorf("Parent(%q) = %q, want %q", p, got, want)
		}
	}
	if got := QuoteName("/a"); got != `"/a"` {
		t.Errorf("QuoteName(/a) = %s", got)
	}
	long := "/" + strings.Repeat("x", 100)
	if got := QuoteName(long); got != `"`+long[:64]+`..."` {
		t.Errorf("QuoteName of 101 bytes = %s", got)
	}
}

// TestResumeStartsAnEpoch: a write the old owner still had in flight when
// its session moved, applied after the resume, is refused as stale, and
// the new owner's writes, numbered after the resume's MaxSeq, are never
// answered with the old write's cached result.
func TestResumeStartsAnEpoch(t *testing.T) {
	a := newApplier(t)
	secret := []byte("0123456789abcdef")
	r := a.apply(CmdOpenSession, &OpenSession{Time: 1, Session: Session{TimeoutMs: 1000, Owner: "old", Resumable: true, Secret: secret}})
	sid := r.Session
	done := &Write{Session: sid, Seq: 1, MinUnacked: 1, Ops: []Op{{Kind: OpCreate, Path: "/a"}}}
	if r := a.apply(CmdWrite, done); r.Err != nil {
		t.Fatal(r.Err)
	}
	res := a.apply(CmdResume, &Resume{Time: 2, Session: sid, Secret: secret, Owner: "new"})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if res.MaxSeq < 2 {
		t.Fatalf("MaxSeq %d: the new owner would reuse the old owner's next sequence", res.MaxSeq)
	}
	// The old owner's next write, proposed before the resume applied.
	late := &Write{Session: sid, Seq: 2, MinUnacked: 1, Ops: []Op{{Kind: OpCreate, Path: "/late"}}}
	if r := a.apply(CmdWrite, late); !errors.Is(r.Error(), ErrStaleRequest) {
		t.Fatalf("the old owner's late write: %+v, want refused as stale", r)
	}
	if _, ok, _, _ := a.f.Exists("/late", false); ok {
		t.Fatal("the old owner's late write was applied after its session moved")
	}
	next := res.MaxSeq + 1
	w := &Write{Session: sid, Seq: next, MinUnacked: next, Ops: []Op{{Kind: OpCreate, Path: "/b"}}}
	if r := a.apply(CmdWrite, w); r.Err != nil || r.Ops[0].Path != "/b" {
		t.Fatalf("the new owner's first write: %+v", r)
	}
	// A second move starts another epoch.
	res2 := a.apply(CmdResume, &Resume{Time: 3, Session: sid, Secret: secret, Owner: "old"})
	if res2.Err != nil || res2.MaxSeq <= next {
		t.Fatalf("second resume: %+v (MaxSeq must pass %d)", res2, next)
	}
}

// TestSnapNodeBytes: the hand-written snapshot node is byte for byte what
// the reflective encoder writes for snapNode, so snapshots keep their
// format, whatever the node holds.
func TestSnapNodeBytes(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	nodes := []*Node{
		{},
		{Data: []byte{}},
		{Data: bytes.Repeat([]byte("x"), 70_000), Container: true},
		{Stat: Stat{Czxid: math.MaxUint64, Ctime: math.MinInt64, Mtime: -1, Version: math.MinInt32,
			Cversion: math.MaxInt32, Aversion: -1, EphemeralOwner: 1, DataLength: 5, NumChildren: 3, TTL: -5}},
		{Data: []byte("v"), Stat: Stat{TTL: 60_000}, Container: true},
	}
	// Every field set: a field added to Node or Stat but not to
	// writeSnapNode is missing from its bytes even when it is omitempty.
	full := &Node{Data: []byte("d"), Container: true}
	setEveryField(reflect.ValueOf(&full.Stat).Elem())
	nodes = append(nodes, full)
	for i := 0; i < 500; i++ {
		n := &Node{Container: rng.Intn(2) == 0, Stat: Stat{
			Czxid: rng.Uint64() >> rng.Intn(64), Mzxid: rng.Uint64() >> rng.Intn(64), Pzxid: rng.Uint64() >> rng.Intn(64),
			Ctime: rng.Int63() >> rng.Intn(63), Mtime: -rng.Int63() >> rng.Intn(63),
			Version: int32(rng.Uint32()), Cversion: int32(rng.Intn(300)), Aversion: int32(rng.Intn(3)),
			EphemeralOwner: uint64(rng.Intn(2)) * rng.Uint64(), DataLength: int32(rng.Intn(1 << 20)),
			NumChildren: int32(rng.Intn(70_000)), TTL: int64(rng.Intn(2)) * rng.Int63n(1<<40),
		}}
		if rng.Intn(3) > 0 {
			n.Data = make([]byte, rng.Intn(300))
			rng.Read(n.Data)
		}
		nodes = append(nodes, n)
	}
	for i, n := range nodes {
		key := strings.Repeat("/k", i%40)
		var want, got bytes.Buffer
		if err := msgpack.NewEncoder(&want).Encode(snapNode{Key: key, Node: n}); err != nil {
			t.Fatal(err)
		}
		if err := writeSnapNode(msgpack.NewEncoder(&got), key, n); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("node %d (%+v): wrote\n%x\nthe reflective encoder writes\n%x", i, n.Stat, got.Bytes(), want.Bytes())
		}
		var back snapNode
		if err := msgpack.NewDecoder(&got).Decode(&back); err != nil || back.Key != key || !reflect.DeepEqual(back.Node, n) {
			t.Fatalf("node %d: read back %+v (%v), want %+v", i, back.Node, err, n)
		}
	}
}

// setEveryField sets every integer field of the struct v to a distinct
// value that is not zero.
func setEveryField(v reflect.Value) {
	for i := 0; i < v.NumField(); i++ {
		switch f := v.Field(i); f.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			f.SetInt(int64(i + 1))
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			f.SetUint(uint64(i + 1))
		default:
			panic("setEveryField: add a case for " + f.Kind().String())
		}
	}
}
