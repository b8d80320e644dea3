package cluster

import (
	"context"
	"time"

	"github.com/warden-dev/warden/fsm"
)

// TTL nodes expire through Raft: every TTLTick the leader asks its tree
// which TTL nodes are due by its clock (their TTL has passed since their
// Mtime and they have no children) and proposes one CmdExpireTTL naming
// them. Applying it re-checks each node, so a node set or given a child
// after the leader looked stays. A new leader needs no state to take
// over: the countdown is the replicated Mtime, so it goes on across
// leader changes. Only the leader proposes the entry: handleRPC refuses
// one forwarded by any other agent.

// expireTTLLoop deletes due TTL nodes until ctx ends (leadership ended,
// or the node is closing).
func (n *Node) expireTTLLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.TTLTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.expireTTL(ctx)
		}
	}
}

// expireTTL proposes the deletion of every TTL node due now, in entries
// of at most fsm.MaxExpirePerEntry nodes.
func (n *Node) expireTTL(ctx context.Context) {
	for ctx.Err() == nil {
		at := now()
		due := n.fsm.ExpiredTTL(at, fsm.MaxExpirePerEntry)
		if len(due) == 0 {
			return
		}
		entry, err := fsm.Encode(fsm.CmdExpireTTL, &fsm.ExpireTTL{Time: at, Nodes: due})
		if err != nil {
			n.cfg.Logger.Error("encode a TTL expiry", "error", err)
			return
		}
		actx, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
		res, err := n.applyLocal(actx, entry)
		cancel()
		if err != nil {
			n.cfg.Logger.Warn("expire TTL nodes", "nodes", len(due), "error", err)
			return
		}
		n.cfg.Logger.Debug("TTL nodes expired", "due", len(due), "deleted", len(res.Ops))
		if len(due) < fsm.MaxExpirePerEntry || len(res.Ops) == 0 {
			return
		}
	}
}
