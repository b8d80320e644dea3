package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	warden "github.com/warden-dev/warden/clients/go"
)

// cliIn runs a warden verb with stdin as its standard input: an *os.File
// is handed over as it is (a shell's `< file`); any other reader is fed
// through a pipe.
func (e *env) cliIn(stdin io.Reader, args ...string) result {
	e.t.Helper()
	cmd := e.command(args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		e.t.Fatalf("run warden %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

// randomValue is n random bytes that do not end in a newline.
func randomValue(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	b[n-1] = 'x'
	return b
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func openFile(t *testing.T, p string) *os.File {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// filledPipe is the read end of a pipe that holds b, its write end closed.
func filledPipe(t *testing.T, b []byte) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return r
}

// wantValue checks, through `warden get` into a pipe, that path holds
// exactly want.
func (e *env) wantValue(path string, want []byte) {
	e.t.Helper()
	r := e.cli("get", path)
	if r.code != 0 {
		e.t.Fatalf("warden get %s: %+v", path, r)
	}
	if !bytes.Equal([]byte(r.stdout), want) {
		e.t.Fatalf("warden get %s: %d bytes (%.40q...), want %d bytes (%.40q...)", path, len(r.stdout), r.stdout, len(want), want)
	}
}

func (e *env) wantMissing(c *warden.Client, path string) {
	e.t.Helper()
	_, ok, err := c.Exists(testCtx(e.t, 10*time.Second), path)
	if err != nil || ok {
		e.t.Fatalf("%s: exists %v, err %v; want it not created", path, ok, err)
	}
}

// TestValueInput: create and set take the value from standard input (-,
// or no DATA with a pipe or file on standard input) or a file (@FILE);
// 1 MiB values round-trip byte-exact through `warden get`; @@ escapes a
// leading @; more than 1 MiB is refused before anything is written.
func TestValueInput(t *testing.T) {
	e := startAgent(t)
	c := e.dial()
	big := randomValue(1 << 20)
	bigFile := writeFile(t, "big", big)

	for _, tc := range []struct {
		name  string
		stdin io.Reader
		args  []string
	}{
		{"dash, pipe", bytes.NewReader(big), []string{"create", "/dash", "-"}},
		{"no DATA, pipe", bytes.NewReader(big), []string{"create", "/piped"}},
		{"no DATA, < file", openFile(t, bigFile), []string{"create", "/redirected"}},
		{"@FILE", nil, []string{"create", "/atfile", "@" + bigFile}},
	} {
		r := e.cliIn(tc.stdin, tc.args...)
		if r.code != 0 || r.stdout != tc.args[1]+"\n" {
			t.Fatalf("%s: warden %v: %+v", tc.name, tc.args, r)
		}
		e.wantValue(tc.args[1], big)
	}

	// set, each way.
	other := randomValue(1<<20 - 3)
	otherFile := writeFile(t, "other", other)
	if r := e.cliIn(bytes.NewReader(other), "set", "/dash", "-"); r.code != 0 {
		t.Fatalf("set -: %+v", r)
	}
	e.wantValue("/dash", other)
	if r := e.cliIn(openFile(t, bigFile), "set", "/dash"); r.code != 0 {
		t.Fatalf("set < file: %+v", r)
	}
	e.wantValue("/dash", big)
	if r := e.cli("set", "/atfile", "@"+otherFile); r.code != 0 {
		t.Fatalf("set @FILE: %+v", r)
	}
	e.wantValue("/atfile", other)

	// Literal values: @@ stores one @; a lone word is itself; with
	// standard input /dev/null and no DATA, the value is empty.
	for _, tc := range [][3]string{{"/at", "@@me", "@me"}, {"/lit", "-x", "-x"}, {"/word", "hello", "hello"}} {
		if r := e.cli("create", "--", tc[0], tc[1]); r.code != 0 {
			t.Fatalf("create %s %s: %+v", tc[0], tc[1], r)
		}
		e.wantValue(tc[0], []byte(tc[2]))
	}
	if r := e.cli("create", "/empty"); r.code != 0 {
		t.Fatalf("create /empty </dev/null: %+v", r)
	}
	e.wantValue("/empty", nil)
	// set with no DATA and nothing piped in (/dev/null): a forgotten
	// argument, refused; an empty file redirected in is a value.
	if r := e.cli("set", "/word"); r.code != 2 || !strings.Contains(r.stderr, "missing DATA") {
		t.Fatalf("set /word </dev/null: %+v", r)
	}
	e.wantValue("/word", []byte("hello"))
	if r := e.cliIn(openFile(t, writeFile(t, "none", nil)), "set", "/lit"); r.code != 0 {
		t.Fatalf("set /lit < empty file: %+v", r)
	}
	e.wantValue("/lit", nil)

	// Over 1 MiB: refused with the limit named, nothing written.
	over := writeFile(t, "over", randomValue(1<<20+1))
	for _, tc := range []struct {
		stdin io.Reader
		args  []string
	}{
		{nil, []string{"create", "/over", "@" + over}},
		{openFile(t, over), []string{"create", "/over"}},
		{openFile(t, over), []string{"set", "/word", "-"}},
	} {
		r := e.cliIn(tc.stdin, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, "1048576 bytes (1 MiB)") {
			t.Fatalf("warden %v with 1 MiB + 1: want exit 2 naming the limit, got %+v", tc.args, r)
		}
	}
	e.wantMissing(c, "/over")
	e.wantValue("/word", []byte("hello"))

	// Bad files.
	for _, arg := range []string{"@" + filepath.Join(t.TempDir(), "nope"), "@" + t.TempDir(), "@"} {
		if r := e.cli("create", "/bad", arg); r.code != 2 || r.stderr == "" {
			t.Fatalf("create /bad %s: want exit 2, got %+v", arg, r)
		}
	}
	e.wantMissing(c, "/bad")
}

// TestValueInputAmbiguous: a value given on the command line while
// standard input holds bytes is refused (exit 2) and nothing is written.
func TestValueInputAmbiguous(t *testing.T) {
	e := startAgent(t)
	c := e.dial()
	data := writeFile(t, "data", []byte("from stdin"))
	for _, tc := range []struct {
		name  string
		stdin *os.File
		args  []string
	}{
		{"DATA, < file", openFile(t, data), []string{"create", "/amb", "arg"}},
		{"DATA, pipe", filledPipe(t, []byte("from stdin")), []string{"create", "/amb", "arg"}},
		{"@FILE, < file", openFile(t, data), []string{"create", "/amb", "@" + data}},
		{"@@, pipe", filledPipe(t, []byte("x")), []string{"create", "/amb", "@@x"}},
		{"set DATA, < file", openFile(t, data), []string{"set", "/amb", "arg"}},
	} {
		r := e.cliIn(tc.stdin, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, "both DATA and standard input") {
			t.Fatalf("%s: want exit 2 (ambiguous), got %+v", tc.name, r)
		}
		e.wantMissing(c, "/amb")
	}
	// An empty file or a drained pipe on standard input is no conflict.
	empty := writeFile(t, "empty", nil)
	if r := e.cliIn(openFile(t, empty), "create", "/amb", "arg"); r.code != 0 {
		t.Fatalf("create DATA < empty file: %+v", r)
	}
	if r := e.cliIn(filledPipe(t, nil), "set", "/amb", "arg2"); r.code != 0 {
		t.Fatalf("set DATA with an empty pipe: %+v", r)
	}
	e.wantValue("/amb", []byte("arg2"))
}

// openPTY opens a pseudo-terminal: its controller and the terminal.
func openPTY(t *testing.T) (ctl, term *os.File) {
	t.Helper()
	ctl, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { ctl.Close() })
	var unlock int32
	var n uint32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, ctl.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
		t.Fatalf("unlock pty: %v", errno)
	}
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, ctl.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); errno != 0 {
		t.Fatalf("pty number: %v", errno)
	}
	term, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	return ctl, term
}

// onTerminal runs a warden verb with a terminal as its standard input and
// output, and returns what it wrote there and its exit code.
func (e *env) onTerminal(args ...string) (string, int) {
	e.t.Helper()
	ctl, term := openPTY(e.t)
	cmd := e.command(args...)
	var errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = term, term, &errb
	err := cmd.Run()
	term.Close() // the child is gone: reading ctl ends (EIO) after its output
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("run warden %v: %v", args, err)
	}
	out, _ := io.ReadAll(ctl)
	return string(out) + errb.String(), code
}

