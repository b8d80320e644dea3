package recipes

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/warden-dev/warden/fsm"
)

// electionStore is a Store on a bare FSM: every write is applied at once as the
// next log entry.
type electionStore struct {
	*fsm.FSM
	t      testing.TB
	mu     sync.Mutex
	index  uint64
	delays sync.Map // lock path -> time.Time, as an agent times them
}

func newElectionStore(t testing.TB) *electionStore {
	m := &electionStore{FSM: fsm.New(), t: t}
	m.FSM.OnLockDelay = func(d fsm.LockDelay) { m.delays.Store(d.Path, time.Now().Add(d.Delay)) }
	return m
}

// LockDelay is the agent's: timed from when the close was applied.
func (m *electionStore) LockDelay(path string) time.Time {
	if v, ok := m.delays.Load(path); ok && v.(time.Time).After(time.Now()) {
		return v.(time.Time)
	}
	return time.Time{}
}

func (m *electionStore) apply(ct fsm.CommandType, body any) *fsm.Result {
	m.t.Helper()
	b, err := fsm.Encode(ct, body)
	if err != nil {
		m.t.Fatal(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.index++
	r, _ := m.FSM.Apply(&raft.Log{Index: m.index, Type: raft.LogCommand, Data: b}).(*fsm.Result)
	return r
}

func (m *electionStore) Write(_ context.Context, sid uint64, ops []fsm.Op) (*fsm.Result, error) {
	return m.apply(fsm.CmdWrite, &fsm.Write{Session: sid, Time: time.Now().UnixMilli(), Ops: ops}), nil
}

func (m *electionStore) open() uint64 {
	m.t.Helper()
	r := m.apply(fsm.CmdOpenSession, &fsm.OpenSession{Time: time.Now().UnixMilli(), Session: fsm.Session{TimeoutMs: 10_000, Owner: "t"}})
	if r.Err != nil {
		m.t.Fatal(r.Err)
	}
	return r.Session
}

func (m *electionStore) close(sid uint64, reason fsm.CloseReason, delay time.Duration) {
	m.apply(fsm.CmdCloseSession, &fsm.CloseSession{Time: time.Now().UnixMilli(), Session: sid, Reason: reason, LockDelayMs: delay.Milliseconds()})
}

// restoreFrom replaces m's tree with a snapshot of other's, as a replica
// does when it installs a snapshot.
func (m *electionStore) restoreFrom(other *electionStore) {
	m.t.Helper()
	snap, err := other.FSM.Snapshot()
	if err != nil {
		m.t.Fatal(err)
	}
	var sink electionSnapSink
	if err := snap.Persist(&sink); err != nil {
		m.t.Fatal(err)
	}
	if err := m.FSM.Restore(io.NopCloser(&sink.Buffer)); err != nil {
		m.t.Fatal(err)
	}
	m.mu.Lock()
	m.index = max(m.index, other.index) + 1
	m.mu.Unlock()
}

type electionSnapSink struct{ bytes.Buffer }

func (*electionSnapSink) ID() string    { return "test" }
func (*electionSnapSink) Cancel() error { return nil }
func (*electionSnapSink) Close() error  { return nil }

func mustCampaign(t *testing.T, st Store, sid uint64, path, value string) *Leadership {
	t.Helper()
	l, err := (Session{Store: st, ID: sid}).Campaign(context.Background(), path, []byte(value), 0)
	if err != nil {
		t.Fatalf("campaign %s: %v", value, err)
	}
	return l
}

func nextLeaderOf(t *testing.T, o *Observer) LeaderInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	l, err := o.Next(ctx)
	if err != nil {
		t.Fatalf("observer: %v", err)
	}
	return l
}

func noLeaderEventOn(t *testing.T, o *Observer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if l, err := o.Next(ctx); err == nil {
		t.Fatalf("unexpected leader event %+v", l)
	}
}

// TestObserverAcrossResync: when the tree under an observer is replaced (a
// snapshot installed), the observer reports the leader of the new state,
// and only if it differs from the last one it reported.
func TestObserverAcrossResync(t *testing.T) {
	// The stream has unread history (an unrelated change) when the tree is
	// replaced.
	t.Run("unread history", func(t *testing.T) { observerAcrossResync(t, true) })
	// The stream has read everything when the tree is replaced.
	t.Run("caught up", func(t *testing.T) {
		observerAcrossResync(t, false)
	})
}

func observerAcrossResync(t *testing.T, unread bool) {
	const path = "/e"
	st := newElectionStore(t)
	restore := func(from *electionStore) {
		t.Helper()
		if unread {
			st.apply(fsm.CmdWrite, &fsm.Write{Time: time.Now().UnixMilli(), Ops: []fsm.Op{
				{Kind: fsm.OpCreate, Path: "/unrelated-", Sequential: true}}})
		}
		st.restoreFrom(from)
	}
	o, err := NewObserver(st, path)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if l := nextLeaderOf(t, o); l.Key != "" {
		t.Fatalf("first event %+v, want none", l)
	}
	a, b := st.open(), st.open()
	la := mustCampaign(t, st, a, path, "a")
	if _, err := (Session{Store: st, ID: b}).Campaign(context.Background(), path, []byte("b"), 0); !errors.Is(err, ErrNotAcquired) {
		t.Fatalf("try while a leads: %v", err)
	}
	if l := nextLeaderOf(t, o); l.Key != la.Key || string(l.Value) != "a" || l.Token != la.Token {
		t.Fatalf("got %+v, want a %+v", l, la)
	}
	noLeaderEventOn(t, o) // b's try came and went behind a

	// The same tree, installed as a snapshot: nothing to report.
	restore(st)
	noLeaderEventOn(t, o)

	// Another tree in which b leads.
	other := newElectionStore(t)
	oa, ob := other.open(), other.open()
	mustCampaign(t, other, oa, path, "x")
	go func() { _, _ = (Session{Store: other, ID: ob}).Campaign(context.Background(), path, []byte("y"), -1) }()
	eventuallyTrue(t, func() bool { kids, _, _, _ := other.Children(path, false); return len(kids) == 2 })
	other.close(oa, fsm.CloseClean, 0)
	want, err := Leader(other, path)
	if err != nil || string(want.Value) != "y" {
		t.Fatalf("leader of the other tree: %+v %v", want, err)
	}
	restore(other)
	if l := nextLeaderOf(t, o); l.Key != want.Key || l.Token != want.Token || string(l.Value) != "y" {
		t.Fatalf("after the snapshot: %+v, want %+v", l, want)
	}

	// An empty tree: nobody leads.
	restore(newElectionStore(t))
	if l := nextLeaderOf(t, o); l.Key != "" {
		t.Fatalf("after an empty snapshot: %+v, want none", l)
	}
}

// TestCampaignSitsOutLockDelay: after a leader's session expired, a try
// fails and a bounded wait runs out while the lock-delay holds; a clean
// close hands on at once.
func TestCampaignSitsOutLockDelay(t *testing.T) {
	const path = "/d"
	st := newElectionStore(t)
	a, b, c := st.open(), st.open(), st.open()
	mustCampaign(t, st, a, path, "a")
	st.close(a, fsm.CloseExpired, time.Hour)
	if _, err := (Session{Store: st, ID: b}).Campaign(context.Background(), path, nil, 0); !errors.Is(err, ErrNotAcquired) {
		t.Fatalf("try during the lock-delay: %v", err)
	}
	start := time.Now()
	if _, err := (Session{Store: st, ID: b}).Campaign(context.Background(), path, nil, 50*time.Millisecond); !errors.Is(err, ErrNotAcquired) {
		t.Fatalf("bounded wait during the lock-delay: %v", err)
	} else if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("gave up after %v", d)
	}
	if kids, _, _, _ := st.Children(path, false); len(kids) != 0 {
		t.Fatalf("candidates left after giving up: %v", kids)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := (Session{Store: st, ID: b}).Campaign(ctx, path, nil, -1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait until ctx ends during the lock-delay: %v", err)
	}

	// A clean close leaves no delay.
	const clean = "/c"
	mustCampaign(t, st, c, clean, "c")
	st.close(c, fsm.CloseClean, time.Hour)
	if _, err := (Session{Store: st, ID: b}).Campaign(context.Background(), clean, nil, 0); err != nil {
		t.Fatalf("try after a clean close: %v", err)
	}
}

func eventuallyTrue(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
