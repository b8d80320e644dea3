package localapi

import (
	"context"

	"github.com/warden-dev/warden/localapi/wire"
	"github.com/warden-dev/warden/recipes"
)

func init() {
	register(wire.OpLock, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		lease, err := c.session().Acquire(ctx, req.Path, waitFor(req))
		if err != nil {
			return nil, toWire(err)
		}
		if e := c.vouch(); e != nil {
			return nil, e
		}
		return &wire.LockResult{Key: lease.Key, Token: lease.Token}, nil
	})
	register(wire.OpUnlock, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		if err := c.session().Release(ctx, req.Key); err != nil {
			return nil, toWire(err)
		}
		return &wire.Empty{}, nil
	})
	register(wire.OpLockCheck, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		held, err := recipes.Check(c.s.backend, req.Path, req.Token)
		if err != nil {
			return nil, toWire(err)
		}
		return &wire.LockCheckResult{Held: held}, nil
	})
}
