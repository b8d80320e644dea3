package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/warden-dev/warden/agent"
	"github.com/warden-dev/warden/cluster"
	"github.com/warden-dev/warden/localapi/wire"
)

// The agent's settings come from four places, each overriding the next:
// flags, WARDEN_* environment variables, the --config file, defaults.
// Every flag is a setting, named after it: the file's key is the flag's
// name with '-' turned into '_' (bootstrap_expect), the variable that key
// in capitals after WARDEN_ (WARDEN_BOOTSTRAP_EXPECT). A flag added here
// has both at once.

// notSettings are the agent's flags that say what to do rather than how
// to run: no key, no variable. --recover is one: it accepts losing
// writes, once, and must not stay on in a file or an environment that
// outlives the one start it was meant for.
var notSettings = map[string]bool{"config": true, "validate": true, "recover": true}

// noEnv are settings without a variable.
var noEnv = map[string]bool{}

// settingKey is a flag's key in the config file.
func settingKey(flagName string) string { return strings.ReplaceAll(flagName, "-", "_") }

// settingEnv is a flag's environment variable.
func settingEnv(flagName string) string { return "WARDEN_" + strings.ToUpper(settingKey(flagName)) }

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }
func (l *listFlag) Get() any           { return []string(*l) }

// agentFlags are the agent's flags and where they land.
type agentFlags struct {
	fs       *flag.FlagSet
	cfg      *agent.Config
	encrypt  string
	tls      cluster.TLSConfig
	join     listFlag
	config   string // --config
	validate bool   // --validate
}

func newAgentFlags() *agentFlags {
	af := &agentFlags{cfg: agent.DefaultConfig()}
	cfg := af.cfg
	cfg.Dev = false
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	af.fs = fs
	fs.StringVar(&af.config, "config", "", "read settings from this HCL file (keys: the flags' names with _ for -; see deploy/warden.hcl); WARDEN_* variables and flags override it")
	fs.BoolVar(&af.validate, "validate", false, "check the settings (the --config file, the environment, the flags) and exit: status 0 when they are valid")
	fs.BoolVar(&cfg.Dev, "dev", false, "run a single server; without --data-dir, data lives in a temporary folder")
	fs.BoolVar(&cfg.Server, "server", false, "be a Raft voter; without it the agent is a replica")
	fs.IntVar(&cfg.BootstrapExpect, "bootstrap-expect", 0, "servers bootstrap the cluster once this many are seen")
	fs.StringVar(&cfg.NodeName, "node", cfg.NodeName, "node name, unique in the cluster")
	fs.StringVar(&cfg.BindAddr, "bind", "", "IP to bind and advertise (default 127.0.0.1 with --dev, else the first private address)")
	fs.IntVar(&cfg.RPCPort, "rpc-port", agent.PortDefault, "TCP port for Raft and agent RPC (default 7300; a free port with --dev)")
	fs.IntVar(&cfg.SerfPort, "serf-port", agent.PortDefault, "Serf gossip port, TCP and UDP (default 7301; a free port with --dev)")
	fs.IntVar(&cfg.HTTPPort, "http-port", agent.PortDefault, "HTTP port for /metrics, /healthz, /readyz, /v1/status, /v1/members (default 7302; a free port with --dev; -2 disables)")
	fs.IntVar(&cfg.ZKPort, "zk-port", 0, "TCP port serving ZooKeeper's client protocol, for ZooKeeper apps (0: off; see docs/zookeeper.md)")
	fs.StringVar(&cfg.ZKBind, "zk-bind", "", "IP the ZooKeeper port listens on (default: the --bind address)")
	fs.BoolVar(&cfg.ZKTLS, "zk-tls", false, "serve the ZooKeeper port over TLS (1.2 or later, ZooKeeper's secureClientPort) with the agent's --tls-cert and --tls-key, re-read on SIGHUP")
	fs.BoolVar(&cfg.ZKTLSVerifyClient, "zk-tls-verify-client", false, "with --zk-tls, also require ZooKeeper clients to show a certificate signed by --tls-ca (ZooKeeper's ssl.clientAuth=need)")
	fs.StringVar(&cfg.HTTPBind, "http-bind", "", "IP the HTTP endpoint listens on (default 127.0.0.1)")
	fs.BoolVar(&cfg.HTTPTLS, "http-tls", false, "serve the HTTP endpoint over TLS (1.2 or later) with the agent's --tls-cert and --tls-key, re-read on SIGHUP")
	fs.BoolVar(&cfg.HTTPTLSVerifyClient, "http-tls-verify-client", false, "with --http-tls, also require HTTP clients to show a certificate signed by --tls-ca")
	fs.BoolVar(&cfg.EnablePprof, "enable-pprof", false, "serve Go's runtime profiles under /debug/pprof/ on the HTTP endpoint (go tool pprof http://ADDR/debug/pprof/profile)")
	fs.IntVar(&cfg.MaxStreams, "max-streams", cfg.MaxStreams, "watches and subscriptions one app connection may have open")
	fs.IntVar(&cfg.MaxConnsPerUID, "max-conns-per-uid", cfg.MaxConnsPerUID, "connections one user (uid) may have open to this agent")
	fs.StringVar(&cfg.AccessPolicy, "access-policy", "", "file granting local users and groups read, write or admin on path prefixes; re-read on SIGHUP (see docs/security.md)")
	fs.StringVar(&cfg.LogStore, "raft-log-store", "", "where the Raft log is kept: wal (segment files, one fsync per append; new data dirs) or bolt (raft.db); a data dir holding the other is migrated at start (default: what the data dir holds)")
	fs.BoolVar(&cfg.Recover, "recover", false, "start even though the Raft log store is missing, emptied or damaged beside snapshots, accepting the loss of the writes after the last snapshot (see docs/security.md)")
	fs.StringVar(&af.encrypt, "encrypt", "", "base64 key (16, 24 or 32 bytes; warden keygen makes one) that encrypts Serf's gossip; the same on every agent")
	fs.StringVar(&af.tls.CAFile, "tls-ca", "", "CA certificate (PEM) for the cluster port's mutual TLS")
	fs.StringVar(&af.tls.CertFile, "tls-cert", "", "this agent's certificate (PEM), signed by the CA; its first DNS name is the node name")
	fs.StringVar(&af.tls.KeyFile, "tls-key", "", "this agent's key (PEM)")
	fs.BoolVar(&af.tls.VerifyHostname, "tls-verify-hostname", false, "also check that a peer's certificate names the agent it is, and let each agent act only as itself")
	fs.Var(&af.join, "join", "agent to join, host or host:port of its Serf address; repeatable; retried until it works")
	fs.StringVar(&cfg.SocketPath, "socket", "", "Unix socket for local apps (default "+wire.DefaultSocketPath()+")")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "data directory")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "trace, debug, info, warn or error")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "text (key=value) or json (one object per line)")
	fs.DurationVar(&cfg.DefaultSessionTimeout, "session-timeout", cfg.DefaultSessionTimeout, "session timeout for apps that ask for none")
	fs.DurationVar(&cfg.MinSessionTimeout, "min-session-timeout", cfg.MinSessionTimeout, "shortest session timeout an app may ask for (shorter asks are raised to it)")
	fs.DurationVar(&cfg.MaxSessionTimeout, "max-session-timeout", cfg.MaxSessionTimeout, "longest session timeout an app may ask for (longer asks are lowered to it)")
	fs.DurationVar(&cfg.LockDelay, "lock-delay", cfg.LockDelay, "hold back a lock this long after its holder's session expired")
	fs.IntVar(&cfg.HistoryMaxChanges, "history-max-changes", 0, "recent changes kept for subscriptions to resume from (default 100000)")
	fs.IntVar(&cfg.HistoryMaxBytes, "history-max-bytes", 0, "bytes of recent changes kept for subscriptions to resume from (default 64 MiB)")
	fs.Uint64Var(&cfg.SnapshotThreshold, "snapshot-threshold", 0, "Raft entries between snapshots (default 8192)")
	fs.DurationVar(&cfg.SnapshotInterval, "snapshot-interval", 0, "how often to check whether to snapshot (default 5s; Raft waits between one and two of these)")
	fs.VisitAll(func(f *flag.Flag) {
		switch {
		case notSettings[f.Name]:
		case noEnv[f.Name]:
			f.Usage += fmt.Sprintf(" (key %s; no variable)", settingKey(f.Name))
		case isList(f):
			f.Usage += fmt.Sprintf(" (key %s, a list; env %s, comma-separated)", settingKey(f.Name), settingEnv(f.Name))
		default:
			f.Usage += fmt.Sprintf(" (key %s; env %s)", settingKey(f.Name), settingEnv(f.Name))
		}
	})
	return af
}

