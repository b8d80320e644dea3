package localapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warden-dev/warden/fsm"
	"github.com/warden-dev/warden/localapi/wire"
	"github.com/warden-dev/warden/recipes"
)

// maxTimeoutMs caps a requested session timeout before it becomes a
// Duration (a day: far above any bound an agent allows).
const maxTimeoutMs = 24 * 60 * 60 * 1000

// streamOps are the ops that open a stream (besides reads with a watch),
// counted against Config.MaxStreams.
var streamOps = map[string]bool{
	wire.OpSubscribe: true, wire.OpObserve: true, wire.OpProgressWatch: true, wire.OpGroupWatch: true,
}

// conn is one app connection and its session.
type conn struct {
	s    *Server
	nc   *net.UnixConn
	ctx  context.Context // ends when the connection does
	end  context.CancelFunc
	sid  uint64
	peer Peer // the process at the other end

	resumable bool
	heartbeat *time.Timer // set for heartbeat liveness; reset by every frame
	timeout   time.Duration
	lost      atomic.Bool // the session is gone; do not close it again

	heartbeatExpired atomic.Bool   // the app missed its heartbeat: close the session
	states           chan string   // session states to push to the app
	stopped          chan struct{} // closed when serve returns

	wmu sync.Mutex // serializes frames onto nc

	mu       sync.Mutex
	inflight map[uint64]context.CancelFunc
	subs     map[uint64]context.CancelFunc // running streams by sub id
	opening  int                           // requests in flight that may open a stream
	nextSub  uint64
	reporter *recipes.Reporter // the session's coalescing progress reporter, made on first report
	saving   *saving           // the snapshot_save in progress, if any
	upload   string            // the snapshot_restore upload in progress, if any
	handlers sync.WaitGroup
}

func newConn(s *Server, nc *net.UnixConn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		s: s, nc: nc, ctx: ctx, end: cancel, peer: peerOf(nc),
		inflight: make(map[uint64]context.CancelFunc),
		subs:     make(map[uint64]context.CancelFunc),
		states:   make(chan string, 16),
		stopped:  make(chan struct{}),
	}
}

// serve runs the connection: hello, then requests until it closes.
func (c *conn) serve() {
	log := c.s.cfg.Logger
	defer close(c.stopped)
	defer c.nc.Close()
	r := bufio.NewReaderSize(c.nc, 64<<10)
	end := c.s.meters.begin(wire.OpHello)
	err := c.hello(r)
	end(helloCode(err))
	if err != nil {
		log.Debug("connection refused", "error", err)
		return
	}
	defer c.endSession()
	go c.pushStates()
	var buf []byte
	for {
		frame, err := wire.ReadFrame(r, buf, wire.MaxFrameSize)
		if err != nil {
			c.frameError(err)
			break
		}
		if c.heartbeat != nil {
			c.heartbeat.Reset(c.timeout)
		}
		buf = frame[:0]
		req, werr := wire.DecodeRequest(frame)
		if werr != nil && werr.Code == wire.CodeBadFrame {
			c.send(&wire.Message{Error: werr})
			break
		}
		if werr != nil {
			c.s.meters.begin(req.Op)(werr.Code)
			c.replyError(req.ID, werr)
			continue
		}
		c.start(req)
	}
	// Wait for every handler, stream and progress writer before the
	// deferred endSession closes the session: reports accepted from this
	// connection are written first. Keep this order.
	c.end()
	c.handlers.Wait()
	c.mu.Lock()
	if c.saving != nil {
		c.saving.close()
	}
	c.mu.Unlock()
}

// refuse tells an app its connection is not served, and closes it.
func (c *conn) refuse(werr *wire.Error) {
	defer c.nc.Close()
	c.send(&wire.Message{Error: werr})
}

// frameError reports why the stream ended, when the app is still there to
// hear it.
func (c *conn) frameError(err error) {
	switch {
	case errors.Is(err, wire.ErrFrameTooLarge):
		c.send(&wire.Message{Error: wire.Errorf(wire.CodeTooLarge, err.Error())})
	case errors.Is(err, wire.ErrEmptyFrame):
		c.send(&wire.Message{Error: wire.Errorf(wire.CodeBadFrame, err.Error())})
	case errors.Is(err, io.ErrUnexpectedEOF):
		c.s.cfg.Logger.Debug("connection closed mid-frame")
	}
}

