package agenttest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// ipBase spreads the loopback addresses of concurrently running test
// processes apart; ipNext numbers agents within one.
var (
	ipBase = 20 + os.Getpid()%200
	ipNext atomic.Int32
)

// NextIP returns a fresh loopback address (127.B.N.1) for one agent, so
// every agent can use the default ports.
func NextIP() string {
	n := ipNext.Add(1)
	return fmt.Sprintf("127.%d.%d.%d", ipBase, n/250%250, n%250+1)
}

// Cluster is a set of real `warden agent` processes on loopback addresses.
type Cluster struct {
	t        testing.TB
	Servers  []*Proc
	Replicas []*Proc
	// TLSDir holds the test CA and the agents' certificates when the
	// cluster runs with TLS, else "".
	TLSDir string
}

// ClusterOptions shape a test cluster.
type ClusterOptions struct {
	Servers, Replicas int
	// Netns, when set, runs every agent inside that network namespace.
	Netns *Netns
	// Args are extra flags for every agent.
	Args []string
	// TLS gives every agent a certificate for its node name from one test
	// CA and turns on mutual TLS with hostname verification on the
	// cluster port. WARDEN_TEST_TLS=1 turns it on for every cluster not
	// marked Plain.
	TLS bool
	// Plain keeps the cluster port without TLS even under
	// WARDEN_TEST_TLS=1 (for tests of what a plain port admits).
	Plain bool
}

// ClusterArgs are extra agent flags every process of a cluster gets; tests
// use them for short timings.
var ClusterArgs = []string{"--log-level", "info", "--http-port", "-2", "--lock-delay", "200ms"}

// StartCluster starts servers (bootstrap-expect = servers) and replicas,
// every one joining the first server, and waits until every agent's socket
// answers (which means it has a leader and is caught up).
func StartCluster(t testing.TB, servers, replicas int, extra ...string) *Cluster {
	t.Helper()
	return StartClusterWith(t, ClusterOptions{Servers: servers, Replicas: replicas, Args: extra})
}

// StartClusterWith starts a cluster as o describes.
func StartClusterWith(t testing.TB, o ClusterOptions) *Cluster {
	t.Helper()
	servers, extra := o.Servers, o.Args
	c := &Cluster{t: t}
	if o.TLS || (os.Getenv("WARDEN_TEST_TLS") == "1" && !o.Plain) {
		c.TLSDir = NewCA(t)
	}
	var seed string
	start := func(role string, i int) *Proc {
		ip := NextIP()
		if seed == "" {
			seed = ip
		}
		name := fmt.Sprintf("%s%d", role, i+1)
		dir := filepath.Join(t.TempDir(), name)
		args := []string{"agent", "--node", name, "--bind", ip, "--http-bind", ip, "--data-dir", dir,
			"--socket", filepath.Join(SocketDir(t), "w.sock"), "--join", seed}
		if role == "server" {
			args = append(args, "--server", "--bootstrap-expect", fmt.Sprint(servers))
		}
		if c.TLSDir != "" {
			args = append(args, TLSArgs(t, c.TLSDir, name)...)
		}
		args = append(append(args, ClusterArgs...), extra...)
		var prefix []string
		if o.Netns != nil {
			prefix = o.Netns.Prefix()
		}
		return launch(t, prefix, args)
	}
	for i := 0; i < servers; i++ {
		c.Servers = append(c.Servers, start("server", i))
	}
	for i := 0; i < o.Replicas; i++ {
		c.Replicas = append(c.Replicas, start("replica", i))
	}
	for _, p := range c.All() {
		p.waitSocket(60 * time.Second)
	}
	return c
}

// All returns servers then replicas.
func (c *Cluster) All() []*Proc {
	return append(append([]*Proc{}, c.Servers...), c.Replicas...)
}

// Launch starts an agent process with args (which name its --node,
// --bind, --data-dir and --socket) under the command prefix (nil for
// none, or e.g. prlimit's) and returns without waiting for it to serve;
// it is killed when the test ends.
func Launch(t testing.TB, prefix, args []string) *Proc {
	t.Helper()
	return launch(t, prefix, args)
}

