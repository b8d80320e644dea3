package interop

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// clientsDir is clients/, found from this file.
func clientsDir() string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..")
}

// runtimes returns the Python interpreter of the Python client's virtual
// environment and checks the TypeScript client is built. Without them the
// test skips, unless WARDEN_INTEROP=1 (make test) says they must be there.
func runtimes(t *testing.T) (python string) {
	t.Helper()
	dir := clientsDir()
	python = filepath.Join(dir, "python", ".venv", "bin", "python")
	var missing []string
	if _, err := os.Stat(python); err != nil {
		missing = append(missing, "the Python client's .venv (clients/python/test.sh makes it)")
	}
	if _, err := os.Stat(filepath.Join(dir, "typescript", "dist", "index.js")); err != nil {
		missing = append(missing, "the TypeScript client's build (clients/typescript/test.sh makes it)")
	}
	if len(missing) > 0 {
		msg := "missing " + strings.Join(missing, " and ")
		if os.Getenv("WARDEN_INTEROP") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg + "; make test prepares them")
	}
	return python
}

// app is one contending process.
type app struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan error
}

func startApp(t *testing.T, name string, argv ...string) *app {
	t.Helper()
	a := &app{name: name, cmd: exec.Command(argv[0], argv[1:]...), lines: make(chan string, 16), done: make(chan error, 1)}
	a.cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(clientsDir(), "python"))
	a.cmd.Stderr = &prefixWriter{t: t, prefix: name + ": "}
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var err error
	if a.stdin, err = a.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := a.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			a.lines <- sc.Text()
		}
		close(a.lines)
		a.done <- a.cmd.Wait()
	}()
	t.Cleanup(func() { _ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL) })
	return a
}

// expect waits for the app to print want.
func (a *app) expect(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-a.lines:
			if !ok {
				t.Fatalf("%s exited before printing %q: %v", a.name, want, <-a.done)
			}
			if line == want {
				return
			}
		case <-deadline:
			t.Fatalf("%s did not print %q within %v", a.name, want, timeout)
		}
	}
}

type prefixWriter struct {
	t      *testing.T
	prefix string
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.t.Log(w.prefix + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestLockAcrossLanguages: a Python app, a TypeScript app and a Go client,
// each through a different server of a 3-server cluster, take one lock in
// turn. While holding it each appends a start and an end line to one log;
// the log must be strict start/end pairs of one holder each (nobody ever
// held it together), with fencing tokens that strictly increase, and the
// holders must have taken turns.
func TestLockAcrossLanguages(t *testing.T) {
	python := runtimes(t)
	c := agenttest.StartCluster(t, 3, 0)
	const path, rounds = "/interop/lock", 60
	log := filepath.Join(t.TempDir(), "holds.log")
	if err := os.WriteFile(log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(clientsDir(), "interop")
	apps := []*app{
		startApp(t, "python", python, filepath.Join(dir, "lock_app.py"), c.Servers[1].Socket, path, log, fmt.Sprint(rounds), "python"),
		startApp(t, "typescript", "node", filepath.Join(dir, "lock_app.mjs"), c.Servers[2].Socket, path, log, fmt.Sprint(rounds), "typescript"),
	}
	for _, a := range apps {
		a.expect(t, "ready", 30*time.Second)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	gc, err := warden.Dial(ctx, warden.Options{Socket: c.Servers[0].Socket, Name: "go"})
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	goDone := make(chan error, 1)
	for _, a := range apps {
		if _, err := io.WriteString(a.stdin, "go\n"); err != nil {
			t.Fatal(err)
		}
	}
	go func() {
		f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			goDone <- err
			return
		}
		defer f.Close()
		for range rounds {
			lease, err := gc.Lock(ctx, path)
			if err != nil {
				goDone <- err
				return
			}
			fmt.Fprintf(f, "S go %d\n", lease.Token)
			time.Sleep(2 * time.Millisecond) // the work the lock protects
			fmt.Fprintf(f, "E go %d\n", lease.Token)
			if err := lease.Unlock(ctx); err != nil {
				goDone <- err
				return
			}
		}
		goDone <- nil
	}()
	for _, a := range apps {
		a.expect(t, "done", 2*time.Minute)
		if err := <-a.done; err != nil {
			t.Fatalf("%s: %v", a.name, err)
		}
	}
	if err := <-goDone; err != nil {
		t.Fatalf("go: %v", err)
	}

	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2*3*rounds {
		t.Fatalf("%d log lines, want %d", len(lines), 2*3*rounds)
	}
	holds := map[string]int{}
	turns := 0
	var lastToken uint64
	prev := ""
	for i := 0; i < len(lines); i += 2 {
		s, e := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(s) != 3 || len(e) != 3 || s[0] != "S" || e[0] != "E" || s[1] != e[1] || s[2] != e[2] {
			t.Fatalf("lines %d-%d: %q then %q: two holders at once", i+1, i+2, lines[i], lines[i+1])
		}
		token, err := strconv.ParseUint(s[2], 10, 64)
		if err != nil {
			t.Fatalf("line %d: token %q: %v", i+1, s[2], err)
		}
		if token <= lastToken {
			t.Fatalf("line %d: %s's token %d after %d: fencing tokens must increase", i+1, s[1], token, lastToken)
		}
		lastToken = token
		holds[s[1]]++
		if prev != "" && prev != s[1] {
			turns++
		}
		prev = s[1]
	}
	for _, who := range []string{"python", "typescript", "go"} {
		if holds[who] != rounds {
			t.Errorf("%s held the lock %d times, want %d", who, holds[who], rounds)
		}
	}
	// Fair (FIFO) locks with three contenders hand over on almost every
	// release; a run without handovers would not have tested exclusion.
	if turns < rounds {
		t.Errorf("only %d handovers between holders in %d holds", turns, len(lines)/2)
	}
	t.Logf("%d holds, %d handovers between languages, last token %d", len(lines)/2, turns, lastToken)
}
