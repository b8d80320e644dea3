package recipes

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warden-dev/warden/fsm"
)

// Task progress. A job is a node ProgressRoot/JOB (a container: it comes
// with its first task and goes with its last), and each task of the job an
// ephemeral node JOB/TASK whose data is the task's latest report, as JSON:
//
//	{"state":"running","percent":50,"message":"half way","data":"<base64>","updated":1700000000000}
//
// A task belongs to the session that reported it first, which created its
// node: the task goes when that session ends, so a job's watchers see a
// task whose process died disappear. Any session may report to a task that
// exists (a child process reporting for the `warden task` that created
// it): the report replaces the task's data and leaves its owner as it is.
//
// Reports are coalesced. A report to a task that does not exist yet is
// written (the create) before it is answered. A report to a task that
// exists is answered as soon as it is accepted, and written by a writer
// goroutine: per (session, task) there is at most one write in flight and
// one report waiting, the latest; a report accepted while a write is in
// flight replaces the waiting one, which is then never written. So a task
// that reports faster than the cluster can commit costs one write per
// commit, not one per report, and nothing queues up. A report whose task
// ends (its node is deleted) before it is written is dropped: a late write
// never brings a finished task back. Flush waits for the reports accepted
// so far to be written: the agent does so before it answers a session's
// progress_get, so that a session reads its own latest reports.

// ProgressRoot is where jobs live.
const ProgressRoot = "/warden/progress"

// StateRunning is the state of a report that names none.
const StateRunning = "running"

// Limits of one report.
const (
	MaxReportState   = 64       // bytes of the state
	MaxReportMessage = 4 << 10  // bytes of the message
	MaxReportData    = 64 << 10 // bytes of the data, before base64
)

const (
	// maxReportSlots bounds the tasks one session may have writes
	// pending for at once; past it a report is written before it is
	// answered.
	maxReportSlots = 1024
	// reportWriteTimeout bounds one background write of a report.
	reportWriteTimeout = 30 * time.Second
)

// TaskReport is a task's latest report.
type TaskReport struct {
	Task    string  // the task's name within its job
	State   string  // e.g. running, done, failed; free text
	Percent float64 // 0 to 100
	Message string
	Data    []byte
	Updated int64 // when the report was accepted, ms since the epoch
}

// TaskEvent is a watched task's new report, or its end (Removed, with the
// last report known).
type TaskEvent struct {
	Task    TaskReport
	Removed bool
}

// reportJSON is a task node's data.
type reportJSON struct {
	State   string  `json:"state"`
	Percent float64 `json:"percent"`
	Message string  `json:"message"`
	Data    []byte  `json:"data,omitempty"`
	Updated int64   `json:"updated"`
}

// stateInvalid is the state shown for a task node whose data is not a
// report (written by hand, say).
const stateInvalid = "invalid"

// JobPath returns the node of job.
func JobPath(job string) (string, error) {
	if err := checkSegment(job, "job"); err != nil {
		return "", err
	}
	return ProgressRoot + "/" + job, nil
}

// TaskPath returns the node of task in job.
func TaskPath(job, task string) (string, error) {
	jp, err := JobPath(job)
	if err != nil {
		return "", err
	}
	if err := checkSegment(task, "task"); err != nil {
		return "", err
	}
	p := jp + "/" + task
	if err := fsm.ValidatePath(p); err != nil {
		return "", err
	}
	return p, nil
}

// checkReport refuses a report outside the limits and fills in the state.
func checkReport(r *TaskReport) error {
	switch {
	case math.IsNaN(r.Percent) || r.Percent < 0 || r.Percent > 100:
		return badArgs("percent must be between 0 and 100")
	case len(r.State) > MaxReportState:
		return badArgs("state is longer than 64 bytes")
	case len(r.Message) > MaxReportMessage:
		return &fsm.Error{Code: fsm.CodeTooLarge, Msg: "message is longer than 4 KiB"}
	case len(r.Data) > MaxReportData:
		return &fsm.Error{Code: fsm.CodeTooLarge, Msg: "data is longer than 64 KiB"}
	}
	if r.State == "" {
		r.State = StateRunning
	}
	return nil
}

