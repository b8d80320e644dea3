package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Config configures a Node.
type Config struct {
	// NodeName identifies this agent in Raft and in the sessions it owns.
	NodeName string
	// DataDir holds raft.db (log and stable store) and snapshots/.
	DataDir string
	// RaftAddr is the TCP address Raft binds to; port 0 picks a free port.
	RaftAddr string
	// Bootstrap makes a fresh node bootstrap itself as the only server.
	Bootstrap bool

	// HeartbeatTimeout and ElectionTimeout are Raft's; shorter fails over
	// faster on a quiet LAN.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	// SnapshotThreshold is how many log entries trigger a snapshot.
	SnapshotThreshold uint64
	// SnapshotInterval is how often Raft checks whether to snapshot.
	SnapshotInterval time.Duration
	// TrailingLogs is how many entries stay in the log after a snapshot.
	TrailingLogs uint64

	// MinSessionTimeout and MaxSessionTimeout bound what apps may ask for.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// ExpiryTick is how often the leader looks for expired sessions.
	ExpiryTick time.Duration
	// ApplyTimeout bounds a write when its context has no deadline.
	ApplyTimeout time.Duration

	// Logger receives the node's and Raft's logs.
	Logger hclog.Logger
	// LogOutput receives the snapshot store's and transport's logs.
	LogOutput io.Writer
}

// DefaultConfig returns timings suited to a LAN or a single host.
func DefaultConfig() *Config {
	return &Config{
		NodeName:          hostname(),
		RaftAddr:          "127.0.0.1:0",
		HeartbeatTimeout:  500 * time.Millisecond,
		ElectionTimeout:   500 * time.Millisecond,
		SnapshotThreshold: 8192,
		SnapshotInterval:  30 * time.Second,
		TrailingLogs:      10240,
		MinSessionTimeout: 500 * time.Millisecond,
		MaxSessionTimeout: 5 * time.Minute,
		ExpiryTick:        50 * time.Millisecond,
		ApplyTimeout:      10 * time.Second,
		Logger:            hclog.NewNullLogger(),
		LogOutput:         io.Discard,
	}
}

// Validate reports the first thing wrong with c.
func (c *Config) Validate() error {
	switch {
	case c.NodeName == "":
		return errors.New("node name is empty")
	case c.DataDir == "":
		return errors.New("data dir is empty")
	case c.RaftAddr == "":
		return errors.New("raft address is empty")
	case c.HeartbeatTimeout <= 0 || c.ElectionTimeout <= 0:
		return errors.New("raft timeouts must be positive")
	case c.MinSessionTimeout <= 0 || c.MaxSessionTimeout < c.MinSessionTimeout:
		return fmt.Errorf("session timeout bounds [%v, %v] are invalid", c.MinSessionTimeout, c.MaxSessionTimeout)
	case c.ExpiryTick <= 0 || c.ApplyTimeout <= 0:
		return errors.New("expiry tick and apply timeout must be positive")
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
