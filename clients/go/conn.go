package warden

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/localapi/wire"
)

// conn is one connection to the agent. A Client sends on one at a time;
// a resumable session moves to a new one when its connection drops. Its
// reader dispatches replies to their callers and events to their streams.
type conn struct {
	c     *Client
	nc    net.Conn
	wmu   sync.Mutex    // one frame at a time onto nc
	ended chan struct{} // closed once the connection has ended

	// Guarded by c.mu.
	pending   map[uint64]*call   // requests awaiting their reply; nil once ended
	subs      map[uint64]*stream // the streams running on it, by sub id
	installed bool               // the client's connection: session states go to the app
	state     string             // the last session state the agent reported before it was installed
	lost      bool               // the agent reported the session lost: no resume
	err       error              // why it ended
}

// call is a request awaiting its reply.
type call struct {
	ch    chan *wire.Message // gets the reply; closed if the connection ends first
	open  *stream            // the stream a successful reply starts, if any
	lease bool               // a successful reply's key is a lease the app now holds
}

// errDropped: the connection ended before the request could be sent.
var errDropped = errors.New("warden: the connection dropped")

// leaseOps are the ops whose result is a lease the session holds until it
// is released: the keys a resuming hello lists in holds.
var leaseOps = map[string]bool{
	wire.OpLock: true, wire.OpReadLock: true, wire.OpWriteLock: true,
	wire.OpSemAcquire: true, wire.OpCampaign: true,
}

// dial opens a connection to the agent's socket and starts its reader.
func (c *Client) dial(ctx context.Context) (*conn, error) {
	if err := CheckSocketOwner(c.socket); err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		return nil, fmt.Errorf("connect to the warden agent at %s: %w", c.socket, err)
	}
	cn := &conn{c: c, nc: nc, ended: make(chan struct{}),
		pending: make(map[uint64]*call), subs: make(map[uint64]*stream)}
	go cn.readLoop()
	return cn, nil
}

// handshake dials and says hello with req, returning the connection (not
// yet the client's: see install) and the hello's result.
func (c *Client) handshake(ctx context.Context, req *wire.Request) (*conn, *wire.HelloResult, error) {
	cn, err := c.dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*conn, *wire.HelloResult, error) {
		cn.nc.Close()
		return nil, nil, err
	}
	req.TimeoutMs = replyTimeout(ctx)
	_, ch, err := cn.send(req, nil)
	if err != nil {
		return fail(cn.endErr())
	}
	var m *wire.Message
	select {
	case r, ok := <-ch:
		if !ok {
			return fail(cn.endErr())
		}
		m = r
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	var hello wire.HelloResult
	if err := decodeReply(m, &hello); err != nil {
		return fail(err)
	}
	return cn, &hello, nil
}

// endErr is why cn ended (ErrClosed if it has not said).
func (cn *conn) endErr() error {
	cn.c.mu.Lock()
	defer cn.c.mu.Unlock()
	if cn.err != nil {
		return cn.err
	}
	return fmt.Errorf("%w: the agent closed the connection", ErrClosed)
}

// send registers req under a fresh id and writes it. It fails with
// errDropped when the connection has already ended; if the write fails,
// the connection ends, and the caller learns it from the closed channel.
func (cn *conn) send(req *wire.Request, open *stream) (uint64, chan *wire.Message, error) {
	c := cn.c
	req.ID = c.nextID.Add(1)
	cl := &call{ch: make(chan *wire.Message, 1), open: open, lease: leaseOps[req.Op]}
	b, err := wire.AppendFrame(nil, req)
	if err != nil {
		return 0, nil, err
	}
	c.mu.Lock()
	if cn.pending == nil {
		c.mu.Unlock()
		return 0, nil, errDropped
	}
	cn.pending[req.ID] = cl
	c.mu.Unlock()
	cn.wmu.Lock()
	_, err = cn.nc.Write(b)
	cn.wmu.Unlock()
	if err != nil {
		c.connEnded(cn, fmt.Errorf("%w: %v", ErrClosed, err))
	}
	return req.ID, cl.ch, nil
}

// forget drops a request whose reply nobody waits for any more.
func (cn *conn) forget(id uint64) {
	cn.c.mu.Lock()
	defer cn.c.mu.Unlock()
	delete(cn.pending, id)
}

func (cn *conn) readLoop() {
	c := cn.c
	r := bufio.NewReaderSize(cn.nc, 64<<10)
	for {
		frame, err := wire.ReadFrame(r, nil, wire.MaxFrameSize)
		if err != nil {
			c.connEnded(cn, fmt.Errorf("%w: %v", ErrClosed, err))
			return
		}
		var m wire.Message
		if err := msgpack.Unmarshal(frame, &m); err != nil {
			c.connEnded(cn, fmt.Errorf("%w: undecodable frame from agent: %v", ErrClosed, err))
			return
		}
		if m.ID == 0 {
			if !c.event(cn, &m) {
				return
			}
			continue
		}
		c.mu.Lock()
		cl := cn.pending[m.ID]
		delete(cn.pending, m.ID)
		if cl != nil && m.Error == nil {
			if cl.open != nil && cn.subs != nil && !cl.open.isClosed() {
				// Register the stream before reading on: its first event
				// may be the very next frame.
				if sub := streamID(&m); sub != 0 {
					cn.subs[sub] = cl.open
					cl.open.cn, cl.open.sub = cn, sub
					if c.streams != nil {
						c.streams[cl.open] = struct{}{}
					}
				}
			}
			if cl.lease && c.held != nil {
				// Held from now on, before the caller even sees it: a
				// resume in the meantime must keep it.
				if key := leaseKey(m.Result); key != "" {
					c.held[key] = struct{}{}
				}
			}
		}
		c.mu.Unlock()
		if cl != nil {
			cl.ch <- &m
		}
	}
}

