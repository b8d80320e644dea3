package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
)

// Errors a caller can act on. Raft's own errors are translated into these
// at this boundary.
var (
	// ErrUnavailable: there is no leader to take the write right now.
	ErrUnavailable = errors.New("cluster unavailable: no leader")
	// ErrTimeout: the write was not committed within its deadline; it may
	// still be applied later (a retry with the same sequence is safe).
	// It matches context.DeadlineExceeded.
	ErrTimeout = fmt.Errorf("timed out waiting for the cluster: %w", context.DeadlineExceeded)
	// ErrClosed: the node is shutting down.
	ErrClosed = errors.New("cluster node closed")
	// ErrRefused: the leader refused what this agent asked of it for
	// another agent (with hostname verification, an agent may act only as
	// itself). A retry would be refused too.
	ErrRefused = errors.New("refused by the leader")
	// ErrBadRequest: the leader could not decode what this agent sent it
	// (an entry that does not decode, an unknown method). A retry would
	// fail too.
	ErrBadRequest = errors.New("the leader could not decode the request")
	// ErrTooLarge: a message on the cluster port would exceed
	// maxRPCMessage; it was not sent (or not read).
	ErrTooLarge = fmt.Errorf("cluster rpc message over %d bytes", maxRPCMessage)

	// errNotLeader: the agent asked is not the leader (or stopped leading,
	// or is shutting down); the caller retries at the leader it learns of.
	errNotLeader = errors.New("not the leader")
	// errRemoteInternal: the agent asked failed in a way that has no
	// other code (or sent a code this agent does not know).
	errRemoteInternal = errors.New("internal error at the agent asked")
)

func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress), errors.Is(err, raft.ErrAbortedByRestore):
		return ErrUnavailable
	case errors.Is(err, raft.ErrEnqueueTimeout), errors.Is(err, context.DeadlineExceeded):
		return ErrTimeout
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	}
	return err
}
