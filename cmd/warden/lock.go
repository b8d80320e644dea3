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
		usage: "[--timeout DUR] [--kill-after DUR] PATH -- CMD [ARGS...]",
		help:  "run a command while holding a lock",
		run:   runLock,
	})
}

// runLock acquires the lock, runs the command while holding it, and exits
// with the command's status. If the lock is lost (the agent went away), the
// command is stopped: SIGTERM, then SIGKILL after --kill-after.
func runLock(args []string) error {
	fs := flag.NewFlagSet("lock", flag.ContinueOnError)
	socket := fs.String("socket", "", socketUsage())
	timeout := fs.Duration("timeout", 0, "give up if the lock is not acquired within this long (0: wait forever)")
	killAfter := fs.Duration("kill-after", 5*time.Second, "after the lock is lost, SIGKILL the command if SIGTERM has not stopped it within this long")
	if err := parse(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) < 1 {
		return usagef("missing PATH")
	}
	path, cmdArgs := rest[0], rest[1:]
	if len(cmdArgs) > 0 && cmdArgs[0] == "--" {
		cmdArgs = cmdArgs[1:]
	}
	if len(cmdArgs) == 0 {
		return usagef("missing CMD after --")
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lost := make(chan struct{})
	var lostOnce sync.Once
	cl, err := warden.Dial(ctx, warden.Options{Socket: *socket, Name: "warden-lock", OnSessionState: func(s string) {
		if s == "lost" {
			lostOnce.Do(func() { close(lost) })
		}
	}})
	if err != nil {
		return err
	}
	defer cl.Close()

	lease, err := acquire(ctx, cl, path, *timeout, sigs)
	if err != nil {
		return err
	}

	cmd := exec.Command(cmdArgs[0], cmdArgs[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		"WARDEN_LOCK_PATH="+path,
		"WARDEN_LOCK_KEY="+lease.Key,
		"WARDEN_LOCK_TOKEN="+strconv.FormatUint(lease.Token, 10))
	// If warden lock itself dies (even by SIGKILL) its session ends and the
	// lock passes on, so the command must die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	exited, err := startLocked(cmd)
	if err != nil {
		return fmt.Errorf("start %s: %w", cmdArgs[0], err)
	}

	return supervise("lock", cmd, exited, sigs, *killAfter, errors.New("lock lost while the command ran"),
		func(err error) error {
			uctx, ucancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = lease.Unlock(uctx)
			ucancel()
			return exitStatus(err)
		},
		loss{lost, func() string { return "session lost, so the lock on " + path + " may be another's" }},
		loss{cl.Done(), func() string { return fmt.Sprintf("lock on %s lost (%v)", path, cl.Err()) }})
}

// acquire waits for the lock, giving up on timeout or on a signal.
func acquire(ctx context.Context, cl *warden.Client, path string, timeout time.Duration, sigs <-chan os.Signal) (*warden.Lease, error) {
	lease, sig, err := awaitGrant(ctx, timeout, sigs,
		func(ctx context.Context) (*warden.Lease, error) { return cl.Lock(ctx, path) },
		func(l *warden.Lease) { _ = l.Unlock(context.Background()) })
	switch {
	case sig != nil:
		return nil, fmt.Errorf("interrupted by %v while waiting for %s", sig, path)
	case errors.Is(err, warden.ErrTimeout) || errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("lock on %s not acquired within %v", path, timeout)
	}
	return lease, err
}

// awaitGrant waits for grant (a lock, an election) until it returns, the
// timeout passes, or a signal arrives. A grant that lands just as the
// signal does is handed back with giveBack; the signal is returned.
func awaitGrant[T any](ctx context.Context, timeout time.Duration, sigs <-chan os.Signal,
	grant func(context.Context) (T, error), giveBack func(T)) (T, os.Signal, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan struct{})
	var v T
	var err error
	go func() {
		defer close(got)
		v, err = grant(ctx)
	}()
	select {
	case <-got:
		return v, nil, err
	case sig := <-sigs:
		cancel()
		<-got
		if err == nil {
			giveBack(v)
		}
		var zero T
		return zero, sig, nil
	}
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

// exitStatus turns a command's end into warden's exit: the same status,
// or 128+signal when it was killed.
func exitStatus(err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return &exitError{code: 128 + int(ws.Signal())}
		}
		return &exitError{code: ee.ExitCode()}
	}
	return err
}