func encodeReport(r *TaskReport) []byte {
	b, _ := json.Marshal(reportJSON{State: r.State, Percent: r.Percent, Message: r.Message, Data: r.Data, Updated: r.Updated})
	return b
}

// decodeReport reads a task node. Data that is not a report is shown with
// the state "invalid", as of the node's last change.
func decodeReport(task string, data []byte, stat fsm.Stat) TaskReport {
	var j reportJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return TaskReport{Task: task, State: stateInvalid, Updated: stat.Mtime}
	}
	return TaskReport{Task: task, State: j.State, Percent: j.Percent, Message: j.Message, Data: j.Data, Updated: j.Updated}
}

// Progress returns the latest report of every task of job, in task name
// order, from the local replica. A job with no task has none.
func Progress(st Store, job string) ([]TaskReport, error) {
	jp, err := JobPath(job)
	if err != nil {
		return nil, err
	}
	kids, err := readChildren(st, jp)
	if err != nil {
		return nil, err
	}
	out := make([]TaskReport, 0, len(kids))
	for _, k := range kids {
		out = append(out, decodeReport(k.Name, k.Data, k.Stat))
	}
	return out, nil
}

// ProgressWatcher follows the tasks of a job. It is not safe for
// concurrent use.
type ProgressWatcher struct{ v *childView }

// WatchProgress starts following job. The first events are the job's
// current tasks, then every report and every task's end, in order. The
// caller must Close it.
func WatchProgress(st Store, job string) (*ProgressWatcher, error) {
	jp, err := JobPath(job)
	if err != nil {
		return nil, err
	}
	v, err := newChildView(st, jp)
	if err != nil {
		return nil, err
	}
	return &ProgressWatcher{v}, nil
}

// Next waits for the next event.
func (w *ProgressWatcher) Next(ctx context.Context) (TaskEvent, error) {
	c, err := w.v.next(ctx)
	if err != nil {
		return TaskEvent{}, err
	}
	return TaskEvent{Task: decodeReport(c.Name, c.Data, c.Stat), Removed: c.Removed}, nil
}

// Close ends the watcher; a blocked Next returns.
func (w *ProgressWatcher) Close() { w.v.close() }

// Reporter accepts one session's reports and coalesces their writes (see
// the top of this file). It is safe for concurrent use.
type Reporter struct {
	s       Session
	spawn   func(func())
	onError func(task string, err error)
	writes  atomic.Uint64

	mu    sync.Mutex
	slots map[string]*reportSlot // by task path, while a write is pending
}

// reportSlot is one task's coalescing state: while it exists, a write of
// the task is in flight or about to be, and pending is the report to
// write after it (nil when none). accepted counts the reports made
// pending, written those whose write has ended (written, failed or
// dropped, or superseded by a later one that has); wrote is closed, and
// replaced, each time written moves.
type reportSlot struct {
	pending  *TaskReport
	accepted uint64
	written  uint64
	wrote    chan struct{}
}

// accept makes rep the report to write next. r.mu is held.
func (s *reportSlot) accept(rep *TaskReport) {
	s.pending = rep
	s.accepted++
}

// NewReporter returns a Reporter for session s. spawn runs a writer
// goroutine; its owner must wait for it before closing the session, so
// that the session's last reports are written (nil: a plain goroutine).
// onError hears a background write that failed for any reason other than
// the task having ended (nil: ignored).
func NewReporter(s Session, spawn func(func()), onError func(task string, err error)) *Reporter {
	if spawn == nil {
		spawn = func(f func()) { go f() }
	}
	if onError == nil {
		onError = func(string, error) {}
	}
	return &Reporter{s: s, spawn: spawn, onError: onError, slots: map[string]*reportSlot{}}
}

// Writes is the number of writes the Reporter has made.
func (r *Reporter) Writes() uint64 { return r.writes.Load() }

