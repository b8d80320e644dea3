package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/localapi/wire"
)

// The environment `warden task` gives its command, which `warden report`
// reads.
const (
	jobEnv  = "WARDEN_JOB"
	taskEnv = "WARDEN_TASK"
)

func init() {
	register("task", command{
		usage: "[--kill-after DUR] [--op-timeout DUR] [--socket PATH] JOB TASK -- CMD [ARGS...]",
		help:  "run a command as a task of a job, its progress visible to `warden progress`",
		long: `Holds the task JOB/TASK while CMD runs: reports it running, runs CMD
(which may report progress with warden report), then reports it done
(exit status 0) or failed, and exits with CMD's status. A task another
warden task holds is refused. If the task is lost or removed while CMD
runs, CMD is sent SIGTERM, then SIGKILL after --kill-after. Flags may
come before, between or after JOB and TASK, but before --.

--op-timeout bounds connecting and each call to the agent.

` + exitCodesHelp(""),
		run: runTask,
	})
	register("report", command{
		usage: "[--state STATE] [--data DATA] PERCENT [MESSAGE]",
		help:  "report progress from inside `warden task`",
		run:   runReport,
	})
}

// runTask holds the task JOB/TASK while the command runs: it reports the
// task "running" (which creates the task's node, owned by this process's
// session), runs the command with WARDEN_JOB, WARDEN_TASK and
// WARDEN_SOCKET set so that `warden report` inside it reports for the
// task, and once the command exits reports "done" (exit status 0) or
// "failed" with the exit status. It then keeps that report as the task's
// persistent record (taskrecord.go) and closes its session. It exits with
// the command's status.
//
// If this process dies, even by SIGKILL, its session ends and the task is
// removed at once, and the kernel kills the command. If the session is
// lost or the task is removed by someone else (`warden rm` of its node
// cancels it), the command is stopped: SIGTERM, then SIGKILL after
// --kill-after.
func runTask(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("task", flag.ContinueOnError)
	cf.register(fs)
	killAfter := fs.Duration("kill-after", 5*time.Second, "after the task is lost, SIGKILL the command if SIGTERM has not stopped it within this long")
	pos, cmdArgs, err := parseCmd(fs, args, "JOB", "TASK")
	if err != nil {
		return err
	}
	job, task := pos[0], pos[1]
	sock, err := filepath.Abs(warden.SocketPath(cf.socket))
	if err != nil {
		return err
	}
	cf.socket = sock

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lost := make(chan struct{})
	var lostOnce sync.Once
	cl, err := cf.connect(ctx, 0, "", sigs, warden.Options{Name: "warden-task", OnSessionState: func(s string) {
		if s == wire.SessionLost {
			lostOnce.Do(func() { close(lost) })
		}
	}})
	if err != nil {
		return err
	}
	defer cl.Close()

	t := cl.Task(job, task)
	_, sig, err := awaitGrant(ctx, sigs,
		func(ctx context.Context) (struct{}, error) {
			hctx, hcancel := context.WithTimeout(ctx, cf.timeout)
			defer hcancel()
			return struct{}{}, holdTask(hctx, cl, t)
		},
		func(struct{}) {}) // the session's end removes the task
	switch {
	case sig != nil:
		return interrupted(sig, "starting task "+job+"/"+task)
	case err != nil:
		return cf.explain(err)
	}
	gone := watchNode(ctx, cl, t.Path())

	cmd := exec.Command(cmdArgs[0], cmdArgs[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), jobEnv+"="+job, taskEnv+"="+task, wire.SocketEnv+"="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := time.Now()
	exited, err := startLocked(cmd)
	if err != nil {
		finishTask(cl, t, warden.TaskFailed, "could not start: "+err.Error(), nil, cf.timeout)
		return startFailed(cmdArgs[0], err)
	}

	return supervise("task", cmd, exited, sigs, *killAfter, errors.New("task lost while the command ran"),
		func(err error) error {
			cancel() // stop watching the node before ending the task
			state, msg := warden.TaskDone, "exit status 0"
			if err != nil {
				state, msg = warden.TaskFailed, describeExit(err)
			}
			finishTask(cl, t, state, msg, newTaskResult(err, time.Since(started)), cf.timeout)
			return exitStatus(err)
		},
		loss{lost, func() string { return "session lost, so task " + job + "/" + task + " is gone" }},
		loss{cl.Done(), func() string {
			return fmt.Sprintf("connection to the agent ended (%v), so task %s/%s is gone", cl.Err(), job, task)
		}},
		loss{gone, func() string { return "task " + job + "/" + task + " was removed" }})
}

// holdTask creates the task with its first report and checks that this
// session owns it: a task another `warden task` holds is refused.
func holdTask(octx context.Context, cl *warden.Client, t *warden.Task) error {
	taken := func(st warden.Stat) error {
		return fmt.Errorf("task %s/%s is already running (session %#x holds it)", t.Job, t.Name, st.EphemeralOwner)
	}
	if st, ok, err := cl.Exists(octx, t.Path()); err != nil {
		return err
	} else if ok {
		if err := clearTaskRecord(octx, cl, t, st); err != nil { // a finished task runs again
			return err
		}
	}
	if err := t.ReportState(octx, warden.TaskRunning, 0, "", nil); err != nil {
		return err
	}
	// Two started at once: the second's report went to the first's node.
	st, ok, err := cl.Exists(octx, t.Path())
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("task %s/%s was removed as it started", t.Job, t.Name)
	case st.EphemeralOwner != cl.SessionID():
		return taken(st)
	}
	return nil
}

