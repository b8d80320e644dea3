// Package system declares what the benchmark needs of each system under
// test: start a three-node cluster on loopback, dial a client, and a small
// client API (locks, elections, writes, reads, subscriptions) that each
// system implements with its own usual Go client and recipes.
package system

import (
	"context"
	"errors"
	"time"
)

// ErrUnsupported is returned by a Cluster for a placement it does not have.
var ErrUnsupported = errors.New("not supported by this system")

// Placements of clients. Usual is each system's ordinary client setup
// (the peers' clients get every server's address); Leader and Follower put
// every client on the leader's or on the followers' agents (Warden only,
// whose apps always talk to their local agent).
const (
	Usual    = ""
	Leader   = "leader"
	Follower = "follower"
)

// StartOptions say where a cluster lives.
type StartOptions struct {
	// Dir is a fresh directory for the cluster's data, configuration and
	// logs; the caller removes it.
	Dir string
	// IPs are the three loopback addresses the servers bind, one each.
	IPs []string
}

// DialOptions shape a client.
type DialOptions struct {
	// SessionTimeout is the peer's session timeout (ZooKeeper) or lease
	// TTL (etcd); zero takes the harness's default for the system. Warden
	// apps use the agent's default session, which ends when the app's
	// connection closes.
	SessionTimeout time.Duration
}

// System is one coordination service under test.
type System interface {
	// Name is the system's short name, as the report prints it.
	Name() string
	// Start starts a fresh three-node cluster with durable writes (each
	// system's default fsync) and returns once a client can write to it.
	// On error it has stopped whatever it started.
	Start(ctx context.Context, o StartOptions) (Cluster, error)
	// Dial connects a client to endpoint (from Cluster.Endpoints) and
	// returns once it can use it.
	Dial(ctx context.Context, endpoint string, o DialOptions) (Client, error)
}

// Cluster is a running cluster. Its methods may be called concurrently.
type Cluster interface {
	// Endpoints lists the endpoints clients of the placement dial, client
	// i taking entry i % len. ErrUnsupported for a placement the system
	// does not have.
	Endpoints(ctx context.Context, placement string) ([]string, error)
	// Pids are the server processes' ids, for CPU time and RSS.
	Pids() []int
	// Stop ends every server process and waits for them. It is idempotent.
	Stop() error
}

// Unlocker gives up a held lock or leadership.
type Unlocker interface {
	Unlock(ctx context.Context) error
}

// Client is one application's session with the system. Keys are
// slash-separated absolute paths ("/bench/w/3"); each system maps them
// onto its own namespace. Methods may be called concurrently only where
// they say so; the harness gives each goroutine its own client.
type Client interface {
	// Create makes key with value; its parents exist.
	Create(ctx context.Context, key string, value []byte) error
	// Put sets key to value, creating it (and its parents) if need be.
	Put(ctx context.Context, key string, value []byte) error
	// Get reads key the way the system's clients usually read.
	Get(ctx context.Context, key string) ([]byte, error)
	// Lock acquires the lock named key, waiting in line.
	Lock(ctx context.Context, key string) (Unlocker, error)
	// Campaign waits until this client leads the election named key.
	Campaign(ctx context.Context, key string, value []byte) (Unlocker, error)
	// Subscribe calls fn with key's current value and then with each
	// value the client sees it take, in order, until ctx ends; it returns
	// once the subscription is in place. fn runs on one goroutine.
	Subscribe(ctx context.Context, key string, fn func(value []byte)) error
	// Close ends the session.
	Close() error
}
