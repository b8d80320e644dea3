package warden_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// Task progress against an in-process agent.

// nextTask waits for a watch's next event.
func nextTask(t *testing.T, w *warden.ProgressWatch) warden.TaskEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := w.Next(ctx)
	if err != nil {
		t.Fatalf("progress watch: %v", err)
	}
	return ev
}

// wantTaskEvent waits for the next event and checks it.
func wantTaskEvent(t *testing.T, w *warden.ProgressWatch, task, state string, percent float64, msg string, removed bool) warden.TaskEvent {
	t.Helper()
	ev := nextTask(t, w)
	if ev.Task.Task != task || ev.Task.State != state || ev.Task.Percent != percent || ev.Task.Message != msg || ev.Removed != removed {
		t.Fatalf("event %+v, want task %s %s %v%% %q removed=%v", ev, task, state, percent, msg, removed)
	}
	return ev
}

func progressOf(t *testing.T, c *warden.Client, job string) []warden.TaskReport {
	t.Helper()
	tasks, err := c.Progress(testCtx(t, 10*time.Second), job)
	if err != nil {
		t.Fatalf("progress %s: %v", job, err)
	}
	return tasks
}

func TestProgressReportAndWatch(t *testing.T) {
	a := agenttest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	owner, helper, owner2, obs := dial(t, a), dial(t, a), dial(t, a), dial(t, a)

	if tasks := progressOf(t, obs, "build"); len(tasks) != 0 {
		t.Fatalf("tasks of a job nobody reported to: %+v", tasks)
	}
	w, err := obs.WatchProgress(ctx, "build")
	if err != nil {
		t.Fatal(err)
	}

	// The first report creates the task, owned by the reporting session.
	compile := owner.Task("build", "compile")
	before := time.Now().UnixMilli()
	if err := compile.Report(ctx, 10, "starting"); err != nil {
		t.Fatal(err)
	}
	ev := wantTaskEvent(t, w, "compile", warden.TaskRunning, 10, "starting", false)
	if ev.Task.Updated < before || ev.Task.Updated > time.Now().UnixMilli() {
		t.Fatalf("updated %d, not between %d and now", ev.Task.Updated, before)
	}
	if compile.Path() != "/warden/progress/build/compile" {
		t.Fatalf("path %s", compile.Path())
	}
	if _, st := mustGet(t, obs, compile.Path()); st.EphemeralOwner != owner.SessionID() {
		t.Fatalf("task owned by %d, want the first reporter %d", st.EphemeralOwner, owner.SessionID())
	}

	// Another session (a child process, say) reports to the task: the
	// report replaces the data; the owner stays.
	if err := helper.Task("build", "compile").ReportState(ctx, "linking", 60, "ld", []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	ev = wantTaskEvent(t, w, "compile", "linking", 60, "ld", false)
	if !bytes.Equal(ev.Task.Data, []byte{1, 2, 3}) {
		t.Fatalf("data %v", ev.Task.Data)
	}
	if _, st := mustGet(t, obs, compile.Path()); st.EphemeralOwner != owner.SessionID() {
		t.Fatalf("task owned by %d after another's report, want %d", st.EphemeralOwner, owner.SessionID())
	}

	if err := owner2.Task("build", "assets").ReportState(ctx, warden.TaskDone, 100, "", nil); err != nil {
		t.Fatal(err)
	}
	wantTaskEvent(t, w, "assets", warden.TaskDone, 100, "", false)
	tasks := progressOf(t, obs, "build")
	if len(tasks) != 2 || tasks[0].Task != "assets" || tasks[1].Task != "compile" || tasks[1].State != "linking" || tasks[1].Percent != 60 {
		t.Fatalf("progress: %+v", tasks)
	}
	// A watcher that starts now hears the current tasks first.
	w2, err := obs.WatchProgress(ctx, "build")
	if err != nil {
		t.Fatal(err)
	}
	wantTaskEvent(t, w2, "assets", warden.TaskDone, 100, "", false)
	wantTaskEvent(t, w2, "compile", "linking", 60, "ld", false)
	if err := w2.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// Done removes the task; watchers hear it, with its last report.
	if err := compile.Done(ctx); err != nil {
		t.Fatal(err)
	}
	wantTaskEvent(t, w, "compile", "linking", 60, "ld", true)
	if err := compile.Done(ctx); err != nil {
		t.Fatalf("done twice: %v", err)
	}
	// A task whose owner's session ends is removed.
	owner2.Close()
	wantTaskEvent(t, w, "assets", warden.TaskDone, 100, "", true)
	agenttest.Eventually(t, 5*time.Second, "the job's node to go with its last task", func() bool {
		return !exists(t, obs, "/warden/progress/build")
	})
	if tasks := progressOf(t, obs, "build"); len(tasks) != 0 {
		t.Fatalf("tasks after every one ended: %+v", tasks)
	}

	// Refusals.
	for _, c := range []struct {
		job, task string
		percent   float64
		data      []byte
		want      error
	}{
		{"", "t", 0, nil, warden.ErrBadArguments},
		{"j", "", 0, nil, warden.ErrBadArguments},
		{"a/b", "t", 0, nil, warden.ErrBadArguments},
		{"j", "t", 100.5, nil, warden.ErrBadArguments},
		{"j", "t", math.NaN(), nil, warden.ErrBadArguments},
		{"j", "t", 1, make([]byte, 64<<10+1), warden.ErrTooLarge},
	} {
		err := owner.Task(c.job, c.task).ReportState(ctx, "", c.percent, "", c.data)
		wantErr(t, "report "+c.job+"/"+c.task, err, c.want)
	}
	// A connection without a session may read and watch, not report.
	ro, err := warden.Dial(ctx, warden.Options{Socket: a.SocketPath(), NoSession: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.Progress(ctx, "build"); err != nil {
		t.Fatalf("progress without a session: %v", err)
	}
	if w, err := ro.WatchProgress(ctx, "build"); err != nil {
		t.Fatalf("watch without a session: %v", err)
	} else {
		_ = w.Close(ctx)
	}
	if err := ro.Task("j", "t").Report(ctx, 1, ""); warden.CodeOf(err) != "no_session" {
		t.Fatalf("report without a session: %v", err)
	}
}

// TestProgressCoalescing: 1000 reports in a tight loop cost fewer than
// half as many writes (counted as the growth of the Raft index), the last is
// the one that stays, and a watcher sees the reports that were written in
// the order they were made.
func TestProgressCoalescing(t *testing.T) {
	a := agenttest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	c, obs := dial(t, a), dial(t, a)
	task := c.Task("bulk", "t")
	if err := task.Report(ctx, 0, "0"); err != nil {
		t.Fatal(err)
	}
	w, err := obs.WatchProgress(ctx, "bulk")
	if err != nil {
		t.Fatal(err)
	}
	wantTaskEvent(t, w, "t", warden.TaskRunning, 0, "0", false)
	z0, err := c.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	start := time.Now()
	for i := 1; i <= n; i++ {
		if err := task.Report(ctx, float64(i)/10, strconv.Itoa(i)); err != nil {
			t.Fatalf("report %d: %v", i, err)
		}
	}
	loop := time.Since(start)
	seen, last := 0, 0
	for last != n {
		ev := nextTask(t, w)
		i, err := strconv.Atoi(ev.Task.Message)
		if err != nil || ev.Removed || i <= last || ev.Task.Percent != float64(i)/10 {
			t.Fatalf("after report %d: %+v", last, ev)
		}
		seen, last = seen+1, i
	}
	z1, err := c.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	writes := z1 - z0
	t.Logf("%d reports in %v: %d writes (Raft index %d -> %d), %d seen by a watcher; %.0f reports per write",
		n, loop, writes, z0, z1, seen, float64(n)/float64(max(writes, 1)))
	// How many reports one write absorbs is the ratio of a write's time
	// (an fsync) to a report's round trip, so it depends on the disk: about
	// 4 here with the log in wal/. A coalescer that wrote every report
	// would make n writes; half of that leaves a two-fold margin.
	if writes == 0 || writes > n/2 {
		t.Fatalf("%d writes for %d reports: not coalesced", writes, n)
	}
	if tasks := progressOf(t, obs, "bulk"); len(tasks) != 1 || tasks[0].Message != strconv.Itoa(n) || tasks[0].Percent != 100 {
		t.Fatalf("after the loop: %+v", tasks)
	}
	if z2, _ := c.Sync(ctx); z2 != z1 {
		t.Fatalf("writes went on after the last report was visible: index %d -> %d", z1, z2)
	}
}

// TestProgressFlushOnClose: a report accepted just before its session
// closes is still written (before the session closes): CloseWait returns
// once it is, and a plain Close loses it neither.
func TestProgressFlushOnClose(t *testing.T) {
	a := agenttest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	owner, obs := dial(t, a), dial(t, a)
	if err := owner.Task("j", "t").Report(ctx, 1, "owner"); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 20; round++ {
		rep := dial(t, a)
		msg := "report " + strconv.Itoa(round)
		for i := 0; i <= 10; i++ {
			if err := rep.Task("j", "t").Report(ctx, float64(i*10), msg); err != nil {
				t.Fatal(err)
			}
		}
		if round%2 == 0 {
			if err := rep.CloseWait(ctx); err != nil {
				t.Fatalf("close wait: %v", err)
			}
			// Written before CloseWait returned.
			if tasks := progressOf(t, obs, "j"); len(tasks) != 1 || tasks[0].Message != msg || tasks[0].Percent != 100 {
				t.Fatalf("round %d, after CloseWait: %+v", round, tasks)
			}
			continue
		}
		rep.Close()
		agenttest.Eventually(t, 10*time.Second, "the report of a closed session", func() bool {
			tasks := progressOf(t, obs, "j")
			return len(tasks) == 1 && tasks[0].Message == msg && tasks[0].Percent == 100
		})
	}
	// CloseWait of the owner: its task is gone when it returns.
	if err := owner.CloseWait(ctx); err != nil {
		t.Fatal(err)
	}
	if tasks := progressOf(t, obs, "j"); len(tasks) != 0 {
		t.Fatalf("tasks after the owner's CloseWait: %+v", tasks)
	}
	if err := owner.Task("j", "t").Report(ctx, 1, ""); !errors.Is(err, warden.ErrClosed) {
		t.Fatalf("report after CloseWait: %v", err)
	}
}

// TestProgressReadsOwnReports: a session's progress read and a watch it
// starts see the report it has just made, although the agent answers a
// report before writing it (coalescing): the agent writes the session's
// accepted reports to the job before it answers the read.
func TestProgressReadsOwnReports(t *testing.T) {
	a := agenttest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	c := dial(t, a)
	task := c.Task("own", "t")
	for i := 0; i <= 200; i++ {
		msg := strconv.Itoa(i)
		if err := task.Report(ctx, float64(i)/2, msg); err != nil {
			t.Fatalf("report %d: %v", i, err)
		}
		if tasks := progressOf(t, c, "own"); len(tasks) != 1 || tasks[0].Message != msg || tasks[0].Percent != float64(i)/2 {
			t.Fatalf("progress right after report %d: %+v", i, tasks)
		}
	}
	// Reports in a burst, then a watch: its first event is the last report.
	for i := 0; i < 50; i++ {
		if err := task.Report(ctx, 100, "burst "+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.WatchProgress(ctx, "own")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	wantTaskEvent(t, w, "t", warden.TaskRunning, 100, "burst 49", false)
	// Another job's read does not wait for this one's reports, and a bad
	// job name is still refused.
	if tasks := progressOf(t, c, "other"); len(tasks) != 0 {
		t.Fatalf("tasks of another job: %+v", tasks)
	}
	if _, err := c.Progress(ctx, "a/b"); !errors.Is(err, warden.ErrBadArguments) {
		t.Fatalf("progress of a bad job name: %v, want ErrBadArguments", err)
	}
}

// TestProgressReadNotHeldUpByABusyReporter: a read waits only for the
// reports accepted before it, so tasks that report without pause on the
// same session do not hold the session's reads up. (That a read shows the
// latest report answered before it is TestProgressReadsOwnReports: with
// concurrent reporters the agent may accept their reports in any order.)
func TestProgressReadNotHeldUpByABusyReporter(t *testing.T) {
	a := agenttest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	c := dial(t, a)
	task := c.Task("busy", "t")
	if err := task.Report(ctx, 0, "0"); err != nil {
		t.Fatal(err)
	}
	// Eight goroutines report at once on the session, so that a report is
	// almost always waiting to be written.
	const reporters = 8
	var acked, next atomic.Int64
	stop := make(chan struct{})
	reporterDone := make(chan error, reporters)
	for g := 0; g < reporters; g++ {
		go func() {
			for {
				select {
				case <-stop:
					reporterDone <- nil
					return
				default:
				}
				i := next.Add(1)
				if err := task.Report(ctx, 50, strconv.FormatInt(i, 10)); err != nil {
					reporterDone <- err
					return
				}
				for {
					// acked: the highest report answered so far.
					old := acked.Load()
					if old >= i || acked.CompareAndSwap(old, i) {
						break
					}
				}
			}
		}()
	}
	for r := 0; r < 30; r++ {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		tasks, err := c.Progress(rctx, "busy")
		cancel()
		if err != nil {
			t.Fatalf("read %d while the task reports without pause: %v", r, err)
		}
		if len(tasks) != 1 {
			t.Fatalf("read %d: %+v", r, tasks)
		}
		if _, err := strconv.ParseInt(tasks[0].Message, 10, 64); err != nil {
			t.Fatalf("read %d shows report %q", r, tasks[0].Message)
		}
	}
	close(stop)
	for g := 0; g < reporters; g++ {
		if err := <-reporterDone; err != nil {
			t.Fatal(err)
		}
	}
	if acked.Load() < 30 {
		t.Fatalf("the reporter made only %d reports meanwhile: not busy", acked.Load())
	}
}
