package agent

import (
	"context"
	"errors"

	"github.com/warden-dev/warden/cluster"
	"github.com/warden-dev/warden/fsm"
	"github.com/warden-dev/warden/localapi"
	"github.com/warden-dev/warden/localapi/wire"
)

var _ localapi.OperatorBackend = backend{}

// SaveSnapshot captures the tree once this agent has caught up.
func (b backend) SaveSnapshot(ctx context.Context) (*fsm.Backup, error) {
	bk, err := b.Node.SaveSnapshot(ctx)
	return bk, operatorError(err)
}

// RestoreSnapshot sends one chunk of an upload to the leader.
func (b backend) RestoreSnapshot(ctx context.Context, upload string, offset uint64, data []byte, final, force bool) (*wire.RestoreResult, error) {
	res, err := b.Node.Restore(ctx, &cluster.RestoreChunk{Upload: upload, Offset: offset, Data: data, Final: final, Force: force})
	if err != nil {
		return nil, operatorError(err)
	}
	return &wire.RestoreResult{Done: res.Done, Zxid: res.Zxid, Nodes: res.Nodes, SessionsEnded: res.Sessions, Index: res.Index}, nil
}

// RemovePeer removes an agent that is not alive from Raft (and Serf).
func (b backend) RemovePeer(ctx context.Context, name string, forceLeave bool) (*wire.PeerResult, error) {
	res, err := b.Node.RemovePeer(ctx, name, forceLeave)
	if err != nil {
		return nil, operatorError(err)
	}
	return &wire.PeerResult{Node: name, RemovedFromRaft: res.RemovedFromRaft, LeftSerf: res.LeftSerf, Voters: res.Voters}, nil
}

// operatorError gives the cluster's refusals their wire codes.
func operatorError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cluster.ErrNotEmpty):
		return wire.Errorf(wire.CodeNotEmpty, err.Error())
	case errors.Is(err, cluster.ErrRefused), errors.Is(err, cluster.ErrBadRequest):
		return wire.Errorf(wire.CodeBadArguments, err.Error())
	case errors.Is(err, cluster.ErrTimeout):
		return wire.Errorf(wire.CodeTimeout, err.Error())
	}
	return err
}
