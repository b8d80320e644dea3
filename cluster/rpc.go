package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/fsm"
)

// The agents' RPC: msgpack request and response values, one at a time on a
// connection, over the mux's RPC kind. Only the leader answers apply,
// keepalive and barrier; other agents answer not_leader and the caller
// retries against the leader it learns of.
//
// A failed call is answered with a code (rpcCode) and a message. The caller
// acts on the code alone, mapped to one of the sentinel errors in errors.go;
// the message is for logs and for the app's error text.

// RPC methods.
const (
	rpcApply     = "apply"     // Body: a log entry; answer: *fsm.Result
	rpcKeepalive = "keepalive" // Body: keepaliveRequest; answer: keepaliveResponse
	rpcBarrier   = "barrier"   // answer: the leader's applied index (uint64)
	rpcCatchUp   = "catch_up"  // answer: catchUpResponse (see Node.catchUp)
	rpcLeave     = "leave"     // Body: the leaving agent's name; it is removed from Raft
	// Body: RestoreChunk; answer: RestoreResult.
	rpcRestore = "restore"
	// Body: peerRequest; answer: PeerResult.
	rpcRemovePeer = "remove_peer"
)

// rpcCode says why a call failed. Codes are part of the protocol between
// agents: add new ones, never change what one means. A caller that gets a
// code it does not know treats it as internal.
type rpcCode string

const (
	// codeNotLeader: the agent asked does not lead (or stopped leading,
	// or is shutting down); nothing was done. Retry at the leader.
	codeNotLeader rpcCode = "not_leader"
	// codeRefused: the caller may not do this (see authorize); nothing
	// was done. Do not retry.
	codeRefused rpcCode = "refused"
	// codeBadRequest: the request did not decode or named no known
	// method; nothing was done. Do not retry.
	codeBadRequest rpcCode = "bad_request"
	// codeTooLarge: the request or its answer would exceed
	// maxRPCMessage.
	codeTooLarge rpcCode = "too_large"
	// codeTimeout: the leader did not commit the entry in time; it may
	// still be applied (a retry with the same sequence is applied once).
	codeTimeout rpcCode = "timeout"
	// codeNotEmpty: a restore found data in the cluster's tree and was
	// not forced; nothing was done.
	codeNotEmpty rpcCode = "not_empty"
	// codeInternal: anything else.
	codeInternal rpcCode = "internal"
)

// rpcSentinels maps each code to the error the caller sees.
var rpcSentinels = map[rpcCode]error{
	codeNotLeader:  errNotLeader,
	codeRefused:    ErrRefused,
	codeBadRequest: ErrBadRequest,
	codeTooLarge:   ErrTooLarge,
	codeTimeout:    ErrTimeout,
	codeNotEmpty:   ErrNotEmpty,
	codeInternal:   errRemoteInternal,
}

// codeOf is the code an agent answers for err.
func codeOf(err error) rpcCode {
	switch terr := translate(err); {
	case errors.Is(err, errNotLeader), errors.Is(terr, ErrUnavailable), errors.Is(terr, ErrClosed):
		return codeNotLeader
	case errors.Is(err, ErrRefused):
		return codeRefused
	case errors.Is(err, ErrBadRequest):
		return codeBadRequest
	case errors.Is(err, ErrTooLarge):
		return codeTooLarge
	case errors.Is(err, ErrNotEmpty):
		return codeNotEmpty
	case errors.Is(terr, ErrTimeout):
		return codeTimeout
	}
	return codeInternal
}

// rpcError is a failed call as the caller sees it: errors.Is matches the
// sentinel of its code.
type rpcError struct {
	code rpcCode
	msg  string
}

func (e *rpcError) Error() string {
	if e.msg == "" {
		return e.Unwrap().Error()
	}
	return e.msg
}

func (e *rpcError) Unwrap() error {
	if err, ok := rpcSentinels[e.code]; ok {
		return err
	}
	return errRemoteInternal
}

type rpcRequest struct {
	Method string `msgpack:"m"`
	Body   []byte `msgpack:"b"`
}

