package warden

import (
	"context"
	"errors"

	"github.com/warden-dev/warden/localapi/wire"
)

// ProgressRoot is where jobs live: a task's node is ProgressRoot/JOB/TASK.
const ProgressRoot = "/warden/progress"

// Task states the CLI reports; any other short string may be used.
const (
	TaskRunning = "running"
	TaskDone    = "done"
	TaskFailed  = "failed"
)

// TaskReport is a task's latest report. Updated is when the agent accepted
// it, in milliseconds since the Unix epoch.
type TaskReport = wire.Task

// TaskEvent is a watched task's new report, or its end: Removed, with the
// last report known, when its node went (its owner's session ended, or it
// was finished).
type TaskEvent = wire.TaskEvent

// Task is one task of a job, to report progress for. The task exists from
// its first report until the session that made that report ends (or Done);
// any session may report to it meanwhile.
type Task struct {
	c *Client
	// Job and Name name the task.
	Job, Name string
}

// Task returns the task named task of job. Nothing is sent until a report.
func (c *Client) Task(job, task string) *Task { return &Task{c: c, Job: job, Name: task} }

// Path is the task's node.
func (t *Task) Path() string { return ProgressRoot + "/" + t.Job + "/" + t.Name }

// Report reports the task running, percent (0 to 100) done, with a
// message. See ReportState.
func (t *Task) Report(ctx context.Context, percent float64, message string) error {
	return t.ReportState(ctx, TaskRunning, percent, message, nil)
}

// ReportState reports the task's state, percent done, a message and small
// data (up to 64 KiB); an empty state is "running". Each report replaces
// the last one whole.
//
// The first report creates the task, owned by this session, and returns
// once it is written. Later reports return as soon as the agent has
// accepted them, and are written in the background, coalesced: a report
// still waiting to be written when a newer one arrives is superseded, and
// never written. Reporting in a tight loop is fine; the last report is
// always written (unless the task ends first), even if this client closes
// straight after. This client's Progress and WatchProgress see the
// reports it made: the agent writes them before it answers.
func (t *Task) ReportState(ctx context.Context, state string, percent float64, message string, data []byte) error {
	return t.c.call(ctx, &wire.Request{Op: wire.OpReport, Job: t.Job, Task: t.Name,
		State: state, Percent: percent, Message: message, Data: data}, nil)
}

// Done ends the task: its node goes, and watchers see it removed. A
// report not yet written is dropped. Ending a task that has already ended
// is not an error. Closing the session that created the task ends it too.
func (t *Task) Done(ctx context.Context) error {
	err := t.c.Delete(ctx, t.Path(), -1)
	if errors.Is(err, ErrNoNode) {
		return nil
	}
	return err
}

// Progress returns the latest report of every task of job, in task name
// order, as this agent knows them, this client's accepted reports
// included.
func (c *Client) Progress(ctx context.Context, job string) ([]TaskReport, error) {
	var r wire.ProgressResult
	if err := c.call(ctx, &wire.Request{Op: wire.OpProgressGet, Job: job}, &r); err != nil {
		return nil, err
	}
	return r.Tasks, nil
}

// ProgressWatch is a stream of a job's task events.
type ProgressWatch struct{ s *stream }

// WatchProgress follows the tasks of job: Next first returns each current
// task's latest report, then every later report and every task's end, in
// order.
func (c *Client) WatchProgress(ctx context.Context, job string) (*ProgressWatch, error) {
	s := newStream(c, &wire.Request{Op: wire.OpProgressWatch, Job: job})
	s.reopen = again // after a resume: the current state again, then changes
	if err := c.openStream(ctx, s); err != nil {
		return nil, err
	}
	return &ProgressWatch{s}, nil
}

// Next waits for the next event.
func (w *ProgressWatch) Next(ctx context.Context) (TaskEvent, error) {
	var ev TaskEvent
	_, err := w.s.next(ctx, &ev)
	return ev, err
}

// Close ends the stream.
func (w *ProgressWatch) Close(ctx context.Context) error { return w.s.close(ctx) }
