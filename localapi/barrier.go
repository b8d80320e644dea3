package localapi

import (
	"context"

	"github.com/warden-dev/warden/localapi/wire"
	"github.com/warden-dev/warden/recipes"
)

// Barriers: barrier_set, barrier_remove and barrier_wait (until removed);
// and the double barrier, barrier_enter (until count members entered) and
// barrier_leave (until every member left).
func init() {
	register(wire.OpBarrierSet, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		if err := c.session().SetBarrier(ctx, req.Path); err != nil {
			return nil, toWire(err)
		}
		return &wire.Empty{}, nil
	})
	register(wire.OpBarrierRemove, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		if err := c.session().RemoveBarrier(ctx, req.Path); err != nil {
			return nil, toWire(err)
		}
		return &wire.Empty{}, nil
	})
	register(wire.OpBarrierWait, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		if err := recipes.WaitBarrier(ctx, c.s.backend, req.Path, waitFor(req)); err != nil {
			return nil, toWire(err)
		}
		return &wire.Empty{}, nil
	})
	register(wire.OpBarrierEnter, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		if err := c.session().EnterBarrier(ctx, req.Path, req.Count, req.Member, waitFor(req)); err != nil {
			return nil, toWire(err)
		}
		return &wire.Empty{}, nil
	})
	register(wire.OpBarrierLeave, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		if err := c.session().LeaveBarrier(ctx, req.Path, req.Member, waitFor(req)); err != nil {
			return nil, toWire(err)
		}
		return &wire.Empty{}, nil
	})
}
