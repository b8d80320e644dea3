package cluster

import (
	"context"
	"fmt"

	"github.com/hashicorp/raft"
	"github.com/hashicorp/serf/serf"
	"github.com/vmihailenco/msgpack/v5"
)

// Operator membership changes (warden operator remove-peer, warden
// force-leave). Both run on the leader, asked through any agent:
//
//   - remove-peer drops a server that is not alive from the Raft
//     configuration now, instead of when Serf reaps it (ReconnectTimeout,
//     a day by default). reconcile adds only alive members, so a peer
//     removed while Serf lists it failed stays out; if it comes back
//     alive, reconcile adds it again, as it would any server that joins.
//   - force-leave marks a failed agent as left in Serf (RemoveFailedNode,
//     gossiped to every agent), and removes it from Raft if it is there.
//
// Neither acts on an alive agent (reconcile would add it straight back;
// stop it, or have it leave), on the leader, or on the last voter.

type peerRequest struct {
	Name       string `msgpack:"name"`
	ForceLeave bool   `msgpack:"force_leave"`
}

// PeerResult says what a removal did.
type PeerResult struct {
	RemovedFromRaft bool `msgpack:"raft"` // it was in the Raft configuration and is not any more
	LeftSerf        bool `msgpack:"serf"` // force-leave: Serf now lists it as left
	Voters          int  `msgpack:"voters"`
}

// RemovePeer removes the server name, which must not be alive, from the
// Raft configuration. With forceLeave it also marks it left in Serf (and
// name may then be a replica or an agent Raft does not hold).
func (n *Node) RemovePeer(ctx context.Context, name string, forceLeave bool) (*PeerResult, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: no agent named", ErrBadRequest)
	}
	req := &peerRequest{Name: name, ForceLeave: forceLeave}
	if n.IsLeader() {
		return n.removePeer(ctx, req)
	}
	addr, _ := n.raft.LeaderWithID()
	if addr == "" {
		return nil, ErrUnavailable
	}
	body, err := msgpack.Marshal(req)
	if err != nil {
		return nil, err
	}
	var res PeerResult
	if err := n.rpc.call(ctx, string(addr), rpcRemovePeer, body, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// removePeer does it, on the leader.
func (n *Node) removePeer(ctx context.Context, req *peerRequest) (*PeerResult, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, translate(err)
	}
	var target *raft.Server
	voters := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters++
		}
		if string(s.ID) == req.Name {
			target = &s
		}
	}
	var member *serf.Member
	for _, m := range n.serf.Members() {
		if m.Name == req.Name {
			member = &m
		}
	}
	switch {
	case req.Name == n.cfg.NodeName:
		return nil, fmt.Errorf("%w: %s is the leader; stop it (or restart it) so that another server leads, then remove it from there", ErrRefused, req.Name)
	case member != nil && member.Status == serf.StatusAlive:
		return nil, fmt.Errorf("%w: %s is alive in Serf and would be added back at once; stop it first (a replica that stops leaves by itself)", ErrRefused, req.Name)
	case target == nil && !req.ForceLeave:
		return nil, fmt.Errorf("%w: %s is not in the Raft configuration", ErrRefused, req.Name)
	case target == nil && member == nil:
		return nil, fmt.Errorf("%w: no agent named %s in Serf or Raft", ErrRefused, req.Name)
	case target != nil && target.Suffrage == raft.Voter && voters <= 1:
		return nil, fmt.Errorf("%w: %s is the last voter", ErrRefused, req.Name)
	}
	res := &PeerResult{Voters: voters}
	if req.ForceLeave && member != nil && member.Status != serf.StatusLeft {
		// Before Raft: once Serf says left, no reconcile can add it back.
		if err := n.serf.RemoveFailedNode(req.Name); err != nil {
			return nil, fmt.Errorf("serf force-leave %s: %w", req.Name, err)
		}
		res.LeftSerf = true
	}
	if target != nil {
		if err := await(ctx, n.raft.RemoveServer(target.ID, 0, n.timeout(ctx))); err != nil {
			return nil, translate(err)
		}
		res.RemovedFromRaft = true
		if target.Suffrage == raft.Voter {
			res.Voters--
		}
		n.cfg.Logger.Info("removed from raft by an operator", "member", req.Name, "force_leave", req.ForceLeave)
	}
	return res, nil
}

// removePeerRPC answers rpcRemovePeer on the leader.
func (n *Node) removePeerRPC(ctx context.Context, body []byte) (any, error) {
	var req peerRequest
	if err := msgpack.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("%w: remove peer: %v", ErrBadRequest, err)
	}
	return n.removePeer(ctx, &req)
}
