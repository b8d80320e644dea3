package localapi

import (
	"context"

	"github.com/warden-dev/warden/localapi/wire"
	"github.com/warden-dev/warden/recipes"
)

// The election recipe: campaign blocks like lock and answers once the
// session leads; observe is a stream of "leader" events.
func init() {
	register(wire.OpCampaign, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		l, err := c.session().Campaign(ctx, req.Path, req.Data, waitFor(req))
		if err != nil {
			return nil, toWire(err)
		}
		if e := c.vouch(); e != nil {
			return nil, e
		}
		return &wire.LeaseResult{Key: l.Key, Token: l.Token}, nil
	})
	register(wire.OpResign, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		if err := c.session().Resign(ctx, req.Key, req.Token); err != nil {
			return nil, toWire(err)
		}
		return &wire.Empty{}, nil
	})
	register(wire.OpProclaim, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		if err := c.session().Proclaim(ctx, req.Key, req.Token, req.Data); err != nil {
			return nil, toWire(err)
		}
		return &wire.Empty{}, nil
	})
	register(wire.OpLeader, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		l, err := recipes.Leader(c.s.backend, req.Path)
		if err != nil {
			return nil, toWire(err)
		}
		return leaderResult(l), nil
	})
	register(wire.OpObserve, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		o, err := recipes.NewObserver(c.s.backend, req.Path)
		if err != nil {
			return nil, toWire(err)
		}
		return &wire.SubscribeResult{Sub: c.openStream(ctx, func(ctx context.Context, emit emitter) {
			defer o.Close()
			for {
				l, err := o.Next(ctx)
				if err != nil {
					return
				}
				if !emit(wire.EventLeader, leaderResult(l)) {
					return
				}
			}
		})}, nil
	})
}

func leaderResult(l recipes.LeaderInfo) *wire.LeaderResult {
	return &wire.LeaderResult{Key: l.Key, Data: l.Value, Token: l.Token}
}