// LaunchAs is Launch (without a prefix) for an agent that runs as uid
// and gid, with env added to its environment. The test must run as root.
func LaunchAs(t testing.TB, uid, gid uint32, env, args []string) *Proc {
	t.Helper()
	return launchWith(t, nil, args, func(p *Proc) {
		p.Env = env
		p.Credential = &syscall.Credential{Uid: uid, Gid: gid}
	})
}

// WaitSocket waits until the agent's socket accepts a connection.
func (p *Proc) WaitSocket(timeout time.Duration) { p.waitSocket(timeout) }

// launch starts an agent process without waiting for its socket.
func launch(t testing.TB, prefix, args []string) *Proc {
	t.Helper()
	return launchWith(t, prefix, args, nil)
}

// launchWith is launch, with opt adjusting the Proc before it spawns.
func launchWith(t testing.TB, prefix, args []string, opt func(*Proc)) *Proc {
	t.Helper()
	p := &Proc{t: t, Args: args, Prefix: prefix}
	if opt != nil {
		opt(p)
	}
	for i, a := range args {
		switch a {
		case "--socket":
			p.Socket = args[i+1]
		case "--data-dir":
			p.DataDir = args[i+1]
		case "--bind":
			p.IP = args[i+1]
		case "--node":
			p.Name = args[i+1]
		}
	}
	p.spawn()
	t.Cleanup(p.cleanup)
	return p
}

// waitSocket waits until the agent's socket accepts a connection.
func (p *Proc) waitSocket(timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if c, err := net.Dial("unix", p.Socket); err == nil {
			c.Close()
			return
		}
		select {
		case <-p.exited:
			out, _ := os.ReadFile(p.Log.Name())
			p.t.Fatalf("agent %s exited at start:\n%s", p.Name, out)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(p.Log.Name())
			p.t.Fatalf("agent %s did not open its socket within %v:\n%s", p.Name, timeout, out)
		}
	}
}

// Leader returns the server that leads, as the agents report it, waiting
// until they agree on one.
func (c *Cluster) Leader() *Proc {
	c.t.Helper()
	var leader *Proc
	Eventually(c.t, 30*time.Second, "a leader all agents agree on", func() bool {
		leader = nil
		for _, p := range c.All() {
			select {
			case <-p.Exited():
				continue
			default:
			}
			st, err := p.Status()
			if err != nil || st.Leader == "" {
				return false
			}
			l := c.byName(st.Leader)
			if l == nil || (leader != nil && l != leader) {
				return false
			}
			leader = l
		}
		return leader != nil
	})
	return leader
}

func (c *Cluster) byName(name string) *Proc {
	for _, p := range c.All() {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// NewCA makes a test CA with the warden binary's own `warden tls ca
// create` in a fresh directory and returns the directory.
func NewCA(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	runWarden(t, "tls", "ca", "create", "--dir", dir)
	return dir
}

// TLSArgs makes a certificate for node with `warden tls cert create`
// from the CA in dir (unless it exists) and returns the agent flags that
// use it, with hostname verification.
func TLSArgs(t testing.TB, dir, node string) []string {
	t.Helper()
	cert := filepath.Join(dir, node+".pem")
	if _, err := os.Stat(cert); err != nil {
		runWarden(t, "tls", "cert", "create", "--node", node, "--dir", dir,
			"--ca", filepath.Join(dir, "warden-ca.pem"), "--ca-key", filepath.Join(dir, "warden-ca-key.pem"))
	}
	return []string{"--tls-ca", filepath.Join(dir, "warden-ca.pem"), "--tls-cert", cert,
		"--tls-key", filepath.Join(dir, node+"-key.pem"), "--tls-verify-hostname"}
}

func runWarden(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command(Binary(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("warden %v: %v\n%s", args, err, out)
	}
}
