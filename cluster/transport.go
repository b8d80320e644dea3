package cluster

import (
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
type mux struct {
	ln     net.Listener
	raft   *streamLayer
	rpc    func(net.Conn)
	tls    *tlsKeys             // nil: no TLS
	admit  func(ip net.IP) bool // without TLS: may this address connect?
	logger hclog.Logger
	wg     sync.WaitGroup
}

func newMux(ln net.Listener, advertise net.Addr, src *dialer, logger hclog.Logger) *mux {
	return &mux{
		ln:     ln,
		raft:   &streamLayer{addr: advertise, src: src, conns: make(chan net.Conn), closed: make(chan struct{})},
		tls:    src.tls,
		logger: logger,
	}
}

// serve accepts until the listener closes. Transient accept errors (out
// of file descriptors, say) are retried after a pause that doubles up to a
// second; they never end the agent.
func (m *mux) serve() {
	var pause time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			m.logger.Warn("accept on the cluster port failed; retrying", "error", err, "pause", pause)
			time.Sleep(pause)
			continue
		}
		pause = 0
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.route(c)
		}()
	}
}

func (m *mux) route(c net.Conn) {
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
		m.rpc(c)
	default:
		m.logger.Warn("connection of unknown kind", "byte", b[0], "from", c.RemoteAddr())
		c.Close()
	}
}

func (m *mux) close() {
	m.ln.Close()
	m.raft.Close()
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
