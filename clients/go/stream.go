package warden

import (
	"context"
	"errors"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/localapi/wire"
)

// ErrStreamClosed: the stream was closed by its owner.
var ErrStreamClosed = errors.New("warden: stream closed")

// stream buffers one stream's events. The reader never blocks on it: a
// consumer that does not keep up only grows its own buffer.
type stream struct {
	c      *Client
	sub    uint64
	mu     sync.Mutex
	queue  []*wire.Message
	ready  chan struct{} // has room for one wake-up
	err    error
	closed bool
}

func newStream(c *Client, sub uint64) *stream {
	return &stream{c: c, sub: sub, ready: make(chan struct{}, 1)}
}

func (s *stream) push(m *wire.Message) {
	s.mu.Lock()
	if !s.closed {
		s.queue = append(s.queue, m)
	}
	s.mu.Unlock()
	s.wake()
}

func (s *stream) wake() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// end stops the stream; Next returns err once the buffer is drained.
func (s *stream) end(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	s.wake()
}

// next returns the next event, decoding its body into out.
func (s *stream) next(ctx context.Context, out any) (string, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			m := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			s.mu.Unlock()
			if err := msgpack.Unmarshal(m.Body, out); err != nil {
				return m.Event, err
			}
			return m.Event, nil
		}
		err := s.err
		s.mu.Unlock()
		if err != nil {
			return "", err
		}
		select {
		case <-s.ready:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// close unsubscribes at the agent and ends the stream.
func (s *stream) close(ctx context.Context) error {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	if already {
		return nil
	}
	s.end(ErrStreamClosed)
	s.c.mu.Lock()
	if s.c.streams != nil {
		delete(s.c.streams, s.sub)
	}
	s.c.mu.Unlock()
	err := s.c.call(ctx, &wire.Request{Op: wire.OpUnsubscribe, Sub: s.sub}, nil)
	if errors.Is(err, ErrBadArguments) {
		return nil // the stream had already ended at the agent
	}
	return err
}

// forget drops a stream the agent has ended.
func (s *stream) forget() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.end(ErrStreamClosed)
	s.c.mu.Lock()
	if s.c.streams != nil {
		delete(s.c.streams, s.sub)
	}
	s.c.mu.Unlock()
}

// openStream sends a request whose reply starts a stream.
func (c *Client) openStream(ctx context.Context, req *wire.Request) (*stream, error) {
	m, err := c.roundTrip(ctx, req, true, true)
	if m == nil {
		return nil, err
	}
	if derr := decodeReply(m, nil); derr != nil {
		return nil, derr
	}
	sub := streamID(m)
	c.mu.Lock()
	s := c.streams[sub]
	c.mu.Unlock()
	if s == nil {
		return nil, c.Err()
	}
	if err != nil {
		_ = s.close(context.Background())
		return nil, err
	}
	return s, nil
}

// streamID reads the sub id from a reply that started a stream; one-shot
// watches carry it as "watch", other streams as "sub".
func streamID(m *wire.Message) uint64 {
	if m.Error != nil {
		return 0
	}
	var r struct {
		Sub   uint64 `msgpack:"sub"`
		Watch uint64 `msgpack:"watch"`
	}
	if msgpack.Unmarshal(m.Result, &r) != nil {
		return 0
	}
	return max(r.Sub, r.Watch)
}

// Event is one change a Subscription delivers. Deleted and Synced are set
// only in a folded subscription, on resync events.
type Event = wire.ChangeEvent

// Subscription is an ordered stream of changes under a path: never
// reordered, never skipped. It starts with a resync (the current nodes,
// then a "synced" event) unless it resumes after a zxid the agent still
// has history for.
type Subscription struct{ s *stream }

// SubscribeOptions shape a subscription.
type SubscribeOptions struct {
	// Scope is wire.ScopeNode (default), ScopeChildren or ScopeSubtree.
	Scope string
	// FromZxid resumes after this zxid (the last event's Zxid you
	// handled); 0 starts with the current state.
	FromZxid uint64
	// Fold has the agent fold each resync (protocol 6.18): the nodes that
	// exist, then a resync event marked Deleted for each path this
	// subscription knew that no longer exists, the last event marked
	// Synced, and no "synced" event. Every event is then one update of
	// the subscriber's view.
	Fold bool
	// Known, with Fold, lists the paths the subscriber knows to exist
	// when it resumes with FromZxid, so that a resync reports those gone
	// as Deleted.
	Known []string
}

// Subscribe streams the changes under path.
func (c *Client) Subscribe(ctx context.Context, path string, o SubscribeOptions) (*Subscription, error) {
	s, err := c.openStream(ctx, &wire.Request{Op: wire.OpSubscribe, Path: path, Scope: o.Scope, FromZxid: o.FromZxid,
		Fold: o.Fold, Known: o.Known})
	if err != nil {
		return nil, err
	}
	return &Subscription{s}, nil
}

// Next waits for the next change.
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	var ev Event
	_, err := s.s.next(ctx, &ev)
	return ev, err
}

// Close ends the subscription.
func (s *Subscription) Close(ctx context.Context) error { return s.s.close(ctx) }

// Watch is a one-shot watch set by GetW, ExistsW or ChildrenW.
type Watch struct{ s *stream }

// WatchEvent is what fired a watch.
type WatchEvent = wire.WatchEvent

// Wait returns the event that fired the watch.
func (w *Watch) Wait(ctx context.Context) (WatchEvent, error) {
	var ev WatchEvent
	_, err := w.s.next(ctx, &ev)
	if err == nil {
		w.s.forget() // a watch fires once; the agent has ended it
	}
	return ev, err
}

// Stop removes a watch that has not fired.
func (w *Watch) Stop(ctx context.Context) error { return w.s.close(ctx) }
