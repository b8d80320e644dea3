package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
	"unsafe"

	warden "github.com/warden-dev/warden/clients/go"
)

// progressView shows a job: event hears each change the job view lets
// through, draw shows the whole job (after a burst of events), tick is a
// second gone by, summary the end of a job whose tasks have all finished.
type progressView interface {
	event(taskRow)
	draw(*jobView)
	tick(*jobView)
	summary(jobSummary)
}

// progressBars is the live view on a terminal: the whole job, redrawn, one
// aligned row per task, each line cut to the terminal's width.
type progressBars struct {
	job   string
	out   io.Writer
	width func() int
}

// barWidth is the progress bar's width on a wide enough terminal.
const barWidth = 30

// Column limits: a longer task name or state is cut (the message takes
// what is left of the line; fitColumns narrows the columns further on a
// narrow terminal).
const (
	maxNameCol  = 32
	maxStateCol = 24
)

func (v *progressBars) event(taskRow)        {}
func (v *progressBars) tick(j *jobView)      { v.draw(j) }
func (v *progressBars) summary(s jobSummary) { fmt.Fprintf(v.out, "\n%s\n", s) }

func (v *progressBars) draw(j *jobView) {
	width := v.width()
	names := j.names()
	now := time.Now()
	type cells struct {
		name, pct, state, elapsed, msg string
		percent                        float64
	}
	rows := make([]cells, 0, len(names))
	nameW, stateW, elapsedW := len("TASK"), len("STATE"), len("ELAPSED")
	running := 0
	for _, n := range names {
		r := j.rows[n]
		if !r.finished {
			running++
		}
		c := cells{
			name:    sanitize(n),
			percent: r.rep.Percent,
			pct:     fmt.Sprintf("%5.1f%%", r.rep.Percent),
			state:   r.stateCell(),
			elapsed: r.elapsedCell(now),
			msg:     sanitize(r.rep.Message),
		}
		nameW = max(nameW, runeLen(c.name))
		stateW = max(stateW, runeLen(c.state))
		elapsedW = max(elapsedW, runeLen(c.elapsed))
		rows = append(rows, c)
	}
	nameW, barW, stateW := fitColumns(width, min(nameW, maxNameCol), min(stateW, maxStateCol), elapsedW)
	line := func(c cells, bar string) string {
		return cut(strings.TrimRight(pad(cut(c.name, nameW), nameW)+"  "+pad(bar, barW+2)+"  "+pad(c.pct, 6)+"  "+
			pad(cut(c.state, stateW), stateW)+"  "+pad(c.elapsed, elapsedW)+"  "+c.msg, " "), width)
	}
	var b strings.Builder
	b.WriteString("\x1b[H\x1b[2J") // home, clear the screen
	head := fmt.Sprintf("job %s: %d task(s), %d running, %d finished    %s    (Ctrl-C to quit)",
		sanitize(v.job), len(names), running, len(names)-running, now.Format("15:04:05"))
	b.WriteString(cut(head, width) + "\n\n")
	b.WriteString(line(cells{name: "TASK", pct: "   PCT", state: "STATE", elapsed: "ELAPSED", msg: "MESSAGE"}, "PROGRESS") + "\n")
	for _, c := range rows {
		fill := min(max(int(c.percent/100*float64(barW)), 0), barW)
		b.WriteString(line(c, "["+strings.Repeat("#", fill)+strings.Repeat("-", barW-fill)+"]") + "\n")
	}
	_, _ = io.WriteString(v.out, b.String())
}

// fitColumns narrows the columns of a terminal too narrow for them all
// and minMessage columns of message: first the bar (down to minBar), then
// the task names (down to minName), then the states (down to minState).
// It returns the name, bar and state widths.
func fitColumns(width, nameW, stateW, elapsedW int) (int, int, int) {
	const minMessage, minBar, minName, minState = 20, 10, 12, 8
	barW := barWidth
	fixed := func() int { return nameW + 2 + barW + 2 + 2 + 6 + 2 + stateW + 2 + elapsedW + 2 }
	over := fixed() + minMessage - width
	shrink := func(w *int, floor int) {
		if over > 0 && *w > floor {
			d := min(over, *w-floor)
			*w -= d
			over -= d
		}
	}
	shrink(&barW, minBar)
	shrink(&nameW, max(minName, len("TASK")))
	shrink(&stateW, max(minState, len("STATE")))
	return nameW, barW, stateW
}

// stateCell is the task's state, with how its command ended when it has
// failed.
func (r *taskRow) stateCell() string {
	switch {
	case r.lost:
		return "lost"
	case r.finished && r.rep.State == warden.TaskFailed:
		return "failed (" + r.outcome() + ")"
	}
	return sanitize(r.rep.State)
}

// elapsedCell is how long the task ran (finished) or has run (running).
func (r *taskRow) elapsedCell(now time.Time) string {
	if res, ok := parseTaskResult(r.rep.Data); ok && r.finished {
		return fmtElapsed(time.Duration(res.ElapsedMS) * time.Millisecond)
	}
	if !r.finished && r.started > 0 {
		return fmtElapsed(max(now.Sub(time.UnixMilli(r.started)), 0))
	}
	return ""
}

// fmtElapsed is 4.2s, 3m07s or 2h05m.
func fmtElapsed(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// sanitize makes s one line without control characters, so that a message
// cannot move the cursor or break the table.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}

func runeLen(s string) int { return utf8.RuneCountInString(s) }

// pad fills s with spaces to n characters.
func pad(s string, n int) string { return s + strings.Repeat(" ", max(n-runeLen(s), 0)) }

// cut shortens s to n characters, its last one then "…".
func cut(s string, n int) string {
	if runeLen(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// terminalWidth is f's terminal's width in columns, else $COLUMNS, else
// 80.
func terminalWidth(f *os.File) int {
	var ws struct{ row, col, xpixel, ypixel uint16 }
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TIOCGWINSZ, uintptr(unsafe.Pointer(&ws))); errno == 0 && ws.col > 0 {
		return int(ws.col)
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 80
}

// eventLines is the live view when the output is not a terminal: a line
// per change, "TASK STATE PERCENT% MESSAGE" or "TASK removed", then the
// summary.
type eventLines struct{ out io.Writer }

func (v *eventLines) event(r taskRow) {
	if r.removed {
		fmt.Fprintf(v.out, "%s removed\n", r.rep.Task)
		return
	}
	fmt.Fprintf(v.out, "%s %s %.1f%% %s\n", r.rep.Task, r.rep.State, r.rep.Percent, oneLine(r.rep.Message))
}

func (v *eventLines) draw(*jobView)        {}
func (v *eventLines) tick(*jobView)        {}
func (v *eventLines) summary(s jobSummary) { fmt.Fprintln(v.out, s) }

// jsonLines prints each change as one JSON object; finished is true on a
// finished task's final report. The summary is only the exit status.
type jsonLines struct{ enc *json.Encoder }

func (v *jsonLines) event(r taskRow) {
	_ = v.enc.Encode(struct {
		Task     warden.TaskReport `json:"task"`
		Removed  bool              `json:"removed,omitempty"`
		Finished bool              `json:"finished,omitempty"`
	}{r.rep, r.removed, r.finished && !r.lost})
}

func (v *jsonLines) draw(*jobView)      {}
func (v *jsonLines) tick(*jobView)      {}
func (v *jsonLines) summary(jobSummary) {}
