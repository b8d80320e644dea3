package cluster

import (
	"context"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
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

// run expires sessions until stop closes.
func (e *expirer) run(stop <-chan struct{}) {
	t := time.NewTicker(e.n.cfg.ExpiryTick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			for _, id := range e.due(now) {
				ctx, cancel := context.WithTimeout(context.Background(), e.n.cfg.ApplyTimeout)
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

// monitorLeadership runs exactly one leader loop while this node leads.
func (n *Node) monitorLeadership() {
	var stop chan struct{}
	var loop sync.WaitGroup
	end := func() {
		if stop != nil {
			close(stop)
			loop.Wait()
			stop = nil
		}
	}
	defer end()
	for {
		select {
		case leader := <-n.leaderCh:
			if leader && stop == nil {
				stop = make(chan struct{})
				loop.Add(1)
				go func(stop chan struct{}) {
					defer loop.Done()
					n.leaderLoop(stop)
				}(stop)
			} else if !leader {
				end()
			}
		case <-n.shutdown:
			return
		}
	}
}

// leaderLoop waits until every earlier entry is applied, restarts session
// clocks, then expires sessions and keeps the Raft configuration in step
// with Serf until leadership ends.
func (n *Node) leaderLoop(stop <-chan struct{}) {
	for n.raft.Barrier(n.cfg.ApplyTimeout).Error() != nil {
		select {
		case <-stop:
			return
		case <-time.After(n.cfg.ExpiryTick):
		}
	}
	n.expiry.start()
	defer n.expiry.stop()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		n.reconcileLoop(stop)
	}()
	go func() {
		defer wg.Done()
		n.nudgeLoop(stop)
	}()
	n.expiry.run(stop)
	wg.Wait()
}

func msgpackMarshal(v any) ([]byte, error) { return msgpack.Marshal(v) }
