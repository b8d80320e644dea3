package cluster

import (
	"context"
	"sync"
	"time"

	"github.com/warden-dev/warden/fsm"
)

// localSession is a session this agent opened for one of its apps. It
// numbers the session's writes so the FSM can apply a retried write once.
type localSession struct {
	timeout  time.Duration
	nextSeq  uint64
	inflight map[uint64]struct{}
}

// localSessions are the sessions this agent owns and keeps alive.
type localSessions struct {
	mu sync.Mutex
	m  map[uint64]*localSession
}

func newLocalSessions() *localSessions {
	return &localSessions{m: make(map[uint64]*localSession)}
}

func (ls *localSessions) add(id uint64, timeout time.Duration) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.m[id] = &localSession{timeout: timeout, nextSeq: 1, inflight: make(map[uint64]struct{})}
}

func (ls *localSessions) remove(id uint64) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	delete(ls.m, id)
}

// begin numbers a new write of session id and returns the lowest sequence
// still in flight (this one included).
func (ls *localSessions) begin(id uint64) (seq, minUnacked uint64, ok bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	s, ok := ls.m[id]
	if !ok {
		return 0, 0, false
	}
	seq = s.nextSeq
	s.nextSeq++
	s.inflight[seq] = struct{}{}
	minUnacked = seq
	for q := range s.inflight {
		minUnacked = min(minUnacked, q)
	}
	return seq, minUnacked, true
}

// end marks a write answered.
func (ls *localSessions) end(id, seq uint64) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if s, ok := ls.m[id]; ok {
		delete(s.inflight, seq)
	}
}

// snapshot returns the owned session ids and the shortest timeout.
func (ls *localSessions) snapshot() ([]uint64, time.Duration) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ids := make([]uint64, 0, len(ls.m))
	var shortest time.Duration
	for id, s := range ls.m {
		ids = append(ids, id)
		if shortest == 0 || s.timeout < shortest {
			shortest = s.timeout
		}
	}
	return ids, shortest
}

func (ls *localSessions) has(id uint64) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	_, ok := ls.m[id]
	return ok
}

// OpenSession opens a session owned by this agent. Its timeout is clamped
// to the configured bounds; the returned Session carries its id.
func (n *Node) OpenSession(ctx context.Context, s fsm.Session) (fsm.Session, error) {
	timeout := min(max(time.Duration(s.TimeoutMs)*time.Millisecond, n.cfg.MinSessionTimeout), n.cfg.MaxSessionTimeout)
	s.TimeoutMs = timeout.Milliseconds()
	s.Owner = n.cfg.NodeName
	res, err := n.apply(ctx, fsm.CmdOpenSession, &fsm.OpenSession{Time: now(), Session: s})
	if err != nil {
		return fsm.Session{}, err
	}
	if err := res.Error(); err != nil {
		return fsm.Session{}, err
	}
	s.ID = res.Session
	n.local.add(s.ID, timeout)
	n.expiry.renew([]uint64{s.ID})
	return s, nil
}

// CloseSession ends a session: its ephemeral nodes are deleted in the same
// log entry. Closing a session that is already gone is not an error.
func (n *Node) CloseSession(ctx context.Context, id uint64, reason fsm.CloseReason) error {
	n.local.remove(id)
	res, err := n.apply(ctx, fsm.CmdCloseSession, &fsm.CloseSession{Time: now(), Session: id, Reason: reason})
	if err != nil {
		return err
	}
	if err := res.Error(); err != nil && fsm.CodeOf(err) != fsm.CodeSessionExpired {
		return err
	}
	return nil
}

// Write applies ops all-or-nothing on behalf of session sid (0 for none).
// A refusal (node exists, bad version) is in the Result; the error is for
// a write whose outcome is unknown or that could not be proposed.
func (n *Node) Write(ctx context.Context, sid uint64, ops []fsm.Op) (*fsm.Result, error) {
	w := &fsm.Write{Session: sid, Time: now(), Ops: ops}
	if sid != 0 {
		seq, floor, ok := n.local.begin(sid)
		if !ok {
			return &fsm.Result{Err: fsm.ErrSessionExpired}, nil
		}
		defer n.local.end(sid, seq)
		w.Seq, w.MinUnacked = seq, floor
	}
	return n.apply(ctx, fsm.CmdWrite, w)
}

// CloseOrphans closes the sessions a previous run of this agent owned. Their
// connections died with that run, so nobody can use them again. Call it
// once, after WaitReady and before serving apps.
func (n *Node) CloseOrphans(ctx context.Context) (int, error) {
	closed := 0
	for _, s := range n.fsm.Sessions() {
		if s.Owner != n.cfg.NodeName || s.Resumable || n.local.has(s.ID) {
			continue
		}
		if err := n.CloseSession(ctx, s.ID, fsm.CloseExpired); err != nil {
			return closed, err
		}
		closed++
	}
	return closed, nil
}

// now is the proposer's clock, stamped into commands (never read in Apply).
func now() int64 { return time.Now().UnixMilli() }
