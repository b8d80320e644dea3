package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/warden-dev/warden/agent"
	"github.com/warden-dev/warden/cluster"
	"github.com/warden-dev/warden/localapi/wire"
)

func init() {
	register("agent", command{
		usage: "(--dev | --server [--bootstrap-expect N] | replica flags) [--join ADDR]... [--bind IP] [--socket PATH] [--data-dir DIR] ...",
		help:  "run an agent",
		run:   runAgent,
	})
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func runAgent(args []string) error {
	// Everything the agent creates (data dir, raft.db, snapshots) is
	// private to its user.
	syscall.Umask(0o077)
	cfg := agent.DefaultConfig()
	cfg.Dev = false
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.BoolVar(&cfg.Dev, "dev", envBool("WARDEN_DEV"), "run a single server; without --data-dir, data lives in a temporary folder (env WARDEN_DEV)")
	fs.BoolVar(&cfg.Server, "server", envBool("WARDEN_SERVER"), "be a Raft voter; without it the agent is a replica (env WARDEN_SERVER)")
	fs.IntVar(&cfg.BootstrapExpect, "bootstrap-expect", envInt("WARDEN_BOOTSTRAP_EXPECT", 0), "servers bootstrap the cluster once this many are seen (env WARDEN_BOOTSTRAP_EXPECT)")
	fs.StringVar(&cfg.NodeName, "node", envOr("WARDEN_NODE", cfg.NodeName), "node name, unique in the cluster (env WARDEN_NODE)")
	fs.StringVar(&cfg.BindAddr, "bind", os.Getenv("WARDEN_BIND"), "IP to bind and advertise (default 127.0.0.1 with --dev, else the first private address) (env WARDEN_BIND)")
	fs.IntVar(&cfg.RPCPort, "rpc-port", envInt("WARDEN_RPC_PORT", agent.PortDefault), "TCP port for Raft and agent RPC (default 7300; a free port with --dev) (env WARDEN_RPC_PORT)")
	fs.IntVar(&cfg.SerfPort, "serf-port", envInt("WARDEN_SERF_PORT", agent.PortDefault), "Serf gossip port, TCP and UDP (default 7301; a free port with --dev) (env WARDEN_SERF_PORT)")
	fs.IntVar(&cfg.HTTPPort, "http-port", envInt("WARDEN_HTTP_PORT", agent.PortDefault), "HTTP port for /metrics, /healthz, /readyz, /v1/status, /v1/members (default 7302; a free port with --dev; -2 disables) (env WARDEN_HTTP_PORT)")
	fs.StringVar(&cfg.HTTPBind, "http-bind", os.Getenv("WARDEN_HTTP_BIND"), "IP the HTTP endpoint listens on (default 127.0.0.1) (env WARDEN_HTTP_BIND)")
	fs.BoolVar(&cfg.HTTPTLS, "http-tls", envBool("WARDEN_HTTP_TLS"), "serve the HTTP endpoint over TLS (1.2 or later) with the agent's --tls-cert and --tls-key, re-read on SIGHUP (env WARDEN_HTTP_TLS)")
	fs.BoolVar(&cfg.HTTPTLSVerifyClient, "http-tls-verify-client", envBool("WARDEN_HTTP_TLS_VERIFY_CLIENT"), "with --http-tls, also require HTTP clients to show a certificate signed by --tls-ca (env WARDEN_HTTP_TLS_VERIFY_CLIENT)")
	fs.IntVar(&cfg.MaxStreams, "max-streams", cfg.MaxStreams, "watches and subscriptions one app connection may have open")
	fs.IntVar(&cfg.MaxConnsPerUID, "max-conns-per-uid", cfg.MaxConnsPerUID, "connections one user (uid) may have open to this agent")
	fs.StringVar(&cfg.AccessPolicy, "access-policy", os.Getenv("WARDEN_ACCESS_POLICY"), "file granting local users and groups read, write or admin on path prefixes; re-read on SIGHUP (see docs/security.md) (env WARDEN_ACCESS_POLICY)")
	fs.BoolVar(&cfg.Recover, "recover", false, "start even though raft.db is missing, emptied or damaged beside snapshots, accepting the loss of the writes after the last snapshot (see docs/security.md)")
	encrypt := fs.String("encrypt", os.Getenv("WARDEN_ENCRYPT"), "base64 key (16, 24 or 32 bytes; warden keygen makes one) that encrypts Serf's gossip; the same on every agent (env WARDEN_ENCRYPT)")
	var tlsc cluster.TLSConfig
	fs.StringVar(&tlsc.CAFile, "tls-ca", os.Getenv("WARDEN_TLS_CA"), "CA certificate (PEM) for the cluster port's mutual TLS (env WARDEN_TLS_CA)")
	fs.StringVar(&tlsc.CertFile, "tls-cert", os.Getenv("WARDEN_TLS_CERT"), "this agent's certificate (PEM), signed by the CA; its first DNS name is the node name (env WARDEN_TLS_CERT)")
	fs.StringVar(&tlsc.KeyFile, "tls-key", os.Getenv("WARDEN_TLS_KEY"), "this agent's key (PEM) (env WARDEN_TLS_KEY)")
	fs.BoolVar(&tlsc.VerifyHostname, "tls-verify-hostname", envBool("WARDEN_TLS_VERIFY_HOSTNAME"), "also check that a peer's certificate names the agent it is, and let each agent act only as itself (env WARDEN_TLS_VERIFY_HOSTNAME)")
	var join listFlag
	fs.Var(&join, "join", "agent to join, host or host:port of its Serf address; repeatable; retried until it works (env WARDEN_JOIN, comma-separated)")
	fs.StringVar(&cfg.SocketPath, "socket", os.Getenv(wire.SocketEnv), "Unix socket for local apps (default "+wire.DefaultSocketPath()+"; env WARDEN_SOCKET)")
	fs.StringVar(&cfg.DataDir, "data-dir", os.Getenv("WARDEN_DATA_DIR"), "data directory (env WARDEN_DATA_DIR)")
	fs.StringVar(&cfg.LogLevel, "log-level", envOr("WARDEN_LOG_LEVEL", cfg.LogLevel), "trace, debug, info, warn or error (env WARDEN_LOG_LEVEL)")
	fs.DurationVar(&cfg.DefaultSessionTimeout, "session-timeout", cfg.DefaultSessionTimeout, "session timeout for apps that ask for none")
	fs.DurationVar(&cfg.MinSessionTimeout, "min-session-timeout", cfg.MinSessionTimeout, "shortest session timeout an app may ask for (shorter asks are raised to it)")
	fs.DurationVar(&cfg.MaxSessionTimeout, "max-session-timeout", cfg.MaxSessionTimeout, "longest session timeout an app may ask for (longer asks are lowered to it)")
	fs.DurationVar(&cfg.LockDelay, "lock-delay", cfg.LockDelay, "hold back a lock this long after its holder's session expired")
	fs.IntVar(&cfg.HistoryMaxChanges, "history-max-changes", 0, "recent changes kept for subscriptions to resume from (default 100000)")
	fs.IntVar(&cfg.HistoryMaxBytes, "history-max-bytes", 0, "bytes of recent changes kept for subscriptions to resume from (default 64 MiB)")
	fs.Uint64Var(&cfg.SnapshotThreshold, "snapshot-threshold", 0, "Raft entries between snapshots (default 8192)")
	fs.DurationVar(&cfg.SnapshotInterval, "snapshot-interval", 0, "how often to check whether to snapshot (default 5s; Raft waits between one and two of these)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	cfg.Join = join
	if *encrypt != "" {
		key, err := base64.StdEncoding.DecodeString(*encrypt)
		if err != nil {
			return usagef("--encrypt: not base64: %v", err)
		}
		cfg.EncryptKey = key
	}
	if tlsc.CAFile != "" || tlsc.CertFile != "" || tlsc.KeyFile != "" {
		cfg.TLS = &tlsc
	}
	if len(join) == 0 && os.Getenv("WARDEN_JOIN") != "" {
		cfg.Join = strings.Split(os.Getenv("WARDEN_JOIN"), ",")
	}
	if cfg.Dev && cfg.DataDir == "" {
		cfg.StartTimeout = time.Minute
	}
	a, err := agent.New(cfg, nil)
	if err != nil {
		return usagef("%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := a.Start(ctx); err != nil {
		return err
	}
	if cfg.TLS != nil || cfg.AccessPolicy != "" {
		// SIGHUP re-reads the TLS files (renewed certificates take effect
		// for new connections, on the cluster port and the HTTP endpoint)
		// and the access policy, without a restart. Whatever fails to load
		// keeps its previous version.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for range hup {
				reload(cfg.TLS != nil, "TLS certificates", a.Node().ReloadTLS)
				reload(cfg.AccessPolicy != "", "access policy", a.ReloadPolicy)
			}
		}()
	}
	fmt.Printf("warden agent %s is ready\n  socket: %s\n  serf:   %s\n  rpc:    %s\n  http:   %s\n  try:    WARDEN_SOCKET=%s warden lock /demo -- echo held\n",
		cfg.NodeName, a.SocketPath(), a.Node().SerfAddr(), a.Node().RPCAddr(), a.HTTPAddr(), a.SocketPath())
	return a.Run(ctx)
}

func envBool(name string) bool {
	v, _ := strconv.ParseBool(os.Getenv(name))
	return v
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// parse parses flags, turning -h into a clean exit and other flag errors
// into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &exitError{code: 0}
		}
		return &exitError{code: 2}
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// reload runs one SIGHUP reload, when on, and says how it went.
func reload(on bool, what string, f func() error) {
	if !on {
		return
	}
	if err := f(); err != nil {
		fmt.Fprintf(os.Stderr, "warden: reload the %s: %v (keeping the previous one)\n", what, err)
		return
	}
	fmt.Fprintf(os.Stderr, "warden: reloaded the %s\n", what)
}