// withAppDeadline is the context of a request whose app waits timeoutMs
// for the reply (the request's timeout_ms). It ends at the app's deadline;
// but should the cluster have no leader at replyWithin(timeoutMs), it ends
// then, so that the answer saying so reaches the app before the app gives
// up. While there is a leader, a slow request keeps all of its time: an
// agent that gave up early would fail requests that would have succeeded.
func (c *conn) withAppDeadline(timeoutMs int64) (context.Context, context.CancelFunc) {
	full := time.Duration(min(timeoutMs, maxTimeoutMs)) * time.Millisecond
	dctx, dcancel := context.WithTimeout(c.ctx, full)
	lr, ok := c.s.backend.(recipes.LeaderReporter)
	if !ok {
		return dctx, dcancel
	}
	// Ended early, the context's cause is DeadlineExceeded, as at the
	// deadline: the app's deadline has all but come.
	ctx, cancel := context.WithCancelCause(dctx)
	early := time.AfterFunc(replyWithin(timeoutMs), func() {
		if lr.NoLeaderFor() > 0 {
			cancel(context.DeadlineExceeded)
		}
	})
	return ctx, func() { early.Stop(); cancel(context.Canceled); dcancel() }
}

// replyWithin is when the agent answers a request whose app waits
// timeoutMs for the reply, if the cluster has no leader by then: a tenth
// before the app's deadline, by at least 5 ms and at most 250 ms.
func replyWithin(timeoutMs int64) time.Duration {
	d := time.Duration(min(timeoutMs, maxTimeoutMs)) * time.Millisecond
	margin := min(max(d/10, 5*time.Millisecond), 250*time.Millisecond)
	return max(d-margin, time.Millisecond)
}

// hello reads the first frame, which must be hello, and opens the session.
func (c *conn) hello(r *bufio.Reader) error {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.HelloTimeout))
	frame, err := wire.ReadFrame(r, nil, wire.MaxFrameSize)
	if err != nil {
		c.frameError(err)
		return err
	}
	_ = c.nc.SetReadDeadline(time.Time{})
	req, werr := wire.DecodeRequest(frame)
	switch {
	case werr != nil && werr.Code == wire.CodeBadFrame:
		c.send(&wire.Message{Error: werr})
		return werr
	case werr != nil:
		c.replyError(req.ID, werr)
		return werr
	case req.ID == 0:
		werr = wire.Errorf(wire.CodeBadArguments, "request id must be at least 1")
		c.send(&wire.Message{Error: werr})
		return werr
	case req.Op != wire.OpHello:
		werr = wire.Errorf(wire.CodeNoSession, "the first request must be hello")
		c.replyError(req.ID, werr)
		return werr
	case req.Protocol > wire.ProtocolVersion:
		werr = wire.Errorf(wire.CodeUnsupportedVersion,
			fmt.Sprintf("this agent speaks protocol %d; the client asked for %d", wire.ProtocolVersion, req.Protocol))
		c.replyError(req.ID, werr)
		return werr
	case req.Protocol < 0:
		werr = wire.Errorf(wire.CodeBadArguments, "protocol must be a positive version")
		c.replyError(req.ID, werr)
		return werr
	case req.SessionTimeoutMs < 0:
		werr = wire.Errorf(wire.CodeBadArguments, "session_timeout_ms must not be negative")
		c.replyError(req.ID, werr)
		return werr
	case req.TimeoutMs < 0:
		werr = wire.Errorf(wire.CodeBadArguments, "timeout_ms must not be negative")
		c.replyError(req.ID, werr)
		return werr
	}
	// Clamp before converting, so a huge value cannot overflow; the
	// backend clamps again to its own bounds.
	if req.NoSession {
		c.reply(req.ID, &wire.HelloResult{Protocol: wire.ProtocolVersion, Agent: c.s.backend.Name()})
		return nil
	}
	timeout := time.Duration(min(req.SessionTimeoutMs, maxTimeoutMs)) * time.Millisecond
	if timeout == 0 {
		timeout = c.s.cfg.DefaultSessionTimeout
	}
	const within = 30 * time.Second // the agent's own bound on opening a session
	ctx, cancel := context.WithTimeout(c.ctx, within)
	if req.TimeoutMs > 0 && time.Duration(req.TimeoutMs)*time.Millisecond < within {
		cancel()
		ctx, cancel = c.withAppDeadline(req.TimeoutMs)
	}
	defer cancel()
	var sess fsm.Session
	resumed := req.SessionID != 0
	if resumed {
		sess, err = c.s.backend.ResumeSession(ctx, req.SessionID, req.Secret, c.onState)
	} else {
		sess, err = c.s.backend.OpenSession(ctx, SessionOptions{
			Timeout: timeout, Resumable: req.Resumable, Heartbeat: req.Heartbeat,
			Pid: c.peer.Pid, Uid: int32(c.peer.Uid), Gid: int32(c.peer.Gid), Client: req.Client, OnState: c.onState,
		})
	}
	if err != nil {
		werr := toWire(err)
		if errors.Is(err, ErrBadSecret) {
			werr = wire.Errorf(wire.CodeSessionExpired, err.Error())
		}
		c.replyError(req.ID, werr)
		return werr
	}
	reclaimed := 0
	if resumed && req.Reclaim {
		if reclaimed, err = c.reclaim(ctx, sess.ID, req.Holds); err != nil {
			// The app tries the resume again, which reclaims again.
			c.s.backend.Detach(sess.ID)
			werr := wire.Errorf(wire.CodeUnavailable, "the session was resumed, but what it left queued could not be removed: "+err.Error())
			c.replyError(req.ID, werr)
			return werr
		}
	}
	c.sid, c.resumable = sess.ID, sess.Resumable
	c.timeout = time.Duration(sess.TimeoutMs) * time.Millisecond
	if sess.Heartbeat {
		c.heartbeat = time.AfterFunc(c.timeout, c.heartbeatMissed)
	}
	c.reply(req.ID, &wire.HelloResult{
		Protocol: wire.ProtocolVersion, SessionID: sess.ID,
		SessionTimeoutMs: sess.TimeoutMs, Agent: c.s.backend.Name(),
		Secret: sess.Secret, Resumed: resumed, Reclaimed: reclaimed,
	})
	c.event(wire.EventSession, &wire.SessionEvent{State: wire.SessionConnected, SessionID: sess.ID})
	return nil
}

