package zkapi

import (
	"bufio"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warden-dev/warden/fsm"
	"github.com/warden-dev/warden/localapi"
)

// conn is one client connection: its handshake, its session, a reader
// that queues requests (and answers pings at once), and a worker that
// runs them one at a time in order and writes their replies, each after
// the notifications of the changes it may have read.
type conn struct {
	s  *Server
	nc net.Conn
	br *bufio.Reader

	wmu sync.Mutex // guards bw: the worker's replies and the reader's pings
	bw  *bufio.Writer

	ctx    context.Context // ends with the connection
	cancel context.CancelFunc

	// Set by the handshake, before the reader and the worker start.
	sid     uint64
	secret  []byte
	timeout time.Duration

	reqs    chan request  // reader → worker
	changed chan struct{} // something was applied: watches may have fired
	armed   chan struct{} // the connection has watches again (worker → watchLoop)
	watched atomic.Bool   // the connection has watches
	lost    atomic.Bool   // the agent can no longer vouch for the session
	done    chan struct{} // closed once the connection let go of its session

	// The worker's own.
	closed  bool // closeSession ended the session
	watches *watchSet
}

// request is one framed request: its header, its record, and when it
// arrived.
type request struct {
	xid, op int32
	body    []byte
	at      time.Time
}

func newConn(s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		s: s, nc: nc, br: bufio.NewReaderSize(nc, 16<<10), bw: bufio.NewWriterSize(nc, 16<<10),
		ctx: ctx, cancel: cancel,
		reqs: make(chan request, s.cfg.MaxQueued), changed: make(chan struct{}, 1), armed: make(chan struct{}, 1), done: make(chan struct{}),
		watches: newWatchSet(),
	}
}

func (c *conn) serve() {
	defer close(c.done)
	defer c.nc.Close()
	defer c.cancel()
	if !c.handshake() {
		return
	}
	defer c.letGo()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.readLoop() }()
	go func() { defer wg.Done(); c.watchLoop() }()
	c.work()
	c.wmu.Lock()
	_ = c.bw.Flush() // replies buffered behind one that ended the connection
	c.wmu.Unlock()
	c.nc.Close()
	c.cancel()
	wg.Wait()
	c.watches.close(c.s.backend)
}

// letGo leaves the session as ZooKeeper leaves one whose connection
// dropped: alive until its timeout, for the client to resume through any
// agent. Only closeSession (or its expiry) ends it.
func (c *conn) letGo() {
	if !c.closed {
		c.s.backend.Detach(c.sid)
	}
	c.s.release(c.sid, c)
}

// handshake reads the first frame: a four-letter word (answered, and the
// connection ends) or a ConnectRequest, which opens or resumes the
// session. It returns true once the connection holds a session.
func (c *conn) handshake() bool {
	log := c.s.cfg.Logger
	remote := c.nc.RemoteAddr().String()
	deadline := time.Now().Add(c.s.cfg.HandshakeTimeout)
	_ = c.nc.SetReadDeadline(deadline)
	if tc, ok := c.nc.(*tls.Conn); ok {
		// The TLS handshake first, within the same time: a client that
		// speaks plain TCP, distrusts this certificate or shows none
		// that is asked for goes here.
		_ = tc.SetWriteDeadline(deadline)
		if err := tc.Handshake(); err != nil {
			log.Debug("zk tls handshake failed", "remote", remote, "error", err)
			return false
		}
	}
	var hdr [4]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		return false
	}
	if isFourLetterWord(hdr) {
		c.fourLetterWord(string(hdr[:]))
		return false
	}
	frame, err := readBody(c.br, nil, int32(binary.BigEndian.Uint32(hdr[:])), c.s.cfg.MaxFrameSize)
	if err != nil {
		log.Debug("zk handshake: bad frame", "remote", remote, "error", err)
		return false
	}
	req, err := decodeConnect(frame)
	if err != nil {
		log.Debug("zk handshake: bad connect request", "remote", remote, "error", err)
		return false
	}
	c.s.received.Add(1)
	ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.HandshakeTimeout)
	defer cancel()
	// A client that has seen a later zxid than this replica has applied
	// (it was connected to an agent further ahead) waits until this one
	// catches up, so it never reads older data than it already saw;
	// ZooKeeper's servers refuse such a client instead.
	if seen := req.LastZxidSeen; seen > 0 && uint64(seen) > c.s.backend.Index() {
		if err := c.s.backend.WaitIndex(ctx, uint64(seen)); err != nil {
			log.Info("zk client has seen a zxid this agent has not applied; refused", "remote", remote, "zxid", seen)
			return false
		}
	}
	var sess fsm.Session
	if req.SessionID == 0 {
		ms := max(int64(req.TimeOut), 0)
		sess, err = c.s.backend.OpenSession(ctx, localapi.SessionOptions{
			Timeout: time.Duration(ms) * time.Millisecond, Resumable: true,
			Client: "zookeeper " + remote, OnState: c.onState,
		})
	} else {
		sess, err = c.resume(ctx, uint64(req.SessionID), req.Passwd)
	}
	if errors.Is(err, localapi.ErrBadSecret) {
		// ZooKeeper's answer for a session that expired or a wrong
		// password: timeout 0, session 0. Clients raise SessionExpired.
		c.s.sent.Add(1)
		_ = c.writeFrame(connectResponse(0, 0, nil))
		return false
	}
	if err != nil {
		log.Info("zk session could not be opened or resumed", "remote", remote, "session", req.SessionID, "error", err)
		return false
	}
	c.sid, c.secret, c.timeout = sess.ID, sess.Secret, time.Duration(sess.TimeoutMs)*time.Millisecond
	c.s.claim(c.sid, c)
	c.s.sent.Add(1)
	_ = c.writeFrame(connectResponse(int32(sess.TimeoutMs), int64(sess.ID), sess.Secret))
	return true
}

