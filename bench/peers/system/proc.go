package system

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a server process the harness started. It dies with the harness
// (SIGKILL on the parent's death), so nothing outlives a crashed run.
type Proc struct {
	Name   string
	Log    string // the file its stdout and stderr go to
	cmd    *exec.Cmd
	exited chan struct{}
	once   sync.Once
}

// StartProc starts argv with its output in logPath.
func StartProc(name, logPath string, env []string, argv ...string) (*Proc, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Log: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited is closed once the process has ended.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Stop sends SIGTERM, then SIGKILL after grace, and waits for the end.
// It is idempotent.
func (p *Proc) Stop(grace time.Duration) {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(grace):
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.exited
		}
	})
}

// Tail returns the last n bytes of the process's log, for error messages.
func (p *Proc) Tail(n int) string {
	b, _ := os.ReadFile(p.Log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// StopAll stops procs concurrently.
func StopAll(procs []*Proc, grace time.Duration) {
	var wg sync.WaitGroup
	for _, p := range procs {
		if p != nil {
			wg.Add(1)
			go func() { defer wg.Done(); p.Stop(grace) }()
		}
	}
	wg.Wait()
}

// Pids returns the procs' process ids.
func Pids(procs []*Proc) []int {
	var ids []int
	for _, p := range procs {
		ids = append(ids, p.Pid())
	}
	return ids
}

// WaitTCP waits until addr accepts a TCP connection, the process exits, or
// ctx ends.
func WaitTCP(ctx context.Context, p *Proc, addr string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited at start; log ends:\n%s", p.Name, p.Tail(2000))
		case <-ctx.Done():
			return fmt.Errorf("%s: %s not listening: %w; log ends:\n%s", p.Name, addr, ctx.Err(), p.Tail(2000))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Poll calls cond every few milliseconds until it returns nil or ctx ends,
// and then returns cond's last error wrapped with what.
func Poll(ctx context.Context, what string, cond func() error) error {
	for {
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last: %v)", what, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ClockTicks is the kernel's USER_HZ: /proc reports CPU times in these.
const ClockTicks = 100

// CPUSeconds is the sum of utime and stime of the processes pids (every
// thread), from /proc/PID/stat.
func CPUSeconds(pids []int) (float64, error) {
	var ticks int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, err
		}
		// The command name may hold spaces: fields start after its ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
		}
		for _, i := range []int{11, 12} { // utime, stime (fields 14 and 15)
			n, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				return 0, err
			}
			ticks += n
		}
	}
	return float64(ticks) / ClockTicks, nil
}

// RSS is the resident memory of pid in bytes (VmRSS).
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// TotalRSS sums RSS over pids.
func TotalRSS(pids []int) (int64, error) {
	var sum int64
	for _, pid := range pids {
		n, err := RSS(pid)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}
