package cluster

import (
	"context"
	"sync"
	"time"

	"github.com/warden-dev/warden/fsm"
)

// expirer is the leader's view of session liveness: when each session was
// last renewed. Only the leader acts on it; a new leader starts every
// session's clock afresh instead of expiring them all at once.
type expirer struct {
	n       *Node
	mu      sync.Mutex
	ready   bool // this node leads and has applied every earlier entry
	renewed map[uint64]time.Time
}

func newExpirer(n *Node) *expirer {
	return &expirer{n: n, renewed: make(map[uint64]time.Time)}
}

// start begins a term of leadership: every known session's clock starts
// now.
func (e *expirer) start() {
	t := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.renewed = make(map[uint64]time.Time)
	for _, s := range e.n.fsm.Sessions() {
		e.renewed[s.ID] = t
	}
	e.ready = true
}

// stop ends a term of leadership.
func (e *expirer) stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ready = false
	e.renewed = make(map[uint64]time.Time) // the next term starts afresh
}

// renewKnown renews the sessions of ids that exist and that agent owns,
// and returns the others: a session taken up through another agent is no
// longer this one's to keep. ok is false until this leader is ready to
// judge.
func (e *expirer) renewKnown(agent string, ids []uint64) (unknown []uint64, ok bool) {
	t := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.ready {
		return nil, false
	}
	for _, id := range ids {
		if s, exists := e.n.fsm.Session(id); !exists || s.Owner != agent {
			unknown = append(unknown, id)
			continue
		}
		e.renewed[id] = t
	}
	return unknown, true
}

// agentFailed is told when Serf declares an agent failed. Its sessions'
// clocks move back by the lock-delay: they expire that much sooner, and
// the locks they free are still not handed on before the full timeout
// since their last renewal has passed, so an app cut off with its agent
// has been told it is lost before anyone else is granted its lock.
func (e *expirer) agentFailed(agent string) {
	d := e.n.cfg.LockDelay
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.n.fsm.Sessions() {
		if s.Owner != agent || s.Resumable {
			continue
		}
		if t, ok := e.renewed[s.ID]; ok {
			e.renewed[s.ID] = t.Add(-d)
		}
	}
}

// due returns the sessions whose timeout has passed since their last
// renewal, and forgets sessions that no longer exist.
func (e *expirer) due(now time.Time) []uint64 {
	sessions := e.n.fsm.Sessions()
	e.mu.Lock()
	defer e.mu.Unlock()
	live := make(map[uint64]struct{}, len(sessions))
	var out []uint64
	for _, s := range sessions {
		live[s.ID] = struct{}{}
		last, ok := e.renewed[s.ID]
		if !ok {
			e.renewed[s.ID] = now
			continue
		}
		if now.Sub(last) > time.Duration(s.TimeoutMs)*time.Millisecond {
			out = append(out, s.ID)
		}
	}
	for id := range e.renewed {
		if _, ok := live[id]; !ok {
			delete(e.renewed, id)
		}
	}
	return out
}

// run expires sessions until ctx ends (leadership ended, or the node is
// closing); a close under way then is abandoned (the next leader starts
// every clock afresh).
func (e *expirer) run(ctx context.Context) {
	t := time.NewTicker(e.n.cfg.ExpiryTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, id := range e.due(now) {
				ctx, cancel := context.WithTimeout(ctx, e.n.cfg.ApplyTimeout)
				err := e.n.closeSession(ctx, id, fsm.CloseExpired)
				cancel()
				if err != nil {
					e.n.cfg.Logger.Warn("expire session", "session", id, "error", err)
					break
				}
				e.n.cfg.Logger.Info("session expired", "session", id)
			}
		}
	}
}
