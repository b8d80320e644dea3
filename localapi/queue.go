package localapi

import (
	"context"
	"time"

	"github.com/warden-dev/warden/localapi/wire"
)

// requeueTimeout bounds putting back an item whose taker has gone.
const requeueTimeout = 30 * time.Second

// The queue: queue_put appends an item; queue_take blocks until it has
// claimed the first one.
func init() {
	register(wire.OpQueuePut, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		key, token, err := c.session().QueuePut(ctx, req.Path, req.Data)
		if err != nil {
			return nil, toWire(err)
		}
		return &wire.LeaseResult{Key: key, Token: token}, nil
	})
	register(wire.OpQueueTake, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		item, err := c.session().QueueTake(ctx, req.Path, waitFor(req))
		if err != nil {
			return nil, toWire(err)
		}
		if c.ctx.Err() != nil {
			// The connection ended while the item was being claimed: the
			// reply would reach nobody, so the item goes back (at the
			// tail), and the reply is an error, not the item, so that it
			// is never both handed out and in the queue.
			rctx, cancel := context.WithTimeout(context.Background(), requeueTimeout)
			defer cancel()
			if _, _, err := c.session().QueuePut(rctx, req.Path, item.Data); err != nil {
				c.s.cfg.Logger.Warn("queue item lost: its taker went and it could not be put back",
					"queue", req.Path, "item", item.Key, "error", err)
			}
			return nil, wire.Errorf(wire.CodeCanceled, "the connection ended; the item was put back")
		}
		data := item.Data
		if data == nil {
			data = []byte{}
		}
		return &wire.QueueItem{Key: item.Key, Data: data}, nil
	})
}
