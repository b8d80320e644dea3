package localapi

import (
	"context"

	"github.com/warden-dev/warden/localapi/wire"
)

// The semaphore: semaphore_acquire blocks until one of count leases is
// granted; semaphore_release gives it back.
func init() {
	register(wire.OpSemAcquire, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		lease, err := c.session().AcquireSemaphore(ctx, req.Path, req.Count, waitFor(req))
		if err != nil {
			return nil, toWire(err)
		}
		if e := c.vouch(); e != nil {
			return nil, e
		}
		return &wire.LeaseResult{Key: lease.Key, Token: lease.Token}, nil
	})
	register(wire.OpSemRelease, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		if err := c.session().ReleaseSemaphore(ctx, req.Key); err != nil {
			return nil, toWire(err)
		}
		return &wire.Empty{}, nil
	})
}
