package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	warden "github.com/warden-dev/warden/clients/go"
)

func init() {
	register("progress", command{
		usage: "[--json] [--once | --follow] JOB",
		help:  "show the progress of a job's tasks, live, until they have all finished (--once: now)",
		long: `Live, the view ends when every task of the job has finished: it prints a
summary and exits 0 if every task is done, 1 if any failed or was lost.
--follow keeps following the job until Ctrl-C. A finished task (one that
` + "`warden task`" + ` ran) keeps its row with its final state, exit code and
elapsed time.
`,
		run: runProgress,
	})
}

// progressJSON is what --json --once prints.
type progressJSON struct {
	Job   string              `json:"job"`
	Tasks []warden.TaskReport `json:"tasks"`
}

// runProgress shows a job's tasks. With --once it prints them and exits;
// otherwise it follows the job until every task has finished (or, with
// --follow, until interrupted): on a terminal, a view with one progress
// bar per task, redrawn on every change and every second; elsewhere (or
// with --json) one line per event.
func runProgress(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("progress", flag.ContinueOnError)
	cf.register(fs)
	cf.noSession = true
	asJSON := fs.Bool("json", false, "print JSON (with --once: the job's tasks; live: one event per line)")
	once := fs.Bool("once", false, "print the tasks as they are now and exit")
	follow := fs.Bool("follow", false, "keep following the job after every task has finished, until Ctrl-C")
	if err := parseArgs(fs, args, 1, 1); err != nil {
		return err
	}
	if *once && *follow {
		return usagef("--once and --follow exclude each other")
	}
	job := fs.Arg(0)
	if *once {
		cl, ctx, done, err := cf.dial()
		if err != nil {
			return err
		}
		defer done()
		tasks, err := cl.Progress(ctx, job)
		if err != nil {
			return err
		}
		if *asJSON {
			if tasks == nil {
				tasks = []warden.TaskReport{}
			}
			return printJSON(progressJSON{Job: job, Tasks: tasks})
		}
		return printTasks(os.Stdout, tasks)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dctx, dcancel := context.WithTimeout(ctx, cf.timeout)
	cl, err := warden.Dial(dctx, warden.Options{Socket: cf.socket, Name: "warden-progress", NoSession: true})
	dcancel()
	if err != nil {
		return err
	}
	defer cl.Close()
	w, err := cl.WatchProgress(ctx, job)
	if err != nil {
		return err
	}
	var view progressView
	switch {
	case *asJSON:
		view = &jsonLines{enc: json.NewEncoder(os.Stdout)}
	case isTerminalFile(os.Stdout):
		view = &progressBars{job: job, out: os.Stdout, width: func() int { return terminalWidth(os.Stdout) }}
	default:
		view = &eventLines{out: os.Stdout}
	}
	return followJob(ctx, cl, w, job, view, *follow)
}

// followJob feeds the job's events to the view until every task has
// finished (unless follow) or ctx ends. The terminal view is also redrawn
// every second (elapsed times) and when the terminal is resized.
func followJob(ctx context.Context, cl *warden.Client, w *warden.ProgressWatch, job string, view progressView, follow bool) error {
	type next struct {
		ev  warden.TaskEvent
		err error
	}
	events := make(chan next, 64)
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go func() {
		for {
			ev, err := w.Next(wctx)
			select {
			case events <- next{ev, err}:
			case <-wctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	defer signal.Stop(winch)

	jv := newJobView(cl, job)
	apply := func(n next) error {
		if n.err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return n.err
		}
		row, show, err := jv.apply(ctx, n.ev)
		if show {
			view.event(row)
		}
		return err
	}
	view.draw(jv)
	for {
		select {
		case <-ctx.Done():
			return nil // interrupted: a clean exit
		case <-tick.C:
			view.tick(jv)
			continue
		case <-winch:
			view.draw(jv)
			continue
		case n := <-events:
			err := apply(n)
			// Take whatever else has already arrived before redrawing, so
			// a burst (the job's tasks at the start) draws once.
		burst:
			for err == nil {
				select {
				case n := <-events:
					err = apply(n)
				default:
					break burst
				}
			}
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return err
			}
		}
		view.draw(jv)
		if !follow && jv.allFinished() {
			s := jv.summary()
			view.summary(s)
			if !s.ok() {
				return &exitError{code: 1}
			}
			return nil
		}
	}
}

// printTasks prints tasks as a table.
func printTasks(out io.Writer, tasks []warden.TaskReport) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TASK\tSTATE\tPERCENT\tUPDATED\tMESSAGE")
	for _, t := range tasks {
		fmt.Fprintf(w, "%s\t%s\t%.1f%%\t%s\t%s\n", t.Task, t.State, t.Percent,
			time.UnixMilli(t.Updated).Format("15:04:05"), oneLine(t.Message))
	}
	return w.Flush()
}

// isTerminalFile reports whether f is a character device (a terminal).
func isTerminalFile(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
