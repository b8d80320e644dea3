package warden

import (
	"context"
	"errors"
	"fmt"
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
	// OnSessionState, if set, is called with each change of the session's
	// state: SessionConnected, SessionSuspended, SessionDisconnected (a
	// resumable session's connection dropped and the client is resuming
	// it) and SessionLost. It must not block.
	OnSessionState func(state string)
	// Resumable asks for a session that outlives its connection for its
	// timeout. When the connection drops (the agent restarted, say), the
	// client resumes the session by itself and keeps what it holds: see
	// the package documentation. ResumeToken() and Resume take a session
	// up in another process.
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

// Session states, as Options.OnSessionState reports them.
const (
	// SessionConnected: the agent confirms the session (after Dial, a
	// resume, or a suspension).
	SessionConnected = wire.SessionConnected
	// SessionSuspended: the agent cannot confirm the session; do not start
	// work that relies on what it holds.
	SessionSuspended = wire.SessionSuspended
	// SessionDisconnected: a resumable session's connection dropped and
	// the client is resuming it; calls fail with ErrDisconnected meanwhile.
	SessionDisconnected = "disconnected"
	// SessionLost: the session is over, or can no longer be relied on;
	// nothing it held counts any more. Final: the client ends with
	// ErrSessionLost.
	SessionLost = wire.SessionLost
)

// ResumeToken names a resumable session and proves the right to it.
type ResumeToken struct {
	SessionID uint64
	Secret    []byte
}

// Client is one session with an agent, over one connection at a time (a
// resumable session moves to a new one when its connection drops). It is
// safe for concurrent use; requests from many goroutines share the
// connection and are answered independently.
type Client struct {
	opts    Options
	socket  string
	session uint64
	secret  []byte
	timeout time.Duration
	nextID  atomic.Uint64

	mu        sync.Mutex
	cn        *conn                // the connection requests go on; nil while a resume is under way, and after the end
	dialing   *conn                // a resume's new connection, until it is installed
	agent     string               // the agent cn goes to
	state     string               // the last session state reported
	streams   map[*stream]struct{} // every open stream, whatever its connection
	held      map[string]struct{}  // keys of the leases the app holds (reclaim keeps them)
	orphans   map[string]*wire.Request
	err       error         // why the client ended, once it has
	changed   chan struct{} // closed, and replaced, whenever cn, err or state change
	done      chan struct{}
	stop      context.CancelFunc // ends ctx, which resume attempts run under, at the end
	ctx       context.Context
	closeOnce sync.Once

	smu sync.Mutex // orders session state reports
}

// Dial connects to the agent and opens a session. It refuses, with a
// *SocketOwnerError (errors.Is ErrSocketOwner), a socket that belongs to
// a user other than the expected one, before connecting to it.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	c := newClient(opts)
	req := &wire.Request{
		Op: wire.OpHello, Protocol: wire.ProtocolVersion,
		SessionTimeoutMs: opts.SessionTimeout.Milliseconds(), Client: opts.Name,
		Resumable: opts.Resumable, Heartbeat: opts.Heartbeat, NoSession: opts.NoSession,
	}
	if opts.Resume != nil {
		req.SessionID, req.Secret = opts.Resume.SessionID, opts.Resume.Secret
	}
	cn, hello, err := c.handshake(ctx, req)
	if err != nil {
		c.end(ErrClosed)
		return nil, err
	}
	if err := c.take(cn, hello); err != nil {
		return nil, err
	}
	return c, nil
}

func newClient(opts Options) *Client {
	c := &Client{
		opts: opts, socket: SocketPath(opts.Socket),
		streams: make(map[*stream]struct{}),
		held:    make(map[string]struct{}),
		orphans: make(map[string]*wire.Request),
		changed: make(chan struct{}),
		done:    make(chan struct{}),
	}
	c.ctx, c.stop = context.WithCancel(context.Background())
	return c
}

// take makes cn, whose hello succeeded, the client's connection. If cn
// has ended already, it ends the client and says why.
func (c *Client) take(cn *conn, hello *wire.HelloResult) error {
	c.session, c.secret = hello.SessionID, hello.Secret
	c.timeout = time.Duration(hello.SessionTimeoutMs) * time.Millisecond
	if !c.install(cn, hello) {
		err := cn.endErr()
		c.mu.Lock()
		if cn.lost {
			// The agent answered the hello, then reported the session
			// lost and closed the connection (a session that expired at
			// the leader before its opening reached the agent): say so,
			// as the client would have had it taken cn first.
			err = fmt.Errorf("%w: the agent reported it lost as it was opened", ErrSessionLost)
		}
		c.mu.Unlock()
		c.end(err)
		return err
	}
	if c.opts.Heartbeat {
		go c.heartbeat()
	}
	return nil
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

// heartbeat pings every third of the session timeout until the client
// ends (not while it resumes: there is no connection to ping on).
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

// SessionID is the id of this client's session.
func (c *Client) SessionID() uint64 { return c.session }

// Agent is the name of the agent this client talks to.
func (c *Client) Agent() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.agent
}

// Done is closed when the client has ended: its connection closed and,
// for a resumable session, no resume is possible. Err then says why:
// ErrClosed after Close or CloseWait, ErrSessionLost (which matches
// ErrClosed too) when the session ended without the app closing it.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the client ended, or nil while it has not.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the connection, and with it the session: its ephemeral nodes
// go and its locks pass on. A resumable session is only detached: it keeps
// what it holds until it is resumed or its timeout passes (a resume under
// way stops). It is safe to call twice.
func (c *Client) Close() error {
	c.end(ErrClosed)
	return nil
}

