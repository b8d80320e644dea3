package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/oklog/run"
	"github.com/warden-dev/warden/cluster"
	"github.com/warden-dev/warden/localapi"
	"github.com/warden-dev/warden/localapi/wire"
	"github.com/warden-dev/warden/logging"
	"github.com/warden-dev/warden/zkapi"
)

// Agent is a running warden agent.
type Agent struct {
	cfg     *Config
	socket  string       // cfg.SocketPath, else the default
	logger  *slog.Logger // every line carries node=NAME
	hc      hclog.Logger // the same, for Raft, the cluster port and the local API
	node    *cluster.Node
	api     *localapi.Server
	zk      *zkapi.Server // nil unless ZKPort is set
	tmpDir  string        // removed on shutdown (dev mode without a data dir)
	http    *httpServer
	metrics *metrics    // the agent's registry, served on GET /metrics
	ready   atomic.Bool // the socket is open

	shutdownOnce sync.Once
	shutdownErr  error
}

// New allocates an agent; Start opens it. Its logs, and those of the
// libraries it embeds (Raft, Serf, memberlist), go to logger with the
// attribute node=NAME added; nil means standard error, in cfg.LogFormat,
// at cfg.LogLevel.
func New(cfg *Config, logger *slog.Logger) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var level *slog.LevelVar
	if logger == nil {
		level = new(slog.LevelVar)
		l, _ := logging.ParseLevel(cfg.LogLevel) // checked by Validate
		level.Set(l)
		var err error
		if logger, err = logging.New(os.Stderr, cfg.logFormat(), level); err != nil {
			return nil, err
		}
	}
	logger = logger.With("node", cfg.NodeName)
	socket := cfg.SocketPath
	if socket == "" {
		socket = wire.DefaultSocketPath()
	}
	a := &Agent{cfg: cfg, socket: socket, logger: logger, hc: logging.HCLog(logger, level)}
	a.metrics = newMetrics(a)
	if a.metrics.raftErr != nil {
		logger.Warn("Raft's library metrics are off", "error", a.metrics.raftErr)
	}
	return a, nil
}

// Logger is the agent's logger (its lines carry node=NAME).
func (a *Agent) Logger() *slog.Logger { return a.logger }

// Start checks the socket's place (see localapi.CheckSocket), opens the
// data dir, starts Raft, waits for a leader, closes the
// sessions a previous run left behind, and opens the socket. When Start
// fails, everything it opened is closed again.
func (a *Agent) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			_ = a.Shutdown()
		}
	}()
	// The socket's place is checked first, so that an unsafe directory or
	// a file someone else put at the path stops the agent before it opens
	// its data dir; Listen checks again.
	if err = localapi.CheckSocket(a.socket, a.cfg.SocketPath == ""); err != nil {
		return err
	}
	var dataDir string
	dataDir = a.cfg.DataDir
	if dataDir == "" {
		if a.tmpDir, err = os.MkdirTemp("", "warden-dev-"); err != nil {
			return fmt.Errorf("temporary data dir: %w", err)
		}
		dataDir = a.tmpDir
	}
	bind, err := a.cfg.bindAddr()
	if err != nil {
		return err
	}
	cc := cluster.DefaultConfig()
	cc.NodeName = a.cfg.NodeName
	cc.DataDir = dataDir
	cc.BindAddr = bind
	cc.RPCPort = a.cfg.port(a.cfg.RPCPort, cluster.DefaultRPCPort)
	cc.SerfPort = a.cfg.port(a.cfg.SerfPort, cluster.DefaultSerfPort)
	cc.Server = a.cfg.Server || a.cfg.Dev
	cc.BootstrapExpect = a.cfg.BootstrapExpect
	cc.Bootstrap = a.cfg.Dev
	cc.Join = a.cfg.Join
	cc.LockDelay = a.cfg.LockDelay
	cc.TLS = a.cfg.TLS
	cc.Recover = a.cfg.Recover
	cc.LogStore = a.cfg.LogStore
	cc.EncryptKey = a.cfg.EncryptKey
	cc.MinSessionTimeout, cc.MaxSessionTimeout = a.cfg.MinSessionTimeout, a.cfg.MaxSessionTimeout
	cc.HistoryMaxChanges, cc.HistoryMaxBytes = a.cfg.HistoryMaxChanges, a.cfg.HistoryMaxBytes
	if a.cfg.SnapshotInterval > 0 {
		cc.SnapshotInterval = a.cfg.SnapshotInterval
	}
	if a.cfg.SnapshotThreshold > 0 {
		cc.SnapshotThreshold = a.cfg.SnapshotThreshold
		cc.TrailingLogs = min(cc.TrailingLogs, a.cfg.SnapshotThreshold)
	}
	cc.Version = Version
	cc.Logger = a.hc
	cc.LogOutput = logging.NewWriter(a.logger, slog.LevelInfo)
	if a.cfg.Tune != nil {
		a.cfg.Tune(cc)
	}
	if a.node, err = cluster.New(cc); err != nil {
		return err
	}
	if err = a.node.Open(); err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(ctx)
	if a.cfg.StartTimeout > 0 {
		wctx, cancel = context.WithTimeout(ctx, a.cfg.StartTimeout)
	}
	defer cancel()
	if httpPort := a.cfg.port(a.cfg.HTTPPort, cluster.DefaultHTTPPort); a.cfg.HTTPPort != HTTPDisabled {
		httpBind := a.cfg.HTTPBind
		if httpBind == "" {
			httpBind = "127.0.0.1"
		}
		if err = a.listenHTTP(httpBind, httpPort); err != nil {
			return err
		}
	}
	a.logger.Info("waiting for the cluster", "serf", a.node.SerfAddr(), "rpc", a.node.RPCAddr())
	if err = a.node.WaitReady(wctx); err != nil {
		return err
	}
	n, err := a.node.CloseOrphans(wctx)
	if err != nil {
		return fmt.Errorf("close sessions of the previous run: %w", err)
	}
	if n > 0 {
		a.logger.Info("closed sessions left by the previous run", "count", n)
	}
	lc := localapi.DefaultConfig()
	lc.SocketPath, lc.SocketParents = a.socket, a.cfg.SocketPath == ""
	lc.DefaultSessionTimeout = a.cfg.DefaultSessionTimeout
	lc.MaxInFlight = a.cfg.MaxInFlight
	lc.MaxStreams, lc.MaxConnsPerUID = a.cfg.MaxStreams, a.cfg.MaxConnsPerUID
	if a.cfg.AccessPolicy != "" {
		if lc.Policy, err = localapi.LoadPolicy(a.cfg.AccessPolicy); err != nil {
			return err
		}
	}
	lc.Logger = a.hc.Named("localapi")
	lc.Observer = a.metrics
	if a.api, err = localapi.New(lc, backend{Node: a.node, server: cc.Server}); err != nil {
		return err
	}
	if err = a.api.Listen(); err != nil {
		return err
	}
	if a.cfg.ZKPort != 0 {
		if err = a.listenZK(bind, cc.Server); err != nil {
			return err
		}
	}
	a.ready.Store(true)
	a.logger.Info("agent started", "socket", a.socket, "data_dir", dataDir)
	return nil
}

