package agent

import (
	"context"
	"errors"
	"sort"

	"github.com/warden-dev/warden/cluster"
	"github.com/warden-dev/warden/localapi"
	"github.com/warden-dev/warden/localapi/wire"
)

var _ localapi.KeyringBackend = backend{}

// Keyring runs a gossip keyring op across the cluster.
func (b backend) Keyring(ctx context.Context, op, key string) (*wire.KeyringResult, error) {
	var res *cluster.KeyringResult
	var err error
	switch op {
	case wire.OpKeyringList:
		res, err = b.Node.ListKeys(ctx)
	case wire.OpKeyringInstall:
		res, err = b.Node.InstallKey(ctx, key)
	case wire.OpKeyringUse:
		res, err = b.Node.UseKey(ctx, key)
	case wire.OpKeyringRemove:
		res, err = b.Node.RemoveKey(ctx, key)
	default:
		return nil, wire.Errorf(wire.CodeUnknownOp, "unknown keyring op "+op)
	}
	switch {
	case errors.Is(err, cluster.ErrGossipNotEncrypted), errors.Is(err, cluster.ErrBadGossipKey),
		errors.Is(err, cluster.ErrRemovePrimaryKey):
		return nil, wire.Errorf(wire.CodeBadArguments, err.Error())
	case err != nil:
		return nil, err
	}
	out := &wire.KeyringResult{Agents: res.Agents, Answered: res.Answered}
	for _, k := range res.Keys {
		out.Keys = append(out.Keys, wire.GossipKey{Key: k.Key, Agents: k.Agents, Primary: k.Primary})
	}
	for node, msg := range res.Failures {
		out.Failures = append(out.Failures, wire.KeyringFailure{Node: node, Message: msg})
	}
	sort.Slice(out.Failures, func(i, j int) bool { return out.Failures[i].Node < out.Failures[j].Node })
	return out, nil
}
