package localapi

import (
	"context"

	"github.com/warden-dev/warden/localapi/wire"
	"github.com/warden-dev/warden/recipes"
)

// Groups: join answers with the member's node and token; leave, members_of;
// group_watch is a stream of "member" events.
func init() {
	register(wire.OpJoin, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		key, token, err := c.session().Join(ctx, req.Group, req.Member, req.Data)
		if err != nil {
			return nil, toWire(err)
		}
		return &wire.LeaseResult{Key: key, Token: token}, nil
	})
	register(wire.OpLeave, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		if err := c.session().Leave(ctx, req.Group, req.Member); err != nil {
			return nil, toWire(err)
		}
		return &wire.Empty{}, nil
	})
	register(wire.OpMembersOf, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		ms, err := recipes.MembersOf(c.s.backend, req.Group)
		if err != nil {
			return nil, toWire(err)
		}
		out := &wire.GroupResult{Group: req.Group, Members: make([]wire.GroupMember, len(ms))}
		for i, m := range ms {
			out.Members[i] = wire.GroupMember{Member: m.Member, Data: m.Data}
		}
		return out, nil
	})
	register(wire.OpGroupWatch, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		w, err := recipes.WatchGroup(c.s.backend, req.Group)
		if err != nil {
			return nil, toWire(err)
		}
		return &wire.SubscribeResult{Sub: c.openStream(ctx, func(ctx context.Context, emit emitter) {
			defer w.Close()
			for {
				ev, err := w.Next(ctx)
				if err != nil {
					return
				}
				m := wire.GroupMember{Member: ev.Member.Member, Data: ev.Member.Data}
				if !emit(wire.EventMember, &wire.MemberEvent{Member: m, Left: ev.Left}) {
					return
				}
			}
		})}, nil
	})
}