// resume takes up session id. A connection of this agent that still
// serves it (the client reconnected before this agent saw the old
// connection drop) is closed first, once the password proves the client
// owns the session.
func (c *conn) resume(ctx context.Context, id uint64, passwd []byte) (fsm.Session, error) {
	if old := c.s.holder(id); old != nil {
		if subtle.ConstantTimeCompare(old.secret, passwd) != 1 {
			return fsm.Session{}, localapi.ErrBadSecret
		}
		old.stop()
		select {
		case <-old.done:
		case <-ctx.Done():
			return fsm.Session{}, ctx.Err()
		}
	}
	return c.s.backend.ResumeSession(ctx, id, passwd, c.onState)
}

// onState hears the backend's session states. "lost" (the session expired
// or was taken up through another agent) closes the connection, as a
// ZooKeeper server closes the connection of an expired session: the
// client reconnects and learns which it was.
func (c *conn) onState(state string) {
	if state == "lost" {
		c.lost.Store(true)
		c.stop()
	}
}

// stop ends the connection from another goroutine: it closes the socket
// and cancels what the worker waits for (a write's outcome then stays
// unknown to this client, as when its connection drops).
func (c *conn) stop() {
	c.nc.Close()
	c.cancel()
}

// writeFrame writes one length-prefixed frame and flushes it.
func (c *conn) writeFrame(body []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.put(body); err != nil {
		return err
	}
	return c.bw.Flush()
}

// put buffers one frame; c.wmu must be held.
func (c *conn) put(body []byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(body)))
	if _, err := c.bw.Write(n[:]); err != nil {
		return err
	}
	_, err := c.bw.Write(body)
	return err
}

// readLoop reads requests until the connection ends. A client that sends
// nothing for its session timeout (ZooKeeper clients ping every third of
// it) is taken as gone. A frame that is too long or too short to hold a
// request header ends the connection, as ZooKeeper's servers do.
func (c *conn) readLoop() {
	defer close(c.reqs)
	for {
		_ = c.nc.SetReadDeadline(time.Now().Add(c.timeout))
		frame, err := readFrame(c.br, nil, c.s.cfg.MaxFrameSize)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.s.cfg.Logger.Debug("zk connection ends", "session", c.sid, "error", err)
			}
			return
		}
		if len(frame) < 8 {
			c.s.cfg.Logger.Debug("zk frame shorter than a request header; closing", "session", c.sid)
			return
		}
		c.s.received.Add(1)
		r := request{xid: int32(binary.BigEndian.Uint32(frame)), op: int32(binary.BigEndian.Uint32(frame[4:])), body: frame[8:], at: time.Now()}
		if r.op == opPing {
			// Answered at once, even behind a slow write: clients
			// match pings by xid, not by order.
			h := replyHeader(r.xid, c.s.backend.Index(), errOK)
			c.s.sent.Add(1)
			c.s.observe(r, "OK")
			if c.writeFrame(h.b) != nil {
				return
			}
			continue
		}
		select {
		case c.reqs <- r:
		case <-c.ctx.Done():
			return
		}
	}
}

