package main

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"

	warden "github.com/warden-dev/warden/clients/go"
)

// jobView is what `warden progress` knows of a job: a row per task, kept
// after the task has finished. It turns the job's watch events into rows:
// a task whose node is persistent is a finished task's record (see
// taskrecord.go); a task whose node went without a record (its `warden
// task` was killed, or the node was removed by hand) is lost. The removal
// of the ephemeral node that a record replaces is not shown: the local
// replica applies both in one step, so when the removal is seen the record
// is already there.
type jobView struct {
	cl   *warden.Client
	job  string
	rows map[string]*taskRow
}

// taskRow is one task as the view shows it.
type taskRow struct {
	rep      warden.TaskReport
	finished bool  // a record, or lost
	lost     bool  // removed without a record
	removed  bool  // the last event was the task's removal
	started  int64 // when the live task's node was created, ms since the epoch; 0 if unknown
}

func newJobView(cl *warden.Client, job string) *jobView {
	return &jobView{cl: cl, job: job, rows: map[string]*taskRow{}}
}

// apply folds one watch event into the rows. It returns the task's row and
// whether the event is news for the views (not a duplicate of what they
// showed, nor the removal a record replaces).
func (j *jobView) apply(ctx context.Context, ev warden.TaskEvent) (taskRow, bool, error) {
	name := ev.Task.Task
	st, exists, err := j.cl.Exists(ctx, warden.ProgressRoot+"/"+j.job+"/"+name)
	if err != nil {
		return taskRow{}, false, err
	}
	row, known := j.rows[name]
	if !known {
		row = &taskRow{}
		j.rows[name] = row
	}
	if ev.Removed {
		if exists || row.finished {
			// A record replaced the task (its event follows), or a
			// record was cleared: the row stays as it is.
			return *row, false, nil
		}
		// Gone without a record: lost, unless its final report was seen
		// (its record could not be written).
		row.rep, row.finished, row.lost, row.removed = ev.Task, true, !isFinal(ev.Task), true
		return *row, true, nil
	}
	// A persistent node is a record, but only its final report (done or
	// failed) finishes the task: an earlier report of the same task may
	// still be on its way when the replica already has the record.
	finished := exists && st.EphemeralOwner == 0 && isFinal(ev.Task)
	same := known && !row.removed && sameReport(row.rep, ev.Task) && row.finished == finished
	row.rep, row.finished, row.lost, row.removed = ev.Task, finished, false, false
	if exists && st.EphemeralOwner != 0 {
		row.started = st.Ctime
	}
	return *row, !same, nil
}

// isFinal reports whether r is a finished task's report: done or failed.
func isFinal(r warden.TaskReport) bool {
	return r.State == warden.TaskDone || r.State == warden.TaskFailed
}

func sameReport(a, b warden.TaskReport) bool {
	return a.State == b.State && a.Percent == b.Percent && a.Message == b.Message &&
		a.Updated == b.Updated && bytes.Equal(a.Data, b.Data)
}

// names are the tasks in name order.
func (j *jobView) names() []string {
	out := make([]string, 0, len(j.rows))
	for n := range j.rows {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// allFinished reports whether the job has tasks and every one has
// finished.
func (j *jobView) allFinished() bool {
	for _, r := range j.rows {
		if !r.finished {
			return false
		}
	}
	return len(j.rows) > 0
}

// jobSummary counts a finished job's tasks by outcome.
type jobSummary struct {
	total, done int
	failed      []string // "TASK: exit N", in name order
	lost        []string
	other       map[string]int // records in another state, by state
}

// ok reports whether every task is done.
func (s jobSummary) ok() bool { return s.done == s.total }

// String is e.g. "3 tasks: 2 done, 1 failed (t2: exit 3)".
func (s jobSummary) String() string {
	var parts []string
	if s.done > 0 {
		parts = append(parts, fmt.Sprintf("%d done", s.done))
	}
	if len(s.failed) > 0 {
		parts = append(parts, fmt.Sprintf("%d failed (%s)", len(s.failed), strings.Join(s.failed, ", ")))
	}
	if len(s.lost) > 0 {
		parts = append(parts, fmt.Sprintf("%d lost (%s)", len(s.lost), strings.Join(s.lost, ", ")))
	}
	states := make([]string, 0, len(s.other))
	for st := range s.other {
		states = append(states, st)
	}
	sort.Strings(states)
	for _, st := range states {
		parts = append(parts, fmt.Sprintf("%d %s", s.other[st], st))
	}
	noun := "tasks"
	if s.total == 1 {
		noun = "task"
	}
	return fmt.Sprintf("%d %s: %s", s.total, noun, strings.Join(parts, ", "))
}

func (j *jobView) summary() jobSummary {
	s := jobSummary{other: map[string]int{}}
	for _, n := range j.names() {
		r := j.rows[n]
		s.total++
		switch {
		case r.lost:
			s.lost = append(s.lost, n)
		case r.rep.State == warden.TaskDone:
			s.done++
		case r.rep.State == warden.TaskFailed:
			s.failed = append(s.failed, n+": "+r.outcome())
		default:
			s.other[sanitize(r.rep.State)]++
		}
	}
	return s
}

// outcome says how a finished task's command ended: "exit 3", "killed",
// or its message when its report does not say.
func (r *taskRow) outcome() string {
	res, ok := parseTaskResult(r.rep.Data)
	switch {
	case ok && res.ExitCode != nil:
		return fmt.Sprintf("exit %d", *res.ExitCode)
	case ok:
		return res.Signal
	}
	return sanitize(r.rep.Message)
}
