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
// consumer that does not keep up only grows its own buffer. A stream
// outlives the connection it was opened on: after a resume it is opened
// again (see reopen) and goes on under a new sub id.
type stream struct {
	c *Client
	// Guarded by c.mu.
	cn  *conn  // the connection it runs on; nil while detached
	sub uint64 // its id on cn

	// req opened the stream; reopen, when set, makes the request that
	// opens it again after a resume (nil: a one-shot watch, which ends
	// with its connection). It runs with mu held.
	req    wire.Request
	reopen func(*stream) *wire.Request
	// track, when set, hears each event as it arrives (with mu held);
	// false drops the event.
	track func(*wire.Message) bool

	mu     sync.Mutex
	queue  []*wire.Message
	ready  chan struct{} // has room for one wake-up
	err    error
	closed bool
}

func newStream(c *Client, req *wire.Request) *stream {
	s := &stream{c: c, ready: make(chan struct{}, 1)}
	if req != nil {
		s.req = *req
	}
	return s
}

// again is the reopen of a stream that starts afresh: its own request.
func again(s *stream) *wire.Request {
	req := s.req
	return &req
}

func (s *stream) push(m *wire.Message) {
	s.mu.Lock()
	if !s.closed && (s.track == nil || s.track(m)) {
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

func (s *stream) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// reopenRequest is the request that opens the stream again, or nil when
// it has been closed.
func (s *stream) reopenRequest() *wire.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.reopen == nil {
		return nil
	}
	return s.reopen(s)
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
	cn, sub := s.detach()
	if cn == nil {
		return nil // not open at the agent (detached by a drop)
	}
	err := s.c.callOn(ctx, cn, &wire.Request{Op: wire.OpUnsubscribe, Sub: sub}, nil)
	if errors.Is(err, ErrBadArguments) || errors.Is(err, ErrDisconnected) {
		return nil // the stream had already ended at the agent, or with its connection
	}
	return err
}

// detach takes the stream off its connection and the client, returning
// where it ran.
func (s *stream) detach() (*conn, uint64) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	cn, sub := s.cn, s.sub
	if s.c.streams != nil {
		delete(s.c.streams, s)
	}
	if cn != nil && cn.subs != nil && cn.subs[sub] == s {
		delete(cn.subs, sub)
	}
	s.cn, s.sub = nil, 0
	return cn, sub
}

// forget drops a stream the agent has ended.
func (s *stream) forget() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.end(ErrStreamClosed)
	s.detach()
}

// drop ends a stream with err (the agent refused to open it again).
func (s *stream) drop(err error) {
	s.end(err)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.detach()
}

// openStream sends a request whose reply starts s.
func (c *Client) openStream(ctx context.Context, s *stream) error {
	req := s.req
	m, err := c.roundTrip(ctx, &req, true, s)
	if m == nil {
		return err
	}
	if derr := decodeReply(m, nil); derr != nil {
		return derr
	}
	c.mu.Lock()
	opened := s.cn != nil
	c.mu.Unlock()
	if !opened {
		return c.dropErr()
	}
	if err != nil {
		_ = s.close(context.Background())
		return err
	}
	return nil
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

// Watch is a one-shot watch set by GetW, ExistsW or ChildrenW. It belongs
// to its connection: if a resumable session's connection drops before it
// fires, Wait fails with ErrDisconnected (read again, and watch again).
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