// TestGetTerminal: on a terminal, get ends its output with a newline
// (unless the value does); into a pipe it writes the raw bytes. On a
// terminal with no DATA, create stores an empty value and set refuses.
func TestGetTerminal(t *testing.T) {
	e := startAgent(t)
	for _, tc := range [][2]string{{"/a", "value"}, {"/b", "line\n"}} {
		if r := e.cli("create", tc[0], tc[1]); r.code != 0 {
			t.Fatal(r)
		}
	}
	// The terminal turns "\n" into "\r\n".
	if out, code := e.onTerminal("get", "/a"); code != 0 || out != "value\r\n" {
		t.Fatalf("get /a on a terminal: %q, exit %d", out, code)
	}
	if out, code := e.onTerminal("get", "/b"); code != 0 || out != "line\r\n" {
		t.Fatalf("get /b on a terminal: %q, exit %d", out, code)
	}
	e.wantValue("/a", []byte("value"))
	e.wantValue("/b", []byte("line\n"))

	if out, code := e.onTerminal("create", "/t"); code != 0 || out != "/t\r\n" {
		t.Fatalf("create /t on a terminal: %q, exit %d", out, code)
	}
	e.wantValue("/t", nil)
	if out, code := e.onTerminal("set", "/t"); code != 2 || !strings.Contains(out, "missing DATA") {
		t.Fatalf("set /t on a terminal: %q, exit %d", out, code)
	}
}
