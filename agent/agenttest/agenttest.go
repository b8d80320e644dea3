// Package agenttest starts real Warden agents for tests: in-process agents
// with their own data dir and socket, and real `warden agent` processes
// that tests can SIGKILL and restart on the same data dir.
package agenttest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warden-dev/warden/agent"
	"github.com/warden-dev/warden/cluster"
)

// SocketDir returns a fresh short directory for sockets (a Unix socket
// path must fit in 108 bytes, which t.TempDir() paths may not).
func SocketDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Fast shortens the cluster's timings for tests.
func Fast(c *cluster.Config) {
	c.HeartbeatTimeout = 200 * time.Millisecond
	c.ElectionTimeout = 200 * time.Millisecond
	c.ExpiryTick = 10 * time.Millisecond
	c.MinSessionTimeout = 100 * time.Millisecond
}

// Start runs an in-process dev agent with its own data dir and socket, and
// shuts it down when the test ends. opts adjust its configuration.
func Start(t testing.TB, opts ...func(*agent.Config)) *agent.Agent {
	t.Helper()
	cfg := agent.DefaultConfig()
	cfg.NodeName = "test"
	cfg.DataDir = t.TempDir()
	cfg.SocketPath = filepath.Join(SocketDir(t), "w.sock")
	cfg.LogLevel = "warn"
	cfg.Tune = Fast
	for _, o := range opts {
		o(cfg)
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "agent", Level: hclog.Warn, Output: testWriter{t}})
	a, err := agent.New(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatalf("start agent: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("agent run: %v", err)
		}
	})
	return a
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds the warden binary once per test process and returns its
// path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "warden-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "warden")
		_, self, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(self), "..", "..")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/warden")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Proc is a `warden agent --dev` process.
type Proc struct {
	t       testing.TB
	Socket  string
	DataDir string
	Args    []string
	cmd     *exec.Cmd
	exited  chan struct{}
	Log     *os.File
}

// StartProc starts a dev agent process on dataDir and socket and waits
// until its socket answers. The process is killed when the test ends.
func StartProc(t testing.TB, dataDir, socket string, extra ...string) *Proc {
	t.Helper()
	p := &Proc{t: t, Socket: socket, DataDir: dataDir,
		Args: append([]string{"agent", "--dev", "--node", "proc", "--socket", socket, "--data-dir", dataDir, "--log-level", "warn"}, extra...)}
	p.start()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			if out, err := os.ReadFile(p.Log.Name()); err == nil {
				t.Logf("agent log:\n%s", out)
			}
		}
		os.Remove(p.Log.Name())
	})
	return p
}

func (p *Proc) start() {
	p.t.Helper()
	if p.Log != nil {
		p.Log.Close()
		os.Remove(p.Log.Name())
	}
	log, err := os.CreateTemp("", "warden-agent-*.log")
	if err != nil {
		p.t.Fatal(err)
	}
	p.Log = log
	p.cmd = exec.Command(Binary(p.t), p.Args...)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("unix", p.Socket); err == nil {
			c.Close()
			return
		}
		select {
		case <-p.exited:
			out, _ := os.ReadFile(log.Name())
			p.t.Fatalf("agent exited at start:\n%s", out)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatal("agent did not open its socket within 30s")
		}
	}
}

// Pid is the agent's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Kill sends SIGKILL and waits for the process to go.
func (p *Proc) Kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Restart starts the agent again with the same arguments (after Kill).
func (p *Proc) Restart() {
	p.t.Helper()
	p.start()
}

// Eventually polls cond every few milliseconds until it holds or timeout
// passes, and fails the test then.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
