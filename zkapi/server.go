package zkapi

// The protocol in brief, as ZooKeeper's servers speak it to clients:
//
// Every frame is a 4-byte big-endian length and a jute record. A
// connection's first frame is a ConnectRequest: session id 0 opens a
// session, any other id with its 16-byte password resumes it. The reply
// is a ConnectResponse with the negotiated timeout, the session id and
// its password; a timeout of 0 (and session 0) means the session expired
// or the password is wrong.
//
// Then each request is a RequestHeader (xid, opcode) and the op's record;
// each reply a ReplyHeader (the same xid, the zxid, an error code) and,
// when the code is 0, the op's response record. Replies go out in request
// order; clients may send many requests without waiting. Watch
// notifications are a ReplyHeader with xid -1 and a WatcherEvent; a
// notification of a change always goes out before the reply to a later
// request that read the change. Pings have xid -2, closeSession ends the
// session and then the connection.
//
// A connection whose first four bytes are ruok, srvr, stat, mntr, isro or envi gets
// that four-letter word's text answer, and is closed.
//
// With Config.TLS the port is what ZooKeeper 3.5+ calls a
// secureClientPort: every connection is TLS, its handshake done within
// HandshakeTimeout before a byte is read as a frame, and then the same
// protocol (four-letter words included) runs inside it.
//
// How Warden maps it: a ZooKeeper session is a resumable Warden session
// opened through this agent's Backend, and its password is the session's
// secret, so any agent of the cluster can take it up. A connection that
// drops only detaches: the session lives until its timeout, and a client
// reconnecting through any agent resumes it. Requests of one connection
// run one after the other, in order, so a session reads its own writes and
// its writes apply in the order sent.

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Config configures a Server.
type Config struct {
	// Addr is the TCP address to listen on (host:port; port 0 picks a
	// free one).
	Addr string
	// MaxFrameSize bounds one request frame; a longer one closes the
	// connection (as ZooKeeper's jute.maxbuffer does).
	MaxFrameSize int
	// HandshakeTimeout is how long a new connection has to send its
	// connect request or four-letter word.
	HandshakeTimeout time.Duration
	// WriteTimeout is how long a reply may wait for a slow reader before
	// the connection is closed.
	WriteTimeout time.Duration
	// MaxConns bounds the open connections; beyond it new ones are closed
	// at once.
	MaxConns int
	// MaxQueued bounds the requests one connection may have read but not
	// yet answered; beyond it the server stops reading that connection.
	MaxQueued int
	// Version is the agent's version, for srvr, stat and mntr.
	Version string
	// Logger receives connection-level logs.
	Logger hclog.Logger
	// Observer hears every request answered, for metrics; nil is none.
	Observer Observer
	// TLS, when set, serves the port over TLS with this configuration
	// (its certificates, versions and client authentication); a
	// connection that fails the handshake is closed. Nil serves plain
	// TCP.
	TLS *tls.Config
}

// Observer hears each request a connection answered (pings included):
// its op's name (OpName), its reply's code name (CodeName; "dropped" when
// the connection was closed instead), and the time from its arrival to
// its reply. It is called from the connections' goroutines and must not
// block.
type Observer interface {
	ZKRequest(op, code string, d time.Duration)
}

// DefaultConfig returns the defaults (listening on ZooKeeper's port on
// loopback).
func DefaultConfig() *Config {
	return &Config{
		Addr:             "127.0.0.1:2181",
		MaxFrameSize:     4 << 20,
		HandshakeTimeout: 10 * time.Second,
		WriteTimeout:     10 * time.Second,
		MaxConns:         1024,
		MaxQueued:        1024,
		Version:          "dev",
		Logger:           hclog.NewNullLogger(),
	}
}

// Validate reports the first thing wrong with c.
func (c *Config) Validate() error {
	switch {
	case c.Addr == "":
		return errors.New("zk: listen address is empty")
	case c.MaxFrameSize < 1024:
		return errors.New("zk: max frame size must be at least 1 KiB")
	case c.HandshakeTimeout <= 0 || c.WriteTimeout <= 0:
		return errors.New("zk: timeouts must be positive")
	case c.MaxConns <= 0 || c.MaxQueued <= 0:
		return errors.New("zk: max connections and max queued must be positive")
	case c.Logger == nil:
		return errors.New("zk: logger is required")
	}
	return nil
}

// Server serves ZooKeeper's client protocol.
type Server struct {
	cfg     *Config
	backend Backend
	ln      net.Listener
	started time.Time

	mu       sync.Mutex
	conns    map[*conn]struct{}
	sessions map[uint64]*conn // the connection serving each session
	closed   bool
	wg       sync.WaitGroup

	received, sent atomic.Int64 // packets, for srvr
}

// New allocates a server; Listen opens its port.
func New(cfg *Config, b Backend) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, backend: b, conns: make(map[*conn]struct{}), sessions: make(map[uint64]*conn)}, nil
}

// Listen opens the TCP port, a TLS one with Config.TLS.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("zk: listen on %s: %w", s.cfg.Addr, err)
	}
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	s.ln, s.started = ln, time.Now()
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Addr
	}
	return s.ln.Addr().String()
}

// Serve accepts connections until Close; it returns nil after Close.
// Accept errors (out of file descriptors) pause it, never end it.
func (s *Server) Serve() error {
	var pause time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			s.cfg.Logger.Warn("zk accept failed; retrying", "error", err, "pause", pause)
			time.Sleep(pause)
			continue
		}
		pause = 0
		s.mu.Lock()
		if s.closed || len(s.conns) >= s.cfg.MaxConns {
			full := !s.closed
			s.mu.Unlock()
			if full {
				s.cfg.Logger.Warn("zk connection refused: too many connections", "remote", nc.RemoteAddr().String(), "max", s.cfg.MaxConns)
			}
			nc.Close()
			continue
		}
		c := newConn(s, nc)
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Close stops accepting, closes every connection (detaching, not closing,
// their sessions, as when a ZooKeeper server stops) and waits for them.
// It is safe to call twice.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		c.stop()
	}
	s.mu.Unlock()
	var err error
	if s.ln != nil {
		err = s.ln.Close()
	}
	s.wg.Wait()
	return err
}

// Connections returns the number of open connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// observe tells the Observer of a request answered.
func (s *Server) observe(r request, code string) {
	if s.cfg.Observer != nil {
		s.cfg.Observer.ZKRequest(OpName(r.op), code, time.Since(r.at))
	}
}

// claim records c as the connection serving session id.
func (s *Server) claim(id uint64, c *conn) {
	s.mu.Lock()
	s.sessions[id] = c
	s.mu.Unlock()
}

// release forgets c as the connection serving id.
func (s *Server) release(id uint64, c *conn) {
	s.mu.Lock()
	if s.sessions[id] == c {
		delete(s.sessions, id)
	}
	s.mu.Unlock()
}

// holder returns the connection serving session id here, if any.
func (s *Server) holder(id uint64) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
}
