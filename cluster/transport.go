package cluster

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// One TCP port carries both Raft and the agents' RPC: the first byte of a
// connection says which.
const (
	connRaft byte = 1
	connRPC  byte = 2
)

// mux accepts on one listener and routes each connection by its first byte.
type mux struct {
	ln     net.Listener
	raft   *streamLayer
	rpc    func(net.Conn)
	logger hclog.Logger
	wg     sync.WaitGroup
}

func newMux(ln net.Listener, advertise net.Addr, src dialer, logger hclog.Logger) *mux {
	return &mux{
		ln:     ln,
		raft:   &streamLayer{addr: advertise, src: src, conns: make(chan net.Conn), closed: make(chan struct{})},
		logger: logger,
	}
}

// serve accepts until the listener closes.
func (m *mux) serve() {
	for {
		c, err := m.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				m.logger.Error("accept", "error", err)
			}
			return
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.route(c)
		}()
	}
}

func (m *mux) route(c net.Conn) {
	var b [1]byte
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(b[:]); err != nil {
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
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

// streamLayer is Raft's side of the mux.
type streamLayer struct {
	addr      net.Addr
	src       dialer
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
// for firewall rules written per address).
type dialer struct{ local net.IP }

// dialKind connects to an agent's RPC port and announces the kind.
func (d dialer) dialKind(addr string, kind byte, timeout time.Duration) (net.Conn, error) {
	nd := net.Dialer{Timeout: timeout}
	if d.local != nil && !d.local.IsUnspecified() {
		nd.LocalAddr = &net.TCPAddr{IP: d.local}
	}
	c, err := nd.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte{kind}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
