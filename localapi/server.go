package localapi

// The protocol in brief (docs/protocol.md is the full specification):
//
// Each frame is a 4-byte big-endian length and one msgpack map. The app's
// first request must be {"id":1,"op":"hello","protocol":1,...}; the reply
// carries the session id, and an event {"id":0,"event":"session",
// "body":{"state":"connected","session_id":N}} follows. After that the app may send any
// number of requests without waiting: each carries a fresh id >= 1, and
// its reply carries the same id with "result" or "error" {code, message}.
// Replies may arrive in any order. Events carry id 0.
//
// Bad input is answered, not fatal: a request with wrong field types gets
// bad_arguments, an unknown op unknown_op. A frame that is not a msgpack
// map, is empty, or is longer than the limit gets one error event and the
// connection is closed; no other connection is touched.
//
// When the connection closes, for whatever reason, the agent closes its
// session at once, which deletes its ephemeral nodes and releases its locks.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warden-dev/warden/fsm"
	"github.com/warden-dev/warden/localapi/wire"
	"github.com/warden-dev/warden/recipes"
)

// Backend is the replicated tree and the agent, as the server needs them.
//
// Errors other than fsm and recipes errors are reported to apps as
// unavailable, except those matching context.DeadlineExceeded (timeout)
// and context.Canceled (canceled), and ErrBadSecret from ResumeSession.
type Backend interface {
	recipes.Store
	// OpenSession opens a session owned by this agent and keeps it alive.
	OpenSession(ctx context.Context, o SessionOptions) (fsm.Session, error)
	// ResumeSession takes up a resumable session by id and secret.
	ResumeSession(ctx context.Context, id uint64, secret []byte, onState func(string)) (fsm.Session, error)
	// CloseSession ends a session and everything it holds.
	CloseSession(ctx context.Context, id uint64, reason fsm.CloseReason) error
	// Detach stops keeping a session alive without closing it.
	Detach(id uint64)
	// SessionCurrent reports whether the agent can vouch for its session
	// now: the leader acknowledged it within its timeout. Grants go to
	// the app only while it holds.
	SessionCurrent(id uint64) bool
	Sync(ctx context.Context) (uint64, error)
	Name() string
	Status() wire.StatusResult
	Members() []wire.Member
	// Sessions lists the cluster's open sessions.
	Sessions() []wire.SessionInfo
	// Ephemerals lists the ephemeral nodes a session owns, as this
	// agent's replica has them.
	Ephemerals(session uint64) []string
}

// SessionOptions are what an app's hello asks for.
type SessionOptions struct {
	Timeout   time.Duration
	Resumable bool
	Heartbeat bool
	Pid, Uid  int32
	Gid       int32
	Client    string
	// OnState hears "connected", "suspended" and "lost". It must not block.
	OnState func(state string)
}

// ErrBadSecret is what a Backend returns when a resume names a session
// that is gone or not resumable, or gives the wrong secret.
var ErrBadSecret = errors.New("no resumable session with that id and secret")

// Config configures a Server.
type Config struct {
	// SocketPath is where the server listens.
	SocketPath string
	// SocketParents lets Listen create the missing parents of the
	// socket's directory (for the default socket); otherwise the
	// directory's parent must exist. The directory itself is created if
	// missing either way (see SocketDirMode).
	SocketParents bool
	// SocketMode is the socket file's permission bits.
	SocketMode os.FileMode
	// DefaultSessionTimeout applies when hello names none.
	DefaultSessionTimeout time.Duration
	// HelloTimeout is how long a new connection has to send hello.
	HelloTimeout time.Duration
	// WriteTimeout is how long a reply may wait for a slow reader before
	// the connection is closed.
	WriteTimeout time.Duration
	// MaxInFlight bounds the requests one connection may have in flight;
	// beyond it requests are refused with too_many_requests (and cancel
	// still gets through).
	MaxInFlight int
	// MaxStreams bounds the streams (watches, subscriptions, observers)
	// one connection may have open; beyond it, requests that would open
	// one are refused with too_many_requests.
	MaxStreams int
	// MaxConnsPerUID bounds the connections one user (by the peer's uid)
	// may have open; a connection beyond it gets one too_many_requests
	// error and is closed.
	MaxConnsPerUID int
	// Policy says which users and groups may read, write or administer
	// which paths (see access.go); nil is OpenPolicy.
	Policy *Policy
	// Logger receives connection-level logs.
	Logger hclog.Logger
	// Observer hears every request answered, for metrics; nil is none.
	Observer Observer
}

// DefaultConfig returns the defaults, listening on
// wire.DefaultSocketPath().
func DefaultConfig() *Config {
	return &Config{
		SocketPath:            wire.DefaultSocketPath(),
		SocketParents:         true,
		SocketMode:            0o660,
		DefaultSessionTimeout: 10 * time.Second,
		HelloTimeout:          10 * time.Second,
		WriteTimeout:          10 * time.Second,
		MaxInFlight:           1024,
		MaxStreams:            1024,
		MaxConnsPerUID:        1024,
		Logger:                hclog.NewNullLogger(),
	}
}

