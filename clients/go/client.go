package warden

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/localapi/wire"
)

// Options configure Dial. The zero value is usable.
type Options struct {
	// Socket is the agent's socket; empty means $WARDEN_SOCKET, then
	// wire.DefaultSocketPath(). Dial connects only if the socket belongs
	// to the expected user (see CheckSocketOwner).
	Socket string
	// SessionTimeout is how long the session outlives a silent agent;
	// zero takes the agent's default.
	SessionTimeout time.Duration
	// Name identifies this client in the agent's session list.
	Name string
	// OnSessionState, if set, is called with each session state the agent
	// reports ("connected", "suspended", "lost"). It must not block.
	OnSessionState func(state string)
	// Resumable asks for a session that outlives its connection for its
	// timeout, so that a client that reconnects (after an agent restart,
	// say) keeps its locks by passing ResumeToken() as Resume.
	Resumable bool
	// Resume takes up an earlier resumable session instead of opening one.
	Resume *ResumeToken
	// NoSession connects without a session, for read-only tools: reads,
	// Status and Members work even when the cluster has no leader.
	NoSession bool
	// Heartbeat asks the agent to end the session if this client sends
	// nothing within the session timeout, as if its process had died; the
	// client pings every third of the timeout. It covers a process that is
	// stuck with its socket still open.
	Heartbeat bool
}

// ResumeToken names a resumable session and proves the right to it.
type ResumeToken struct {
	SessionID uint64
	Secret    []byte
}

// Client is one connection to an agent, and the session it opened. It is
// safe for concurrent use; requests from many goroutines share the
// connection and are answered independently.
type Client struct {
	nc      net.Conn
	opts    Options
	session uint64
	secret  []byte
	timeout time.Duration
	agent   string
	nextID  atomic.Uint64

	wmu sync.Mutex // one frame at a time onto nc

	mu      sync.Mutex
	pending map[uint64]chan *wire.Message
	opens   map[uint64]bool    // pending requests whose reply starts a stream
	streams map[uint64]*stream // open streams by sub id
	err     error              // why the connection ended, once it has

	done      chan struct{}
	closeOnce sync.Once
}

// Dial connects to the agent and opens a session. It refuses, with a
// *SocketOwnerError (errors.Is ErrSocketOwner), a socket that belongs to
// a user other than the expected one, before connecting to it.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	path := SocketPath(opts.Socket)
	if err := CheckSocketOwner(path); err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("connect to the warden agent at %s: %w", path, err)
	}
	c := &Client{
		nc: nc, opts: opts,
		pending: make(map[uint64]chan *wire.Message),
		opens:   make(map[uint64]bool),
		streams: make(map[uint64]*stream),
		done:    make(chan struct{}),
	}
	go c.readLoop()
	var hello wire.HelloResult
	req := &wire.Request{
		Op: wire.OpHello, Protocol: wire.ProtocolVersion,
		SessionTimeoutMs: opts.SessionTimeout.Milliseconds(), Client: opts.Name,
		Resumable: opts.Resumable, Heartbeat: opts.Heartbeat, NoSession: opts.NoSession,
	}
	if opts.Resume != nil {
		req.SessionID, req.Secret = opts.Resume.SessionID, opts.Resume.Secret
	}
	if err = c.call(ctx, req, &hello); err != nil {
		c.Close()
		return nil, err
	}
	c.session, c.agent, c.secret = hello.SessionID, hello.Agent, hello.Secret
	c.timeout = time.Duration(hello.SessionTimeoutMs) * time.Millisecond
	if opts.Heartbeat {
		go c.heartbeat()
	}
	return c, nil
}

// ResumeToken returns what Options.Resume needs to take this session up
// again, or nil when it is not resumable.
func (c *Client) ResumeToken() *ResumeToken {
	if c.secret == nil {
		return nil
	}
	return &ResumeToken{SessionID: c.session, Secret: c.secret}
}

// SessionTimeout is the session's timeout as the agent granted it.
func (c *Client) SessionTimeout() time.Duration { return c.timeout }

