package warden

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/warden-dev/warden/localapi/wire"
)

// agentWait turns ctx's deadline into the wait_ms of a blocking request:
// -1 (until granted) without a deadline.
func agentWait(ctx context.Context) *int64 {
	wait := int64(-1)
	if d, ok := ctx.Deadline(); ok {
		wait = max(time.Until(d).Milliseconds(), 0)
	}
	return &wait
}

// replyTimeout turns ctx's deadline into a request's timeout_ms (0
// without one): the agent then answers why it failed (no leader, say)
// just before the caller gives up, instead of the caller's deadline
// passing with no reason.
func replyTimeout(ctx context.Context) int64 {
	if d, ok := ctx.Deadline(); ok {
		// Rounded up: the agent's deadline must not fall before ours, or
		// it could answer timeout while we would still have waited.
		return max(int64((time.Until(d)+time.Millisecond-1)/time.Millisecond), 1)
	}
	return 0
}

// tryOnce is the wait_ms of a try.
func tryOnce() *int64 {
	wait := int64(0)
	return &wait
}

// grant sends a request whose success the agent cannot take back once it
// has replied (a grant, a claimed item, a write), and decodes the result
// into out. When ctx ends first the request is canceled at the agent, but
// its own reply is still awaited: late reports a success that arrived all
// the same (err is then ctx's error), which the caller must either undo or
// hand over.
func (c *Client) grant(ctx context.Context, req *wire.Request, out any) (late bool, err error) {
	m, err := c.roundTrip(ctx, req, true, nil)
	if m == nil {
		return false, err
	}
	if derr := decodeReply(m, out); derr != nil {
		if err != nil {
			if errors.Is(derr, ErrUnavailable) {
				// Why the wait got nowhere: no leader.
				return false, fmt.Errorf("%w: %w", err, derr)
			}
			return false, err // the context ended; the agent's canceled reply says the same
		}
		return false, derr
	}
	return err != nil, err
}

// undoCtx is a fresh context for undoing a late grant: the caller's has
// ended.
func undoCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}
