package fsm

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// FSM is the znode tree as a raft.FSM.
//
// Raft calls Apply, Snapshot and Restore from one goroutine; every read
// method may run concurrently with them and with each other. A read that
// sets a watch sees the tree and registers the watch atomically, so no
// change after the read can be missed.
type FSM struct {
	mu      sync.RWMutex // guards st and applied; held for write while a new version is published
	st      *state
	watches *watches
	applied chan struct{} // closed and replaced on every publish
	hist    *history      // recent changes, for subscriptions; guarded by mu
	snaps   snapshotStats // what Persist measured (local, not replicated)

	// OnApply, when set before Raft starts, is called (from the apply
	// goroutine, after publishing) with the events of each entry.
	OnApply func(index uint64, events []Event)
	// OnSessionClosed, when set before Raft starts, is called (from the
	// apply goroutine, after publishing) for each session that ends. It
	// must not block.
	OnSessionClosed func(id uint64, reason CloseReason)
	// OnLockDelay, when set before Raft starts, is called (from the apply
	// goroutine, before the entry is published) for each lock a session's expiry holds
	// back, and for each lock-delay a restored snapshot holds. The agent
	// times the delay from then on its own monotonic clock, so that no two
	// agents' wall clocks are ever compared. It must not block.
	OnLockDelay func(LockDelay)
}

// LockDelay holds back the lock at Path for Delay, from when this agent
// applied the close that started it.
type LockDelay struct {
	Path  string
	Delay time.Duration
}

// New returns an empty tree holding only the root.
func New() *FSM {
	return &FSM{st: newState(), watches: newWatches(), applied: make(chan struct{}), hist: newHistory()}
}

var _ raft.FSM = (*FSM)(nil)

// Apply applies one log entry. A rule violation is returned as a *Result
// with Err set; an entry that cannot be decoded means the log is corrupt,
// and Apply panics rather than let this replica diverge.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand || len(l.Data) == 0 {
		return nil
	}
	t := CommandType(l.Data[0])
	c, ok := commands[t]
	if !ok {
		if t&IgnoreUnknownFlag != 0 {
			f.publish(f.advance(l.Index), nil)
			return nil
		}
		panic(fmt.Sprintf("fsm: unknown command type %d at index %d", t, l.Index))
	}
	body := c.body()
	mustDecode(l.Data[1:], body, l.Index)
	return c.apply(f, l.Index, body)
}

// command is one entry of the dispatch table: a fresh body to decode into,
// and how to apply it.
type command struct {
	body  func() any
	apply func(f *FSM, index uint64, body any) *Result
}

var commands = map[CommandType]command{
	CmdWrite: {
		func() any { return &Write{} },
		func(f *FSM, i uint64, b any) *Result { return f.applyWrite(i, b.(*Write)) },
	},
	CmdOpenSession: {
		func() any { return &OpenSession{} },
		func(f *FSM, i uint64, b any) *Result { return f.applyOpen(i, b.(*OpenSession)) },
	},
	CmdCloseSession: {
		func() any { return &CloseSession{} },
		func(f *FSM, i uint64, b any) *Result { return f.applyClose(i, b.(*CloseSession)) },
	},
	CmdResume: {
		func() any { return &Resume{} },
		func(f *FSM, i uint64, b any) *Result { return f.applyResume(i, b.(*Resume)) },
	},
	CmdExpireTTL: {
		func() any { return &ExpireTTL{} },
		func(f *FSM, i uint64, b any) *Result { return f.applyExpireTTL(i, b.(*ExpireTTL)) },
	},
}

func mustDecode(b []byte, v any, index uint64) {
	if err := msgpack.Unmarshal(b, v); err != nil {
		panic(fmt.Sprintf("fsm: corrupt log entry at index %d: %v", index, err))
	}
}

// advance returns a working copy of the current version at index.
func (f *FSM) advance(index uint64) *state {
	next := f.st.clone() // only the apply goroutine writes f.st
	next.index = index
	return next
}