// reclaim removes the places in line the resumed session holds that the
// app does not (see recipes.Reclaim), once this agent's replica has caught
// up with the resume.
func (c *conn) reclaim(ctx context.Context, sid uint64, holds []string) (int, error) {
	if _, err := c.s.backend.Sync(ctx); err != nil {
		return 0, err
	}
	return recipes.Session{Store: c.s.backend, ID: sid}.Reclaim(ctx, c.s.backend.Ephemerals(sid), holds)
}

// onState hears the backend's session states. It never blocks: states
// queue for pushStates, and "lost" is never dropped.
func (c *conn) onState(state string) {
	if state == wire.SessionLost {
		c.lost.Store(true)
	}
	select {
	case c.states <- state:
	default:
		if state == wire.SessionLost {
			go func() {
				select {
				case c.states <- state:
				case <-c.stopped:
				}
			}()
		}
	}
}

// pushStates tells the app each state change. After "lost" the connection
// closes: the session is gone, and the app must not act on anything it held.
func (c *conn) pushStates() {
	for {
		select {
		case <-c.stopped:
			return
		case st := <-c.states:
			c.event(wire.EventSession, &wire.SessionEvent{State: st, SessionID: c.sid})
			if st == wire.SessionLost {
				c.nc.Close()
				return
			}
		}
	}
}

// heartbeatMissed ends a heartbeat session whose app sent nothing within
// its timeout, exactly as if the process had died: the session closes
// (handing on its locks at once) and so does the connection.
//
// The app is told first: closing the session needs the cluster, which may
// take a while without a leader, and the app must stop acting on what it
// held no later than anyone else could be granted it.
func (c *conn) heartbeatMissed() {
	c.s.cfg.Logger.Info("app missed its heartbeat; ending its session", "session", c.sid)
	c.heartbeatExpired.Store(true)
	c.onState(wire.SessionLost)
}

// endSession is what a closed connection does to its session: a resumable
// one lives on until its timeout, waiting to be resumed; any other closes.
func (c *conn) endSession() {
	if c.heartbeat != nil {
		c.heartbeat.Stop()
	}
	switch {
	case c.sid == 0:
	case c.heartbeatExpired.Load():
		c.closeSession()
	case c.lost.Load():
	case c.resumable:
		c.s.backend.Detach(c.sid)
	default:
		c.closeSession()
	}
}

// closeSession ends the session with a fresh context: the connection's own
// is already done.
func (c *conn) closeSession() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.s.backend.CloseSession(ctx, c.sid, fsm.CloseClean); err != nil {
		c.s.cfg.Logger.Warn("close session", "session", c.sid, "error", err)
	}
}

