package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// One TCP port carries both Raft and the agents' RPC: the first byte of a
// connection says which.
// (Kind 2 was the unframed RPC of earlier versions; it is refused, so an
// old agent and a new one fail plainly instead of misreading each other.)
const (
	connRaft byte = 1
	connRPC  byte = 3
)

// handshakeTimeout bounds a new connection's TLS handshake and kind byte.
const handshakeTimeout = 10 * time.Second

// mux accepts on one listener and routes each connection by its first byte.
// Before that byte is read, a connection must pass admission: with TLS, a
// handshake with a certificate from the cluster's CA; without, an address
// that Serf lists as a member's.
//
// The mux owns what it accepts: its accept loop and each connection's
// goroutine (which admits and routes it, then, for an RPC connection,
// serves it) run in its group, and it keeps every accepted connection
// that is not closed yet, Raft's included. close closes them all and waits
// for the goroutines, so no inbound connection outlives the node.
type mux struct {
	ln     net.Listener
	raft   *streamLayer
	rpc    func(ctx context.Context, c net.Conn) // serves an RPC connection until it closes
	tls    *tlsKeys                              // nil: no TLS
	admit  func(ip net.IP) bool                  // without TLS: may this address connect?
	logger hclog.Logger

	g         *group
	closeOnce sync.Once
	mu        sync.Mutex
	conns     map[*muxConn]struct{} // open inbound connections; nil once closed
}

func newMux(ln net.Listener, advertise net.Addr, src *dialer, logger hclog.Logger) *mux {
	return &mux{
		ln:     ln,
		raft:   &streamLayer{addr: advertise, src: src, conns: make(chan net.Conn), closed: make(chan struct{})},
		tls:    src.tls,
		logger: logger,
		g:      newGroup(context.Background()),
		conns:  make(map[*muxConn]struct{}),
	}
}

// start runs the accept loop.
func (m *mux) start() { m.g.Go(m.serve) }

// serve accepts until the listener closes. Transient accept errors (out
// of file descriptors, say) are retried after a pause that doubles up to a
// second; they never end the agent.
func (m *mux) serve(ctx context.Context) {
	var pause time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			m.logger.Warn("accept on the cluster port failed; retrying", "error", err, "pause", pause)
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
			continue
		}
		pause = 0
		mc := m.track(c)
		if mc == nil || !m.g.Go(func(ctx context.Context) { m.route(ctx, mc) }) {
			c.Close() // closing
			return
		}
	}
}

// track records an accepted connection, or returns nil once the mux is
// closed.
func (m *mux) track(c net.Conn) *muxConn {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conns == nil {
		return nil
	}
	mc := &muxConn{Conn: c, m: m}
	m.conns[mc] = struct{}{}
	return mc
}

// muxConn is an accepted connection; closing it, by whoever holds it
// (the RPC server, Raft), drops it from the mux's set.
type muxConn struct {
	net.Conn
	m    *mux
	once sync.Once
}

func (c *muxConn) Close() error {
	c.once.Do(func() {
		c.m.mu.Lock()
		delete(c.m.conns, c)
		c.m.mu.Unlock()
	})
	return c.Conn.Close()
}

func (m *mux) route(ctx context.Context, c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	if m.tls != nil {
		tc := tls.Server(c, m.tls.server())
		if err := tc.Handshake(); err != nil {
			m.logger.Warn("refused a connection on the cluster port: TLS handshake failed", "from", c.RemoteAddr(), "error", err)
			c.Close()
			return
		}
		c = tc
	} else if m.admit != nil {
		ip := remoteIP(c)
		if ip == nil || !m.admit(ip) {
			m.logger.Warn("refused a connection on the cluster port from an address that is not a member's", "from", c.RemoteAddr())
			c.Close()
			return
		}
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	switch b[0] {
	case connRaft:
		select {
		case m.raft.conns <- c:
		case <-m.raft.closed:
			c.Close()
		}
	case connRPC:
		m.rpc(ctx, c)
	default:
		m.logger.Warn("connection of unknown kind", "byte", b[0], "from", c.RemoteAddr())
		c.Close()
	}
}

// close stops accepting, closes every open inbound connection, and waits
// for the mux's goroutines. It is safe to call twice.
func (m *mux) close() {
	m.closeOnce.Do(func() {
		m.g.Cancel()
		m.ln.Close()
		m.raft.Close()
		m.mu.Lock()
		conns := m.conns
		m.conns = nil
		m.mu.Unlock()
		for c := range conns {
			c.Conn.Close()
		}
		m.g.Wait()
	})
}

func remoteIP(c net.Conn) net.IP {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP
	}
	return nil
}

