package localapi

import (
	"context"

	"github.com/warden-dev/warden/localapi/wire"
	"github.com/warden-dev/warden/recipes"
)

// Task progress: report is answered once the report is accepted (see
// recipes.Reporter: a report that creates its task is written first, any
// other is written after the reply, coalesced with the reports that follow
// it); progress_get lists a job's tasks; progress_watch is a stream of
// "task" events. Both first wait for the connection's own reports to the
// job that were accepted before them to be written, so that a session
// sees its latest report right after making it.
//
// A connection's reports are written by writer goroutines counted among
// its handlers, so a connection that closes has its last reports written
// before its session is closed: `warden report` can report and exit at
// once.
func init() {
	register(wire.OpReport, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		rep := recipes.TaskReport{State: req.State, Percent: req.Percent, Message: req.Message, Data: req.Data}
		if err := reporterOf(c).Report(ctx, req.Job, req.Task, rep); err != nil {
			return nil, toWire(err)
		}
		return &wire.Empty{}, nil
	})
	register(wire.OpProgressGet, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		if err := flushReports(c, ctx, req.Job); err != nil {
			return nil, toWire(err)
		}
		tasks, err := recipes.Progress(c.s.backend, req.Job)
		if err != nil {
			return nil, toWire(err)
		}
		out := &wire.ProgressResult{Job: req.Job, Tasks: make([]wire.Task, len(tasks))}
		for i, t := range tasks {
			out.Tasks[i] = wireTask(t)
		}
		return out, nil
	})
	register(wire.OpProgressWatch, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		if err := flushReports(c, ctx, req.Job); err != nil {
			return nil, toWire(err)
		}
		w, err := recipes.WatchProgress(c.s.backend, req.Job)
		if err != nil {
			return nil, toWire(err)
		}
		return &wire.SubscribeResult{Sub: c.openStream(ctx, func(ctx context.Context, emit emitter) {
			defer w.Close()
			for {
				ev, err := w.Next(ctx)
				if err != nil {
					return
				}
				if !emit(wire.EventTask, &wire.TaskEvent{Task: wireTask(ev.Task), Removed: ev.Removed}) {
					return
				}
			}
		})}, nil
	})
}

func wireTask(t recipes.TaskReport) wire.Task {
	return wire.Task{Task: t.Task, State: t.State, Percent: t.Percent, Message: t.Message, Data: t.Data, Updated: t.Updated}
}

// flushReports waits for the connection's accepted reports to job to be
// written (recipes.Reporter.Flush); nothing to wait for if it made none.
func flushReports(c *conn, ctx context.Context, job string) error {
	c.mu.Lock()
	r := c.reporter
	c.mu.Unlock()
	if r == nil {
		return nil
	}
	return r.Flush(ctx, job)
}

// reporterOf returns the connection's Reporter, creating it on first use.
// It is called only from a request handler, so adding its writers to
// c.handlers cannot race with serve's Wait.
func reporterOf(c *conn) *recipes.Reporter {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reporter != nil {
		return c.reporter
	}
	spawn := func(f func()) {
		c.handlers.Add(1)
		go func() {
			defer c.handlers.Done()
			f()
		}()
	}
	onError := func(task string, err error) {
		c.s.cfg.Logger.Warn("progress report not written", "session", c.sid, "task", task, "error", err)
	}
	c.reporter = recipes.NewReporter(c.session(), spawn, onError)
	return c.reporter
}
