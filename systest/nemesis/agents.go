package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	warden "github.com/warden-dev/warden/clients/go"
)

// agent is one `warden agent` process of the cluster under test, run in a
// time namespace of its own (its monotonic clock starts at a different
// offset from every other agent's), so nothing that compares two agents'
// clocks can go unnoticed.
type agent struct {
	Name, IP, Socket, DataDir string
	Server                    bool
	bin                       string
	args                      []string
	clockOffset               int // seconds added to the monotonic and boot clocks
	log                       *os.File

	mu     sync.Mutex
	cmd    *exec.Cmd // unshare, whose child is the agent
	pid    int       // the agent's own process
	exited chan struct{}
	paused bool
}

// newAgents lays out servers then replicas on 127.0.0.11… and 127.0.0.21…,
// each with its data directory and socket under dir; every agent joins the
// first server.
func newAgents(bin, dir string, servers, replicas int, extra []string) []*agent {
	var out []*agent
	add := func(name, ip string, server bool) {
		a := &agent{Name: name, IP: ip, Server: server, bin: bin,
			Socket:      filepath.Join(dir, name+".sock"),
			DataDir:     filepath.Join(dir, name),
			clockOffset: 2*86400 + 7919*len(out)}
		a.args = []string{"agent", "--node", name, "--bind", ip, "--data-dir", a.DataDir, "--socket", a.Socket,
			"--join", "127.0.0.11", "--http-port", "-2", "--log-level", "warn"}
		if server {
			a.args = append(a.args, "--server", "--bootstrap-expect", strconv.Itoa(servers))
		}
		a.args = append(a.args, extra...)
		out = append(out, a)
	}
	for i := 0; i < servers; i++ {
		add(fmt.Sprintf("server%d", i+1), fmt.Sprintf("127.0.0.%d", 11+i), true)
	}
	for i := 0; i < replicas; i++ {
		add(fmt.Sprintf("replica%d", i+1), fmt.Sprintf("127.0.0.%d", 21+i), false)
	}
	return out
}

// start spawns the agent (on its data directory, as it was) and returns
// once its process runs; it does not wait for the socket.
func (a *agent) start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.log == nil {
		f, err := os.Create(a.DataDir + ".log")
		if err != nil {
			return err
		}
		a.log = f
	}
	off := strconv.Itoa(a.clockOffset)
	argv := append([]string{"--time", "--fork", "--kill-child", "--monotonic", off, "--boottime", off, "--", a.bin}, a.args...)
	cmd := exec.Command("unshare", argv...)
	cmd.Stdout, cmd.Stderr = a.log, a.log
	// If the runner dies, unshare dies, and --kill-child takes the agent.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", a.Name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	pid, err := childOf(cmd.Process.Pid, exited)
	if err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("start %s: %w", a.Name, err)
	}
	a.cmd, a.pid, a.exited, a.paused = cmd, pid, exited, false
	return nil
}

// childOf waits for the process pid to have its one child, and returns it.
func childOf(pid int, exited <-chan struct{}) (int, error) {
	path := fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		b, err := os.ReadFile(path)
		if err == nil {
			if f := strings.Fields(string(b)); len(f) > 0 {
				return strconv.Atoi(f[0])
			}
		}
		select {
		case <-exited:
			return 0, fmt.Errorf("unshare exited before starting the agent")
		case <-time.After(2 * time.Millisecond):
		}
	}
	return 0, fmt.Errorf("unshare started no agent within 10s")
}

// running reports whether the agent's process is alive (paused or not).
func (a *agent) running() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.exited == nil {
		return false
	}
	select {
	case <-a.exited:
		return false
	default:
		return true
	}
}

// signal sends sig to the agent's own process (not to unshare).
func (a *agent) signal(sig syscall.Signal) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pid == 0 {
		return fmt.Errorf("%s is not running", a.Name)
	}
	switch sig {
	case syscall.SIGSTOP:
		a.paused = true
	case syscall.SIGCONT:
		a.paused = false
	}
	return syscall.Kill(a.pid, sig)
}

// kill SIGKILLs the agent and waits until it is gone.
func (a *agent) kill() {
	if !a.running() {
		return
	}
	_ = a.signal(syscall.SIGKILL)
	a.mu.Lock()
	exited := a.exited
	a.paused = false
	a.mu.Unlock()
	<-exited
}

// stop sends SIGTERM (after SIGCONT, should the agent be paused) and
// reports how long the agent took to exit, or an error after limit.
func (a *agent) stop(limit time.Duration) (time.Duration, error) {
	if !a.running() {
		return 0, nil
	}
	_ = a.signal(syscall.SIGCONT)
	t0 := time.Now()
	_ = a.signal(syscall.SIGTERM)
	a.mu.Lock()
	exited := a.exited
	a.mu.Unlock()
	select {
	case <-exited:
		return time.Since(t0), nil
	case <-time.After(limit):
		// SIGQUIT makes the Go runtime write every goroutine's stack to
		// the agent's log, to show where it hangs.
		_ = a.signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(2 * time.Second):
			a.kill()
		}
		return limit, fmt.Errorf("%s did not exit within %v of SIGTERM (its goroutines are in its log)", a.Name, limit)
	}
}

// client dials the agent's socket without a session (status, reads, sync).
func (a *agent) client(ctx context.Context) (*warden.Client, error) {
	return warden.Dial(ctx, warden.Options{Socket: a.Socket, NoSession: true, Name: "nemesis-probe"})
}

// status is the agent's Raft status, asked through its socket.
func (a *agent) status(ctx context.Context) (warden.Status, error) {
	c, err := a.client(ctx)
	if err != nil {
		return warden.Status{}, err
	}
	defer c.Close()
	return c.Status(ctx)
}
