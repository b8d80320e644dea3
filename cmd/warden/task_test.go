package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// wardenOnPath returns a PATH whose first directory holds `warden` (the
// binary under test), so that commands run by `warden task` can call
// `warden report`.
func wardenOnPath(t *testing.T, bin string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(dir, "warden")); err != nil {
		t.Fatal(err)
	}
	return "PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH")
}

// startEnv is start with extra environment variables.
func (e *env) startEnv(extra []string, args ...string) *bg {
	e.t.Helper()
	b := &bg{cmd: e.command(args...), out: &syncBuffer{}, errb: &syncBuffer{}, exited: make(chan struct{})}
	b.cmd.Env = append(b.cmd.Env, extra...)
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.errb
	if err := b.cmd.Start(); err != nil {
		e.t.Fatalf("start warden %v: %v", args, err)
	}
	go func() { b.waitErr = b.cmd.Wait(); close(b.exited) }()
	e.t.Cleanup(func() {
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-b.exited
	})
	return b
}

// cliEnv is cli with extra environment variables.
func (e *env) cliEnv(extra []string, args ...string) result {
	e.t.Helper()
	b := e.startEnv(extra, args...)
	code := b.wait(e.t, 60*time.Second)
	return result{b.out.String(), b.errb.String(), code}
}

// progressOnce runs `warden progress --json --once JOB`.
func (e *env) progressOnce(job string) progressJSON {
	e.t.Helper()
	r := e.cli("progress", "--json", "--once", job)
	var p progressJSON
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil || r.code != 0 {
		e.t.Fatalf("warden progress --json --once %s: %+v (%v)", job, r, err)
	}
	return p
}

func nextTaskEvent(t *testing.T, w *warden.ProgressWatch) warden.TaskEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ev, err := w.Next(ctx)
	if err != nil {
		t.Fatalf("progress watch: %v", err)
	}
	return ev
}

func wantTask(t *testing.T, w *warden.ProgressWatch, task, state string, percent float64, msg string, removed bool) {
	t.Helper()
	ev := nextTaskEvent(t, w)
	if ev.Task.Task != task || ev.Task.State != state || ev.Task.Percent != percent || ev.Task.Message != msg || ev.Removed != removed {
		t.Fatalf("event %+v, want %s %s %v%% %q removed=%v", ev, task, state, percent, msg, removed)
	}
}

