package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// The live view of `warden progress` in a real terminal: tmux runs it in a
// pane of a fixed size while real `warden task` processes run and finish,
// and the test reads the screen with capture-pane.

// Pane size of the terminal tests.
const paneCols, paneRows = 100, 24

// tmuxPath finds tmux. Where the tests must run it (make test-go sets
// WARDEN_TMUX=1 after installing it; CI sets CI) a missing tmux fails the
// test; elsewhere the test is skipped.
func tmuxPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tmux")
	if err == nil {
		return p
	}
	if os.Getenv("WARDEN_TMUX") == "1" || os.Getenv("CI") != "" {
		t.Fatal("tmux is missing: make need-tmux installs it")
	}
	t.Skip("tmux is missing (make need-tmux installs it; WARDEN_TMUX=1 makes this a failure)")
	return ""
}

// tmuxServer is a tmux server of the test's own, with one pane per
// session; it is killed when the test ends.
type tmuxServer struct {
	t    *testing.T
	bin  string
	sock string
	conf string
}

func newTmux(t *testing.T) *tmuxServer {
	bin := tmuxPath(t)
	dir := agenttest.SocketDir(t)
	conf := filepath.Join(dir, "tmux.conf")
	// No status line: the pane is the whole window.
	if err := os.WriteFile(conf, []byte("set -g status off\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &tmuxServer{t: t, bin: bin, sock: filepath.Join(dir, "tmux.sock"), conf: conf}
	t.Cleanup(func() { _ = exec.Command(bin, "-S", s.sock, "kill-server").Run() })
	return s
}

func (s *tmuxServer) run(args ...string) string {
	s.t.Helper()
	out, err := exec.Command(s.bin, append([]string{"-S", s.sock, "-f", s.conf}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// start runs argv in a new detached session of paneCols x paneRows,
// through sh, which prints "[exit status N]" when argv exits and keeps the
// pane (and its screen) until the server is killed.
func (s *tmuxServer) start(session string, env []string, argv ...string) {
	s.t.Helper()
	args := []string{"new-session", "-d", "-s", session, "-x", strconv.Itoa(paneCols), "-y", strconv.Itoa(paneRows), "--", "env"}
	args = append(append(args, env...), "sh", "-c", `"$@"; echo "[exit status $?]"; exec sleep 3600`, "sh")
	s.run(append(args, argv...)...)
}

// screen is the pane's visible text, one string per row.
func (s *tmuxServer) screen(session string) string {
	return s.run("capture-pane", "-p", "-t", session)
}

var exitLine = regexp.MustCompile(`(?m)^\[exit status (\d+)\]$`)

// exited reports whether the pane's command has exited, and its status.
func (s *tmuxServer) exited(session string) (bool, int) {
	m := exitLine.FindStringSubmatch(s.screen(session))
	if m == nil {
		return false, 0
	}
	code, _ := strconv.Atoi(m[1])
	return true, code
}

// waitScreen polls the pane until cond holds for its screen, for up to
// 30 s, and returns that screen.
func (s *tmuxServer) waitScreen(session, what string, cond func(string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		sc := s.screen(session)
		if cond(sc) {
			return sc
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("after 30 s the screen does not show %s:\n%s", what, sc)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitExit waits for the pane's command to exit and returns its status.
func (s *tmuxServer) waitExit(session string) int {
	s.t.Helper()
	sc := s.waitScreen(session, "warden progress's exit", exitLine.MatchString)
	code, _ := strconv.Atoi(exitLine.FindStringSubmatch(sc)[1])
	return code
}

// rowOf returns the screen's first line that starts with prefix.
func rowOf(screen, prefix string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// checkAligned checks that the rows of the tasks (named by a prefix each)
// have their progress bars, percents, states and elapsed times where the
// header has those columns, and that no line is wider than the pane.
func checkAligned(t *testing.T, screen string, prefixes ...string) {
	t.Helper()
	var header []rune
	for _, l := range strings.Split(screen, "\n") {
		if utf8.RuneCountInString(l) > paneCols {
			t.Errorf("a line is wider than the pane (%d > %d): %q", utf8.RuneCountInString(l), paneCols, l)
		}
		if strings.HasPrefix(l, "TASK ") {
			header = []rune(l)
		}
	}
	if header == nil {
		t.Fatalf("no header row:\n%s", screen)
	}
	col := func(s string) int { return strings.Index(string(header), s) } // the header is ASCII
	bar, pctEnd, state, elapsed := col("PROGRESS"), col("PCT")+2, col("STATE"), col("ELAPSED")
	for _, p := range prefixes {
		row := []rune(rowOf(screen, p))
		if len(row) <= elapsed {
			t.Fatalf("no full row for %s:\n%s", p, screen)
		}
		closing := strings.IndexRune(string(row[bar:]), ']') // ASCII after the name column
		if row[bar] != '[' || bar+closing+2 > pctEnd || row[pctEnd] != '%' ||
			row[state-1] != ' ' || row[state] == ' ' || row[elapsed-1] != ' ' || row[elapsed] == ' ' {
			t.Errorf("row %q is not aligned with the header %q", string(row), string(header))
		}
	}
}

// TestProgressTerminal: `warden progress JOB` in a 100x24 terminal while
// three `warden task`s run. A task that finishes keeps its row, with its
// state, exit code and elapsed time; rows stay aligned whatever the
// length of a name, state or message, and no line is wider than the
// terminal; when the last task finishes the view prints a summary and
// exits 1 since one failed. Then, on a job whose tasks have all finished
// and succeeded, it prints the summary at once and exits 0; with --follow
// it stays, and shows a task that starts later.
func TestProgressTerminal(t *testing.T) {
	e := startAgent(t)
	tm := newTmux(t)
	path := wardenOnPath(t, e.bin)
	env := []string{"WARDEN_SOCKET=" + e.proc.Socket, "TERM=xterm"}
	dir := t.TempDir()

	tm.start("live", env, e.bin, "progress", "build")
	tm.waitScreen("live", "the empty job's header", func(s string) bool {
		return strings.Contains(s, "job build: 0 task(s)")
	})

	// Each long-running task waits on a FIFO of its own until the test
	// lets it finish.
	gate := func(name string) string {
		p := filepath.Join(dir, name)
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	release := func(fifo string) {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0) // blocks until the task reads
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.WriteString("go\n")
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	longName := "a-task-name-longer-than-the-name-column"
	longMsg := "a message far longer than what is left of the line " + strings.Repeat("and more ", 10) + "END"
	okGate, badGate := gate("ok"), gate("bad")
	ok := e.startEnv([]string{path}, "task", "build", "compile", "--", "sh", "-c",
		`warden report 50 "half way" && read x < `+okGate)
	bad := e.startEnv([]string{path}, "task", "build", longName, "--", "sh", "-c",
		`warden report --state linking-the-binaries 20 "`+longMsg+`" && read x < `+badGate+` && exit 3`)
	if r := e.cliEnv([]string{path}, "task", "build", "lint", "--", "true"); r.code != 0 {
		t.Fatalf("warden task lint -- true: %+v", r)
	}
	shortName := "a-task-name" // its row's start; the name is cut
	sc := tm.waitScreen("live", "two tasks running and one done", func(s string) bool {
		return strings.Contains(rowOf(s, "compile"), "half way") &&
			strings.Contains(rowOf(s, shortName), "linking-the-binaries") &&
			strings.Contains(rowOf(s, "lint"), " done ")
	})
	checkAligned(t, sc, "compile", shortName, "lint")
	if row := rowOf(sc, shortName); !strings.HasSuffix(row, "…") || utf8.RuneCountInString(row) != paneCols {
		t.Errorf("the long message is not cut at the pane's width: %q", row)
	}
	if !strings.Contains(rowOf(sc, "lint"), "100.0%") {
		t.Errorf("the finished task's row: %q", rowOf(sc, "lint"))
	}
	if dead, _ := tm.exited("live"); dead {
		t.Fatalf("warden progress exited while tasks run:\n%s", sc)
	}

	release(badGate)
	if code := bad.wait(t, 30*time.Second); code != 3 {
		t.Fatalf("warden task of a command that exits 3 exited %d", code)
	}
	sc = tm.waitScreen("live", "the failed task's row", func(s string) bool {
		return strings.Contains(rowOf(s, shortName), "failed (exit 3)")
	})
	checkAligned(t, sc, "compile", shortName, "lint")
	if dead, _ := tm.exited("live"); dead {
		t.Fatalf("warden progress exited while a task runs:\n%s", sc)
	}

	release(okGate)
	if code := ok.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("warden task compile exited %d", code)
	}
	if code := tm.waitExit("live"); code != 1 {
		t.Errorf("warden progress exited %d after a task failed, want 1", code)
	}
	sc = tm.screen("live")
	t.Logf("the screen when the job had finished:\n%s", sc)
	if !strings.Contains(sc, "3 tasks: 2 done, 1 failed ("+longName+": exit 3)") {
		t.Errorf("no summary:\n%s", sc)
	}
	checkAligned(t, sc, "compile", shortName, "lint")
	elapsed := regexp.MustCompile(`  \d+\.\ds\b`)
	for _, n := range []string{"compile", shortName, "lint"} {
		if row := rowOf(sc, n); !elapsed.MatchString(row) {
			t.Errorf("row %q shows no elapsed time", row)
		}
	}
	if row := rowOf(sc, "compile"); !strings.Contains(row, " done ") || !strings.Contains(row, "exit status 0") ||
		!regexp.MustCompile(`\[#+\]`).MatchString(row) {
		t.Errorf("the done task's row: %q", row)
	}

	// A job whose tasks all finished and succeeded: the summary at once,
	// exit 0; the finished tasks are still listed by --once.
	if r := e.cliEnv([]string{path}, "task", "deploy", "push", "--", "true"); r.code != 0 {
		t.Fatalf("warden task push: %+v", r)
	}
	tm.start("done", env, e.bin, "progress", "deploy")
	if code := tm.waitExit("done"); code != 0 {
		t.Errorf("warden progress of a job that succeeded exited %d:\n%s", code, tm.screen("done"))
	}
	if sc := tm.screen("done"); !strings.Contains(sc, "1 task: 1 done") || !strings.Contains(rowOf(sc, "push"), " done ") {
		t.Errorf("the finished job's screen:\n%s", sc)
	}
	if p := e.progressOnce("build"); len(p.Tasks) != 3 {
		t.Errorf("progress --once lists %d tasks of the finished job, want 3: %+v", len(p.Tasks), p)
	}

	// --follow: it stays after every task has finished, and shows the next.
	tm.start("follow", env, e.bin, "progress", "--follow", "deploy")
	tm.waitScreen("follow", "the finished task", func(s string) bool { return strings.Contains(rowOf(s, "push"), " done ") })
	if r := e.cliEnv([]string{path}, "task", "deploy", "verify", "--", "sh", "-c", "exit 4"); r.code != 4 {
		t.Fatalf("warden task verify: %+v", r)
	}
	sc = tm.waitScreen("follow", "the task that came later", func(s string) bool {
		return strings.Contains(rowOf(s, "verify"), "failed (exit 4)")
	})
	checkAligned(t, sc, "push", "verify")
	if dead, _ := tm.exited("follow"); dead {
		t.Fatalf("warden progress --follow exited:\n%s", sc)
	}
}

// TestProgressBarsFit: at any terminal width, every line of the view fits
// and the rows' columns line up with the header's, whatever the lengths
// of names, states and messages (control characters included).
func TestProgressBarsFit(t *testing.T) {
	j := newJobView(nil, "job")
	j.rows["a"] = &taskRow{rep: warden.TaskReport{Task: "a", State: "running", Percent: 50, Message: "short"}, started: time.Now().UnixMilli()}
	j.rows[strings.Repeat("n", 50)] = &taskRow{rep: warden.TaskReport{State: strings.Repeat("s", 64), Percent: 12.5,
		Message: "two\nlines\x1b[2Jand an escape " + strings.Repeat("m", 300)}}
	j.rows["é-unicode-name"] = &taskRow{finished: true, rep: warden.TaskReport{State: warden.TaskFailed, Percent: 100,
		Message: "exit status 7"}}
	j.rows["gone"] = &taskRow{finished: true, lost: true, rep: warden.TaskReport{State: "running", Percent: 3}}
	for _, width := range []int{40, 60, 80, 100, 200} {
		var out strings.Builder
		v := &progressBars{job: "job", out: &out, width: func() int { return width }}
		v.draw(j)
		screen := strings.TrimPrefix(out.String(), "\x1b[H\x1b[2J")
		if strings.ContainsAny(screen, "\x1b\t\r") {
			t.Fatalf("width %d: control characters on the screen: %q", width, screen)
		}
		lines := strings.Split(strings.TrimSuffix(screen, "\n"), "\n")
		if len(lines) != 7 {
			t.Fatalf("width %d: %d lines, want 7 (header, blank, column header, 4 rows):\n%s", width, len(lines), screen)
		}
		for _, l := range lines {
			if n := utf8.RuneCountInString(l); n > width {
				t.Errorf("width %d: a line of %d: %q", width, n, l)
			}
		}
		header := []rune(lines[2])
		bar := strings.Index(string(header), "PROGRESS")
		for _, l := range lines[3:] {
			r := []rune(l)
			if len(r) <= bar || r[bar] != '[' || r[bar-1] != ' ' {
				t.Errorf("width %d: row %q: no bar at column %d of %q", width, l, bar, lines[2])
			}
		}
		if width >= 100 && (!strings.Contains(screen, "lost") || !strings.Contains(screen, "failed (exit status 7)")) {
			t.Errorf("width %d: states:\n%s", width, screen)
		}
	}
}
