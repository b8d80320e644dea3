package agenttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Holder is a real `warden lock PATH -- sleep` process holding a lock.
type Holder struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// LockHolder starts `warden lock path` through agent p in its own process
// group and waits until it holds the lock.
func LockHolder(t testing.TB, p *Proc, path string) *Holder {
	t.Helper()
	marker := filepath.Join(t.TempDir(), "held")
	cmd := exec.Command(Binary(t), "lock", "--socket", p.Socket, path, "--",
		"sh", "-c", "touch "+marker+"; exec sleep 600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &Holder{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(h.exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-h.exited
	})
	Eventually(t, 30*time.Second, "the holder to hold "+path, func() bool {
		_, err := os.Stat(marker)
		return err == nil
	})
	return h
}

// Kill SIGKILLs the `warden lock` process (not its child) and returns when
// the signal was sent.
func (h *Holder) Kill() time.Time {
	_ = h.cmd.Process.Signal(syscall.SIGKILL)
	return time.Now()
}