// TestTaskCLI: `warden task` holds a task while its command runs; `warden
// report` inside the command reports for it; `warden progress` shows it;
// the task ends with a final report that stays as its record, or goes at
// once when `warden task` is SIGKILLed (taking its command along); the
// live view exits with a summary once every task has finished.
func TestTaskCLI(t *testing.T) {
	e := startAgent(t)
	c := e.dial()
	ctx := testCtx(t, 2*time.Minute)
	path := wardenOnPath(t, e.bin)
	dir := t.TempDir()
	w, err := c.WatchProgress(ctx, "job1")
	if err != nil {
		t.Fatal(err)
	}
	if p := e.progressOnce("job1"); p.Job != "job1" || p.Tasks == nil || len(p.Tasks) != 0 {
		t.Fatalf("progress of an empty job: %+v", p)
	}
	live := e.start("progress", "job1")

	envFile, pidFile := filepath.Join(dir, "env"), filepath.Join(dir, "pid1")
	t1 := e.startEnv([]string{path}, "task", "job1", "t1", "--", "sh", "-c",
		"warden report 50 half && echo $WARDEN_JOB $WARDEN_TASK $WARDEN_SOCKET > "+envFile+" && echo $$ > "+pidFile+" && exec sleep 600")
	wantTask(t, w, "t1", warden.TaskRunning, 0, "", false)
	wantTask(t, w, "t1", warden.TaskRunning, 50, "half", false)
	agenttest.Eventually(t, 10*time.Second, "the command to run", func() bool { return pathExists(pidFile) })
	if b, _ := os.ReadFile(envFile); strings.TrimSpace(string(b)) != "job1 t1 "+e.proc.Socket {
		t.Fatalf("the command's environment: %q", b)
	}

	p := e.progressOnce("job1")
	if len(p.Tasks) != 1 || p.Tasks[0].Task != "t1" || p.Tasks[0].State != "running" || p.Tasks[0].Percent != 50 || p.Tasks[0].Message != "half" {
		t.Fatalf("progress --json --once: %+v", p)
	}
	if r := e.cli("progress", "--once", "job1"); r.code != 0 || !strings.Contains(r.stdout, "t1") ||
		!strings.Contains(r.stdout, "50.0%") || !strings.Contains(r.stdout, "half") {
		t.Fatalf("progress --once: %+v", r)
	}
	agenttest.Eventually(t, 10*time.Second, "the live view to show the report", func() bool {
		return strings.Contains(live.out.String(), "t1 running 50.0% half\n")
	})

	// The task is held: a second `warden task` of it is refused.
	if r := e.cli("task", "job1", "t1", "--", "true"); r.code != 1 || !strings.Contains(r.stderr, "task job1/t1 is already running") {
		t.Fatalf("a second warden task of t1: %+v", r)
	}
	// `warden report` outside a task, or for a task that is not there.
	if r := e.cli("report", "10"); r.code != 1 || !strings.Contains(r.stderr, "WARDEN_JOB, WARDEN_TASK not set") {
		t.Fatalf("warden report outside a task: %+v", r)
	}
	if r := e.cliEnv([]string{"WARDEN_JOB=job1", "WARDEN_TASK=nope"}, "report", "10"); r.code != 1 || !strings.Contains(r.stderr, "task job1/nope does not exist") {
		t.Fatalf("warden report for a missing task: %+v", r)
	}
	if r := e.cliEnv([]string{"WARDEN_JOB=job1", "WARDEN_TASK=t1"}, "report", "150"); r.code != 2 || !strings.Contains(r.stderr, "PERCENT") {
		t.Fatalf("warden report 150: %+v", r)
	}

	// A command that fails: its report, the final report with its exit
	// status, then the task's end; warden task exits with its status.
	r := e.cliEnv([]string{path}, "task", "job1", "t2", "--", "sh", "-c", "warden report --state compiling 20% x && exit 3")
	if r.code != 3 {
		t.Fatalf("warden task of a command that exits 3: %+v", r)
	}
	wantTask(t, w, "t2", warden.TaskRunning, 0, "", false)
	wantTask(t, w, "t2", "compiling", 20, "x", false)
	wantTask(t, w, "t2", warden.TaskFailed, 20, "exit status 3", false)
	wantTask(t, w, "t2", warden.TaskFailed, 20, "exit status 3", true)
	wantTask(t, w, "t2", warden.TaskFailed, 20, "exit status 3", false) // its record
	// A command that succeeds.
	if r := e.cliEnv([]string{path}, "task", "job1", "t3", "--", "true"); r.code != 0 {
		t.Fatalf("warden task true: %+v", r)
	}
	wantTask(t, w, "t3", warden.TaskRunning, 0, "", false)
	wantTask(t, w, "t3", warden.TaskDone, 100, "exit status 0", false)
	wantTask(t, w, "t3", warden.TaskDone, 100, "exit status 0", true)
	wantTask(t, w, "t3", warden.TaskDone, 100, "exit status 0", false)
	if st, ok, err := c.Exists(ctx, "/warden/progress/job1/t3"); err != nil || !ok || st.EphemeralOwner != 0 {
		t.Fatalf("t3's record: %+v %v %v", st, ok, err)
	}
	if r := e.cliEnv([]string{"WARDEN_JOB=job1", "WARDEN_TASK=t3"}, "report", "10"); r.code != 1 || !strings.Contains(r.stderr, "task job1/t3 does not exist") {
		t.Fatalf("warden report for a finished task: %+v", r)
	}

	// Removing the task's node cancels it: the command is stopped.
	pid4 := filepath.Join(dir, "pid4")
	t4 := e.startEnv([]string{path}, "task", "--kill-after", "1s", "job1", "t4", "--", "sh", "-c", "echo $$ > "+pid4+" && exec sleep 600")
	wantTask(t, w, "t4", warden.TaskRunning, 0, "", false)
	agenttest.Eventually(t, 10*time.Second, "t4's command to run", func() bool { return pathExists(pid4) })
	if r := e.cli("rm", "/warden/progress/job1/t4"); r.code != 0 {
		t.Fatalf("warden rm of a task: %+v", r)
	}
	wantTask(t, w, "t4", warden.TaskRunning, 0, "", true)
	if code := t4.wait(t, 10*time.Second); code != 1 || !strings.Contains(t4.errb.String(), "task job1/t4 was removed") {
		t.Fatalf("warden task after its task was removed: exit %d, stderr %s", code, t4.errb)
	}
	if cmd4 := readPid(t, pid4); pidRunning(cmd4) {
		t.Fatal("the command of a removed task still runs")
	}

	// SIGKILL of warden task: the task goes at once, its command with it.
	cmd1 := readPid(t, pidFile)
	if err := syscall.Kill(t1.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	wantTask(t, w, "t1", warden.TaskRunning, 50, "half", true)
	t.Logf("SIGKILL of warden task -> its task removed at a watcher: %v", time.Since(killed))
	agenttest.Eventually(t, 5*time.Second, "t1's command to die with it", func() bool { return !pidRunning(cmd1) })
	// The finished tasks' records stay; the killed and the cancelled
	// tasks left none.
	if p := e.progressOnce("job1"); len(p.Tasks) != 2 || p.Tasks[0].Task != "t2" || p.Tasks[0].State != warden.TaskFailed ||
		p.Tasks[1].Task != "t3" || p.Tasks[1].State != warden.TaskDone {
		t.Fatalf("progress after every task ended: %+v", p)
	}
	// Every task has finished: the live view says how, and exits 1.
	if code := live.wait(t, 10*time.Second); code != 1 {
		t.Fatalf("warden progress exited %d once the job had finished; stderr %s", code, live.errb)
	}
	if out := live.out.String(); !strings.Contains(out, "t1 removed\n") ||
		!strings.HasSuffix(out, "4 tasks: 1 done, 1 failed (t2: exit 3), 2 lost (t1, t4)\n") {
		t.Fatalf("the live view:\n%s", out)
	}
	// A finished task runs again: its record is replaced.
	if r := e.cliEnv([]string{path}, "task", "job1", "t2", "--", "true"); r.code != 0 {
		t.Fatalf("warden task of a finished task: %+v", r)
	}
	// --follow stays after the job has finished, until Ctrl-C (exit 0).
	follow := e.start("progress", "--follow", "job1")
	agenttest.Eventually(t, 10*time.Second, "the followed job", func() bool {
		return strings.Contains(follow.out.String(), "t2 done 100.0% exit status 0\n")
	})
	if err := syscall.Kill(follow.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := follow.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("warden progress --follow exited %d after Ctrl-C; stderr %s", code, follow.errb)
	}
}

// TestMembersOfCLI: `warden members-of` lists a group's members.
func TestMembersOfCLI(t *testing.T) {
	e := startAgent(t)
	c1, c2 := e.dial(), e.dial()
	ctx := testCtx(t, time.Minute)
	type membersJSON struct {
		Group   string `json:"group"`
		Members []struct {
			Member string `json:"member"`
			Data   []byte `json:"data"`
		} `json:"members"`
	}
	membersOf := func() membersJSON {
		t.Helper()
		r := e.cli("members-of", "--json", "g")
		var m membersJSON
		if err := json.Unmarshal([]byte(r.stdout), &m); err != nil || r.code != 0 {
			t.Fatalf("members-of --json: %+v (%v)", r, err)
		}
		return m
	}
	if m := membersOf(); m.Group != "g" || m.Members == nil || len(m.Members) != 0 {
		t.Fatalf("an empty group: %+v", m)
	}
	if _, err := c1.Join(ctx, "g", "a", []byte("host-a:80")); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Join(ctx, "g", "b", nil); err != nil {
		t.Fatal(err)
	}
	if m := membersOf(); len(m.Members) != 2 || m.Members[0].Member != "a" || string(m.Members[0].Data) != "host-a:80" || m.Members[1].Member != "b" {
		t.Fatalf("members: %+v", m)
	}
	r := e.cli("members-of", "g")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); r.code != 0 || len(lines) != 3 ||
		!strings.HasPrefix(lines[1], "a") || !strings.HasSuffix(lines[1], "host-a:80") || strings.TrimSpace(lines[2]) != "b" {
		t.Fatalf("members-of g: %+v", r)
	}
	c1.Close()
	agenttest.Eventually(t, 10*time.Second, "a to leave with its session", func() bool { return len(membersOf().Members) == 1 })
	if r := e.cli("members-of", "a/b"); r.code != 1 || !strings.Contains(r.stderr, "must not contain /") {
		t.Fatalf("members-of a/b: %+v", r)
	}
}