// heartbeat pings every third of the session timeout until the
// connection ends.
func (c *Client) heartbeat() {
	t := time.NewTicker(max(c.timeout/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
			_ = c.Ping(ctx)
			cancel()
		}
	}
}

// SessionID is the id of this connection's session.
func (c *Client) SessionID() uint64 { return c.session }

// Agent is the name of the agent this client talks to.
func (c *Client) Agent() string { return c.agent }

// Done is closed when the connection has ended; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the connection ended, or nil while it is open.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the connection, and with it the session: its ephemeral nodes
// go and its locks pass on. A resumable session is only detached: it keeps
// what it holds until it is resumed or its timeout passes. It is safe to
// call twice.
func (c *Client) Close() error {
	c.fail(ErrClosed)
	return nil
}

// fail ends the connection with err and fails every pending call.
func (c *Client) fail(err error) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.err = err
		pending, streams := c.pending, c.streams
		c.pending, c.streams = nil, nil
		c.mu.Unlock()
		c.nc.Close()
		for _, ch := range pending {
			close(ch)
		}
		for _, s := range streams {
			s.end(err)
		}
		close(c.done)
	})
}

func (c *Client) readLoop() {
	r := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		frame, err := wire.ReadFrame(r, nil, wire.MaxFrameSize)
		if err != nil {
			c.fail(fmt.Errorf("%w: %v", ErrClosed, err))
			return
		}
		var m wire.Message
		if err := msgpack.Unmarshal(frame, &m); err != nil {
			c.fail(fmt.Errorf("%w: undecodable frame from agent: %v", ErrClosed, err))
			return
		}
		if m.ID == 0 {
			c.event(&m)
			continue
		}
		c.mu.Lock()
		ch := c.pending[m.ID]
		delete(c.pending, m.ID)
		if c.opens[m.ID] {
			// Register the stream before reading on: its first event
			// may be the very next frame.
			delete(c.opens, m.ID)
			if sub := streamID(&m); sub != 0 && c.streams != nil {
				c.streams[sub] = newStream(c, sub)
			}
		}
		c.mu.Unlock()
		if ch != nil {
			ch <- &m
		}
	}
}

// event handles a frame the agent pushed.
func (c *Client) event(m *wire.Message) {
	if m.Error != nil {
		// The agent closes the connection after a connection-level error.
		c.fail(fmt.Errorf("%w: %w", ErrClosed, m.Error))
		return
	}
	if m.Sub != 0 {
		c.mu.Lock()
		s := c.streams[m.Sub]
		c.mu.Unlock()
		if s != nil {
			s.push(m)
		}
		return
	}
	if m.Event == wire.EventSession && c.opts.OnSessionState != nil {
		var ev wire.SessionEvent
		if msgpack.Unmarshal(m.Body, &ev) == nil {
			c.opts.OnSessionState(ev.State)
		}
	}
}

// send registers a request and writes it; the reply arrives on the channel.
// opens marks a request whose reply starts a stream.
func (c *Client) send(req *wire.Request, opens bool) (uint64, chan *wire.Message, error) {
	req.ID = c.nextID.Add(1)
	ch := make(chan *wire.Message, 1)
	c.mu.Lock()
	if c.pending == nil {
		err := c.err
		c.mu.Unlock()
		return 0, nil, err
	}
	c.pending[req.ID] = ch
	if opens {
		c.opens[req.ID] = true
	}
	c.mu.Unlock()
	b, err := wire.AppendFrame(nil, req)
	if err != nil {
		c.forget(req.ID)
		return 0, nil, err
	}
	c.wmu.Lock()
	_, err = c.nc.Write(b)
	c.wmu.Unlock()
	if err != nil {
		c.fail(fmt.Errorf("%w: %v", ErrClosed, err))
		return 0, nil, c.Err()
	}
	return req.ID, ch, nil
}

func (c *Client) forget(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending != nil {
		delete(c.pending, id)
		delete(c.opens, id)
	}
}

