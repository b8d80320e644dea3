package recipes

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/warden-dev/warden/fsm"
)

// gatedStore holds every set (a report's background write) until the test
// opens its gate, so that reports pile up behind a write in flight.
type gatedStore struct {
	*electionStore
	started chan struct{} // told (without blocking) when a set starts
	gate    chan struct{} // closed to let sets through
}

func (g *gatedStore) Write(ctx context.Context, sid uint64, ops []fsm.Op) (*fsm.Result, error) {
	if len(ops) == 1 && ops[0].Kind == fsm.OpSet {
		select {
		case g.started <- struct{}{}:
		default:
		}
		<-g.gate
	}
	return g.electionStore.Write(ctx, sid, ops)
}

func newGatedStore(t *testing.T) *gatedStore {
	return &gatedStore{electionStore: newElectionStore(t), started: make(chan struct{}, 1), gate: make(chan struct{})}
}

// testReporter is a Reporter whose writers the test can wait for, and that
// fails the test on a background write error.
func testReporter(t *testing.T, st Store, sid uint64) (*Reporter, *sync.WaitGroup) {
	var wg sync.WaitGroup
	spawn := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	return NewReporter(Session{Store: st, ID: sid}, spawn, func(task string, err error) { t.Errorf("write of %s: %v", task, err) }), &wg
}

func report(t *testing.T, r *Reporter, job, task string, percent float64, msg string) {
	t.Helper()
	if err := r.Report(context.Background(), job, task, TaskReport{Percent: percent, Message: msg}); err != nil {
		t.Fatalf("report %s/%s %v: %v", job, task, percent, err)
	}
}

func taskOf(t *testing.T, st Store, job, task string) (TaskReport, bool) {
	t.Helper()
	tasks, err := Progress(st, job)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range tasks {
		if r.Task == task {
			return r, true
		}
	}
	return TaskReport{}, false
}

// TestReporterCoalesces: the first report is written before it returns;
// reports made while a write is in flight return at once, each replacing
// the one waiting, and only the last is written.
func TestReporterCoalesces(t *testing.T) {
	st := newGatedStore(t)
	sid := st.open()
	r, wg := testReporter(t, st, sid)

	report(t, r, "j", "t", 1, "1")
	if got, ok := taskOf(t, st, "j", "t"); !ok || got.Message != "1" || got.State != StateRunning {
		t.Fatalf("after the first report: %+v %v", got, ok)
	}
	if stat, _, _, _ := st.Exists(ProgressRoot+"/j/t", false); stat.EphemeralOwner != sid {
		t.Fatalf("task owner %d, want %d", stat.EphemeralOwner, sid)
	}
	report(t, r, "j", "t", 2, "2") // its writer blocks at the gate
	select {
	case <-st.started:
	case <-time.After(5 * time.Second):
		t.Fatal("no write of the second report")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 3; i <= 100; i++ {
			report(t, r, "j", "t", float64(i), strconv.Itoa(i))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("reports blocked behind a write in flight")
	}
	if n := r.Writes(); n != 2 {
		t.Fatalf("%d writes before the gate opened, want 2", n)
	}
	close(st.gate)
	wg.Wait()
	if n := r.Writes(); n != 3 {
		t.Fatalf("%d writes for 100 reports, want 3 (the create, the one in flight, the last)", n)
	}
	if got, _ := taskOf(t, st, "j", "t"); got.Message != "100" || got.Percent != 100 {
		t.Fatalf("final report %+v, want the 100th", got)
	}
}

// TestReporterDropsReportOfEndedTask: a report still waiting to be written
// when its task ends is dropped; the task is not brought back.
func TestReporterDropsReportOfEndedTask(t *testing.T) {
	st := newGatedStore(t)
	owner, other := st.open(), st.open()
	r, wg := testReporter(t, st, other)
	ro, _ := testReporter(t, st, owner)
	report(t, ro, "j", "t", 10, "owner's")
	report(t, r, "j", "t", 20, "in flight") // the task exists: a background set
	<-st.started
	report(t, r, "j", "t", 30, "waiting")
	st.close(owner, fsm.CloseClean, 0) // the task ends
	close(st.gate)
	wg.Wait()
	if got, ok := taskOf(t, st, "j", "t"); ok {
		t.Fatalf("an ended task came back: %+v", got)
	}
	if _, ok, _, _ := st.Exists(ProgressRoot+"/j", false); ok {
		t.Fatal("the job's container outlived its last task")
	}
}

func TestReportRefusals(t *testing.T) {
	st := newElectionStore(t)
	r, _ := testReporter(t, st, st.open())
	ctx := context.Background()
	for _, c := range []struct {
		job, task string
		rep       TaskReport
		code      fsm.Code
	}{
		{"", "t", TaskReport{}, fsm.CodeBadArguments},
		{"j", "", TaskReport{}, fsm.CodeBadArguments},
		{"a/b", "t", TaskReport{}, fsm.CodeBadArguments},
		{"j", "..", TaskReport{}, fsm.CodeBadArguments},
		{"j", "t", TaskReport{Percent: 100.5}, fsm.CodeBadArguments},
		{"j", "t", TaskReport{Percent: -1}, fsm.CodeBadArguments},
		{"j", "t", TaskReport{State: string(make([]byte, 65))}, fsm.CodeBadArguments},
		{"j", "t", TaskReport{Message: string(make([]byte, MaxReportMessage+1))}, fsm.CodeTooLarge},
		{"j", "t", TaskReport{Data: make([]byte, MaxReportData+1)}, fsm.CodeTooLarge},
	} {
		if err := r.Report(ctx, c.job, c.task, c.rep); fsm.CodeOf(err) != c.code {
			t.Errorf("report %q/%q %+.20v: %v, want code %d", c.job, c.task, c.rep, err, c.code)
		}
	}
	if _, ok, _, _ := st.Exists(ProgressRoot, false); ok {
		t.Fatal("a refused report wrote something")
	}
}

// TestProgressWatcherAcrossResync: when the tree under a watcher is
// replaced (a snapshot installed), the watcher reports only the
// difference: tasks gone as removed, new and changed tasks once, and
// nothing for a task that did not change.
func TestProgressWatcherAcrossResync(t *testing.T) {
	st := newElectionStore(t)
	sid := st.open()
	r, _ := testReporter(t, st, sid)
	for i, name := range []string{"keep", "change", "gone"} {
		report(t, r, "j", name, float64(10*(i+1)), name)
	}
	w, err := WatchProgress(st, "j")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	next := func() TaskEvent {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ev, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("watcher: %v", err)
		}
		return ev
	}
	quiet := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if ev, err := w.Next(ctx); err == nil {
			t.Fatalf("unexpected event %+v", ev)
		}
	}
	for _, want := range []string{"change", "gone", "keep"} { // the current tasks, by name
		if ev := next(); ev.Task.Task != want || ev.Removed || ev.Task.Message != want {
			t.Fatalf("first events: %+v, want %s", ev, want)
		}
	}
	quiet()

	// The same tree again: nothing to tell.
	st.restoreFrom(st)
	quiet()

	// A tree in which "gone" has gone, "change" changed and "new" came.
	other := newElectionStore(t)
	other.restoreFrom(st)
	ro, _ := testReporter(t, other, sid)
	report(t, ro, "j", "change", 99, "changed")
	report(t, ro, "j", "new", 1, "new")
	if _, err := (Session{Store: other, ID: sid}).write(context.Background(), fsm.Op{Kind: fsm.OpDelete, Path: ProgressRoot + "/j/gone", Version: fsm.AnyVersion}); err != nil {
		t.Fatal(err)
	}
	eventuallyTrue(t, func() bool { got, _ := taskOf(t, other, "j", "change"); return got.Message == "changed" })
	st.restoreFrom(other)
	if ev := next(); ev.Task.Task != "gone" || !ev.Removed || ev.Task.Percent != 30 {
		t.Fatalf("after the snapshot: %+v, want gone removed with its last report", ev)
	}
	if ev := next(); ev.Task.Task != "change" || ev.Removed || ev.Task.Message != "changed" || ev.Task.Percent != 99 {
		t.Fatalf("after the snapshot: %+v, want change's new report", ev)
	}
	if ev := next(); ev.Task.Task != "new" || ev.Removed {
		t.Fatalf("after the snapshot: %+v, want new", ev)
	}
	quiet()

	// An empty tree: every task removed.
	st.restoreFrom(newElectionStore(t))
	for _, want := range []string{"change", "keep", "new"} {
		if ev := next(); ev.Task.Task != want || !ev.Removed {
			t.Fatalf("after an empty snapshot: %+v, want %s removed", ev, want)
		}
	}
	quiet()
}

