package cluster

import (
	"context"
	"time"
)

// Leadership: Raft's NotifyCh (leaderCh, buffered) is read by one monitor
// goroutine, which runs exactly one leader loop while this node leads. The
// loop starts with a barrier, so it acts on a tree that holds every entry
// committed before it; then it restarts the session clocks (expiry.go) and
// runs, until leadership ends, the expirer, the expiry of TTL nodes
// (ttl.go) and the reconciliation of the Raft configuration with Serf
// (membership.go).

// monitorLeadership starts a leader loop when this node becomes leader and
// stops it (and waits for it) when leadership ends or ctx does.
func (n *Node) monitorLeadership(ctx context.Context) {
	var term *group // the current leader loop; nil while not leading
	end := func() {
		if term != nil {
			term.Stop()
			term = nil
		}
	}
	defer end()
	for {
		select {
		case leader := <-n.leaderCh:
			switch {
			case leader && term == nil:
				term = newGroup(ctx)
				term.Go(n.leaderLoop)
			case !leader:
				end()
			}
		case <-ctx.Done():
			return
		}
	}
}

// leaderLoop waits until every earlier entry is applied, restarts session
// clocks, then expires sessions and keeps the Raft configuration in step
// with Serf until ctx ends. The loops it starts are stopped before it
// returns.
func (n *Node) leaderLoop(ctx context.Context) {
	for await(ctx, n.raft.Barrier(n.cfg.ApplyTimeout)) != nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(n.cfg.ExpiryTick):
		}
	}
	n.expiry.start()
	defer n.expiry.stop()
	loops := newGroup(ctx)
	defer loops.Stop()
	loops.Go(n.reconcileLoop)
	loops.Go(n.expireTTLLoop)
	n.expiry.run(ctx)
}

// nudgeFollowers sends the followers that hold what the leader has
// just committed a commit notice (notices.go) at once. Without it a
// follower would apply a write only with the leader's next append, after
// the commit timeout if no other write follows: a follower whose app's
// write was forwarded answers it only once it has applied the entry
// itself, and the watchers and subscribers of every follower see a write
// only then.
func (n *Node) nudgeFollowers() { n.notices.committed() }
