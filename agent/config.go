package agent

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	sockaddr "github.com/hashicorp/go-sockaddr"
	"github.com/warden-dev/warden/cluster"
	"github.com/warden-dev/warden/localapi"
	"github.com/warden-dev/warden/logging"
)

// PortDefault asks for the mode's default port: a free one in dev mode,
// the documented one otherwise.
const PortDefault = -1

// Config configures an agent.
type Config struct {
	// Dev runs a single server that bootstraps itself; with no DataDir its
	// data lives in a temporary folder removed on shutdown.
	Dev bool
	// Server makes the agent a Raft voter; otherwise it is a replica.
	Server bool
	// BootstrapExpect: servers bootstrap once this many are seen.
	BootstrapExpect int
	// NodeName identifies the agent; defaults to the hostname.
	NodeName string
	// DataDir holds the Raft log, stable store and snapshots.
	DataDir string
	// SocketPath is the local API's Unix socket. Empty means
	// wire.DefaultSocketPath(), whose missing parent directories the
	// agent creates; for a path given here, the socket's directory is
	// created if missing but its parent must exist.
	SocketPath string
	// BindAddr is the IP for Serf, RPC and HTTP; empty means 127.0.0.1
	// in dev mode and the first private address otherwise.
	BindAddr string
	// RPCPort (Raft and agent RPC), SerfPort and HTTPPort; PortDefault
	// picks the mode's default, 0 a free port, and HTTPPort -2 disables
	// HTTP.
	RPCPort, SerfPort, HTTPPort int
	// HTTPBind is the IP the HTTP endpoint listens on; empty means
	// 127.0.0.1 (status and metrics stay on the host unless asked).
	HTTPBind string
	// TLS, when set, turns on mutual TLS on the cluster port (Raft and
	// agent RPC).
	TLS *cluster.TLSConfig
	// HTTPTLS serves the HTTP endpoint over TLS (1.2 or later) with the
	// agent's cluster certificate (TLS.CertFile and TLS.KeyFile), which
	// is re-read with the cluster's on a reload; it needs TLS.
	HTTPTLS bool
	// HTTPTLSVerifyClient also requires HTTP clients to show a
	// certificate signed by the cluster's CA (TLS.CAFile); it needs
	// HTTPTLS.
	HTTPTLSVerifyClient bool
	// EnablePprof serves Go's runtime profiles (net/http/pprof) under
	// /debug/pprof/ on the HTTP endpoint, for performance work. Off by
	// default: a profile shows no data values, but costs CPU to take.
	EnablePprof bool
	// EncryptKey encrypts Serf's gossip (see cluster.Config.EncryptKey).
	EncryptKey []byte
	// Recover starts on a damaged data dir, accepting the loss (see
	// cluster.Config.Recover).
	Recover bool
	// LogStore is the Raft log store, "wal" or "bolt" ("": what the data
	// dir holds; see cluster.Config.LogStore).
	LogStore string
	// Join lists agents to join (Serf host or host:port), retried until
	// one answers.
	Join []string
	// LogLevel is trace, debug, info, warn or error.
	LogLevel string
	// LogFormat is text (logfmt-style key=value lines) or json (one JSON
	// object per line); empty means text.
	LogFormat string
	// DefaultSessionTimeout applies when an app's hello names none.
	DefaultSessionTimeout time.Duration
	// MinSessionTimeout and MaxSessionTimeout bound the timeout an app may
	// ask for; what it asks outside them is clamped.
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// LockDelay holds back a lock after its holder's session expired.
	LockDelay time.Duration
	// HistoryMaxChanges and HistoryMaxBytes bound the change history that
	// subscriptions resume from; 0 keeps the defaults.
	HistoryMaxChanges, HistoryMaxBytes int
	// StartTimeout bounds waiting for a leader at start; 0 waits forever.
	StartTimeout time.Duration
	// MaxInFlight bounds the requests one app connection may have in
	// flight.
	MaxInFlight int
	// MaxStreams bounds the streams one app connection may have open.
	MaxStreams int
	// MaxConnsPerUID bounds the connections one user may have open.
	MaxConnsPerUID int
	// AccessPolicy is a policy file granting local users and groups read,
	// write or admin on path prefixes (see localapi/access.go); empty lets
	// every app read and write everything but another app's ephemerals.
	AccessPolicy string
	// ZKPort, when not 0, serves ZooKeeper's client protocol on this TCP
	// port (see docs/zookeeper.md); ZKPortFree picks a free port.
	ZKPort int
	// ZKBind is the IP the ZooKeeper port listens on; empty means the
	// bind address.
	ZKBind string
	// ZKTLS serves the ZooKeeper port over TLS (1.2 or later), as
	// ZooKeeper's secureClientPort, with the agent's cluster certificate
	// (TLS.CertFile and TLS.KeyFile), re-read with the cluster's on a
	// reload; it needs TLS and ZKPort.
	ZKTLS bool
	// ZKTLSVerifyClient also requires ZooKeeper clients to show a
	// certificate signed by the cluster's CA (TLS.CAFile), as ZooKeeper's
	// ssl.clientAuth=need; it needs ZKTLS.
	ZKTLSVerifyClient bool

	// SnapshotThreshold is how many Raft entries trigger a snapshot; 0
	// keeps the default.
	SnapshotThreshold uint64
	// SnapshotInterval is how often Raft checks whether to snapshot; 0
	// keeps the default.
	SnapshotInterval time.Duration

	// Tune, when set, adjusts the cluster configuration (tests shorten
	// timings with it).
	Tune func(*cluster.Config)
}

// ZKPortFree serves ZooKeeper's protocol on a free port (tests read it
// from Agent.ZKAddr).
const ZKPortFree = -1

