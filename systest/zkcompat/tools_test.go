package zkcompat

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// here is this package's directory.
func here(t *testing.T) string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Dir(self)
}

// runTool runs argv in dir with env added, bounded by timeout, and fails
// the test (with its output) when it fails. The tool's process group is
// killed when the time is up.
func runTool(t *testing.T, dir string, timeout time.Duration, env []string, argv ...string) string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	return runToolCmd(t, cmd, timeout)
}

// runToolCmd is runTool for a prepared command.
func runToolCmd(t *testing.T, cmd *exec.Cmd, timeout time.Duration) string {
	t.Helper()
	argv := cmd.Args
	done := make(chan struct{})
	defer close(done)
	timedOut := make(chan struct{})
	// Its own process group, killed when time is up; SIGKILLed too
	// should this test process die first (go test's timeout panics
	// without running cleanups).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Its output goes to the test's log at the end and, as it comes, to
	// stderr (go test -v shows it live).
	var out bytes.Buffer
	w := io.MultiWriter(&out, os.Stderr)
	cmd.Stdout, cmd.Stderr = w, w
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("%v: %v", argv, err)
	}
	go func() {
		select {
		case <-done:
		case <-time.After(timeout):
			close(timedOut)
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}()
	err := cmd.Wait()
	t.Logf("%v ran for %v", argv, time.Since(start).Round(time.Millisecond))
	select {
	case <-timedOut:
		t.Fatalf("%v: not done within %v", argv, timeout)
	default:
	}
	if err != nil {
		t.Fatalf("%v: %v", argv, err)
	}
	return out.String()
}

// TestKazoo runs kazoo's recipe checks (kazoo/tests) against a
// 3-server target of each kind, with the control URL for the failover
// check.
func TestKazoo(t *testing.T) {
	for _, kind := range Kinds(t) {
		t.Run(kind, func(t *testing.T) {
			tg := Start(t, kind, 3)
			env := []string{"ZK_HOSTS=" + tg.Hosts(), "ZK_CONTROL=" + Control(t, tg)}
			runTool(t, filepath.Join(here(t), "kazoo"), 5*time.Minute, env, "./run.sh", "-v")
		})
	}
}
