package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	warden "github.com/warden-dev/warden/clients/go"
)

func init() {
	register("lock", command{
		usage: "[--timeout DUR] [--kill-after DUR] [--op-timeout DUR] [--socket PATH] PATH -- CMD [ARGS...]",
		help:  "run a command while holding a lock",
		long: `Waits for the lock at PATH (first come, first served), runs CMD while
holding it, releases it when CMD exits, and exits with CMD's status. CMD
gets WARDEN_LOCK_PATH, WARDEN_LOCK_KEY and WARDEN_LOCK_TOKEN (the fencing
token). If the lock is lost while CMD runs (the agent went away), CMD is
sent SIGTERM, then SIGKILL after --kill-after. Flags may come before or
after PATH, but before --.

--timeout bounds getting the lock, connecting included; --op-timeout
bounds connecting and each call to the agent.

` + exitCodesHelp("not acquired"),
		run: runLock,
	})
}

// runLock acquires the lock, runs the command while holding it, and exits
// with the command's status. If the lock is lost (the agent went away), the
// command is stopped: SIGTERM, then SIGKILL after --kill-after.
func runLock(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("lock", flag.ContinueOnError)
	cf.register(fs)
	timeout := fs.Duration("timeout", 0, "give up (exit 124) if the lock is not acquired within this long (0: wait forever)")
	killAfter := fs.Duration("kill-after", 5*time.Second, "after the lock is lost, SIGKILL the command if SIGTERM has not stopped it within this long")
	pos, cmdArgs, err := parseCmd(fs, args, "PATH")
	if err != nil {
		return err
	}
	if err := validTimeout(*timeout); err != nil {
		return err
	}
	path := pos[0]

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	acq, cancelAcq := acquisition(*timeout)
	defer cancelAcq()
	what := "lock on " + path + " not acquired"
	lost := make(chan struct{})
	var lostOnce sync.Once
	cl, err := cf.connect(acq, *timeout, what, sigs, warden.Options{Name: "warden-lock", OnSessionState: func(s string) {
		if s == "lost" {
			lostOnce.Do(func() { close(lost) })
		}
	}})
	if err != nil {
		return err
	}
	defer cl.Close()

	lease, sig, err := awaitGrant(acq, sigs,
		func(ctx context.Context) (*warden.Lease, error) { return cl.Lock(ctx, path) },
		func(l *warden.Lease) { _ = l.Unlock(context.Background()) })
	switch {
	case sig != nil:
		return interrupted(sig, "waiting for the lock on "+path)
	case err != nil && *timeout > 0 && grantTimedOut(acq, err):
		return notGranted(what, *timeout, err)
	case err != nil:
		return cf.explain(err)
	}
	cancelAcq()

	cmd := exec.Command(cmdArgs[0], cmdArgs[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		"WARDEN_LOCK_PATH="+path,
		"WARDEN_LOCK_KEY="+lease.Key,
		"WARDEN_LOCK_TOKEN="+strconv.FormatUint(lease.Token, 10))
	// If warden lock itself dies (even by SIGKILL) its session ends and the
	// lock passes on, so the command must die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	release := func() {
		uctx, ucancel := context.WithTimeout(context.Background(), cf.timeout)
		_ = lease.Unlock(uctx)
		ucancel()
	}
	exited, err := startLocked(cmd)
	if err != nil {
		release()
		return startFailed(cmdArgs[0], err)
	}

	return supervise("lock", cmd, exited, sigs, *killAfter, errors.New("lock lost while the command ran"),
		func(err error) error {
			release()
			return exitStatus(err)
		},
		loss{lost, func() string { return "session lost, so the lock on " + path + " may be another's" }},
		loss{cl.Done(), func() string { return fmt.Sprintf("lock on %s lost (%v)", path, cl.Err()) }})
}

// stop sends SIGTERM, then SIGKILL if the command outlives grace.
func stop(cmd *exec.Cmd, exited <-chan error, grace time.Duration) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-exited
	}
}