func isList(f *flag.Flag) bool { _, ok := f.Value.(*listFlag); return ok }

// loadAgentConfig reads the agent's settings from args, the environment
// (getenv) and the --config file, and returns them, not yet validated
// (agent.New and --validate do that). Mistakes in the file or the
// environment are input errors (exit status 2).
func loadAgentConfig(args []string, getenv func(string) string) (*agentFlags, error) {
	af := newAgentFlags()
	fs := af.fs
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	var file map[string]fileSetting
	if af.config != "" {
		var err error
		if file, err = readConfigFile(af.config, fs); err != nil {
			return nil, inputf("%v", err)
		}
	}
	var errs []string
	fs.VisitAll(func(f *flag.Flag) {
		if onCommandLine[f.Name] || notSettings[f.Name] {
			return
		}
		if v := getenv(settingEnv(f.Name)); v != "" && !noEnv[f.Name] {
			vals := []string{v}
			if isList(f) {
				vals = strings.Split(v, ",")
			}
			for _, s := range vals {
				if err := f.Value.Set(strings.TrimSpace(s)); err != nil {
					errs = append(errs, fmt.Sprintf("%s=%q: %v", settingEnv(f.Name), v, err))
				}
			}
			return
		}
		if s, ok := file[f.Name]; ok {
			for _, v := range s.values {
				if err := f.Value.Set(v); err != nil {
					errs = append(errs, fmt.Sprintf("%s:%d: key %q: %v", af.config, s.line, settingKey(f.Name), err))
				}
			}
		}
	})
	if len(errs) > 0 {
		return nil, inputf("%s", strings.Join(errs, "\n"))
	}
	cfg := af.cfg
	cfg.Join = []string(af.join)
	if af.encrypt != "" {
		key, err := base64.StdEncoding.DecodeString(af.encrypt)
		if err != nil {
			return nil, inputf("encrypt: not base64: %v", err)
		}
		cfg.EncryptKey = key
	}
	if af.tls.CAFile != "" || af.tls.CertFile != "" || af.tls.KeyFile != "" {
		tlsc := af.tls
		cfg.TLS = &tlsc
	}
	if cfg.Dev && cfg.DataDir == "" {
		cfg.StartTimeout = time.Minute
	}
	return af, nil
}
