package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/localapi/wire"
)

// electionRoot is where a GROUP given as a bare name lives: `warden elect
// web` campaigns at /warden/elections/web. A GROUP starting with / is a
// path and is used as it is.
const electionRoot = "/warden/elections/"

func init() {
	register("elect", command{
		usage: "[--value V] [--timeout DUR] [--kill-after DUR] [--op-timeout DUR] [--socket PATH] GROUP -- CMD [ARGS...]",
		help:  "run a command only while leading an election",
		long: `Campaigns in the election GROUP (a bare name is /warden/elections/GROUP),
runs CMD once elected, resigns when CMD exits, and exits with CMD's
status. CMD gets WARDEN_ELECTION_PATH, _KEY, _TOKEN and _VALUE. If
leadership is lost while CMD runs, CMD is sent SIGTERM, then SIGKILL
after --kill-after. Flags may come before or after GROUP, but before --.

--timeout bounds being elected, connecting included; --op-timeout bounds
connecting and each call to the agent.

` + exitCodesHelp("not elected"),
		run: runElect,
	})
	register("leader", command{
		usage: "[--json] GROUP",
		help:  "show who leads an election",
		run:   runLeader,
	})
}

// electionPath maps a GROUP argument to the election's path.
func electionPath(group string) string {
	if strings.HasPrefix(group, "/") {
		return group
	}
	return electionRoot + group
}

// runElect campaigns in the election, runs the command once elected, and
// exits with the command's status. If leadership is lost (the session is
// lost, the agent goes away, or the candidate node is deleted), the command
// is stopped: SIGTERM, then SIGKILL after --kill-after. Should this process
// die, the command is sent SIGKILL by the kernel, so it never runs on
// without a leader to watch over it.
func runElect(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("elect", flag.ContinueOnError)
	cf.register(fs)
	value := fs.String("value", "", "the value to lead with, which `warden leader` shows (default HOSTNAME:PID)")
	timeout := fs.Duration("timeout", 0, "give up (exit 124) if not elected within this long (0: wait forever)")
	killAfter := fs.Duration("kill-after", 5*time.Second, "after leadership is lost, SIGKILL the command if SIGTERM has not stopped it within this long")
	pos, cmdArgs, err := parseCmd(fs, args, "GROUP")
	if err != nil {
		return err
	}
	if err := validTimeout(*timeout); err != nil {
		return err
	}
	path := electionPath(pos[0])
	if *value == "" {
		host, _ := os.Hostname()
		*value = fmt.Sprintf("%s:%d", host, os.Getpid())
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	acq, cancelAcq := acquisition(*timeout)
	defer cancelAcq()
	what := "not elected in " + path
	lost := make(chan struct{})
	var lostOnce sync.Once
	cl, err := cf.connect(acq, *timeout, what, sigs, warden.Options{Name: "warden-elect", OnSessionState: func(s string) {
		if s == wire.SessionLost {
			lostOnce.Do(func() { close(lost) })
		}
	}})
	if err != nil {
		return err
	}
	defer cl.Close()

	lead, sig, err := awaitGrant(acq, sigs,
		func(ctx context.Context) (*warden.Leadership, error) { return cl.Campaign(ctx, path, []byte(*value)) },
		func(l *warden.Leadership) { _ = l.Resign(context.Background()) })
	switch {
	case sig != nil:
		return interrupted(sig, "campaigning in "+path)
	case err != nil && *timeout > 0 && grantTimedOut(acq, err):
		return notGranted(what, *timeout, err)
	case err != nil:
		return cf.explain(err)
	}
	cancelAcq()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gone := watchNode(ctx, cl, lead.Key)
	resign := func() {
		rctx, rcancel := context.WithTimeout(context.Background(), cf.timeout)
		_ = lead.Resign(rctx)
		rcancel()
	}

	cmd := exec.Command(cmdArgs[0], cmdArgs[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		"WARDEN_ELECTION_PATH="+path,
		"WARDEN_ELECTION_KEY="+lead.Key,
		"WARDEN_ELECTION_TOKEN="+strconv.FormatUint(lead.Token, 10),
		"WARDEN_ELECTION_VALUE="+*value)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	exited, err := startLocked(cmd)
	if err != nil {
		resign()
		return startFailed(cmdArgs[0], err)
	}

	return supervise("elect", cmd, exited, sigs, *killAfter, errors.New("leadership lost while the command ran"),
		func(err error) error {
			resign()
			return exitStatus(err)
		},
		loss{lost, func() string { return "session lost, so leadership of " + path + " may be another's" }},
		loss{cl.Done(), func() string {
			return fmt.Sprintf("connection to the agent ended (%v), so leadership of %s may be another's", cl.Err(), path)
		}},
		loss{gone, func() string {
			return "candidate node " + lead.Key + " was deleted, so leadership of " + path + " may be another's"
		}})
}

// startLocked starts cmd from a goroutine locked to its OS thread, which
// stays alive until cmd exits: Pdeathsig fires when the thread that
// started the child ends, not the process, so that thread must not be
// retired by the runtime while the child runs.
func startLocked(cmd *exec.Cmd) (<-chan error, error) {
	started := make(chan error, 1)
	exited := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	return exited, <-started
}

// watchNode returns a channel closed once the node key (a candidate, a
// task) is
// deleted (by another session: this one resigns only after its command
// ended). It stops quietly when the connection ends, which the caller
// watches for itself.
func watchNode(ctx context.Context, cl *warden.Client, key string) <-chan struct{} {
	gone := make(chan struct{})
	go func() {
		for ctx.Err() == nil {
			_, ok, w, err := cl.ExistsW(ctx, key)
			if err != nil {
				return
			}
			if !ok {
				_ = w.Stop(ctx)
				close(gone)
				return
			}
			ev, err := w.Wait(ctx)
			if err != nil {
				return
			}
			if ev.Type == wire.ChangeDeleted {
				close(gone)
				return
			}
		}
	}()
	return gone
}

// runLeader prints who leads an election, or fails (exit 1) when nobody
// does.
func runLeader(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("leader", flag.ContinueOnError)
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseArgs(fs, args, 1, 1); err != nil {
		return err
	}
	path := electionPath(fs.Arg(0))
	cl, ctx, done, err := cf.dial()
	if err != nil {
		return err
	}
	defer done()
	l, err := cl.Leader(ctx, path)
	if err != nil {
		return err
	}
	if l == nil {
		if *asJSON {
			_ = printJSON(struct {
				Path   string `json:"path"`
				Leader any    `json:"leader"`
			}{path, nil})
			return &exitError{code: 1}
		}
		return fmt.Errorf("nobody leads %s", path)
	}
	if *asJSON {
		return printJSON(struct {
			Path  string `json:"path"`
			Key   string `json:"key"`
			Value string `json:"value"`
			Token uint64 `json:"token"`
		}{path, l.Key, string(l.Value), l.Token})
	}
	fmt.Printf("value  %s\ntoken  %d\nkey    %s\n", l.Value, l.Token, l.Key)
	return nil
}
