package zkapi

import (
	"context"
	"encoding/binary"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/warden-dev/warden/fsm"
	"github.com/warden-dev/warden/localapi"
	"github.com/warden-dev/warden/localapi/wire"
)

// treeBackend is a Backend over a real tree, applying each command at
// once as the next log entry: the requests' decoding and handling run
// for real, without a cluster (the tests of zkapi_test run them against
// real agents).
type treeBackend struct {
	*fsm.FSM
	mu    sync.Mutex
	index uint64
	// waiting, when set, hears each WaitIndex call's index before it
	// waits.
	waiting chan uint64
}

func newTreeBackend() *treeBackend { return &treeBackend{FSM: fsm.New()} }

func (b *treeBackend) apply(t fsm.CommandType, body any) *fsm.Result {
	entry, err := fsm.Encode(t, body)
	if err != nil {
		panic(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.index++
	r, _ := b.FSM.Apply(&raft.Log{Index: b.index, Type: raft.LogCommand, Data: entry}).(*fsm.Result)
	return r
}

func now() int64 { return time.Now().UnixMilli() }

func (b *treeBackend) Write(_ context.Context, sid uint64, ops []fsm.Op) (*fsm.Result, error) {
	return b.apply(fsm.CmdWrite, &fsm.Write{Session: sid, Time: now(), Ops: ops}), nil
}
func (b *treeBackend) LockDelay(string) time.Time { return time.Time{} }
func (b *treeBackend) OpenSession(_ context.Context, o localapi.SessionOptions) (fsm.Session, error) {
	secret := []byte("0123456789abcdef")
	r := b.apply(fsm.CmdOpenSession, &fsm.OpenSession{Time: now(), Session: fsm.Session{TimeoutMs: o.Timeout.Milliseconds() + 1, Resumable: true}})
	if err := r.Error(); err != nil {
		return fsm.Session{}, err
	}
	return fsm.Session{ID: r.Session, TimeoutMs: o.Timeout.Milliseconds() + 1, Secret: secret, Resumable: true}, nil
}
func (b *treeBackend) ResumeSession(context.Context, uint64, []byte, func(string)) (fsm.Session, error) {
	return fsm.Session{}, localapi.ErrBadSecret
}
func (b *treeBackend) CloseSession(_ context.Context, id uint64, reason fsm.CloseReason) error {
	b.apply(fsm.CmdCloseSession, &fsm.CloseSession{Time: now(), Session: id, Reason: reason})
	return nil
}
func (b *treeBackend) Detach(uint64)                        {}
func (b *treeBackend) Sync(context.Context) (uint64, error) { return b.FSM.Index(), nil }
func (b *treeBackend) Name() string                         { return "tree" }
func (b *treeBackend) Status() wire.StatusResult {
	return wire.StatusResult{Role: "server", State: "Leader"}
}
func (b *treeBackend) Sessions() []wire.SessionInfo  { return nil }
func (b *treeBackend) Ephemerals(id uint64) []string { return b.FSM.Ephemerals(id) }
func (b *treeBackend) WaitIndex(ctx context.Context, i uint64) error {
	if b.waiting != nil {
		select {
		case b.waiting <- i:
		default:
		}
	}
	return b.FSM.WaitIndex(ctx, i)
}

// testConn is a connection with a session on a fresh tree, for driving
// dispatch directly.
func testConn(t testing.TB) (*treeBackend, *conn) {
	b := newTreeBackend()
	cfg := DefaultConfig()
	cfg.Logger = hclog.NewNullLogger()
	s, err := New(cfg, b)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := b.OpenSession(context.Background(), localapi.SessionOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c := newConn(s, nil)
	c.sid, c.secret, c.timeout = sess.ID, sess.Secret, time.Second
	return b, c
}

// fuzzOps are the opcodes the fuzzer picks from: every one the server
// knows, and one it does not.
var fuzzOps = []int32{opCreate, opDelete, opExists, opGetData, opSetData, opGetACL, opSetACL, opGetChildren,
	opSync, opGetChildren2, opCheck, opMulti, opCreate2, opReconfig, opCheckWatches, opRemoveWatches,
	opCreateContainer, opCreateTTL, opMultiRead, opAuth, opSetWatches, opGetEphemerals, opGetAllChildrenNumber,
	opSetWatches2, opAddWatch, 4242}

// FuzzDispatch: no request body, however malformed, panics the server or
// makes it allocate beyond its frame; each gets a reply or a close.
func FuzzDispatch(f *testing.F) {
	var e encoder
	e.string("/a")
	e.buffer([]byte("x"))
	e.openACL()
	e.int(3)
	f.Add(uint8(0), e.b)
	var m encoder
	multiResult(&m, opCreate, -1)
	m.string("/m")
	m.buffer(nil)
	m.openACL()
	m.int(2)
	multiResult(&m, opCheck, -1)
	m.string("/m")
	m.int(-1)
	multiResult(&m, -1, -1)
	f.Add(uint8(11), m.b)
	var w encoder
	w.long(0)
	w.strings([]string{"/a"})
	w.strings(nil)
	w.strings([]string{"/"})
	w.strings(nil)
	w.strings([]string{"/"})
	f.Add(uint8(23), w.b)
	f.Add(uint8(24), []byte{0, 0, 0, 2, '/', 'a', 0, 0, 0, 1})
	f.Add(uint8(20), binary.BigEndian.AppendUint32(nil, 1<<31-1))
	f.Fuzz(func(t *testing.T, pick uint8, body []byte) {
		b, c := testConn(t)
		op := fuzzOps[int(pick)%len(fuzzOps)]
		rep := c.dispatch(request{xid: 1, op: op, body: body})
		c.watches.add(b, rep.watches, rep.persistent)
		c.watches.poll(b, rep.notes, math.MaxUint64)
		c.watches.close(b)
	})
}

// TestWatchesNotifyOncePerChange: a change that fires a data and a child
// watch and a persistent watch of one connection is notified once.
func TestWatchesNotifyOncePerChange(t *testing.T) {
	b, c := testConn(t)
	var e encoder
	e.string("/n")
	e.buffer(nil)
	e.openACL()
	e.int(0)
	if rep := c.dispatch(request{op: opCreate, body: e.b}); rep.err != errOK {
		t.Fatalf("create: %d", rep.err)
	}
	for _, op := range []int32{opGetData, opGetChildren, opGetData} {
		var r encoder
		r.string("/n")
		r.bool(true)
		rep := c.dispatch(request{op: op, body: r.b})
		c.watches.add(b, rep.watches, rep.persistent)
	}
	var a encoder
	a.string("/n")
	a.int(addWatchPersistentRecursive)
	rep := c.dispatch(request{op: opAddWatch, body: a.b})
	c.watches.add(b, rep.watches, rep.persistent)
	if n := c.watches.poll(b, nil, math.MaxUint64); len(n) != 0 {
		t.Fatalf("notifications before any change: %+v", n)
	}
	var d encoder
	d.string("/n")
	d.int(-1)
	if rep := c.dispatch(request{op: opDelete, body: d.b}); rep.err != errOK {
		t.Fatalf("delete: %d", rep.err)
	}
	got := c.watches.poll(b, nil, math.MaxUint64)
	if len(got) != 1 || got[0].typ != eventNodeDeleted || got[0].path != "/n" {
		t.Fatalf("notifications of one delete: %+v; want one NodeDeleted", got)
	}
	if got := c.watches.poll(b, nil, math.MaxUint64); len(got) != 0 {
		t.Fatalf("the delete notified again: %+v", got)
	}
}

// TestErrorCodesAreZooKeepers: every refusal of the tree maps to
// ZooKeeper's code for it.
func TestErrorCodesAreZooKeepers(t *testing.T) {
	for code, want := range map[fsm.Code]int32{
		fsm.CodeOK: 0, fsm.CodeNoNode: -101, fsm.CodeNodeExists: -110, fsm.CodeBadVersion: -103,
		fsm.CodeNotEmpty: -111, fsm.CodeNoChildrenForEphemerals: -108, fsm.CodeBadArguments: -8,
		fsm.CodeSessionExpired: -112, fsm.CodeTooLarge: -8, fsm.CodePermissionDenied: -102, fsm.CodeStaleRequest: -118,
	} {
		if got := codeOf(&fsm.Error{Code: code}); got != want {
			t.Errorf("fsm code %d maps to %d; want %d", code, got, want)
		}
	}
	// A write after the session ended: SESSIONEXPIRED.
	b, c := testConn(t)
	if err := b.CloseSession(context.Background(), c.sid, fsm.CloseExpired); err != nil {
		t.Fatal(err)
	}
	var e encoder
	e.string("/x")
	e.buffer(nil)
	e.openACL()
	e.int(0)
	if rep := c.dispatch(request{op: opCreate, body: e.b}); rep.err != errSessionExpired {
		t.Fatalf("create after the session ended: %d; want SESSIONEXPIRED", rep.err)
	}
}
