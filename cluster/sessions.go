package cluster

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
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
	entry, err := fsm.Encode(fsm.CmdOpenSession, &fsm.OpenSession{Time: now(), Session: s})
	if err != nil {
		return fsm.Session{}, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.ApplyTimeout)
		defer cancel()
	}
	sent := time.Now()
	res, err := n.propose(ctx, entry)
	if err != nil {
		return fsm.Session{}, err
	}
	if err := res.Error(); err != nil {
		return fsm.Session{}, err
	}
	// The session's clock runs at the leader from the moment it applied
	// the open: keep it alive from then on, not only once this replica
	// has applied the open too (as apply would wait for), or a replica
	// the leader's entries reach late lets a short session expire before
	// its app has it.
	n.local.add(res.Session, timeout, 1, sent, o.OnState)
	if err := n.fsm.WaitIndex(ctx, res.Zxid); err != nil {
		n.local.remove(res.Session) // left to expire, as if its app had gone
		return fsm.Session{}, translate(err)
	}
	s.ID, s.Secret = res.Session, secret
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

// SessionCurrent reports whether this agent can vouch for its session id
// now: the leader acknowledged a keepalive for it within its timeout (the
// rule that reports "lost"). An agent paused or cut off past the timeout
// may apply a grant the leader made before it expired the session; a
// grant is passed to the app only while this holds.
func (n *Node) SessionCurrent(id uint64) bool { return n.local.current(id, time.Now()) }

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

// now is the proposer's clock, stamped into commands (never read in Apply).
func now() int64 { return time.Now().UnixMilli() }