// Report accepts a report for task of job. Invalid arguments are refused
// at once. A report that creates the task is written before Report
// returns, and its write's error is returned; any other report is only
// accepted, and written later unless a newer one of the same task
// supersedes it first. An empty state is StateRunning; the report is
// stamped with the time now.
func (r *Reporter) Report(ctx context.Context, job, task string, rep TaskReport) error {
	path, err := TaskPath(job, task)
	if err != nil {
		return err
	}
	if err := checkReport(&rep); err != nil {
		return err
	}
	rep.Task = task
	rep.Updated = time.Now().UnixMilli()

	r.mu.Lock()
	if s, busy := r.slots[path]; busy {
		s.accept(&rep) // supersedes any report not yet written
		r.mu.Unlock()
		return nil
	}
	s := &reportSlot{wrote: make(chan struct{})}
	r.slots[path] = s
	inline := len(r.slots) > maxReportSlots
	r.mu.Unlock()

	_, exists, _, err := r.s.Store.Exists(path, false)
	if err == nil && !exists {
		err = r.create(ctx, path, &rep)
		if errors.Is(err, fsm.ErrNodeExists) {
			exists, err = true, nil // another session created it meanwhile
		}
	}
	if err == nil && exists {
		r.mu.Lock()
		if s.pending == nil { // else a newer report arrived meanwhile
			s.accept(&rep)
		}
		r.mu.Unlock()
	}
	if inline {
		r.drain(path, s)
	} else {
		r.mu.Lock()
		idle := s.pending == nil
		if idle {
			delete(r.slots, path)
		}
		r.mu.Unlock()
		if !idle {
			r.spawn(func() { r.drain(path, s) })
		}
	}
	return err
}

// create writes the report that creates the task: its node, owned by this
// session, and the job's containers if missing, in one write.
func (r *Reporter) create(ctx context.Context, path string, rep *TaskReport) error {
	r.writes.Add(1)
	op := fsm.Op{Kind: fsm.OpCreate, Path: path, Data: encodeReport(rep), Ephemeral: true}
	_, err := r.s.createWithContainers(ctx, parentOf(path), op)
	return err
}

// drain writes the slot's pending report, and again each time a newer one
// arrived meanwhile, until there is none; then the slot goes.
func (r *Reporter) drain(path string, s *reportSlot) {
	for {
		r.mu.Lock()
		rep, upTo := s.pending, s.accepted
		s.pending = nil
		if rep == nil {
			delete(r.slots, path)
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		r.set(path, rep)
		r.mu.Lock()
		s.written = upTo
		close(s.wrote)
		s.wrote = make(chan struct{})
		r.mu.Unlock()
	}
}

// Flush waits until the reports to job's tasks that Report had accepted
// when Flush was called have been written (or their write has failed, or
// was dropped because the task ended), or until ctx is done. A reader of
// the local replica that calls it first sees those reports: the session
// reads its own writes. Reports accepted after the call are not waited
// for, so a task that keeps reporting does not hold it up.
func (r *Reporter) Flush(ctx context.Context, job string) error {
	jp, err := JobPath(job)
	if err != nil {
		return err
	}
	type wait struct {
		s    *reportSlot
		upTo uint64
	}
	var waits []wait
	r.mu.Lock()
	for p, s := range r.slots {
		if strings.HasPrefix(p, jp+"/") && s.written < s.accepted {
			waits = append(waits, wait{s, s.accepted})
		}
	}
	r.mu.Unlock()
	for _, w := range waits {
		for {
			r.mu.Lock()
			done, ch := w.s.written >= w.upTo, w.s.wrote
			r.mu.Unlock()
			if done {
				break
			}
			select {
			case <-ch:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// set writes a report over the task's data. A task that has ended (its
// node is gone) stays ended: the report is dropped.
func (r *Reporter) set(path string, rep *TaskReport) {
	r.writes.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), reportWriteTimeout)
	defer cancel()
	_, err := r.s.write(ctx, fsm.Op{Kind: fsm.OpSet, Path: path, Data: encodeReport(rep), Version: fsm.AnyVersion})
	if err != nil && !errors.Is(err, fsm.ErrNoNode) {
		r.onError(path, err)
	}
}