func (f *FSM) applyWrite(index uint64, w *Write) *Result {
	base := f.st
	c := &change{st: f.advance(index), zxid: index, time: w.Time}
	var sess *Session
	if w.Session != 0 {
		s, ok := c.st.session(w.Session)
		if !ok {
			f.publish(c.st, nil)
			return &Result{Err: ErrSessionExpired, Zxid: index}
		}
		sess = s
		if w.Seq != 0 {
			if w.Seq < s.AckFloor {
				f.publish(c.st, nil)
				return &Result{Err: ErrStaleRequest, Zxid: index}
			}
			if it, ok := c.st.results.Get(resultItem{sid: w.Session, seq: w.Seq}); ok {
				f.publish(c.st, nil)
				return it.res
			}
		}
	}
	ops, failed, err := c.applyOps(w.Session, w.Ops)
	res := &Result{Ops: ops, Zxid: index}
	if err != nil {
		c.st, c.events = base.clone(), nil
		c.st.index = index
		res = &Result{Err: err, Failed: failed, Zxid: index}
	}
	if sess != nil && w.Seq != 0 {
		c.st.results.ReplaceOrInsert(resultItem{sid: w.Session, seq: w.Seq, res: res})
		if w.MinUnacked > sess.AckFloor {
			s := *sess
			s.AckFloor = w.MinUnacked
			c.st.sessions.ReplaceOrInsert(sessionItem{id: s.ID, sess: &s})
			c.dropResults(resultItem{sid: s.ID}, resultItem{sid: s.ID, seq: w.MinUnacked})
		}
	}
	f.publish(c.st, c.events)
	return res
}

func (f *FSM) applyOpen(index uint64, o *OpenSession) *Result {
	st := f.advance(index)
	if o.Session.TimeoutMs <= 0 {
		f.publish(st, nil)
		return &Result{Err: &Error{Code: CodeBadArguments, Msg: "session timeout must be positive"}, Zxid: index}
	}
	s := o.Session
	s.ID = index
	s.Created = o.Time
	s.AckFloor = 0
	st.sessions.ReplaceOrInsert(sessionItem{id: index, sess: &s})
	f.publish(st, nil)
	return &Result{Session: index, Zxid: index}
}

func (f *FSM) applyClose(index uint64, cs *CloseSession) *Result {
	c := &change{st: f.advance(index), zxid: index, time: cs.Time}
	if _, ok := c.st.session(cs.Session); !ok {
		f.publish(c.st, nil)
		return &Result{Err: ErrSessionExpired, Zxid: index}
	}
	delay := int64(0)
	if cs.Reason == CloseExpired {
		delay = cs.LockDelayMs
	}
	c.closeSession(cs.Session, delay)
	// Before publishing: a waiter woken by the holder's node going must
	// already find the delay.
	if f.OnLockDelay != nil {
		for _, d := range c.delays {
			f.OnLockDelay(d)
		}
	}
	f.publish(c.st, c.events)
	if f.OnSessionClosed != nil {
		f.OnSessionClosed(cs.Session, cs.Reason)
	}
	return &Result{Session: cs.Session, Zxid: index}
}

func (f *FSM) applyResume(index uint64, r *Resume) *Result {
	st := f.advance(index)
	s, ok := st.session(r.Session)
	if !ok || !s.Resumable || !bytes.Equal(s.Secret, r.Secret) {
		f.publish(st, nil)
		return &Result{Err: ErrSessionExpired, Zxid: index}
	}
	next := *s
	next.Owner = r.Owner
	st.sessions.ReplaceOrInsert(sessionItem{id: next.ID, sess: &next})
	maxSeq := s.AckFloor
	st.results.DescendLessOrEqual(resultItem{sid: s.ID, seq: ^uint64(0)}, func(it resultItem) bool {
		if it.sid == s.ID {
			maxSeq = max(maxSeq, it.seq)
		}
		return false
	})
	f.publish(st, nil)
	return &Result{Session: s.ID, Zxid: index, MaxSeq: maxSeq}
}

// publish makes st the current version and fires the watches its events
// trigger.
func (f *FSM) publish(st *state, events []Event) {
	f.mu.Lock()
	f.st = st
	if len(events) > 0 {
		f.watches.fire(events)
		if events[0].Type == EventResync {
			f.hist.reset(st.index)
		} else {
			f.hist.append(events)
		}
	}
	close(f.applied)
	f.applied = make(chan struct{})
	f.mu.Unlock()
	if f.OnApply != nil {
		f.OnApply(st.index, events)
	}
}

// current returns the current version for a read that sets no watch.
func (f *FSM) current() *state {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st
}