// watchLoop tells the worker whenever this replica applies an entry
// while the connection has watches, so that fired watches are delivered
// while the client sends nothing. A connection without watches costs no
// wake-up per entry.
func (c *conn) watchLoop() {
	for {
		if !c.watched.Load() {
			select {
			case <-c.armed:
			case <-c.ctx.Done():
				return
			}
			continue
		}
		// From the index now: the worker polls once more after this
		// signal, which covers what fired before it.
		idx := c.s.backend.Index()
		c.signal()
		for c.watched.Load() {
			if err := c.s.backend.WaitIndex(c.ctx, idx+1); err != nil {
				return
			}
			idx = c.s.backend.Index()
			c.signal()
		}
	}
}

func (c *conn) signal() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// watchesChanged tells watchLoop whether the connection has watches now;
// the worker calls it after each change to its watch set.
func (c *conn) watchesChanged() {
	has := !c.watches.empty()
	if c.watched.Swap(has) != has && has {
		select {
		case c.armed <- struct{}{}:
		default:
		}
	}
}

// work runs requests in order until the connection ends.
func (c *conn) work() {
	for {
		select {
		case r, ok := <-c.reqs:
			if !ok || !c.handle(r) {
				return
			}
		case <-c.changed:
			if c.emit(nil, nil, math.MaxUint64) != nil {
				return
			}
		case <-c.ctx.Done():
			return
		}
	}
}

// handle runs one request and writes its reply; false ends the
// connection.
func (c *conn) handle(r request) bool {
	// A read shows at least the state applied before it started; a
	// write's reply shows its own change.
	before := c.s.backend.Index()
	rep := c.dispatch(r)
	if rep.drop {
		c.s.observe(r, "dropped")
		return false
	}
	shows := rep.zxid
	if shows == 0 {
		shows = before
	}
	h := replyHeader(r.xid, shows, rep.err)
	if rep.err == errOK {
		h.b = append(h.b, rep.body.b...)
	}
	// Counted before the reply goes, so a client holding the reply finds
	// it counted.
	c.s.observe(r, CodeName(rep.err))
	// The notifications of the changes this request may have read go
	// out before its reply; the watches it set are registered only after
	// the reply, so none of their notifications can precede it. (They are
	// registered even when the connection fails, so that its end removes
	// them from the tree.)
	err := c.emit(rep.notes, h.b, shows)
	added := len(rep.watches)+len(rep.persistent) > 0
	if added {
		c.watches.add(c.s.backend, rep.watches, rep.persistent)
		c.watchesChanged()
	}
	if err == nil && (added || c.watches.holding()) {
		err = c.emit(nil, nil, math.MaxUint64)
	}
	return err == nil && !rep.closeAfter
}

// emit writes the notifications of fired watches (and extra ones) of
// changes up to upTo, then the reply if any, and flushes unless more
// replies are about to follow.
func (c *conn) emit(extra []note, reply []byte, upTo uint64) error {
	notes := c.watches.poll(c.s.backend, extra, upTo)
	c.watchesChanged()
	if len(notes) == 0 && reply == nil {
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for _, n := range notes {
		h := replyHeader(xidNotification, n.zxid, errOK)
		h.int(n.typ)
		h.int(stateSyncConnected)
		h.string(n.path)
		if err := c.put(h.b); err != nil {
			return err
		}
		c.s.sent.Add(1)
	}
	if reply != nil {
		if err := c.put(reply); err != nil {
			return err
		}
		c.s.sent.Add(1)
		if len(c.reqs) > 0 {
			return nil // the next reply flushes (or a write, before it waits)
		}
	}
	return c.bw.Flush()
}

// flushBuffered sends the replies buffered behind this request before it
// waits on the cluster, so that they do not wait with it.
func (c *conn) flushBuffered() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.bw.Buffered() > 0 {
		_ = c.bw.Flush()
	}
}

// writeContext bounds a wait on the cluster (a write, a sync, a close):
// the session's timeout, at least two seconds, after which the session
// may have expired anyway. It first sends the replies still buffered.
func (c *conn) writeContext() (context.Context, context.CancelFunc) {
	c.flushBuffered()
	return context.WithTimeout(c.ctx, max(c.timeout, 2*time.Second))
}
