package warden

import (
	"context"

	"github.com/warden-dev/warden/localapi/wire"
)

// Queue is a first-in first-out queue of items. Each item is handed to
// exactly one taker, and at most once: an item taken by a process that
// dies before it has dealt with the item is lost, not handed out again.
type Queue struct {
	c *Client
	// Path is the queue's node.
	Path string
}

// Queue returns the queue at path.
func (c *Client) Queue(path string) *Queue { return &Queue{c: c, Path: path} }

// QueueItem is an item taken from a queue.
type QueueItem struct {
	// Key is the node the item had, PATH/item-NNNNNNNNNN.
	Key string
	// Data is what was put.
	Data []byte
}

// Put appends data to the queue and returns the item's key. Once sent, a
// put is carried out even if ctx ends meanwhile; Put then reports it done.
func (q *Queue) Put(ctx context.Context, data []byte) (string, error) {
	var r wire.LeaseResult
	late, err := q.c.grant(ctx, &wire.Request{Op: wire.OpQueuePut, Path: q.Path, Data: data}, &r)
	if err != nil && !late {
		return "", err
	}
	return r.Key, nil
}

// Take removes and returns the first item, waiting for one while the queue
// is empty. A deadline on ctx is passed to the agent as the wait; the call
// then fails with ErrTimeout. An item the agent took for this call just as
// ctx ended is returned all the same: it has left the queue.
func (q *Queue) Take(ctx context.Context) (*QueueItem, error) {
	return q.take(ctx, agentWait(ctx))
}

// TryTake removes and returns the first item, or returns nil and no
// error when the queue is empty.
func (q *Queue) TryTake(ctx context.Context) (*QueueItem, error) {
	return tried(q.take(ctx, tryOnce()))
}

func (q *Queue) take(ctx context.Context, wait *int64) (*QueueItem, error) {
	var r wire.QueueItem
	late, err := q.c.grant(ctx, &wire.Request{Op: wire.OpQueueTake, Path: q.Path, WaitMs: wait}, &r)
	if err != nil && !late {
		return nil, err
	}
	return &QueueItem{Key: r.Key, Data: r.Data}, nil
}
