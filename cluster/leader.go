package cluster

import (
	"context"
	"time"
)

// Leadership: Raft's NotifyCh (leaderCh, buffered) is read by one monitor
// goroutine, which runs exactly one leader loop while this node leads. The
// loop starts with a barrier, so it acts on a tree that holds every entry
// committed before it; then it restarts the session clocks (expiry.go) and
// runs, until leadership ends, the expirer, the reconciliation of the Raft
// configuration with Serf (membership.go) and the nudges that tell
// followers of forwarded writes' commits.

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
	loops.Go(n.nudgeLoop)
	n.expiry.run(ctx)
}

// nudgeFollowers asks the leader loop to tell followers of the latest
// commit now. A follower that forwarded a write answers its app only once
// it has applied the entry itself, and an idle leader would otherwise send
// the commit index only after its commit timeout.
func (n *Node) nudgeFollowers() {
	select {
	case n.nudgeCh <- struct{}{}:
	default:
	}
}

// nudgeLoop turns nudges into barriers: appending one sends every follower
// the current commit index at once. Nudges that arrive while a barrier is
// out share the next one.
func (n *Node) nudgeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.nudgeCh:
			_ = await(ctx, n.raft.Barrier(n.cfg.ApplyTimeout))
		}
	}
}
