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
	renewed map[uint64]time.Time
}

func newExpirer(n *Node) *expirer {
	return &expirer{n: n, renewed: make(map[uint64]time.Time)}
}

// renew records a keepalive for ids.
func (e *expirer) renew(ids []uint64) {
	t := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range ids {
		e.renewed[id] = t
	}
}

// reset starts every known session's clock now (on gaining leadership).
func (e *expirer) reset() {
	t := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.renewed = make(map[uint64]time.Time)
	for _, s := range e.n.fsm.Sessions() {
		e.renewed[s.ID] = t
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
				err := e.n.CloseSession(ctx, id, fsm.CloseExpired)
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
// clocks, and expires sessions until leadership ends.
func (n *Node) leaderLoop(stop <-chan struct{}) {
	for n.raft.Barrier(n.cfg.ApplyTimeout).Error() != nil {
		select {
		case <-stop:
			return
		case <-time.After(n.cfg.ExpiryTick):
		}
	}
	n.expiry.reset()
	n.goKeepalive(stop)
	n.expiry.run(stop)
}

// goKeepalive renews this agent's own sessions. On a single server the
// leader is this agent, so a renewal is a local call.
func (n *Node) goKeepalive(stop <-chan struct{}) {
	n.goFunc(func() {
		for {
			ids, shortest := n.local.snapshot()
			n.expiry.renew(ids)
			wait := min(max(shortest/3, 10*time.Millisecond), time.Second)
			if shortest == 0 {
				wait = n.cfg.MinSessionTimeout / 3
			}
			select {
			case <-stop:
				return
			case <-n.shutdown:
				return
			case <-time.After(wait):
			}
		}
	})
}
