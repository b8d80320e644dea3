package agent

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warden-dev/warden/cluster"
	"github.com/warden-dev/warden/localapi"
	"github.com/warden-dev/warden/localapi/wire"
)

// Config configures an agent.
type Config struct {
	// Dev runs a single server that bootstraps itself; with no DataDir its
	// data lives in a temporary folder removed on shutdown.
	Dev bool
	// NodeName identifies the agent; defaults to the hostname.
	NodeName string
	// DataDir holds the Raft log, stable store and snapshots.
	DataDir string
	// SocketPath is the local API's Unix socket.
	SocketPath string
	// RaftAddr is the TCP address Raft binds to.
	RaftAddr string
	// LogLevel is trace, debug, info, warn or error.
	LogLevel string
	// DefaultSessionTimeout applies when an app's hello names none.
	DefaultSessionTimeout time.Duration
	// StartTimeout bounds waiting for a leader at start.
	StartTimeout time.Duration
	// MaxInFlight bounds the requests one app connection may have in
	// flight.
	MaxInFlight int

	// Tune, when set, adjusts the cluster configuration (tests shorten
	// timings with it).
	Tune func(*cluster.Config)
}

// DefaultConfig returns a dev agent's configuration.
func DefaultConfig() *Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "warden"
	}
	return &Config{
		Dev:                   true,
		NodeName:              host,
		SocketPath:            wire.DefaultSocket,
		RaftAddr:              "127.0.0.1:0",
		LogLevel:              "info",
		DefaultSessionTimeout: localapi.DefaultConfig().DefaultSessionTimeout,
		StartTimeout:          time.Minute,
		MaxInFlight:           localapi.DefaultConfig().MaxInFlight,
	}
}

// Validate reports the first thing wrong with c.
func (c *Config) Validate() error {
	switch {
	case !c.Dev:
		return errors.New("only --dev mode exists so far: start the agent with --dev")
	case c.NodeName == "":
		return errors.New("node name is empty")
	case c.SocketPath == "":
		return errors.New("socket path is empty")
	case c.RaftAddr == "":
		return errors.New("raft address is empty")
	case c.DefaultSessionTimeout <= 0 || c.StartTimeout <= 0:
		return errors.New("timeouts must be positive")
	}
	if hclog.LevelFromString(c.LogLevel) == hclog.NoLevel {
		return fmt.Errorf("unknown log level %q (want trace, debug, info, warn or error)", c.LogLevel)
	}
	return nil
}
