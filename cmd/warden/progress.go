package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	warden "github.com/warden-dev/warden/clients/go"
)

func init() {
	register("progress", command{
		usage: "[--json] [--once] JOB",
		help:  "show the progress of a job's tasks, live (--once: now)",
		run:   runProgress,
	})
}

// progressJSON is what --json --once prints.
type progressJSON struct {
	Job   string              `json:"job"`
	Tasks []warden.TaskReport `json:"tasks"`
}

// runProgress shows a job's tasks. With --once it prints them and exits;
// otherwise it follows the job until interrupted: on a terminal, a view
// with one progress bar per task, redrawn on every change; elsewhere (or
// with --json) one line per event.
func runProgress(args []string) error {
	var cf clientFlags
	fs := flag.NewFlagSet("progress", flag.ContinueOnError)
	cf.register(fs)
	cf.noSession = true
	asJSON := fs.Bool("json", false, "print JSON (with --once: the job's tasks; live: one event per line)")
	once := fs.Bool("once", false, "print the tasks as they are now and exit")
	if err := parseArgs(fs, args, 1, 1); err != nil {
		return err
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
		view = &progressBars{job: job, out: os.Stdout, tasks: map[string]warden.TaskReport{}}
	default:
		view = &eventLines{out: os.Stdout}
	}
	view.draw()
	for {
		ev, err := w.Next(ctx)
		if ctx.Err() != nil {
			return nil // interrupted: a clean exit
		}
		if err != nil {
			return err
		}
		view.event(ev)
		// Take whatever else has already arrived before redrawing, so a
		// burst (the job's tasks at the start) draws once.
		for {
			bctx, bcancel := context.WithTimeout(ctx, 20*time.Millisecond)
			ev, err := w.Next(bctx)
			bcancel()
			if err != nil {
				break
			}
			view.event(ev)
		}
		view.draw()
	}
}

// progressView shows a job's events.
type progressView interface {
	event(warden.TaskEvent)
	draw()
}

// progressBars is the live view on a terminal: the whole job, redrawn.
type progressBars struct {
	job   string
	out   io.Writer
	tasks map[string]warden.TaskReport
}

func (v *progressBars) event(ev warden.TaskEvent) {
	if ev.Removed {
		delete(v.tasks, ev.Task.Task)
		return
	}
	v.tasks[ev.Task.Task] = ev.Task
}

const barWidth = 30

func (v *progressBars) draw() {
	names := make([]string, 0, len(v.tasks))
	width := 4
	for n := range v.tasks {
		names = append(names, n)
		width = max(width, len(n))
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("\x1b[H\x1b[2J") // home, clear the screen
	fmt.Fprintf(&b, "job %s: %d task(s)    %s    (Ctrl-C to quit)\n\n", v.job, len(names), time.Now().Format("15:04:05"))
	for _, n := range names {
		t := v.tasks[n]
		fill := int(t.Percent / 100 * barWidth)
		fill = min(max(fill, 0), barWidth)
		fmt.Fprintf(&b, "%-*s [%s%s] %5.1f%%  %-8s %s\n", width, n,
			strings.Repeat("#", fill), strings.Repeat("-", barWidth-fill), t.Percent, t.State, oneLine(t.Message))
	}
	_, _ = io.WriteString(v.out, b.String())
}

// eventLines is the live view when the output is not a terminal.
type eventLines struct{ out io.Writer }

func (v *eventLines) event(ev warden.TaskEvent) {
	if ev.Removed {
		fmt.Fprintf(v.out, "%s removed\n", ev.Task.Task)
		return
	}
	fmt.Fprintf(v.out, "%s %s %.1f%% %s\n", ev.Task.Task, ev.Task.State, ev.Task.Percent, oneLine(ev.Task.Message))
}

func (v *eventLines) draw() {}

// jsonLines prints each event as one JSON object.
type jsonLines struct{ enc *json.Encoder }

func (v *jsonLines) event(ev warden.TaskEvent) {
	_ = v.enc.Encode(struct {
		Task    warden.TaskReport `json:"task"`
		Removed bool              `json:"removed,omitempty"`
	}{ev.Task, ev.Removed})
}

func (v *jsonLines) draw() {}

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