// streamLayer is Raft's side of the mux.
type streamLayer struct {
	addr      net.Addr
	src       *dialer
	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

var _ raft.StreamLayer = (*streamLayer)(nil)

func (s *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.closed:
		return nil, net.ErrClosed
	}
}

func (s *streamLayer) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}

func (s *streamLayer) Addr() net.Addr { return s.addr }

func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return s.src.dialKind(string(address), connRaft, timeout)
}

// dialer connects from the agent's bind address, so its traffic leaves
// from the address it advertises (on a host with several addresses, and
// for firewall rules written per address), over TLS when it is on.
type dialer struct {
	local net.IP
	tls   *tlsKeys
	// name returns the node name of the agent at an RPC address, when
	// known: with hostname verification, the name its certificate must
	// show.
	name func(addr string) string
}

// dialKind connects to an agent's RPC port and announces the kind.
func (d *dialer) dialKind(addr string, kind byte, timeout time.Duration) (net.Conn, error) {
	nd := net.Dialer{Timeout: timeout}
	if d.local != nil && !d.local.IsUnspecified() {
		nd.LocalAddr = &net.TCPAddr{IP: d.local}
	}
	c, err := nd.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if d.tls != nil {
		peer := ""
		if d.name != nil {
			peer = d.name(addr)
		}
		if c, err = d.handshake(c, peer, timeout); err != nil {
			return nil, fmt.Errorf("tls with %s: %w", addr, err)
		}
	}
	if _, err := c.Write([]byte{kind}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// handshake runs the client side of TLS on c, expecting the agent named
// peer ("" when unknown).
func (d *dialer) handshake(c net.Conn, peer string, timeout time.Duration) (net.Conn, error) {
	cfg, err := d.tls.client(peer)
	if err != nil {
		c.Close()
		return nil, err
	}
	tc := tls.Client(c, cfg)
	_ = tc.SetDeadline(time.Now().Add(min(timeout, handshakeTimeout)))
	if err := tc.Handshake(); err != nil {
		c.Close()
		return nil, err
	}
	_ = tc.SetDeadline(time.Time{})
	return tc, nil
}

// unpipelined is the Raft transport with pipelined replication turned off:
// the leader sends each follower one AppendEntries at a time (each carries
// every entry waiting, up to Raft's batch size). hashicorp/raft's pipeline
// can wedge for good (v1.7; the transport's in-flight channels are
// unbuffered at its default depth): when a follower refuses an append, the
// goroutine reading the follower's answers stops, and one more pipelined
// send then blocks forever. The leader never replicates to that follower
// again, and Raft's shutdown waits on the blocked send, so the agent hangs
// on SIGTERM. The nemesis suite (systest/nemesis) hit it in half of its
// runs, after partitions and restarts made followers refuse appends.
//
// It also shows the node's commit notices (notices.go) every append that
// succeeded.
type unpipelined struct {
	*raft.NetworkTransport
	notices *commitNotices
}

// AppendEntries sends an append, and tells the commit notices what the
// follower now holds and was told.
func (t unpipelined) AppendEntries(id raft.ServerID, target raft.ServerAddress, req *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	err := t.NetworkTransport.AppendEntries(id, target, req, resp)
	if err == nil && resp.Success && t.notices != nil {
		t.notices.appended(id, target, req)
	}
	return err
}

func (unpipelined) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported
}
