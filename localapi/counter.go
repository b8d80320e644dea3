package localapi

import (
	"context"

	"github.com/warden-dev/warden/localapi/wire"
	"github.com/warden-dev/warden/recipes"
)

// The counter: counter_add, counter_get and counter_cas, each answered
// with the value.
func init() {
	register(wire.OpCounterAdd, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		return counterResult(c.session().CounterAdd(ctx, req.Path, req.Delta))
	})
	register(wire.OpCounterGet, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		return counterResult(recipes.CounterGet(c.s.backend, req.Path))
	})
	register(wire.OpCounterCAS, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		if req.Expect == nil || req.Value == nil {
			return nil, wire.Errorf(wire.CodeBadArguments, "counter_cas needs expect and value")
		}
		return counterResult(c.session().CounterCAS(ctx, req.Path, *req.Expect, *req.Value))
	})
}

func counterResult(v recipes.CounterValue, err error) (any, *wire.Error) {
	if err != nil {
		return nil, toWire(err)
	}
	return &wire.CounterResult{Value: v.Value, Version: v.Version, Swapped: v.Swapped}, nil
}
