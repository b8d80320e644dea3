package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"syscall"
	"time"

	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/localapi/wire"
)

// What the verbs that run a command under a grant (lock, elect, task)
// share: their exit statuses, which follow timeout(1) and the shells,
// connecting within their deadlines, and waiting for a grant while
// signals may interrupt.

// Exit statuses of lock, elect and task besides the command's own.
const (
	exitNotGranted = 124 // not acquired (elected) within --timeout
	exitCannotRun  = 126 // CMD was found but could not be run
	exitNotFound   = 127 // CMD was not found
	exitSignalBase = 128 // + the signal's number: interrupted while waiting, or CMD killed by it
)

// exitCodesHelp is the exit statuses, for the long help of the verbs;
// grant names what --timeout bounds ("" for a verb without one).
func exitCodesHelp(grant string) string {
	s := "exit status:\n"
	if grant != "" {
		s += "  124      " + grant + " within --timeout (the message says why: taken by\n" +
			"           another, or no leader in the cluster)\n"
	}
	return s + `  126      CMD found but not executable
  127      CMD not found
  128+N    interrupted by signal N before CMD ran (130 SIGINT, 143 SIGTERM),
           or CMD killed by signal N
  1        any other failure (the agent unreachable, the grant lost while
           CMD ran, ...); 2 a mistake in the command line
  else     CMD's own exit status
`
}

// interrupted is the end of a verb a signal interrupted before CMD ran.
func interrupted(sig os.Signal, while string) error {
	code := 1
	if s, ok := sig.(syscall.Signal); ok {
		code = exitSignalBase + int(s)
	}
	return &exitError{code: code, msg: fmt.Sprintf("interrupted by %v while %s", sig, while)}
}

// startFailed is the end of a verb whose CMD could not start: 127 when it
// does not exist, else 126.
func startFailed(name string, err error) error {
	code := exitCannotRun
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		code = exitNotFound
	}
	return &exitError{code: code, msg: fmt.Sprintf("cannot run %s: %v", name, err)}
}

// notGranted is the end of a verb whose grant did not come within
// --timeout (exit 124), with the reason the agent gave, if any.
func notGranted(what string, timeout time.Duration, err error) error {
	msg := fmt.Sprintf("%s within %v", what, timeout)
	var we *wire.Error
	if errors.As(err, &we) && we.Code != wire.CodeTimeout && we.Code != wire.CodeCanceled {
		msg += ": " + we.Error()
	}
	return &exitError{code: exitNotGranted, msg: msg}
}

// timedOut reports whether err is a wait that ran out of time.
func timedOut(err error) bool {
	return errors.Is(err, warden.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)
}

// grantTimedOut reports whether err ended a wait for a grant under acq
// for its deadline: the wait ran out, or the agent answered why (no
// leader) as the deadline came (it answers a little before: see the
// protocol's timeout_ms).
func grantTimedOut(acq context.Context, err error) bool {
	if timedOut(err) {
		return true
	}
	d, ok := acq.Deadline()
	return ok && errors.Is(err, warden.ErrUnavailable) && time.Until(d) < 300*time.Millisecond
}

// connect dials the agent for a verb that runs a command, within
// --op-timeout and within acq, the deadline of the grant (a lock or an
// election within --timeout). A signal interrupts it (exit 128+N). When
// it fails for acq's deadline (no leader to open the session with, say),
// the error is notGranted's, which what names.
func (c *clientFlags) connect(acq context.Context, timeout time.Duration, what string, sigs <-chan os.Signal, o warden.Options) (*warden.Client, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	o.Socket = c.socket
	ctx, cancel := context.WithTimeout(acq, c.timeout)
	defer cancel()
	cl, sig, err := awaitGrant(ctx, sigs,
		func(ctx context.Context) (*warden.Client, error) { return warden.Dial(ctx, o) },
		func(cl *warden.Client) { cl.Close() })
	if sig != nil {
		return nil, interrupted(sig, "connecting to the agent")
	}
	if err != nil {
		acqDeadline, ok := acq.Deadline()
		opDeadline, _ := ctx.Deadline()
		if ok && !acqDeadline.After(opDeadline) && grantTimedOut(acq, err) {
			return nil, notGranted(what, timeout, err)
		}
		return nil, c.explain(err)
	}
	return cl, nil
}

// acquisition is the context a grant is awaited under: it ends after
// timeout, or never when timeout is 0.
func acquisition(timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout > 0 {
		return context.WithTimeout(context.Background(), timeout)
	}
	return context.WithCancel(context.Background())
}

// awaitGrant waits for grant (a lock, an election, a connection) until it
// returns, ctx ends, or a signal arrives. A grant that lands just as the
// signal does is handed back with giveBack; the signal is returned.
func awaitGrant[T any](ctx context.Context, sigs <-chan os.Signal,
	grant func(context.Context) (T, error), giveBack func(T)) (T, os.Signal, error) {
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

// exitStatus turns a command's end into warden's exit: the same status,
// or 128+signal when it was killed.
func exitStatus(err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return &exitError{code: exitSignalBase + int(ws.Signal())}
		}
		return &exitError{code: ee.ExitCode()}
	}
	return err
}

// validTimeout refuses a negative --timeout.
func validTimeout(d time.Duration) error {
	if d < 0 {
		return usagef("--timeout must not be negative, not %v", d)
	}
	return nil
}