// Run serves until ctx ends or a part fails, then shuts down.
func (a *Agent) Run(ctx context.Context) error {
	var g run.Group
	g.Add(a.api.Serve, func(error) { _ = a.api.Close() })
	if a.http != nil {
		g.Add(a.waitHTTP, func(error) { _ = a.http.Close() })
	}
	if a.zk != nil {
		g.Add(a.zk.Serve, func(error) { _ = a.zk.Close() })
	}
	ctx, cancel := context.WithCancel(ctx)
	g.Add(func() error { <-ctx.Done(); return nil }, func(error) { cancel() })
	err := g.Run()
	if serr := a.Shutdown(); err == nil {
		err = serr
	}
	return err
}

// Shutdown closes the socket (ending every session it served), stops Raft
// and removes a temporary data dir. It is safe to call twice.
func (a *Agent) Shutdown() error {
	a.shutdownOnce.Do(func() {
		if a.api != nil {
			_ = a.api.Close()
		}
		if a.zk != nil {
			_ = a.zk.Close()
		}
		if a.http != nil {
			_ = a.http.Close()
		}
		if a.node != nil {
			a.shutdownErr = a.node.Close()
		}
		if a.tmpDir != "" {
			if err := os.RemoveAll(a.tmpDir); err != nil && a.shutdownErr == nil {
				a.shutdownErr = err
			}
		}
	})
	return a.shutdownErr
}

// Node is the agent's Raft replica.
func (a *Agent) Node() *cluster.Node { return a.node }

// ReloadPolicy reads the access policy file again (on SIGHUP); requests
// from then on are judged by it. A file that does not parse changes
// nothing.
func (a *Agent) ReloadPolicy() error {
	if a.cfg.AccessPolicy == "" {
		return nil
	}
	p, err := localapi.LoadPolicy(a.cfg.AccessPolicy)
	if err != nil {
		return err
	}
	a.api.SetPolicy(p)
	return nil
}

// listenZK opens the ZooKeeper port on ZKBind, else on the bind address,
// over TLS with Config.ZKTLS.
func (a *Agent) listenZK(bind string, server bool) error {
	host := a.cfg.ZKBind
	if host == "" {
		host = bind
	}
	port := max(a.cfg.ZKPort, 0) // ZKPortFree: any free port
	zc := zkapi.DefaultConfig()
	zc.Addr = net.JoinHostPort(host, strconv.Itoa(port))
	zc.Version = Version
	zc.Logger = a.hc.Named("zk")
	zc.Observer = a.metrics
	if a.cfg.ZKTLS {
		// The agent's cluster certificate, re-read with it on ReloadTLS.
		tc, err := a.node.ListenerTLS(a.cfg.ZKTLSVerifyClient)
		if err != nil {
			return fmt.Errorf("zk tls: %w", err)
		}
		zc.TLS = tc
	}
	var err error
	if a.zk, err = zkapi.New(zc, backend{Node: a.node, server: server}); err != nil {
		return err
	}
	if err = a.zk.Listen(); err != nil {
		a.zk = nil
		return err
	}
	a.logger.Info("zk listening", "addr", a.zk.Addr(), "tls", a.cfg.ZKTLS, "verify_client", a.cfg.ZKTLSVerifyClient)
	return nil
}

// ZKAddr is the address of the ZooKeeper port ("" when it is off).
func (a *Agent) ZKAddr() string {
	if a.zk == nil {
		return ""
	}
	return a.zk.Addr()
}

// SocketPath is where the agent serves apps.
func (a *Agent) SocketPath() string { return a.socket }
