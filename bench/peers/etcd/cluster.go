// Package etcd runs a three-member etcd cluster from Debian's etcd-server
// package (the binary only, never its service) and implements the
// benchmark's client API with clientv3 and its concurrency package
// (sessions on leases, Mutex, Election).
package etcd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/warden-dev/warden/bench/peers/system"
)

// System is etcd. The zero value is usable.
type System struct {
	// Binary is the etcd server ("etcd" when empty).
	Binary string
	// TTL is the concurrency sessions' lease TTL when DialOptions give
	// none (10 s when zero).
	TTL time.Duration
	// Serializable makes Get a serializable (local) read instead of
	// clientv3's default linearizable one.
	Serializable bool
}

// Name implements system.System.
func (s *System) Name() string { return "etcd" }

// Start implements system.System: etcd's defaults (fsync of the WAL
// before acking, heartbeat 100 ms, election timeout 1000 ms).
func (s *System) Start(ctx context.Context, o system.StartOptions) (system.Cluster, error) {
	bin := s.Binary
	if bin == "" {
		bin = "etcd"
	}
	var initial []string
	for i, ip := range o.IPs {
		initial = append(initial, fmt.Sprintf("e%d=http://%s:2380", i+1, ip))
	}
	c := &system.Peers{}
	for i, ip := range o.IPs {
		name := fmt.Sprintf("e%d", i+1)
		dir := filepath.Join(o.Dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		client := fmt.Sprintf("http://%s:2379", ip)
		argv := []string{bin, "--name", name, "--data-dir", filepath.Join(dir, "data"),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", fmt.Sprintf("http://%s:2380", ip),
			"--initial-advertise-peer-urls", fmt.Sprintf("http://%s:2380", ip),
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "bench-peers",
			"--logger", "zap", "--log-level", "warn", "--log-outputs", "stderr"}
		p, err := system.StartProc(name, filepath.Join(dir, "server.log"), nil, argv...)
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Add(p, client)
	}
	if err := ready(ctx, s, c); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// ready waits until every server listens and a client can write.
func ready(ctx context.Context, s *System, c *system.Peers) error {
	return c.Ready(ctx, 60*time.Second, "etcd cluster accepts a write", func(ctx context.Context) error {
		return system.WriteOnce(ctx, s, c.Endpoint(), "/bench/ready")
	})
}
