package cluster

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/serf/serf"
)

// Default ports.
const (
	DefaultRPCPort  = 7300 // Raft and agent RPC
	DefaultSerfPort = 7301 // Serf gossip, TCP and UDP
	DefaultHTTPPort = 7302 // metrics, health, status
)

// Config configures a Node.
type Config struct {
	// NodeName identifies this agent in Raft and in the sessions it owns.
	NodeName string
	// DataDir holds the Raft log and stable store (wal/ or raft.db, see
	// LogStore) and snapshots/.
	DataDir string
	// BindAddr is the IP address the agent binds Serf and RPC to and
	// advertises to the other agents.
	BindAddr string
	// RPCPort carries Raft and the agents' RPC (one TCP port); 0 picks a
	// free port.
	RPCPort int
	// SerfPort is Serf's gossip port (TCP and UDP); 0 picks a free port.
	SerfPort int
	// Server makes this agent a Raft voter; otherwise it is a replica (a
	// non-voter with a full copy of the tree).
	Server bool
	// BootstrapExpect: a server bootstraps the cluster once it sees this
	// many servers (itself included) in Serf, and never again.
	BootstrapExpect int
	// Bootstrap makes a fresh node bootstrap itself as the only server
	// (dev mode).
	Bootstrap bool
	// Join lists Serf addresses (host or host:port) of agents to join; the
	// agent retries every RetryJoinInterval until one answers.
	Join              []string
	RetryJoinInterval time.Duration
	// DefaultSerfPort completes Join addresses given without a port.
	DefaultSerfPort int
	// ReconnectTimeout: a failed agent is reaped (and removed from Raft)
	// after this long.
	ReconnectTimeout time.Duration
	// LockDelay holds back the locks of a session that expired (rather
	// than closed cleanly), so a holder that was cut off has stopped
	// before the next one starts.
	LockDelay time.Duration
	// Version is advertised in Serf tags.
	Version string
	// TuneSerf, when set, adjusts Serf's configuration (tests shorten its
	// timings with it).
	TuneSerf func(*serf.Config)

	// HeartbeatTimeout and ElectionTimeout are Raft's; shorter fails over
	// faster on a quiet LAN.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	// CommitTimeout: an idle leader's Raft tells followers of new commits
	// after between one and two of these (Raft randomises it); the
	// leader's commit notices tell them of its writes at once
	// (notices.go).
	CommitTimeout time.Duration
	// SnapshotThreshold is how many log entries trigger a snapshot.
	SnapshotThreshold uint64
	// SnapshotInterval is how often Raft checks whether to snapshot. The
	// check is cheap; between checks the log grows by the write rate, so
	// a long interval lets a busy cluster's log (and its bolt file) grow
	// far past SnapshotThreshold.
	SnapshotInterval time.Duration
	// TrailingLogs is how many entries stay in the log after a snapshot.
	TrailingLogs uint64

	// TLS, when set, turns on mutual TLS on the cluster port.
	TLS *TLSConfig
	// EncryptKey, when set (16, 24 or 32 bytes), encrypts and
	// authenticates Serf's gossip. It starts the keyring kept in the data
	// dir (serf.keyring); once that file exists, it holds the keys.
	EncryptKey []byte
	// Recover starts the node on a damaged data dir (its log store missing,
	// emptied or unreadable beside snapshots), accepting the loss of the
	// writes after the last snapshot and of the Raft term and vote.
	Recover bool
	// LogStore is where the Raft log, term and vote are kept: LogStoreWAL
	// or LogStoreBolt; a data dir holding the other is migrated at start.
	// "" keeps what the data dir holds, and LogStoreWAL in a new one.
	LogStore string

	// HistoryMaxChanges and HistoryMaxBytes bound the change history that
	// subscriptions resume from (0 keeps the FSM's defaults: 100,000
	// changes, 64 MiB). A subscriber further behind is resynced.
	HistoryMaxChanges, HistoryMaxBytes int

	// MinSessionTimeout and MaxSessionTimeout bound what apps may ask for.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// ExpiryTick is how often the leader looks for expired sessions.
	ExpiryTick time.Duration
	// TTLTick is how often the leader looks for TTL nodes whose TTL has
	// passed; a TTL node may outlive its TTL by up to this long.
	TTLTick time.Duration
	// ApplyTimeout bounds a write when its context has no deadline.
	ApplyTimeout time.Duration
	// ForwardTimeout bounds one attempt to forward a write to the leader;
	// the write is retried (deduplicated) until its own deadline.
	ForwardTimeout time.Duration

	// NoLeaderWarnInterval: while WaitReady waits on a node that cannot
	// get a leader by itself (a lone server without BootstrapExpect or
	// Raft state), it logs what to add at once and then this often; 0
	// never does.
	NoLeaderWarnInterval time.Duration

	// Logger receives the node's and Raft's logs (its transport's and
	// snapshot store's too).
	Logger hclog.Logger
	// LogOutput receives Serf's and memberlist's std-log lines, each
	// starting with a level tag such as "[DEBUG]".
	LogOutput io.Writer
}