// rpcResponse is a call's answer: Body on success, Code and Err on
// failure.
//
// NotLeader and Refused are what agents built before Code answered with;
// an agent still sets them beside Code, and reads them when Code is
// missing. They can go once no agent of this release's earlier builds
// remains.
type rpcResponse struct {
	Code      rpcCode `msgpack:"c,omitempty"`
	Err       string  `msgpack:"e,omitempty"`
	NotLeader bool    `msgpack:"nl,omitempty"`
	Refused   bool    `msgpack:"r,omitempty"`
	Body      []byte  `msgpack:"b,omitempty"`
}

// failure is the answer for a call that failed with err.
func failure(err error) *rpcResponse {
	code := codeOf(err)
	r := &rpcResponse{Code: code, NotLeader: code == codeNotLeader, Refused: code == codeRefused}
	if code != codeNotLeader {
		r.Err = err.Error()
	}
	return r
}

// err returns the caller's error for r (nil when the call succeeded).
func (r *rpcResponse) err() error {
	code := r.Code
	if code == "" {
		switch {
		case r.NotLeader:
			code = codeNotLeader
		case r.Refused:
			code = codeRefused
		case r.Err != "":
			code = codeInternal
		default:
			return nil
		}
	}
	return &rpcError{code: code, msg: r.Err}
}

type keepaliveRequest struct {
	Agent string   `msgpack:"agent"`
	IDs   []uint64 `msgpack:"ids"`
}

type keepaliveResponse struct {
	Unknown []uint64 `msgpack:"unknown"` // sessions the leader no longer has
}

// catchUpResponse answers rpcCatchUp: a barrier the leader committed for
// the call, and its applied zxid once it had.
type catchUpResponse struct {
	Index uint64 `msgpack:"index"` // the barrier's Raft index
	Zxid  uint64 `msgpack:"zxid"`  // the leader's applied index (as rpcBarrier answers)
}

// RPC messages are framed: a 4-byte big-endian length, then the msgpack
// value. A length over maxRPCMessage ends the connection before anything is
// allocated for it. A connection idle longer than rpcIdleTimeout is closed
// (the pool drops its connections well before), and a message's body must
// follow its length within rpcBodyTimeout.
const (
	maxRPCMessage  = 8 << 20 // a forwarded entry holds at most a 4 MiB local request
	rpcIdleTimeout = 2 * time.Minute
	rpcPoolIdle    = rpcIdleTimeout / 2
	rpcBodyTimeout = 10 * time.Second
)

// writeRPC frames v onto w and flushes it.
func writeRPC(w *bufio.Writer, v any) error {
	b, err := msgpack.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > maxRPCMessage {
		return ErrTooLarge
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(b)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	return w.Flush()
}

// readRPC reads one framed message into v. With c, the length must come
// within idle and the body within rpcBodyTimeout after it.
func readRPC(r *bufio.Reader, c net.Conn, idle time.Duration, v any) error {
	if c != nil {
		_ = c.SetReadDeadline(time.Now().Add(idle))
	}
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size > maxRPCMessage {
		return ErrTooLarge
	}
	if c != nil {
		_ = c.SetReadDeadline(time.Now().Add(rpcBodyTimeout))
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	return msgpack.Unmarshal(b, v)
}

// serveRPC answers one connection's requests until it closes (the mux
// closes it when the node closes; ctx ends then too). peer is the agent its
// certificate names ("" without TLS).
func (n *Node) serveRPC(ctx context.Context, c net.Conn) {
	defer c.Close()
	peer := ""
	if n.tls != nil && n.tls.cfg.VerifyHostname {
		peer = peerName(c)
	}
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	for {
		var req rpcRequest
		if err := readRPC(r, c, rpcIdleTimeout, &req); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				n.cfg.Logger.Debug("rpc read", "from", c.RemoteAddr(), "error", err)
			}
			if errors.Is(err, ErrTooLarge) {
				// The body was not read: say why, then end the
				// connection, which is out of step.
				_ = c.SetWriteDeadline(time.Now().Add(rpcBodyTimeout))
				_ = writeRPC(w, failure(err))
			}
			return
		}
		resp := n.handleRPC(ctx, &req, peer)
		_ = c.SetWriteDeadline(time.Now().Add(rpcBodyTimeout))
		err := writeRPC(w, resp)
		if errors.Is(err, ErrTooLarge) {
			// (Nothing of it was written.)
			err = writeRPC(w, failure(err))
		}
		if err != nil {
			return
		}
	}
}

