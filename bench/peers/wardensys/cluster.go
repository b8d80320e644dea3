// Package wardensys runs a three-server Warden cluster of `warden agent`
// processes and implements the benchmark's client API with Warden's Go
// client (clients/go), whose locks, elections and config subscriptions
// are recipes that run in the agent.
package wardensys

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/warden-dev/warden/bench/peers/system"
	warden "github.com/warden-dev/warden/clients/go"
)

// System is Warden.
type System struct {
	// Binary is the warden binary (bin/warden, as make builds it).
	Binary string
	// Args are extra flags for every agent.
	Args []string
}

// Name implements system.System.
func (s *System) Name() string { return "warden" }

// Start implements system.System: three servers with the agents' default
// settings (Raft log fsynced by BoltDB before an entry counts), each with
// its own socket, every one joining the first.
func (s *System) Start(ctx context.Context, o system.StartOptions) (system.Cluster, error) {
	if _, err := os.Stat(s.Binary); err != nil {
		return nil, fmt.Errorf("warden binary (make build): %w", err)
	}
	c := &cluster{names: map[string]string{}}
	for i, ip := range o.IPs {
		name := fmt.Sprintf("server%d", i+1)
		dir := filepath.Join(o.Dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		sock := filepath.Join(dir, "w.sock")
		if len(sock) > 100 {
			c.Stop()
			return nil, fmt.Errorf("socket path %s is too long for a Unix socket: use a shorter -dir", sock)
		}
		argv := append([]string{s.Binary, "agent", "--server", "--bootstrap-expect", fmt.Sprint(len(o.IPs)),
			"--node", name, "--bind", ip, "--http-bind", ip, "--http-port", "-2",
			"--data-dir", filepath.Join(dir, "data"), "--socket", sock, "--join", o.IPs[0],
			"--log-level", "warn"}, s.Args...)
		p, err := system.StartProc(name, filepath.Join(dir, "agent.log"), nil, argv...)
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.procs = append(c.procs, p)
		c.socks = append(c.socks, sock)
		c.names[name] = sock
	}
	if err := c.ready(ctx, s); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// ready waits until every agent's socket answers and a write through each
// succeeds.
func (c *cluster) ready(ctx context.Context, s *System) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for i, sock := range c.socks {
		p := c.procs[i]
		err := system.Poll(ctx, p.Name+" opens its socket", func() error {
			select {
			case <-p.Exited():
				return fmt.Errorf("%s exited; log ends:\n%s", p.Name, p.Tail(2000))
			default:
			}
			conn, err := net.Dial("unix", sock)
			if err == nil {
				conn.Close()
			}
			return err
		})
		if err != nil {
			return err
		}
		err = system.Poll(ctx, p.Name+" accepts a write", func() error {
			dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
			defer dcancel()
			cl, err := s.Dial(dctx, sock, system.DialOptions{})
			if err != nil {
				return err
			}
			defer cl.Close()
			return cl.Put(dctx, "/bench/ready", []byte("1"))
		})
		if err != nil {
			return err
		}
	}
	return nil
}

type cluster struct {
	procs []*system.Proc
	socks []string
	names map[string]string // node name → socket
}

// leader returns the leader's socket as the agents agree on it.
func (c *cluster) leader(ctx context.Context) (string, error) {
	var sock string
	err := system.Poll(ctx, "agents agree on a leader", func() error {
		sock = ""
		for _, s := range c.socks {
			cl, err := warden.Dial(ctx, warden.Options{Socket: s, NoSession: true})
			if err != nil {
				return err
			}
			st, err := cl.Status(ctx)
			cl.Close()
			if err != nil {
				return err
			}
			l, ok := c.names[st.Leader]
			if !ok || (sock != "" && l != sock) {
				return fmt.Errorf("agent at %s names leader %q", s, st.Leader)
			}
			sock = l
		}
		return nil
	})
	return sock, err
}

// Endpoints implements system.Cluster: Usual spreads clients over every
// agent; Leader puts them all on the leader's agent, Follower on the two
// followers' agents.
func (c *cluster) Endpoints(ctx context.Context, placement string) ([]string, error) {
	if placement == system.Usual {
		return c.socks, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	l, err := c.leader(ctx)
	if err != nil {
		return nil, err
	}
	switch placement {
	case system.Leader:
		return []string{l}, nil
	case system.Follower:
		var f []string
		for _, s := range c.socks {
			if s != l {
				f = append(f, s)
			}
		}
		return f, nil
	}
	return nil, system.ErrUnsupported
}

// Pids implements system.Cluster.
func (c *cluster) Pids() []int { return system.Pids(c.procs) }

// Stop implements system.Cluster.
func (c *cluster) Stop() error {
	system.StopAll(c.procs, 10*time.Second)
	return nil
}
