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