// handleRPC answers one request. With hostname verification, peer is the
// calling agent as its certificate names it, and it may act only as
// itself (see authorize).
func (n *Node) handleRPC(ctx context.Context, req *rpcRequest, peer string) *rpcResponse {
	if !n.IsLeader() {
		return failure(errNotLeader)
	}
	if err := n.authorize(req, peer); err != nil {
		n.cfg.Logger.Warn("refused an rpc", "method", req.Method, "peer", peer, "error", err)
		return failure(err)
	}
	var body any
	var err error
	if req.Method == rpcRestore {
		// Its own, longer timeout: the last chunk restores the tree.
		body, err = n.restoreRPC(ctx, req.Body)
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
	defer cancel()
	switch req.Method {
	case rpcRestore:
	case rpcRemovePeer:
		body, err = n.removePeerRPC(ctx, req.Body)
	case rpcApply:
		// An entry that does not decode would stop every replica's FSM:
		// refuse it here, before it reaches the log.
		if err = fsm.Check(req.Body); err != nil {
			err = fmt.Errorf("%w: %v", ErrBadRequest, err)
		} else if a, _ := fsm.ActorOf(req.Body); a.LeaderOnly {
			// A TTL expiry is the leader's own: no agent may forward one.
			err = fmt.Errorf("%w: only the leader proposes this entry", ErrRefused)
		} else {
			body, err = n.applyLocal(ctx, req.Body)
		}
	case rpcKeepalive:
		var ka keepaliveRequest
		if err = msgpack.Unmarshal(req.Body, &ka); err != nil {
			err = fmt.Errorf("%w: keepalive: %v", ErrBadRequest, err)
		} else {
			unknown, ready := n.expiry.renewKnown(ka.Agent, ka.IDs)
			if !ready {
				return failure(errNotLeader)
			}
			body = &keepaliveResponse{Unknown: unknown}
		}
	case rpcLeave:
		var name string
		switch err = msgpack.Unmarshal(req.Body, &name); {
		case err != nil:
			err = fmt.Errorf("%w: leave: %v", ErrBadRequest, err)
		case name == n.cfg.NodeName:
			err = fmt.Errorf("%w: the leader cannot remove itself", ErrRefused)
		default:
			if err = await(ctx, n.raft.RemoveServer(raft.ServerID(name), 0, n.cfg.ApplyTimeout)); err == nil {
				// Serf's own leave message is best effort too: say it for
				// the agent, so that this Serf (whose view drives the
				// Raft configuration) and the others see it left, not
				// failed, once it is gone.
				// (It waits for the broadcast, at most Serf's
				// BroadcastTimeout; the leaver need not.)
				n.run.Go(func(context.Context) {
					if err := n.serf.RemoveFailedNode(name); err != nil {
						n.cfg.Logger.Warn("could not announce a leaving agent in Serf", "agent", name, "error", err)
					}
				})
			}
		}
	case rpcBarrier:
		if err = await(ctx, n.raft.Barrier(n.cfg.ApplyTimeout)); err == nil {
			body = n.fsm.Index()
		}
	case rpcCatchUp:
		f := n.raft.Barrier(n.cfg.ApplyTimeout)
		if err = await(ctx, f); err == nil {
			r := &catchUpResponse{Zxid: n.fsm.Index()}
			if i, ok := f.(raft.IndexFuture); ok {
				r.Index = i.Index()
			}
			body = r
			// The caller waits to apply the barrier: send it the commit
			// index now, not after the commit timeout.
			n.nudgeFollowers()
		}
	default:
		err = fmt.Errorf("%w: unknown rpc method %q", ErrBadRequest, req.Method)
	}
	if err != nil {
		return failure(err)
	}
	b, err := msgpack.Marshal(body)
	if err != nil {
		return failure(err)
	}
	return &rpcResponse{Body: b}
}

// authorize holds a caller whose certificate names it (peer, with hostname
// verification) to acting as itself: it may renew only its own sessions,
// announce only its own leave, open or take up sessions only in its own
// name, and write as or close only sessions it owns; operator requests
// (restore, peer removal) come only from servers. Without hostname
// verification (peer "") a member may act for any other.
func (n *Node) authorize(req *rpcRequest, peer string) error {
	if peer == "" {
		return nil
	}
	switch req.Method {
	case rpcKeepalive:
		var ka keepaliveRequest
		if err := msgpack.Unmarshal(req.Body, &ka); err == nil && ka.Agent != peer {
			return fmt.Errorf("%w: agent %s may not renew the sessions of %s", ErrRefused, peer, ka.Agent)
		}
	case rpcLeave:
		var name string
		if err := msgpack.Unmarshal(req.Body, &name); err == nil && name != peer {
			return fmt.Errorf("%w: agent %s may not announce the leave of %s", ErrRefused, peer, name)
		}
	case rpcRestore, rpcRemovePeer:
		// Operator requests change the whole cluster: only a server (a
		// voter) may relay them, so a replica's certificate, which every
		// host of apps has, cannot wipe the tree or remove a peer.
		if !n.isVoter(peer) {
			return fmt.Errorf("%w: agent %s is not a server; run %s on a server's agent", ErrRefused, peer, req.Method)
		}
	case rpcApply:
		a, err := fsm.ActorOf(req.Body)
		if err != nil {
			return nil // refused as undecodable by the apply itself
		}
		if a.Owner != "" && a.Owner != peer {
			return fmt.Errorf("%w: agent %s may not open or take up a session for %s", ErrRefused, peer, a.Owner)
		}
		if a.Session != 0 && !a.TakesOver {
			if s, ok := n.fsm.Session(a.Session); ok && s.Owner != peer {
				return fmt.Errorf("%w: agent %s may not act for session %d of %s", ErrRefused, peer, a.Session, s.Owner)
			}
		}
	}
	return nil
}

// isVoter reports whether name is a voter in the Raft configuration.
func (n *Node) isVoter(name string) bool {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == name {
			return s.Suffrage == raft.Voter
		}
	}
	return false
}