// DefaultConfig returns timings suited to a LAN or a single host.
func DefaultConfig() *Config {
	return &Config{
		NodeName:             hostname(),
		BindAddr:             "127.0.0.1",
		RPCPort:              DefaultRPCPort,
		SerfPort:             DefaultSerfPort,
		DefaultSerfPort:      DefaultSerfPort,
		RetryJoinInterval:    time.Second,
		ReconnectTimeout:     24 * time.Hour,
		LockDelay:            time.Second,
		Version:              "dev",
		HeartbeatTimeout:     500 * time.Millisecond,
		ElectionTimeout:      500 * time.Millisecond,
		CommitTimeout:        10 * time.Millisecond,
		SnapshotThreshold:    8192,
		SnapshotInterval:     5 * time.Second,
		TrailingLogs:         10240,
		MinSessionTimeout:    500 * time.Millisecond,
		MaxSessionTimeout:    5 * time.Minute,
		ExpiryTick:           50 * time.Millisecond,
		TTLTick:              time.Second,
		ApplyTimeout:         10 * time.Second,
		ForwardTimeout:       2 * time.Second,
		NoLeaderWarnInterval: 30 * time.Second,
		Logger:               hclog.NewNullLogger(),
		LogOutput:            io.Discard,
	}
}

// Validate reports the first thing wrong with c.
func (c *Config) Validate() error {
	switch {
	case c.NodeName == "":
		return errors.New("node name is empty")
	case c.DataDir == "":
		return errors.New("data dir is empty")
	case net.ParseIP(c.BindAddr) == nil:
		return fmt.Errorf("bind address %q is not an IP address", c.BindAddr)
	case c.RPCPort < 0 || c.RPCPort > 65535 || c.SerfPort < 0 || c.SerfPort > 65535:
		return errors.New("ports must be between 0 and 65535")
	case c.BootstrapExpect < 0:
		return errors.New("bootstrap-expect must not be negative")
	case c.BootstrapExpect > 0 && !c.Server:
		return errors.New("only a server can bootstrap (bootstrap-expect needs server)")
	case c.Bootstrap && c.BootstrapExpect > 1:
		return errors.New("dev mode bootstraps a single server; it cannot expect others")
	case c.LockDelay < 0:
		return errors.New("lock delay must not be negative")
	case c.HeartbeatTimeout <= 0 || c.ElectionTimeout <= 0:
		return errors.New("raft timeouts must be positive")
	case len(c.EncryptKey) != 0 && len(c.EncryptKey) != 16 && len(c.EncryptKey) != 24 && len(c.EncryptKey) != 32:
		return fmt.Errorf("the gossip key is %d bytes; want 16, 24 or 32 (warden keygen makes one)", len(c.EncryptKey))
	case c.HistoryMaxChanges < 0 || c.HistoryMaxBytes < 0:
		return errors.New("history limits must not be negative")
	case c.MinSessionTimeout <= 0 || c.MaxSessionTimeout < c.MinSessionTimeout:
		return fmt.Errorf("session timeout bounds [%v, %v] are invalid", c.MinSessionTimeout, c.MaxSessionTimeout)
	case c.ExpiryTick <= 0 || c.ApplyTimeout <= 0 || c.ForwardTimeout <= 0:
		return errors.New("expiry tick and apply timeout must be positive")
	case c.TTLTick <= 0:
		return errors.New("TTL tick must be positive")
	case c.Logger == nil || c.LogOutput == nil:
		return errors.New("logger and log output are required")
	}
	return nil
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "warden"
	}
	return h
}
