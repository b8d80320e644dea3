package cluster

import (
	"context"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/fsm"
)

// The session keeper: the sessions this agent keeps alive for its apps
// (localSessions), and the loop that renews them at the leader and moves
// them between connected, suspended and lost as acknowledgements come or
// stop coming (keepaliveLoop).

// localSession is a session this agent keeps alive for one of its apps. It
// numbers the session's writes so the FSM can apply a retried write once,
// and tracks when the leader last acknowledged it.
type localSession struct {
	timeout  time.Duration
	nextSeq  uint64
	inflight map[uint64]struct{}
	lastAck  time.Time // send time of the last acknowledged keepalive
	state    SessionState
	notify   func(SessionState)
}

// localSessions are the sessions this agent owns and keeps alive.
type localSessions struct {
	mu      sync.Mutex
	m       map[uint64]*localSession
	changed chan struct{} // signalled when a session is added or removed
}

func newLocalSessions() *localSessions {
	return &localSessions{m: make(map[uint64]*localSession), changed: make(chan struct{}, 1)}
}

// signal tells the keepalive loop that the set of sessions changed, so it
// derives its schedule again.
func (ls *localSessions) signal() {
	select {
	case ls.changed <- struct{}{}:
	default:
	}
}

func (ls *localSessions) add(id uint64, timeout time.Duration, nextSeq uint64, acked time.Time, notify func(SessionState)) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if notify == nil {
		notify = func(SessionState) {}
	}
	ls.m[id] = &localSession{
		timeout: timeout, nextSeq: nextSeq, inflight: make(map[uint64]struct{}),
		lastAck: acked, state: StateConnected, notify: notify,
	}
	ls.signal()
}

func (ls *localSessions) remove(id uint64) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	delete(ls.m, id)
	ls.signal()
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

// acked records a keepalive sent at sent and acknowledged; the sessions
// the leader no longer knows are lost.
func (ls *localSessions) acked(ids []uint64, sent time.Time, unknown []uint64) {
	gone := make(map[uint64]bool, len(unknown))
	for _, id := range unknown {
		gone[id] = true
	}
	var lost []func(SessionState)
	ls.mu.Lock()
	for _, id := range ids {
		s, ok := ls.m[id]
		if !ok {
			continue
		}
		if gone[id] && !sent.Before(s.lastAck) {
			// (A keepalive sent before the session was opened or taken
			// up here says nothing of it.)
			delete(ls.m, id)
			lost = append(lost, s.notify)
			continue
		}
		if !gone[id] && sent.After(s.lastAck) {
			s.lastAck = sent
		}
	}
	ls.mu.Unlock()
	for _, f := range lost {
		f(StateLost)
	}
}

// evaluate moves sessions between states by the time since their last
// acknowledged keepalive, and returns when the next such move is due if no
// acknowledgement comes (zero when there are no sessions). A lost session
// is forgotten: it is no longer renewed, and the app is told.
func (ls *localSessions) evaluate(now time.Time) (next time.Time) {
	type change struct {
		notify func(SessionState)
		state  SessionState
	}
	var changes []change
	ls.mu.Lock()
	for id, s := range ls.m {
		since := now.Sub(s.lastAck)
		state, at := StateConnected, s.lastAck.Add(s.timeout/2)
		switch {
		case since >= s.timeout:
			state = StateLost
		case since >= s.timeout/2:
			state, at = StateSuspended, s.lastAck.Add(s.timeout)
		}
		if state != StateLost && (next.IsZero() || at.Before(next)) {
			next = at
		}
		if state == s.state {
			continue
		}
		s.state = state
		if state == StateLost {
			delete(ls.m, id)
		}
		changes = append(changes, change{s.notify, state})
	}
	ls.mu.Unlock()
	for _, c := range changes {
		c.notify(c.state)
	}
	return next
}

