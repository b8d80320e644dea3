package cluster

import (
	"context"
	"errors"
	"time"
)

// catchUp returns once this node has applied every entry the leader had
// committed before the call; WaitReady opens an agent's socket only then.
//
// On a follower it is stronger than Sync, which compares zxids: the zxid
// is the index of the last command applied, and a log that holds only
// configuration changes, no-ops and barriers has none. A replica whose
// log is still empty then has the zxid (0) of a leader that applied no
// command yet, though the leader's entries do not reach it: say it
// refused the leader's connections until its Serf knew the leader, and
// Raft's replication to it is still backing off (for up to ten seconds)
// while its heartbeats, which name the leader, already get through. Every
// write through it, a session's opening first, would then wait for that
// backoff, and a short session expire before its app has it. So the leader
// commits a barrier for the call, and this node waits until its own Raft
// has applied that barrier (its log has everything before it, and the
// leader's entries reach it), then until its tree holds the leader's zxid.
func (n *Node) catchUp(ctx context.Context) error {
	if n.IsLeader() {
		_, err := n.Sync(ctx)
		return err
	}
	addr, _ := n.raft.LeaderWithID()
	if addr == "" {
		return ErrUnavailable
	}
	var r catchUpResponse
	err := n.rpc.call(ctx, string(addr), rpcCatchUp, nil, &r)
	if errors.Is(err, ErrBadRequest) {
		// A leader from before rpcCatchUp (a rolling upgrade does the
		// replicas first): the zxid its barrier answers is all there is.
		_, err = n.Sync(ctx)
		return err
	}
	if err != nil {
		return err
	}
	// Raft says nothing when it applies an entry that is not a command:
	// look every few milliseconds.
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for n.raft.AppliedIndex() < r.Index {
		select {
		case <-ctx.Done():
			return translate(ctx.Err())
		case <-n.shutdown:
			return ErrClosed
		case <-t.C:
		}
	}
	return translate(n.fsm.WaitIndex(ctx, r.Zxid))
}