// leaseKey reads the key of a lease from a grant's result.
func leaseKey(result msgpack.RawMessage) string {
	var r struct {
		Key string `msgpack:"key"`
	}
	if msgpack.Unmarshal(result, &r) != nil {
		return ""
	}
	return r.Key
}

// event handles a frame the agent pushed; false when it ended cn.
func (c *Client) event(cn *conn, m *wire.Message) bool {
	if m.Error != nil {
		// The agent closes the connection after a connection-level error.
		c.connEnded(cn, fmt.Errorf("%w: %w", ErrClosed, m.Error))
		return false
	}
	if m.Sub != 0 {
		c.mu.Lock()
		s := cn.subs[m.Sub]
		c.mu.Unlock()
		if s != nil {
			s.push(m)
		}
		return true
	}
	if m.Event == wire.EventSession {
		var ev wire.SessionEvent
		if msgpack.Unmarshal(m.Body, &ev) == nil {
			c.sessionEvent(cn, ev.State)
		}
	}
	return true
}

// connEnded takes cn out of service: its pending calls are woken (their
// channels closed) and its streams detached. If it was the client's
// connection, the client resumes the session (a resumable one that the
// agent did not report lost) or ends. A session that ends with its
// connection (one not resumable, or one the agent reported lost) is lost,
// unless the app ended the client first: the client reports SessionLost
// and ends with ErrSessionLost.
func (c *Client) connEnded(cn *conn, err error) {
	c.mu.Lock()
	if cn.pending == nil {
		c.mu.Unlock()
		return
	}
	pending, subs := cn.pending, cn.subs
	current := c.cn == cn
	resume := current && c.err == nil && c.secret != nil && !cn.lost
	lost := current && c.err == nil && !resume && c.session != 0
	if lost {
		if cn.lost {
			err = fmt.Errorf("%w: the agent reported it lost", ErrSessionLost)
		} else {
			err = fmt.Errorf("%w: the connection to the agent ended, and the session with it: %w", ErrSessionLost, err)
		}
	}
	cn.pending, cn.subs, cn.err = nil, nil, err
	var gone []*stream
	for _, s := range subs {
		s.cn, s.sub = nil, 0
		if resume && s.reopen == nil {
			gone = append(gone, s) // a one-shot watch: it may fire unseen meanwhile
			delete(c.streams, s)
		}
	}
	if current {
		c.cn = nil
		if !resume && c.err == nil {
			c.err = err // before the callers wake, so that they report it
		}
		c.signal()
	}
	c.mu.Unlock()
	cn.nc.Close()
	close(cn.ended)
	if lost {
		c.report(SessionLost) // before the calls in flight fail
	}
	for _, cl := range pending {
		close(cl.ch)
	}
	switch {
	case !current:
	case !resume:
		c.end(err)
	default:
		for _, s := range gone {
			s.end(ErrDisconnected)
		}
		c.report(SessionDisconnected)
		go c.resume()
	}
}

// end ends the client with err: its connection (or a resume's) closes,
// every stream ends, and Done is closed. The first error sticks.
func (c *Client) end(err error) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		err = c.err
		cns := []*conn{c.cn, c.dialing}
		c.cn, c.dialing = nil, nil
		streams := c.streams
		c.streams = nil
		c.signal()
		c.mu.Unlock()
		for _, cn := range cns {
			if cn != nil {
				c.connEnded(cn, err)
			}
		}
		for s := range streams {
			s.end(err)
		}
		c.stop()
		close(c.done)
	})
}

// signal wakes whoever waits for a change of cn, err or state; c.mu must
// be held.
func (c *Client) signal() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// callOn sends req on cn only, and decodes its result into out: no
// resend, and ErrDisconnected (or the client's error) if cn drops first.
func (c *Client) callOn(ctx context.Context, cn *conn, req *wire.Request, out any) error {
	req.TimeoutMs = replyTimeout(ctx)
	id, ch, err := cn.send(req, nil)
	if errors.Is(err, errDropped) {
		return c.dropErr()
	}
	if err != nil {
		return err
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return c.dropErr()
		}
		return decodeReply(m, out)
	case <-ctx.Done():
		cn.forget(id)
		_, _, _ = cn.send(&wire.Request{Op: wire.OpCancel, Target: id}, nil)
		return ctx.Err()
	}
}

// dropErr is the error of a call whose connection dropped.
func (c *Client) dropErr() error {
	if err := c.Err(); err != nil {
		return err
	}
	return ErrDisconnected
}
