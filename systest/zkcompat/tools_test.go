package zkcompat

import (
	"bytes"
	"context"
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
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	// Its own process group, killed when time is up; SIGKILLed too
	// should this test process die first (go test's timeout panics
	// without running cleanups).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// Its output goes to the test's log at the end and, as it comes, to
	// stderr (go test -v shows it live).
	var out bytes.Buffer
	w := io.MultiWriter(&out, os.Stderr)
	cmd.Stdout, cmd.Stderr = w, w
	start := time.Now()
	err := cmd.Run()
	t.Logf("%v ran for %v", argv, time.Since(start).Round(time.Millisecond))
	if ctx.Err() != nil {
		t.Fatalf("%v: not done within %v", argv, timeout)
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
			runTool(t, filepath.Join(here(t), "kazoo"), 10*time.Minute, env, "./run.sh", "-v")
		})
	}
}
