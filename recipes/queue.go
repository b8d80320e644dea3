package recipes

import (
	"context"
	"errors"
	"time"

	"github.com/warden-dev/warden/fsm"
)

// A queue at PATH is its persistent sequential children PATH/item-NNNNNNNNNN,
// first in first out (Curator's DistributedQueue). A put creates one (and
// PATH and its missing ancestors as containers, so an empty, idle queue
// leaves nothing behind). A take reads the first item and deletes it with
// the version it read: the delete is the claim, so an item goes to exactly
// one taker, and a taker that loses the race (no_node) tries the next item.
// A taker that dies before its delete is applied leaves the item for the
// others.
//
// Delivery is at most once: an item is gone from the queue the moment its
// delete is applied, so one taken for a process that dies before it reads
// the reply (or before it has done the work) is lost. (The local API puts
// an item back, at the tail, when it sees that the taker's connection
// ended before the reply could be sent; see localapi/queue.go.)
//
// Takers that find the queue empty wait in line, as for a lock, at
// PATH/_takers: only the first in line watches the queue, so an item put
// into an empty queue wakes one taker, not all of them. Takers that find
// items do not queue up; they race for the items.

const (
	itemPrefix = "item-"
	queueLine  = "_takers"
)

var errQueueEmpty = &recipeError{"the queue stayed empty for the wait", ErrNotAcquired}

// QueueItem is an item taken from a queue: the key it had and its data.
type QueueItem struct {
	Key  string
	Data []byte
}

// QueuePut appends data to the queue at path, for session s, and returns
// the item's key and its czxid. The write runs to completion even if ctx
// ends meanwhile (a put is never left half known); the item is then in the
// queue.
func (s Session) QueuePut(ctx context.Context, path string, data []byte) (string, uint64, error) {
	if err := checkRecipePath(path, "a queue"); err != nil {
		return "", 0, err
	}
	created, err := s.createWithContainers(ctx, path,
		fsm.Op{Kind: fsm.OpCreate, Path: path + "/" + itemPrefix, Data: data, Sequential: true})
	if err != nil {
		return "", 0, err
	}
	return created.Path, created.Stat.Czxid, nil
}

// QueueTake removes and returns the first item of the queue at path, for
// session s, waiting for one when the queue is empty. wait is as for
// Acquire. Once an item's delete is applied the item is returned, even if
// ctx has ended meanwhile: it is no longer in the queue, and dropping it
// here would lose it.
func (s Session) QueueTake(ctx context.Context, path string, wait time.Duration) (*QueueItem, error) {
	if err := checkRecipePath(path, "a queue"); err != nil {
		return nil, err
	}
	if item, err := s.takeFirst(ctx, path); item != nil || err != nil {
		return item, err
	}
	if wait == 0 {
		return nil, errQueueEmpty
	}
	dl := newDeadline(wait)
	defer dl.stop()
	line, err := s.Acquire(ctx, path+"/"+queueLine, dl.left())
	if errors.Is(err, ErrNotAcquired) {
		return nil, errQueueEmpty
	}
	if err != nil {
		return nil, err
	}
	defer s.abandon(line.Key) // the next taker in line takes over the watch
	for {
		if item, err := s.takeFirst(ctx, path); item != nil || err != nil {
			return item, err
		}
		kids, _, w, err := s.Store.Children(path, true)
		if err != nil {
			return nil, err
		}
		if len(withPrefix(kids, itemPrefix)) > 0 {
			s.Store.StopWatch(w) // put since takeFirst looked
			continue
		}
		if err := dl.block(ctx, s.Store, w, errQueueEmpty); err != nil {
			return nil, err
		}
	}
}

// takeFirst takes the first item it can claim, or returns nil when the
// queue is empty.
func (s Session) takeFirst(ctx context.Context, path string) (*QueueItem, error) {
	for {
		kids, _, _, err := s.Store.Children(path, false)
		if errors.Is(err, fsm.ErrNoNode) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		items := withPrefix(kids, itemPrefix)
		if len(items) == 0 {
			return nil, nil
		}
		for _, name := range items {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			key := path + "/" + name
			data, stat, _, err := s.Store.Get(key, false)
			if errors.Is(err, fsm.ErrNoNode) {
				continue // taken since the listing
			}
			if err != nil {
				return nil, err
			}
			// The claim. It runs to completion even if ctx ends, so that
			// an item deleted for this taker is always handed to it.
			_, err = s.writeDetached(ctx, fsm.Op{Kind: fsm.OpDelete, Path: key, Version: stat.Version})
			switch {
			case err == nil:
				return &QueueItem{Key: key, Data: data}, nil
			case errors.Is(err, fsm.ErrNoNode), errors.Is(err, fsm.ErrBadVersion):
				continue // another taker won it (or it changed): the next one
			}
			return nil, err
		}
	}
}