// start runs a request in its own goroutine, so one blocked request (a lock
// wait) never holds up the others.
//
// Every request's outcome is counted here, once (see Observer): the
// requests refused before they start as well as those handled; each is
// counted before its reply is sent, so an app that has its reply finds it
// counted.
func (c *conn) start(req *wire.Request) {
	end := c.s.meters.begin(req.Op)
	if req.ID == 0 {
		end(wire.CodeBadArguments)
		c.replyError(0, wire.Errorf(wire.CodeBadArguments, "request id must be at least 1"))
		return
	}
	if req.TimeoutMs < 0 {
		end(wire.CodeBadArguments)
		c.replyError(req.ID, wire.Errorf(wire.CodeBadArguments, "timeout_ms must not be negative"))
		return
	}
	if req.Op == wire.OpCancel {
		end(CodeOK)
		c.cancel(req)
		return
	}
	if c.sid == 0 && !sessionless[req.Op] {
		end(wire.CodeNoSession)
		c.replyError(req.ID, wire.Errorf(wire.CodeNoSession, "op "+fsm.QuoteName(req.Op)+" needs a session; this connection was opened without one"))
		return
	}
	opens := streamOps[req.Op] || req.Watch
	quick := localReads[req.Op] && !opens
	var ctx context.Context
	var cancel context.CancelFunc
	switch {
	case quick:
		// Answered at once from this agent's replica: there is nothing to
		// time out or cancel, so it gets no context or timer of its own.
		ctx, cancel = c.ctx, func() {}
	case req.TimeoutMs > 0 && !opens:
		ctx, cancel = c.withAppDeadline(req.TimeoutMs)
	default:
		// A stream outlives its opening reply: its context must not end.
		ctx, cancel = context.WithCancel(c.ctx)
	}
	c.mu.Lock()
	if _, dup := c.inflight[req.ID]; dup {
		c.mu.Unlock()
		cancel()
		c.reused(req.ID, end)
		return
	}
	if len(c.inflight) >= c.s.cfg.MaxInFlight {
		c.mu.Unlock()
		cancel()
		end(wire.CodeTooManyRequests)
		c.replyError(req.ID, wire.Errorf(wire.CodeTooManyRequests,
			fmt.Sprintf("%d requests already in flight on this connection", c.s.cfg.MaxInFlight)))
		return
	}
	if opens && len(c.subs)+c.opening >= c.s.cfg.MaxStreams {
		c.mu.Unlock()
		cancel()
		end(wire.CodeTooManyRequests)
		c.replyError(req.ID, wire.Errorf(wire.CodeTooManyRequests,
			fmt.Sprintf("%d streams (watches and subscriptions) already open on this connection", c.s.cfg.MaxStreams)))
		return
	}
	if opens {
		c.opening++ // held until the handler returns, by when its stream (if any) is in subs
	}
	c.inflight[req.ID] = cancel
	c.mu.Unlock()
	c.handlers.Add(1)
	go func() {
		defer c.handlers.Done()
		hctx := ctx
		if !quick {
			replied := make(chan struct{})
			defer close(replied)
			hctx = context.WithValue(ctx, repliedKey{}, replied)
		}
		result, werr := c.handle(hctx, req)
		c.mu.Lock()
		delete(c.inflight, req.ID)
		if opens {
			c.opening--
		}
		c.mu.Unlock()
		cancel()
		end(codeOf(werr))
		if werr != nil {
			c.replyError(req.ID, werr)
			return
		}
		c.reply(req.ID, result)
	}()
}

// reused ends the connection of an app that sent a request with the id of
// one in flight: either reply would be ambiguous, since the app has lost
// track of its requests.
func (c *conn) reused(id uint64, end func(wire.Code)) {
	end(wire.CodeBadArguments)
	c.send(&wire.Message{Error: wire.Errorf(wire.CodeBadArguments,
		fmt.Sprintf("request id %d reused while in flight", id))})
	c.nc.Close()
}

// localReads are the ops answered from this agent's replica without
// waiting for anything. Without a watch they run without a context, timer
// or reply signal of their own, which would cost more than the read.
var localReads = map[string]bool{wire.OpGet: true, wire.OpExists: true, wire.OpChildren: true}

// cancel ends the request named by Target; that request then replies
// canceled (or its result, if it finished first).
func (c *conn) cancel(req *wire.Request) {
	c.mu.Lock()
	stop, ok := c.inflight[req.Target]
	c.mu.Unlock()
	if ok {
		stop()
	}
	c.reply(req.ID, &wire.Empty{})
}

func (c *conn) reply(id uint64, result any) {
	b, err := wire.AppendReply(nil, id, result)
	switch {
	case errors.Is(err, wire.ErrFrameTooLarge):
		c.replyError(id, wire.Errorf(wire.CodeTooLarge, err.Error()))
	case err != nil:
		c.replyError(id, wire.Errorf(wire.CodeInternal, "encode result: "+err.Error()))
	default:
		c.writeFrame(b)
	}
}

func (c *conn) replyError(id uint64, e *wire.Error) {
	c.send(&wire.Message{ID: id, Error: e})
}

func (c *conn) event(name string, body any) {
	b, err := wire.Marshal(body)
	if err != nil {
		return
	}
	c.send(&wire.Message{Event: name, Body: b})
}

// send encodes one message and writes it.
func (c *conn) send(m *wire.Message) {
	b, err := wire.AppendFrame(nil, m)
	if err != nil {
		b, _ = wire.AppendFrame(nil, &wire.Message{ID: m.ID, Error: wire.Errorf(wire.CodeTooLarge, err.Error())})
	}
	c.writeFrame(b)
}

// writeFrame writes one encoded frame. A reader too slow to take it within
// WriteTimeout loses its connection.
func (c *conn) writeFrame(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	if _, err := c.nc.Write(b); err != nil {
		c.nc.Close()
	}
}
