package cluster

import (
	"bufio"
	"context"
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
// keepalive and barrier; other agents answer notLeader and the caller
// retries against the leader it learns of.

// RPC methods.
const (
	rpcApply     = "apply"     // Body: a log entry; answer: *fsm.Result
	rpcKeepalive = "keepalive" // Body: keepaliveRequest; answer: keepaliveResponse
	rpcBarrier   = "barrier"   // answer: the leader's applied index (uint64)
	rpcLeave     = "leave"     // Body: the leaving agent's name; it is removed from Raft
)

type rpcRequest struct {
	Method string `msgpack:"m"`
	Body   []byte `msgpack:"b"`
}

type rpcResponse struct {
	Err       string `msgpack:"e,omitempty"`
	NotLeader bool   `msgpack:"nl,omitempty"`
	Body      []byte `msgpack:"b,omitempty"`
}

type keepaliveRequest struct {
	Agent string   `msgpack:"agent"`
	IDs   []uint64 `msgpack:"ids"`
}

type keepaliveResponse struct {
	Unknown []uint64 `msgpack:"unknown"` // sessions the leader no longer has
}

// errNotLeader: the agent asked is not the leader.
var errNotLeader = errors.New("not the leader")

// serveRPC answers one connection's requests until it closes.
func (n *Node) serveRPC(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	dec := msgpack.NewDecoder(r)
	enc := msgpack.NewEncoder(w)
	for {
		var req rpcRequest
		if err := dec.Decode(&req); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				n.cfg.Logger.Debug("rpc decode", "error", err)
			}
			return
		}
		resp := n.handleRPC(&req)
		if err := enc.Encode(resp); err != nil {
			return
		}
		if err := w.Flush(); err != nil {
			return
		}
	}
}

func (n *Node) handleRPC(req *rpcRequest) *rpcResponse {
	if !n.IsLeader() {
		return &rpcResponse{NotLeader: true}
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
	defer cancel()
	var body any
	var err error
	switch req.Method {
	case rpcApply:
		// An entry that does not decode would stop every replica's FSM:
		// refuse it here, before it reaches the log.
		if err = fsm.Check(req.Body); err == nil {
			if body, err = n.applyLocal(ctx, req.Body); err == nil {
				n.nudgeFollowers()
			}
		}
	case rpcKeepalive:
		var ka keepaliveRequest
		if err = msgpack.Unmarshal(req.Body, &ka); err == nil {
			unknown, ready := n.expiry.renewKnown(ka.IDs)
			if !ready {
				return &rpcResponse{NotLeader: true}
			}
			body = &keepaliveResponse{Unknown: unknown}
		}
	case rpcLeave:
		var name string
		if err = msgpack.Unmarshal(req.Body, &name); err == nil {
			if name == n.cfg.NodeName {
				err = errors.New("the leader cannot remove itself")
			} else if err = n.raft.RemoveServer(raft.ServerID(name), 0, n.cfg.ApplyTimeout).Error(); err == nil {
				// Serf's own leave message is best effort too: say it for
				// the agent, so that this Serf (whose view drives the
				// Raft configuration) and the others see it left, not
				// failed, once it is gone.
				// (It waits for the broadcast, at most Serf's
				// BroadcastTimeout; the leaver need not.)
				go func() {
					if err := n.serf.RemoveFailedNode(name); err != nil {
						n.cfg.Logger.Warn("could not announce a leaving agent in Serf", "agent", name, "error", err)
					}
				}()
			}
		}
	case rpcBarrier:
		if err = n.raft.Barrier(n.cfg.ApplyTimeout).Error(); err == nil {
			body = n.fsm.Index()
		}
	default:
		err = fmt.Errorf("unknown rpc method %q", req.Method)
	}
	if errors.Is(translate(err), ErrUnavailable) {
		return &rpcResponse{NotLeader: true}
	}
	if err != nil {
		return &rpcResponse{Err: err.Error()}
	}
	b, err := msgpack.Marshal(body)
	if err != nil {
		return &rpcResponse{Err: err.Error()}
	}
	return &rpcResponse{Body: b}
}

// rpcConn is a pooled connection to one agent.
type rpcConn struct {
	c   net.Conn
	w   *bufio.Writer
	enc *msgpack.Encoder
	dec *msgpack.Decoder
}

// rpcPool keeps idle connections per agent address.
type rpcPool struct {
	src    dialer
	mu     sync.Mutex
	idle   map[string][]*rpcConn
	closed bool
}

const maxIdlePerAgent = 64

func newRPCPool(src dialer) *rpcPool {
	return &rpcPool{src: src, idle: make(map[string][]*rpcConn)}
}

func (p *rpcPool) get(addr string, timeout time.Duration) (*rpcConn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if l := p.idle[addr]; len(l) > 0 {
		c := l[len(l)-1]
		p.idle[addr] = l[:len(l)-1]
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	nc, err := p.src.dialKind(addr, connRPC, timeout)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriter(nc)
	return &rpcConn{c: nc, w: w, enc: msgpack.NewEncoder(w), dec: msgpack.NewDecoder(bufio.NewReader(nc))}, nil
}

func (p *rpcPool) put(addr string, c *rpcConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle[addr]) >= maxIdlePerAgent {
		c.c.Close()
		return
	}
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
	err = c.enc.Encode(&rpcRequest{Method: method, Body: body})
	if err == nil {
		err = c.w.Flush()
	}
	if err == nil {
		err = c.dec.Decode(&resp)
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
	switch {
	case resp.NotLeader:
		return errNotLeader
	case resp.Err != "":
		return errors.New(resp.Err)
	case out != nil:
		return msgpack.Unmarshal(resp.Body, out)
	}
	return nil
}