func TestGroupJoinLeave(t *testing.T) {
	st := newElectionStore(t)
	a, b := st.open(), st.open()
	ctx := context.Background()
	key, token, err := (Session{Store: st, ID: a}).Join(ctx, "g", "m", []byte("one"))
	if err != nil || key != GroupRoot+"/g/m" || token == 0 {
		t.Fatalf("join: %q %d %v", key, token, err)
	}
	if _, _, err := (Session{Store: st, ID: b}).Join(ctx, "g", "m", nil); !errors.Is(err, fsm.ErrNodeExists) {
		t.Fatalf("join of a member another session holds: %v", err)
	}
	// Joining again replaces the data; the membership is the same.
	if k2, t2, err := (Session{Store: st, ID: a}).Join(ctx, "g", "m", []byte("two")); err != nil || k2 != key || t2 != token {
		t.Fatalf("join again: %q %d %v", k2, t2, err)
	}
	if ms, err := MembersOf(st, "g"); err != nil || len(ms) != 1 || string(ms[0].Data) != "two" || ms[0].Token != token {
		t.Fatalf("members: %+v %v", ms, err)
	}
	if err := (Session{Store: st, ID: b}).Leave(ctx, "g", "m"); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("leave by another session: %v", err)
	}
	if err := (Session{Store: st, ID: a}).Leave(ctx, "g", "m"); err != nil {
		t.Fatal(err)
	}
	if err := (Session{Store: st, ID: a}).Leave(ctx, "g", "m"); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("leave twice: %v", err)
	}
	if _, ok, _, _ := st.Exists(GroupRoot+"/g", false); ok {
		t.Fatal("the group's container outlived its last member")
	}
	// A node in the way that is not a member's is not taken over.
	if _, err := (Session{Store: st, ID: a}).write(ctx, fsm.Op{Kind: fsm.OpCreate, Path: "/warden"}, fsm.Op{Kind: fsm.OpCreate, Path: GroupRoot},
		fsm.Op{Kind: fsm.OpCreate, Path: GroupRoot + "/h"}, fsm.Op{Kind: fsm.OpCreate, Path: GroupRoot + "/h/p"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := (Session{Store: st, ID: a}).Join(ctx, "h", "p", nil); !errors.Is(err, fsm.ErrNodeExists) {
		t.Fatalf("join over a persistent node: %v", err)
	}
}