// call sends req and decodes its result into out. If ctx ends first, the
// request is cancelled at the agent and ctx's error returned.
func (c *Client) call(ctx context.Context, req *wire.Request, out any) error {
	m, err := c.roundTrip(ctx, req, false, false)
	if err != nil {
		return err
	}
	return decodeReply(m, out)
}

// roundTrip sends req and waits for its reply. When ctx ends first it asks
// the agent to cancel the request; with awaitCancel it then waits for the
// request's own reply, so the caller can undo a success that raced the
// cancel (a lock granted just as its waiter gave up).
func (c *Client) roundTrip(ctx context.Context, req *wire.Request, awaitCancel, opens bool) (*wire.Message, error) {
	id, ch, err := c.send(req, opens)
	if err != nil {
		return nil, err
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return nil, c.Err()
		}
		return m, nil
	case <-ctx.Done():
	}
	if _, _, err := c.send(&wire.Request{Op: wire.OpCancel, Target: id}, false); err != nil || !awaitCancel {
		c.forget(id)
		return nil, ctx.Err()
	}
	m, ok := <-ch
	if !ok {
		return nil, ctx.Err()
	}
	return m, ctx.Err()
}

func decodeReply(m *wire.Message, out any) error {
	if m.Error != nil {
		return m.Error
	}
	if out == nil {
		return nil
	}
	if err := msgpack.Unmarshal(m.Result, out); err != nil {
		return fmt.Errorf("decode reply: %w", err)
	}
	return nil
}

// Errors. Each matches, with errors.Is, every error the agent returns with
// that code, whatever its message.
var (
	ErrNoNode         error = &wire.Error{Code: wire.CodeNoNode}
	ErrNodeExists     error = &wire.Error{Code: wire.CodeNodeExists}
	ErrBadVersion     error = &wire.Error{Code: wire.CodeBadVersion}
	ErrNotEmpty       error = &wire.Error{Code: wire.CodeNotEmpty}
	ErrBadArguments   error = &wire.Error{Code: wire.CodeBadArguments}
	ErrSessionExpired error = &wire.Error{Code: wire.CodeSessionExpired}
	ErrTimeout        error = &wire.Error{Code: wire.CodeTimeout}
	ErrUnavailable    error = &wire.Error{Code: wire.CodeUnavailable}
	ErrTooLarge       error = &wire.Error{Code: wire.CodeTooLarge}
	ErrUnknownOp      error = &wire.Error{Code: wire.CodeUnknownOp}
	ErrCanceled       error = &wire.Error{Code: wire.CodeCanceled}
	ErrNotHeld        error = &wire.Error{Code: wire.CodeNotHeld}
	// ErrPermissionDenied: the caller may not do this (another session's
	// ephemeral node may be deleted, and set, only by that session).
	ErrPermissionDenied error = &wire.Error{Code: wire.CodePermissionDenied}

	// ErrClosed: the connection (and so the session) has ended.
	ErrClosed = errors.New("warden: connection closed")
	// ErrSocketOwner: Dial refused the socket because it belongs to a
	// user other than the expected one (another user may be posing as
	// the agent). The error is a *SocketOwnerError.
	ErrSocketOwner = errors.New("warden: the socket belongs to an unexpected user")
)

// CodeOf returns the agent's error code in err, or "" if it has none.
func CodeOf(err error) wire.Code {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Code
	}
	return ""
}

// CloseWait closes the connection and waits until the agent has finished
// with the session: every report it accepted has been written (or
// dropped), and the session is closed, so its tasks, members and other
// ephemeral nodes are gone (a resumable session is only detached). It
// returns ctx's error if that takes longer than ctx allows, after closing
// the connection regardless.
func (c *Client) CloseWait(ctx context.Context) error {
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok {
		return c.Close()
	}
	// Half-close: the agent reads the end of the stream, finishes the
	// session's work, closes the session and then the connection, which
	// ends the read loop.
	if err := cw.CloseWrite(); err != nil {
		return c.Close()
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		c.Close()
		return ctx.Err()
	}
}