// live returns the connection to send on: ErrDisconnected while a resume
// is under way, the client's error once it has ended.
func (c *Client) live() (*conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	if c.cn == nil {
		return nil, ErrDisconnected
	}
	return c.cn, nil
}

// call sends req and decodes its result into out. If ctx ends first, the
// request is cancelled at the agent and ctx's error returned.
func (c *Client) call(ctx context.Context, req *wire.Request, out any) error {
	m, err := c.roundTrip(ctx, req, false, nil)
	if err != nil {
		return err
	}
	return decodeReply(m, out)
}

// regrant are the grant waits that a dropped connection does not cut
// short: after the resume they are sent again, within the caller's
// remaining wait (the agent removed what the first one left queued).
var regrant = map[string]bool{
	wire.OpLock: true, wire.OpReadLock: true, wire.OpWriteLock: true,
	wire.OpSemAcquire: true, wire.OpCampaign: true, wire.OpQueueTake: true,
}

// roundTrip sends req and waits for its reply. When ctx ends first it asks
// the agent to cancel the request; with awaitCancel it then waits for the
// request's own reply, so the caller can undo a success that raced the
// cancel (a lock granted just as its waiter gave up). open is the stream
// the reply starts, if any.
//
// When the connection drops before the reply, a grant wait (regrant) is
// sent again once the session is resumed; any other request fails with
// ErrDisconnected, its outcome unknown (or with the client's error, if the
// session cannot be resumed).
func (c *Client) roundTrip(ctx context.Context, req *wire.Request, awaitCancel bool, open *stream) (*wire.Message, error) {
	for {
		cn, err := c.live()
		if err != nil {
			return nil, err
		}
		if open == nil && req.WaitMs == nil {
			// A stream's request has no reply deadline; a grant's wait_ms
			// is its own, and the agent answers it at once when canceled.
			req.TimeoutMs = replyTimeout(ctx)
		}
		id, ch, err := cn.send(req, open)
		if err != nil && !errors.Is(err, errDropped) {
			return nil, err
		}
		if err == nil {
			select {
			case m, ok := <-ch:
				if ok {
					return m, nil
				}
			case <-ctx.Done():
				return c.cancelled(ctx, cn, id, ch, awaitCancel)
			}
		}
		if err := c.again(ctx, req, open); err != nil {
			return nil, err
		}
	}
}

// cancelled asks the agent to cancel request id, whose caller gave up.
func (c *Client) cancelled(ctx context.Context, cn *conn, id uint64, ch chan *wire.Message, awaitCancel bool) (*wire.Message, error) {
	if _, _, err := cn.send(&wire.Request{Op: wire.OpCancel, Target: id}, nil); err != nil || !awaitCancel {
		cn.forget(id)
		return nil, ctx.Err()
	}
	m, ok := <-ch
	if !ok {
		return nil, ctx.Err() // the connection dropped; a resume reclaims what it left
	}
	return m, ctx.Err()
}

// again decides about a request whose connection dropped before its reply:
// nil to send it again (a grant wait, once the session is resumed, with
// the wait that is left), else the error to return.
func (c *Client) again(ctx context.Context, req *wire.Request, open *stream) error {
	if err := c.Err(); err != nil {
		return err
	}
	if open != nil || !regrant[req.Op] {
		return ErrDisconnected
	}
	if err := c.waitConn(ctx); err != nil {
		return err
	}
	if req.WaitMs != nil && *req.WaitMs != 0 {
		req.WaitMs = agentWait(ctx)
	}
	return nil
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
	// ErrSessionLost: the session is over without the app having closed
	// the client: the connection of a session that is not resumable
	// ended, the agent reported the session lost, or a resumable session
	// could not be resumed within its timeout (or is gone). Nothing the
	// session held counts any more. The client reports SessionLost and
	// ends with it: Err, calls and streams fail with an error that
	// matches it. It matches ErrClosed too.
	ErrSessionLost error = sessionLostError{}
	// ErrDisconnected: the connection of a resumable session dropped and
	// the client is resuming the session. A call made meanwhile fails at
	// once with it, and so does a call whose reply the drop cut off (its
	// outcome is unknown: it may have taken effect). Retry once connected
	// (WaitConnected). Lock waits and the other grant waits are not cut
	// off: they go on after the resume.
	ErrDisconnected = errors.New("warden: disconnected, the session is being resumed: retry once connected")
	// ErrSocketOwner: Dial refused the socket because it belongs to a
	// user other than the expected one (another user may be posing as
	// the agent). The error is a *SocketOwnerError.
	ErrSocketOwner = errors.New("warden: the socket belongs to an unexpected user")
)

// sessionLostError is ErrSessionLost, an ErrClosed as well.
type sessionLostError struct{}

func (sessionLostError) Error() string { return "warden: the session is lost" }
func (sessionLostError) Unwrap() error { return ErrClosed }

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
	c.mu.Lock()
	cn := c.cn
	if cn != nil && c.err == nil {
		// The end of this connection ends the client, resumable or not.
		c.err = ErrClosed
	}
	c.mu.Unlock()
	if cn == nil {
		return c.Close()
	}
	cw, ok := cn.nc.(interface{ CloseWrite() error })
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
	case <-cn.ended:
		c.Close()
		return nil
	case <-ctx.Done():
		c.Close()
		return ctx.Err()
	}
}
