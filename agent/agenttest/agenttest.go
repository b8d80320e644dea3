// Package agenttest starts real Warden agents for tests: in-process agents
// with their own data dir and socket, and real `warden agent` processes
// that tests can SIGKILL and restart on the same data dir.
package agenttest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent"
	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/cluster"
	"github.com/warden-dev/warden/logging"
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
	c.TTLTick = 50 * time.Millisecond
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
	logger, err := logging.New(testWriter{t}, "text", slog.LevelWarn)
	if err != nil {
		t.Fatal(err)
	}
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
// path. Every test that runs warden processes comes through here, so
// under -short (the fast tier: go test -short ./...) they are skipped.
func Binary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("system test: runs warden processes (go test without -short runs it)")
	}
	buildOnce.Do(func() {
		// One build directory per checkout, reused by every test process
		// (go build's cache makes the rebuild cheap), so none pile up.
		_, self, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(self), "..", "..")
		sum := sha256.Sum256([]byte(root))
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("warden-test-bin-%x", sum[:6]))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		// Each test process builds its own copy (cheap with the build
		// cache), so none runs a binary another is rewriting.
		binPath = filepath.Join(dir, fmt.Sprintf("warden-%d", os.Getpid()))
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/warden")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
		// Each process's own copy: remove copies of processes that are gone.
		if old, _ := filepath.Glob(filepath.Join(dir, "warden-*")); len(old) > 0 {
			for _, f := range old {
				var pid int
				if _, err := fmt.Sscanf(filepath.Base(f), "warden-%d", &pid); err == nil && pid != os.Getpid() {
					if syscall.Kill(pid, 0) != nil {
						os.Remove(f)
					}
				}
			}
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
	Name    string // --node, when given
	IP      string // --bind, when given
	Socket  string
	DataDir string
	Args    []string
	Prefix  []string // a command to run the agent under (ip netns exec NS)
	Env     []string // extra environment variables (NAME=value)
	// Credential, when set, runs the agent as another user (the test
	// must run as root).
	Credential *syscall.Credential
	cmd        *exec.Cmd
	exited     chan struct{}
	Log        *os.File
}

// StartProc starts a dev agent process on dataDir and socket and waits
// until its socket answers. The process is killed when the test ends.
func StartProc(t testing.TB, dataDir, socket string, extra ...string) *Proc {
	t.Helper()
	p := &Proc{t: t, Socket: socket, DataDir: dataDir,
		Args: append([]string{"agent", "--dev", "--node", "proc", "--socket", socket, "--data-dir", dataDir, "--log-level", "warn"}, extra...)}
	p.start()
	t.Cleanup(p.cleanup)
	return p
}

func (p *Proc) cleanup() {
	p.Kill()
	if p.t.Failed() {
		if out, err := os.ReadFile(p.Log.Name()); err == nil {
			p.t.Logf("agent %s log:\n%s", p.Name, out)
		}
	}
	os.Remove(p.Log.Name())
}

// start spawns the process and waits for its socket.
func (p *Proc) start() {
	p.t.Helper()
	p.spawn()
	p.waitSocket(30 * time.Second)
}

func (p *Proc) spawn() {
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
	argv := append(append(append([]string{}, p.Prefix...), Binary(p.t)), p.Args...)
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if len(p.Env) > 0 {
		p.cmd.Env = append(os.Environ(), p.Env...)
	}
	if p.Credential != nil {
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.Credential}
	}
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
}

// ZKAddr is the address of the agent's ZooKeeper port: its --zk-bind
// (else its --bind, else 127.0.0.1) and its --zk-port; "" when it was
// started without --zk-port. In a cluster every agent has its own
// loopback address, so one port number (say --zk-port 2181 in the
// cluster's extra args) serves them all.
func (p *Proc) ZKAddr() string {
	host, port := p.IP, ""
	if host == "" {
		host = "127.0.0.1"
	}
	for i := 0; i+1 < len(p.Args); i++ {
		switch p.Args[i] {
		case "--zk-port":
			port = p.Args[i+1]
		case "--zk-bind":
			host = p.Args[i+1]
		}
	}
	if port == "" || port == "0" {
		return ""
	}
	return net.JoinHostPort(host, port)
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

// Signal sends sig to the agent process.
func (p *Proc) Signal(sig syscall.Signal) { _ = p.cmd.Process.Signal(sig) }

// Exited is closed when the process has ended.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

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

// Status asks the agent for its status over its socket.
func (p *Proc) Status() (warden.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := warden.Dial(ctx, warden.Options{Socket: p.Socket, NoSession: true})
	if err != nil {
		return warden.Status{}, err
	}
	defer c.Close()
	return c.Status(ctx)
}

// Dial connects a client to the agent.
func (p *Proc) Dial(t testing.TB, o warden.Options) *warden.Client {
	t.Helper()
	o.Socket = p.Socket
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := warden.Dial(ctx, o)
	if err != nil {
		t.Fatalf("dial %s: %v", p.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// RSS is the agent process's resident memory in bytes (VmRSS).
func (p *Proc) RSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", p.Pid())
}