// finishTask reports the task's end, keeps that report as the task's
// record (taskrecord.go) and closes the session, waiting until the agent
// has written the report.
func finishTask(cl *warden.Client, t *warden.Task, state, msg string, result []byte, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	percent := 100.0
	if state != warden.TaskDone {
		percent = currentPercent(ctx, cl, t)
	}
	if err := t.ReportState(ctx, state, percent, msg, result); err != nil {
		fmt.Fprintf(os.Stderr, "warden task: final report: %v\n", err)
	} else if err := keepTaskRecord(ctx, cl, t, state, msg); err != nil {
		fmt.Fprintf(os.Stderr, "warden task: keeping the final report: %v\n", err)
	}
	_ = cl.CloseWait(ctx)
}

// currentPercent is the task's last reported percent, or 0.
func currentPercent(ctx context.Context, cl *warden.Client, t *warden.Task) float64 {
	tasks, err := cl.Progress(ctx, t.Job)
	if err != nil {
		return 0
	}
	for _, r := range tasks {
		if r.Task == t.Name {
			return r.Percent
		}
	}
	return 0
}

// describeExit says how a command ended, for the final report.
func describeExit(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by signal " + ws.Signal().String()
		}
		return "exit status " + strconv.Itoa(ee.ExitCode())
	}
	return err.Error()
}

// runReport reports progress for the task named by WARDEN_JOB and
// WARDEN_TASK, through the agent at WARDEN_SOCKET: the environment
// `warden task` gives its command. It waits until the agent has written
// the report (or a newer one superseded it), so that reports made one
// after the other land in that order.
func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	socket := fs.String("socket", "", "agent socket (default $WARDEN_SOCKET)")
	state := fs.String("state", warden.TaskRunning, "the task's state")
	data := fs.String("data", "", "small data to attach to the report (up to 64 KiB)")
	timeout := fs.Duration("op-timeout", 30*time.Second, "give up on the agent after this long")
	if err := parseArgs(fs, args, 1, 2); err != nil {
		return err
	}
	percent, err := parsePercent(fs.Arg(0))
	if err != nil {
		return err
	}
	job, task, sock := os.Getenv(jobEnv), os.Getenv(taskEnv), *socket
	if sock == "" {
		sock = os.Getenv(wire.SocketEnv)
	}
	var missing []string
	for _, v := range []struct{ name, val string }{{jobEnv, job}, {taskEnv, task}, {wire.SocketEnv, sock}} {
		if v.val == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s not set: run warden report inside `warden task JOB TASK -- CMD`, which sets them",
			strings.Join(missing, ", "))
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	cl, err := warden.Dial(ctx, warden.Options{Socket: sock, Name: "warden-report"})
	if err != nil {
		return err
	}
	defer cl.Close()
	t := cl.Task(job, task)
	// A report would create a missing task, owned by this short-lived
	// session: it would flash up and go. Report only to a live task.
	if st, ok, err := cl.Exists(ctx, t.Path()); err != nil {
		return err
	} else if !ok || st.EphemeralOwner == 0 { // none, or a finished task's record
		return fmt.Errorf("task %s/%s does not exist (has its warden task ended?)", job, task)
	}
	var d []byte
	if *data != "" {
		d = []byte(*data)
	}
	if err := t.ReportState(ctx, *state, percent, fs.Arg(1), d); err != nil {
		return err
	}
	return cl.CloseWait(ctx)
}

// parsePercent reads "50", "12.5" or "50%".
func parsePercent(s string) (float64, error) {
	p, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || !(p >= 0 && p <= 100) { // NaN fails both
		return 0, usagef("PERCENT must be a number from 0 to 100, not %q", s)
	}
	return p, nil
}