// Get returns a node's data and Stat. With watch, it also sets a data watch
// on the node (only when the node exists).
func (f *FSM) Get(path string, watch bool) ([]byte, Stat, *Watch, error) {
	if err := ValidatePath(path); err != nil {
		return nil, Stat{}, nil, err
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	n, ok := f.st.node(path)
	if !ok {
		return nil, Stat{}, nil, errorf(CodeNoNode, path)
	}
	var w *Watch
	if watch {
		w = f.watches.add(path, WatchData)
	}
	return n.Data, n.Stat, w, nil
}

// Exists returns a node's Stat and whether it exists. With watch, it sets
// an exists watch whether or not the node exists.
func (f *FSM) Exists(path string, watch bool) (Stat, bool, *Watch, error) {
	if err := ValidatePath(path); err != nil {
		return Stat{}, false, nil, err
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	n, ok := f.st.node(path)
	var w *Watch
	if watch {
		w = f.watches.add(path, WatchExists)
	}
	if !ok {
		return Stat{}, false, w, nil
	}
	return n.Stat, true, w, nil
}

// Children returns the names of a node's children in byte order and the
// node's Stat. With watch, it sets a child watch on the node.
func (f *FSM) Children(path string, watch bool) ([]string, Stat, *Watch, error) {
	if err := ValidatePath(path); err != nil {
		return nil, Stat{}, nil, err
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	n, ok := f.st.node(path)
	if !ok {
		return nil, Stat{}, nil, errorf(CodeNoNode, path)
	}
	var w *Watch
	if watch {
		w = f.watches.add(path, WatchChildren)
	}
	return f.st.children(path), n.Stat, w, nil
}

// StopWatch removes a watch that has not fired. It is safe to call after
// the watch fired.
func (f *FSM) StopWatch(w *Watch) {
	if w != nil {
		f.watches.remove(w)
	}
}

// Session returns an open session.
func (f *FSM) Session(id uint64) (Session, bool) {
	s, ok := f.current().session(id)
	if !ok {
		return Session{}, false
	}
	return *s, true
}

// Sessions returns every open session, by id.
func (f *FSM) Sessions() []Session {
	st := f.current()
	out := make([]Session, 0, st.sessions.Len())
	st.sessions.Ascend(func(it sessionItem) bool {
		out = append(out, *it.sess)
		return true
	})
	return out
}

// Ephemerals lists the ephemeral nodes session id owns, in path order.
func (f *FSM) Ephemerals(id uint64) []string { return f.current().ephemeralsOf(id) }

// WaitIndex returns once the entry at index (or a later one) is applied.
func (f *FSM) WaitIndex(ctx context.Context, index uint64) error {
	for {
		f.mu.RLock()
		reached, ch := f.st.index >= index, f.applied
		f.mu.RUnlock()
		if reached {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// LockDelays returns the lock-delays the tree holds. Their length is what
// counts; see OnLockDelay.
func (f *FSM) LockDelays() []LockDelay {
	var out []LockDelay
	f.current().delays.Ascend(func(d delayItem) bool {
		out = append(out, LockDelay{Path: d.path, Delay: time.Duration(d.delayMs) * time.Millisecond})
		return true
	})
	return out
}

// Index returns the Raft index of the last applied entry (the last zxid).
func (f *FSM) Index() uint64 { return f.current().index }

// NodeCount returns the number of znodes, the root included.
func (f *FSM) NodeCount() int { return f.current().nodes.Len() }

// Sizes are the sizes of the FSM's tables, for metrics: what may grow
// with time or with the writes applied.
type Sizes struct {
	Znodes, Sessions int
	// DataBytes is the sum of the znodes' data lengths.
	DataBytes int64
	// Results are the cached results of numbered writes (for retries);
	// LockDelays the locks held back after an expiry.
	Results, LockDelays int
	// Watches are the one-shot watches registered.
	Watches int
	// HistoryChanges and HistoryBytes are what the change stream holds
	// for subscriptions (bytes as counted against its limit).
	HistoryChanges, HistoryBytes int
}

// Sizes returns the sizes of the FSM's tables.
func (f *FSM) Sizes() Sizes {
	f.mu.RLock()
	st, changes, bytes := f.st, f.hist.n, f.hist.bytes
	f.mu.RUnlock()
	return Sizes{
		Znodes: st.nodes.Len(), Sessions: st.sessions.Len(), DataBytes: st.dataBytes,
		Results: st.results.Len(), LockDelays: st.delays.Len(),
		Watches: f.watches.count(), HistoryChanges: changes, HistoryBytes: bytes,
	}
}

// SetHistoryLimits bounds the change stream to maxChanges changes and
// maxBytes bytes (0 keeps a limit as it is). Call it before Raft starts.
func (f *FSM) SetHistoryLimits(maxChanges, maxBytes int) {
	if maxChanges > 0 {
		f.hist.maxChanges = maxChanges
	}
	if maxBytes > 0 {
		f.hist.maxBytes = maxBytes
	}
}

// WatchCount returns the number of registered one-shot watches.
func (f *FSM) WatchCount() int { return f.watches.count() }