// Validate reports the first thing wrong with c.
func (c *Config) Validate() error {
	switch {
	case c.SocketPath == "":
		return errors.New("socket path is empty")
	case c.DefaultSessionTimeout <= 0 || c.HelloTimeout <= 0 || c.WriteTimeout <= 0:
		return errors.New("timeouts must be positive")
	case c.MaxInFlight <= 0 || c.MaxStreams <= 0 || c.MaxConnsPerUID <= 0:
		return errors.New("max in flight, max streams and max connections per uid must be positive")
	case c.Logger == nil:
		return errors.New("logger is required")
	}
	return nil
}

// Server serves the local protocol.
type Server struct {
	cfg     *Config
	backend Backend
	ln      *net.UnixListener

	mu     sync.Mutex
	conns  map[*conn]struct{}
	perUID map[int32]int // open connections by peer uid
	policy atomic.Pointer[Policy]
	euid   uint32 // the agent's own user, which has admin like root
	meters *meters
	closed bool
	wg     sync.WaitGroup
}

// New allocates a server; Listen opens its socket.
func New(cfg *Config, b Backend) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	policy := cfg.Policy
	if policy == nil {
		policy = OpenPolicy()
	}
	s := &Server{cfg: cfg, backend: b, conns: make(map[*conn]struct{}), perUID: make(map[int32]int), euid: uint32(os.Geteuid()),
		meters: newMeters(cfg.Observer)}
	s.policy.Store(policy)
	return s, nil
}

// Listen creates the socket, after the checks of CheckSocket (with
// SocketParents): a stale socket of the agent's own user left by a dead
// agent is replaced; a socket another agent still listens on, another
// user's socket, any other file at the path, and an unsafe directory are
// errors.
func (s *Server) Listen() error {
	path := s.cfg.SocketPath
	stale, err := checkSocket(path, s.cfg.SocketParents)
	if err != nil {
		return err
	}
	if stale {
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("remove stale socket: %w", err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("listen on %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, s.cfg.SocketMode); err != nil {
		ln.Close()
		return fmt.Errorf("chmod socket: %w", err)
	}
	s.ln = ln
	return nil
}

// SetPolicy replaces the access policy; requests from then on are judged
// by it.
func (s *Server) SetPolicy(p *Policy) { s.policy.Store(p) }

// Addr is the socket path.
func (s *Server) Addr() string { return s.cfg.SocketPath }

// Serve accepts connections until Close. It returns nil after Close.
// Accept errors (out of file descriptors, say) never end it: it pauses,
// doubling the pause up to a second, and accepts again, so that the
// sessions already served go on.
func (s *Server) Serve() error {
	var pause time.Duration
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			s.cfg.Logger.Warn("accept failed; retrying", "error", err, "pause", pause)
			time.Sleep(pause)
			continue
		}
		pause = 0
		cn := newConn(s, c)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		if s.perUID[int32(cn.peer.Uid)] >= s.cfg.MaxConnsPerUID {
			s.wg.Add(1)
			s.mu.Unlock()
			go func() {
				defer s.wg.Done()
				cn.refuse(wire.Errorf(wire.CodeTooManyRequests,
					fmt.Sprintf("uid %d already has %d connections to this agent", int32(cn.peer.Uid), s.cfg.MaxConnsPerUID)))
			}()
			continue
		}
		s.perUID[int32(cn.peer.Uid)]++
		s.conns[cn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			cn.serve()
			s.mu.Lock()
			delete(s.conns, cn)
			if s.perUID[int32(cn.peer.Uid)]--; s.perUID[int32(cn.peer.Uid)] <= 0 {
				delete(s.perUID, int32(cn.peer.Uid))
			}
			s.mu.Unlock()
		}()
	}
}

// Close stops accepting, closes every connection (closing their sessions)
// and waits for them. It is safe to call twice.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		c.nc.Close()
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

// peerOf asks the kernel who is at the other end of c. When it cannot
// tell, the peer is nobody in particular: no uid or group of a policy
// matches it, so it gets only what the policy grants anyone.
func peerOf(c *net.UnixConn) Peer {
	p := Peer{Uid: unknownID, Gid: unknownID}
	raw, err := c.SyscallConn()
	if err != nil {
		return p
	}
	_ = raw.Control(func(fd uintptr) {
		if cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED); err == nil {
			p = Peer{Pid: cred.Pid, Uid: cred.Uid, Gid: cred.Gid}
		}
	})
	p.Gids = supplementaryGroups(p.Pid)
	return p
}

// unknownID stands for a uid or gid the kernel did not report: (uid_t)-1,
// which no process has.
const unknownID = ^uint32(0)

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
