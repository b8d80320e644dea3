package cluster

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	"github.com/warden-dev/warden/fsm"
)

// SessionState is what an agent knows of one of its sessions.
type SessionState string

// Session states, as reported to apps.
const (
	// StateConnected: keepalives are being acknowledged.
	StateConnected SessionState = "connected"
	// StateSuspended: keepalives have gone unacknowledged for half the
	// timeout; locks and leadership are uncertain.
	StateSuspended SessionState = "suspended"
	// StateLost: the timeout has passed since the last acknowledged
	// keepalive (the leader may have expired the session), or the expiry
	// was seen. Nothing the session held may be relied on any more.
	StateLost SessionState = "lost"
)

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

// SessionOptions are what an app asks for when it opens a session.
type SessionOptions struct {
	Timeout   time.Duration
	Resumable bool
	Heartbeat bool
	Pid, Uid  int32
	Gid       int32
	Client    string
	// OnState is called when the session's state changes. It must not
	// block; it may be called from Raft's apply goroutine.
	OnState func(SessionState)
}

// OpenSession opens a session owned by this agent. Its timeout is clamped
// to the configured bounds. A resumable session gets a secret, which with
// its id lets the app take it up again through ResumeSession.
func (n *Node) OpenSession(ctx context.Context, o SessionOptions) (fsm.Session, error) {
	timeout := min(max(o.Timeout, n.cfg.MinSessionTimeout), n.cfg.MaxSessionTimeout)
	s := fsm.Session{
		TimeoutMs: timeout.Milliseconds(), Owner: n.cfg.NodeName,
		Resumable: o.Resumable, Heartbeat: o.Heartbeat, Pid: o.Pid, Uid: o.Uid, Gid: o.Gid, Client: o.Client,
	}
	var secret []byte
	if o.Resumable {
		secret = make([]byte, 16)
		if _, err := rand.Read(secret); err != nil {
			return fsm.Session{}, err
		}
		s.Secret = secretHash(secret)
	}
	sent := time.Now()
	res, err := n.apply(ctx, fsm.CmdOpenSession, &fsm.OpenSession{Time: now(), Session: s})
	if err != nil {
		return fsm.Session{}, err
	}
	if err := res.Error(); err != nil {
		return fsm.Session{}, err
	}
	s.ID, s.Secret = res.Session, secret
	n.local.add(s.ID, timeout, 1, sent, o.OnState)
	return s, nil
}

// ErrBadSecret: a resume named a session that does not exist, is not
// resumable, or whose secret differs.
var ErrBadSecret = errors.New("no resumable session with that id and secret")

// ResumeSession takes up a resumable session through this agent, after its
// app reconnected (to this agent after a restart, or to another one).
func (n *Node) ResumeSession(ctx context.Context, id uint64, secret []byte, onState func(SessionState)) (fsm.Session, error) {
	if n.local.has(id) {
		// Still attached to a connection here: two connections keeping
		// one session would each think they own it.
		return fsm.Session{}, ErrBadSecret
	}
	sent := time.Now()
	res, err := n.apply(ctx, fsm.CmdResume, &fsm.Resume{Time: now(), Session: id, Secret: secretHash(secret), Owner: n.cfg.NodeName})
	if err != nil {
		return fsm.Session{}, err
	}
	if res.Err != nil {
		return fsm.Session{}, ErrBadSecret
	}
	s, ok := n.fsm.Session(id)
	if !ok {
		return fsm.Session{}, ErrBadSecret
	}
	n.local.add(id, time.Duration(s.TimeoutMs)*time.Millisecond, res.MaxSeq+1, sent, onState)
	s.Secret = secret
	return s, nil
}

// secretHash is what the replicated state keeps of a resumable session's
// secret: its SHA-256. The app holds the secret itself; the log, the
// snapshots and every agent's memory hold only the hash, so whoever reads
// a data dir cannot resume, and so take over, someone else's session.
// The secret is 128 random bits, so a plain hash is enough: there is
// nothing to guess.
func secretHash(secret []byte) []byte {
	h := sha256.Sum256(secret)
	return h[:]
}

// Detach stops keeping a session alive without closing it: a resumable
// session whose connection closed lives on until its timeout, waiting to be
// resumed.
func (n *Node) Detach(id uint64) { n.local.remove(id) }

// CloseSession ends a session: its ephemeral nodes are deleted in the same
// log entry. Closing a session that is already gone is not an error.
func (n *Node) CloseSession(ctx context.Context, id uint64, reason fsm.CloseReason) error {
	n.local.remove(id)
	return n.closeSession(ctx, id, reason)
}

func (n *Node) closeSession(ctx context.Context, id uint64, reason fsm.CloseReason) error {
	cs := &fsm.CloseSession{Time: now(), Session: id, Reason: reason}
	if reason == fsm.CloseExpired {
		cs.LockDelayMs = n.cfg.LockDelay.Milliseconds()
	}
	res, err := n.apply(ctx, fsm.CmdCloseSession, cs)
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

// CloseOrphans closes the sessions a previous run of this agent owned,
// except resumable ones (left to be resumed or to expire). Their
// connections died with that run. Call it once, after WaitReady and before
// serving apps.
func (n *Node) CloseOrphans(ctx context.Context) (int, error) {
	closed := 0
	for _, s := range n.fsm.Sessions() {
		if s.Owner != n.cfg.NodeName || s.Resumable || n.local.has(s.ID) {
			continue
		}
		if err := n.closeSession(ctx, s.ID, fsm.CloseExpired); err != nil {
			return closed, err
		}
		closed++
	}
	return closed, nil
}

// keepaliveLoop renews this agent's sessions with one batched keepalive to
// the leader every third of the shortest live timeout, and moves them
// between states as acknowledgements come or stop coming. It wakes when
// a keepalive or a state change is due, when a keepalive returns, and when
// sessions come or go, and derives its schedule afresh each time: a
// session with a short timeout opened beside long ones is renewed on its
// own schedule from the start.
func (n *Node) keepaliveLoop() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var lastSent, retryAt time.Time // retryAt: a keepalive failed, try again then
	inflight := false
	done := make(chan bool, 1) // a keepalive returned: acknowledged or not
	for {
		select {
		case <-n.shutdown:
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
				lastSent, retryAt, inflight, due = now, time.Time{}, true, now.Add(interval)
				go func() { done <- n.sendKeepalive(ids, now, interval) }()
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
// and reports whether the leader acknowledged them.
func (n *Node) sendKeepalive(ids []uint64, sent time.Time, timeout time.Duration) bool {
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
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		body, _ := msgpackMarshal(&keepaliveRequest{Agent: n.cfg.NodeName, IDs: ids})
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

// now is the proposer's clock, stamped into commands (never read in Apply).
func now() int64 { return time.Now().UnixMilli() }