// current reports whether the session id is one of ours that the leader
// acknowledged within its timeout. It first moves every session by the
// clock, so one past its timeout is lost (and its app told) right now, not
// at the keepalive loop's next wake-up.
func (ls *localSessions) current(id uint64, now time.Time) bool {
	ls.evaluate(now)
	return ls.has(id)
}

// closed is the FSM's hook for a session that ended. If it was one of ours
// and we did not close it ourselves, it expired: the app is told.
func (ls *localSessions) closed(id uint64, reason fsm.CloseReason) {
	ls.mu.Lock()
	s, ok := ls.m[id]
	if ok {
		delete(ls.m, id)
	}
	ls.mu.Unlock()
	if ok {
		s.notify(StateLost)
	}
}

// keepaliveLoop renews this agent's sessions with one batched keepalive to
// the leader every third of the shortest live timeout, and moves them
// between states as acknowledgements come or stop coming. It wakes when
// a keepalive or a state change is due, when a keepalive returns, and when
// sessions come or go, and derives its schedule afresh each time: a
// session with a short timeout opened beside long ones is renewed on its
// own schedule from the start.
//
// It runs until ctx ends. The keepalive in flight runs in a group of its
// own, stopped (canceled and waited for) before the loop returns.
func (n *Node) keepaliveLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	sends := newGroup(ctx)
	defer sends.Stop()
	var lastSent, retryAt time.Time // retryAt: a keepalive failed, try again then
	inflight := false
	done := make(chan bool, 1) // a keepalive returned: acknowledged or not
	for {
		select {
		case <-ctx.Done():
			return
		case ok := <-done:
			inflight = false
			if !ok {
				retryAt = time.Now().Add(keepaliveRetry)
			}
		case <-n.local.changed:
		case <-timer.C:
		}
		now := time.Now()
		wake := n.local.evaluate(now)
		if ids, shortest := n.local.snapshot(); len(ids) > 0 && !inflight {
			interval := keepaliveInterval(shortest)
			due := lastSent.Add(interval)
			if !retryAt.IsZero() && retryAt.Before(due) {
				due = retryAt
			}
			if !now.Before(due) {
				lastSent, retryAt, due = now, time.Time{}, now.Add(interval)
				// (done has room for the one keepalive in flight.)
				inflight = sends.Go(func(ctx context.Context) { done <- n.sendKeepalive(ctx, ids, now, interval) })
			}
			if wake.IsZero() || due.Before(wake) {
				wake = due
			}
		}
		wait := time.Hour // nothing to do until sessions come
		if !wake.IsZero() {
			wait = max(wake.Sub(now), 0)
		}
		timer.Reset(wait)
	}
}

// keepaliveInterval is how often sessions are renewed when the shortest
// timeout among them is shortest: three times per timeout, bounded.
func keepaliveInterval(shortest time.Duration) time.Duration {
	return min(max(shortest/3, 10*time.Millisecond), time.Second)
}

// keepaliveRetry is how soon a failed keepalive is tried again: a session
// must not be lost for want of a retry after a partition heals.
const keepaliveRetry = 50 * time.Millisecond

// sendKeepalive renews ids at the leader (locally when this agent leads)
// and reports whether the leader acknowledged them within timeout.
func (n *Node) sendKeepalive(ctx context.Context, ids []uint64, sent time.Time, timeout time.Duration) bool {
	var unknown []uint64
	if n.IsLeader() {
		var ok bool
		if unknown, ok = n.expiry.renewKnown(n.cfg.NodeName, ids); !ok {
			return false
		}
	} else {
		addr, _ := n.raft.LeaderWithID()
		if addr == "" {
			return false
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		body, _ := msgpack.Marshal(&keepaliveRequest{Agent: n.cfg.NodeName, IDs: ids})
		var resp keepaliveResponse
		if err := n.rpc.call(ctx, string(addr), rpcKeepalive, body, &resp); err != nil {
			n.cfg.Logger.Debug("keepalive", "leader", addr, "error", err)
			return false
		}
		unknown = resp.Unknown
	}
	n.local.acked(ids, sent, unknown)
	return true
}
