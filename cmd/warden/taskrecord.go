package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	warden "github.com/warden-dev/warden/clients/go"
)

// A finished task's record. While `warden task` runs, its task is an
// ephemeral node owned by its session; when the command exits, `warden
// task` reports the final state and then turns the node into a persistent
// one with the same data (one multi: delete the ephemeral node, create the
// persistent one), so the task's final report outlives the process and
// every client's progress_get and progress_watch still list it. A task
// whose node is persistent is finished; `warden task` of the same name
// replaces the record, `warden report` refuses it, and `warden rm` of the
// node (or of the job, recursively) clears it.
//
// The final report's data is a taskResult as JSON, which is how `warden
// progress` knows the exit code and how long the command ran.

// taskResult is the data of the final report `warden task` makes.
type taskResult struct {
	// ExitCode is the command's exit status; absent when a signal killed
	// it or it could not start.
	ExitCode *int `json:"exit_code,omitempty"`
	// Signal names the signal that killed the command.
	Signal string `json:"signal,omitempty"`
	// ElapsedMS is how long the command ran, in milliseconds.
	ElapsedMS int64 `json:"elapsed_ms"`
}

// newTaskResult describes how the command ended (err as exec returns it)
// after running for elapsed.
func newTaskResult(err error, elapsed time.Duration) []byte {
	r := taskResult{ElapsedMS: elapsed.Milliseconds()}
	var ee *exec.ExitError
	switch {
	case err == nil:
		r.ExitCode = new(int)
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.Signal = ws.Signal().String()
		} else {
			code := ee.ExitCode()
			r.ExitCode = &code
		}
	}
	b, _ := json.Marshal(r)
	return b
}

// parseTaskResult reads a final report's data; ok is false for data that
// is not a taskResult (a report of another kind).
func parseTaskResult(data []byte) (r taskResult, ok bool) {
	if len(data) == 0 || json.Unmarshal(data, &r) != nil {
		return taskResult{}, false
	}
	return r, r.ExitCode != nil || r.Signal != ""
}

// keepTaskRecord waits until the task's final report (state and message)
// is written, then replaces the task's ephemeral node by a persistent one
// with the same data, in one multi. A report of another session that lands
// in between makes the multi fail on the node's version; it is then tried
// again with the newer data.
func keepTaskRecord(ctx context.Context, cl *warden.Client, t *warden.Task, state, msg string) error {
	path := t.Path()
	for {
		// Watch first, then read: a write after the read fires the watch.
		_, _, w, err := cl.GetW(ctx, path)
		if err != nil {
			return err
		}
		final, err := hasReport(ctx, cl, t, state, msg)
		if err != nil {
			_ = w.Stop(ctx)
			return err
		}
		if !final {
			_, err := w.Wait(ctx)
			if err != nil {
				return err
			}
			continue
		}
		_ = w.Stop(ctx)
		data, st, err := cl.Get(ctx, path)
		if err != nil {
			return err
		}
		if st.EphemeralOwner != cl.SessionID() {
			return fmt.Errorf("task %s/%s is no longer this process's", t.Job, t.Name)
		}
		err = replaceNode(ctx, cl, path, st.Version, data)
		if errors.Is(err, warden.ErrBadVersion) {
			continue
		}
		return err
	}
}

// replaceNode replaces the ephemeral node at path (at version v) by a
// persistent one with data, in one multi. The job's node and its
// ancestors up to /warden are containers: deleting a job's last task
// deletes them too, within the multi, so the multi creates again as many
// of them as that removes. How many is found by trying: one too few makes
// the record's create fail with no_node, and a failed multi changes
// nothing.
func replaceNode(ctx context.Context, cl *warden.Client, path string, v int32, data []byte) error {
	var ancestors []string // nearest first: the job, /warden/progress, /warden
	for p := parentPath(path); p != "/"; p = parentPath(p) {
		ancestors = append(ancestors, p)
	}
	var err error
	for k := 0; k <= len(ancestors); k++ {
		ops := []warden.Op{warden.DeleteOp(path, v)}
		for i := k - 1; i >= 0; i-- {
			ops = append(ops, warden.CreateOp(ancestors[i], nil, warden.Container))
		}
		ops = append(ops, warden.CreateOp(path, data, warden.Persistent))
		if _, err = cl.Multi(ctx, ops...); !errors.Is(err, warden.ErrNoNode) {
			return err
		}
	}
	return err
}

// parentPath is the parent of a node's path ("/" for a top-level node).
func parentPath(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// hasReport reports whether the task's latest written report has state
// and msg.
func hasReport(ctx context.Context, cl *warden.Client, t *warden.Task, state, msg string) (bool, error) {
	tasks, err := cl.Progress(ctx, t.Job)
	if err != nil {
		return false, err
	}
	for _, r := range tasks {
		if r.Task == t.Name {
			return r.State == state && r.Message == msg, nil
		}
	}
	return false, fmt.Errorf("task %s/%s is gone", t.Job, t.Name)
}

// clearTaskRecord deletes a finished task's record (a persistent node at
// the task's path), so that the task can run again. A live task (an
// ephemeral node) is left alone and reported as such.
func clearTaskRecord(ctx context.Context, cl *warden.Client, t *warden.Task, st warden.Stat) error {
	if st.EphemeralOwner != 0 {
		return fmt.Errorf("task %s/%s is already running (session %#x holds it)", t.Job, t.Name, st.EphemeralOwner)
	}
	err := cl.Delete(ctx, t.Path(), st.Version)
	if errors.Is(err, warden.ErrNoNode) {
		return nil
	}
	if errors.Is(err, warden.ErrBadVersion) {
		return fmt.Errorf("task %s/%s changed as it started; try again", t.Job, t.Name)
	}
	return err
}
