package localapi

import (
	"context"
	"errors"

	"github.com/warden-dev/warden/localapi/wire"
)

// KeyringBackend is what a Backend also implements when it can manage the
// cluster's gossip keyring (the agent's does). Without it the keyring ops
// are unknown.
type KeyringBackend interface {
	// Keyring runs a keyring op (wire.OpKeyringList, ...Install, ...Use
	// or ...Remove) on every agent of the cluster. Agents that refuse or
	// do not answer are in the result. An error means no agent was asked;
	// a *wire.Error is sent to the app as it is.
	Keyring(ctx context.Context, op, key string) (*wire.KeyringResult, error)
}

func init() {
	for _, op := range []string{wire.OpKeyringList, wire.OpKeyringInstall, wire.OpKeyringUse, wire.OpKeyringRemove} {
		register(op, keyring)
		// Operators manage the keyring from a connection without a
		// session, which needs no leader: gossip keys are Serf's, not
		// Raft's.
		sessionless[op] = true
	}
}

// keyring handles the keyring ops. Changing the gossip keys can cut agents
// off the cluster, so only the agent's own user and root may use them,
// whatever the socket's mode lets in.
func keyring(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
	kb, ok := c.s.backend.(KeyringBackend)
	if !ok {
		return nil, wire.Errorf(wire.CodeUnknownOp, "this agent has no gossip keyring to manage")
	}
	if !c.privileged() {
		return nil, wire.Errorf(wire.CodePermissionDenied, "only the agent's own user or root may manage the gossip keyring")
	}
	if req.Op != wire.OpKeyringList && req.Key == "" {
		return nil, wire.Errorf(wire.CodeBadArguments, req.Op+" needs a key")
	}
	res, err := kb.Keyring(ctx, req.Op, req.Key)
	var werr *wire.Error
	switch {
	case errors.As(err, &werr):
		return nil, werr
	case err != nil:
		return nil, toWire(err)
	}
	return res, nil
}