// HTTPDisabled turns the HTTP endpoint off.
const HTTPDisabled = -2

// DefaultConfig returns a dev agent's configuration.
func DefaultConfig() *Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "warden"
	}
	return &Config{
		Dev:                   true,
		NodeName:              host,
		RPCPort:               PortDefault,
		SerfPort:              PortDefault,
		HTTPPort:              PortDefault,
		LogLevel:              "info",
		LogFormat:             "text",
		DefaultSessionTimeout: localapi.DefaultConfig().DefaultSessionTimeout,
		MinSessionTimeout:     cluster.DefaultConfig().MinSessionTimeout,
		MaxSessionTimeout:     cluster.DefaultConfig().MaxSessionTimeout,
		LockDelay:             cluster.DefaultConfig().LockDelay,
		MaxInFlight:           localapi.DefaultConfig().MaxInFlight,
		MaxStreams:            localapi.DefaultConfig().MaxStreams,
		MaxConnsPerUID:        localapi.DefaultConfig().MaxConnsPerUID,
	}
}

// Validate reports the first thing wrong with c.
func (c *Config) Validate() error {
	switch {
	case c.NodeName == "":
		return errors.New("node name is empty")
	case !c.Dev && c.DataDir == "":
		return errors.New("--data-dir is required (only --dev agents may keep their data in a temporary folder)")
	case c.Dev && c.BootstrapExpect > 1:
		return errors.New("--dev is a single server; it cannot expect others (drop --bootstrap-expect)")
	case c.BootstrapExpect < 0:
		return errors.New("--bootstrap-expect must not be negative")
	case c.BootstrapExpect > 0 && !c.Server:
		return errors.New("--bootstrap-expect needs --server")
	case c.BindAddr != "" && net.ParseIP(c.BindAddr) == nil:
		return fmt.Errorf("--bind %q is not an IP address", c.BindAddr)
	case c.ZKBind != "" && net.ParseIP(c.ZKBind) == nil:
		return fmt.Errorf("--zk-bind %q is not an IP address", c.ZKBind)
	case c.LogStore != "" && c.LogStore != cluster.LogStoreWAL && c.LogStore != cluster.LogStoreBolt:
		return fmt.Errorf("--raft-log-store %q: want wal or bolt", c.LogStore)
	case c.ZKPort < ZKPortFree || c.ZKPort > 65535:
		return fmt.Errorf("--zk-port %d is out of range (0 turns it off)", c.ZKPort)
	case c.HTTPBind != "" && net.ParseIP(c.HTTPBind) == nil:
		return fmt.Errorf("--http-bind %q is not an IP address", c.HTTPBind)
	case c.TLS != nil && (c.TLS.CAFile == "" || c.TLS.CertFile == "" || c.TLS.KeyFile == ""):
		return errors.New("TLS needs all three of --tls-ca, --tls-cert and --tls-key")
	case c.HTTPTLS && c.TLS == nil:
		return errors.New("--http-tls serves the agent's certificate: it needs --tls-ca, --tls-cert and --tls-key")
	case c.HTTPTLSVerifyClient && !c.HTTPTLS:
		return errors.New("--http-tls-verify-client needs --http-tls")
	case c.ZKTLS && c.ZKPort == 0:
		return errors.New("--zk-tls serves the ZooKeeper port over TLS: it needs --zk-port")
	case c.ZKTLS && c.TLS == nil:
		return errors.New("--zk-tls serves the agent's certificate: it needs --tls-ca, --tls-cert and --tls-key")
	case c.ZKTLSVerifyClient && !c.ZKTLS:
		return errors.New("--zk-tls-verify-client needs --zk-tls")
	case c.DefaultSessionTimeout <= 0 || c.StartTimeout < 0 || c.LockDelay < 0:
		return errors.New("timeouts must be positive")
	case c.HistoryMaxChanges < 0 || c.HistoryMaxBytes < 0:
		return errors.New("history limits must not be negative")
	case c.MinSessionTimeout <= 0 || c.MaxSessionTimeout < c.MinSessionTimeout:
		return fmt.Errorf("session timeout bounds [%v, %v] are invalid (want 0 < min <= max)", c.MinSessionTimeout, c.MaxSessionTimeout)
	}
	for _, p := range []int{c.RPCPort, c.SerfPort} {
		if p < PortDefault || p > 65535 {
			return fmt.Errorf("port %d is out of range", p)
		}
	}
	if c.HTTPPort < HTTPDisabled || c.HTTPPort > 65535 {
		return fmt.Errorf("http port %d is out of range", c.HTTPPort)
	}
	if _, err := logging.ParseLevel(c.LogLevel); err != nil {
		return err
	}
	if err := logging.CheckFormat(c.logFormat()); err != nil {
		return err
	}
	if n := len(c.EncryptKey); n != 0 && n != 16 && n != 24 && n != 32 {
		return fmt.Errorf("the gossip key (--encrypt) is %d bytes; want 16, 24 or 32 (warden keygen makes one)", n)
	}
	return nil
}

// logFormat is LogFormat, text when empty.
func (c *Config) logFormat() string {
	if c.LogFormat == "" {
		return "text"
	}
	return c.LogFormat
}

// bindAddr resolves the address to bind.
func (c *Config) bindAddr() (string, error) {
	if c.BindAddr != "" {
		return c.BindAddr, nil
	}
	if c.Dev {
		return "127.0.0.1", nil
	}
	ip, err := sockaddr.GetPrivateIP()
	if err != nil || ip == "" {
		return "", errors.New("no private IP address found; pass --bind")
	}
	return ip, nil
}

// port resolves a port setting.
func (c *Config) port(p, def int) int {
	if p != PortDefault {
		return p
	}
	if c.Dev {
		return 0
	}
	return def
}
