package localapi

import (
	"context"

	"github.com/warden-dev/warden/localapi/wire"
)

// The read-write lock: read_lock and write_lock block like lock and
// answer with the lease; unlock releases either kind.
func init() {
	register(wire.OpReadLock, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		lease, err := c.session().ReadLock(ctx, req.Path, waitFor(req))
		if err != nil {
			return nil, toWire(err)
		}
		if e := c.vouch(); e != nil {
			return nil, e
		}
		return &wire.LeaseResult{Key: lease.Key, Token: lease.Token}, nil
	})
	register(wire.OpWriteLock, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		lease, err := c.session().WriteLock(ctx, req.Path, waitFor(req))
		if err != nil {
			return nil, toWire(err)
		}
		if e := c.vouch(); e != nil {
			return nil, e
		}
		return &wire.LeaseResult{Key: lease.Key, Token: lease.Token}, nil
	})
}