// rpcConn is a pooled connection to one agent.
type rpcConn struct {
	c    net.Conn
	w    *bufio.Writer
	r    *bufio.Reader
	used time.Time // when it last went back to the pool
}

// rpcPool keeps idle connections per agent address.
type rpcPool struct {
	src    *dialer
	mu     sync.Mutex
	idle   map[string][]*rpcConn
	closed bool
}

const maxIdlePerAgent = 64

func newRPCPool(src *dialer) *rpcPool {
	return &rpcPool{src: src, idle: make(map[string][]*rpcConn)}
}

func (p *rpcPool) get(addr string, timeout time.Duration) (*rpcConn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	for l := p.idle[addr]; len(l) > 0; l = p.idle[addr] {
		c := l[len(l)-1]
		p.idle[addr] = l[:len(l)-1]
		if time.Since(c.used) < rpcPoolIdle {
			p.mu.Unlock()
			return c, nil
		}
		c.c.Close() // the agent may be closing it as idle
	}
	p.mu.Unlock()
	nc, err := p.src.dialKind(addr, connRPC, timeout)
	if err != nil {
		return nil, err
	}
	return &rpcConn{c: nc, w: bufio.NewWriter(nc), r: bufio.NewReader(nc)}, nil
}

func (p *rpcPool) put(addr string, c *rpcConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle[addr]) >= maxIdlePerAgent {
		c.c.Close()
		return
	}
	c.used = time.Now()
	p.idle[addr] = append(p.idle[addr], c)
}

func (p *rpcPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, l := range p.idle {
		for _, c := range l {
			c.c.Close()
		}
	}
	p.idle = nil
}

// call sends one request to addr and decodes the answer into out.
func (p *rpcPool) call(ctx context.Context, addr, method string, body []byte, out any) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	c, err := p.get(addr, time.Until(deadline))
	if err != nil {
		return err
	}
	_ = c.c.SetDeadline(deadline)
	// A cancelled caller ends the exchange at once.
	stop := context.AfterFunc(ctx, func() { _ = c.c.SetDeadline(time.Now()) })
	defer stop()
	var resp rpcResponse
	err = writeRPC(c.w, &rpcRequest{Method: method, Body: body})
	if err == nil {
		err = readRPC(c.r, nil, 0, &resp)
	}
	if err != nil || !stop() {
		c.c.Close()
		if err == nil {
			err = ctx.Err()
		}
		return err
	}
	_ = c.c.SetDeadline(time.Time{})
	p.put(addr, c)
	if err := resp.err(); err != nil {
		return err
	}
	if out != nil {
		return msgpack.Unmarshal(resp.Body, out)
	}
	return nil
}
