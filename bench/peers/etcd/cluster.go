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
	c := &cluster{}
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
		c.procs = append(c.procs, p)
		c.urls = append(c.urls, client)
	}
	if err := c.ready(ctx, s); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// ready waits until every member listens and a client can write.
func (c *cluster) ready(ctx context.Context, s *System) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for i, p := range c.procs {
		if err := system.WaitTCP(ctx, p, strings.TrimPrefix(c.urls[i], "http://")); err != nil {
			return err
		}
	}
	return system.Poll(ctx, "etcd cluster accepts a write", func() error {
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
		defer dcancel()
		cl, err := s.Dial(dctx, strings.Join(c.urls, ","), system.DialOptions{})
		if err != nil {
			return err
		}
		defer cl.Close()
		return cl.Put(dctx, "/bench/ready", []byte("1"))
	})
}

type cluster struct {
	procs []*system.Proc
	urls  []string
}

// Endpoints implements system.Cluster: every client gets every member's
// URL, as etcd clients usually do (clientv3 balances over them).
func (c *cluster) Endpoints(_ context.Context, placement string) ([]string, error) {
	if placement != system.Usual {
		return nil, system.ErrUnsupported
	}
	return []string{strings.Join(c.urls, ",")}, nil
}

// Pids implements system.Cluster.
func (c *cluster) Pids() []int { return system.Pids(c.procs) }

// Stop implements system.Cluster.
func (c *cluster) Stop() error {
	system.StopAll(c.procs, 10*time.Second)
	return nil
}
