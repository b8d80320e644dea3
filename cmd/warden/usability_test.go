package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// These tests run the real binary against real agents: how every verb
// reads its command line, the exit statuses of the verbs that run a
// command, and what the verbs say when the cluster has no leader.

// TestCLIHelpEveryVerb: -h and --help print the verb's usage line, with
// its positional arguments, on standard output, and exit 0.
func TestCLIHelpEveryVerb(t *testing.T) {
	e := &env{t: t, bin: agenttest.Binary(t), proc: &agenttest.Proc{Socket: filepath.Join(t.TempDir(), "none.sock")}}
	for name, c := range commands {
		for _, h := range []string{"-h", "--help"} {
			r := e.cli(name, h)
			first, _, _ := strings.Cut(r.stdout, "\n")
			if r.code != 0 || r.stderr != "" || first != "usage: warden "+name+" "+c.usage && first != "usage: warden "+name {
				t.Errorf("warden %s %s: exit %d, first line %q, stderr %q", name, h, r.code, first, r.stderr)
			}
		}
	}
	// The exit statuses are in the long help of the verbs that run CMD.
	for _, verb := range []string{"lock", "elect", "task"} {
		r := e.cli(verb, "--help")
		for _, code := range []string{"126", "127", "128+N", "130 SIGINT", "143 SIGTERM"} {
			if !strings.Contains(r.stdout, code) {
				t.Errorf("warden %s --help does not mention %s:\n%s", verb, code, r.stdout)
			}
		}
		if (verb != "task") != strings.Contains(r.stdout, "124") {
			t.Errorf("warden %s --help and 124:\n%s", verb, r.stdout)
		}
	}
	// A missing positional is named; nothing runs.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"task", "j", "--", "echo", "x"}, "missing TASK"},
		{[]string{"task", "--", "echo", "x"}, "missing JOB"},
		{[]string{"lock", "--timeout", "1s", "--", "echo", "x"}, "missing PATH"},
		{[]string{"lock", "/demo", "--timeout", "1s"}, "missing CMD"},
		{[]string{"elect", "--", "echo", "x"}, "missing GROUP"},
		{[]string{"create"}, "missing PATH"},
		{[]string{"set", "/a", "--version", "1"}, "missing DATA"},
		{[]string{"get", "/a", "/b"}, `unexpected argument "/b"`},
		{[]string{"lock", "--timeout", "-1s", "/x", "--", "echo", "x"}, "--timeout must not be negative"},
		{[]string{"get", "--op-timeout", "0s", "/x"}, "--op-timeout must be positive"},
	} {
		r := e.cli(tc.args...)
		if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "usage: warden "+tc.args[0]) {
			t.Errorf("warden %q: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, r.code, r.stdout, r.stderr, tc.want)
		}
	}
}

// TestCLIFlagsAnywhere: flags after the positional arguments, before --,
// for the verbs that run a command as for the others; after -- they are
// the command's.
func TestCLIFlagsAnywhere(t *testing.T) {
	e := startAgent(t)
	for _, tc := range []struct {
		args []string
		out  string
	}{
		{[]string{"lock", "/demo", "--timeout", "5s", "--", "echo", "held"}, "held\n"},
		{[]string{"lock", "/demo", "--op-timeout", "5s", "echo", "no dashes"}, "no dashes\n"},
		{[]string{"lock", "/demo", "--", "sh", "-c", `echo "$1"`, "sh", "--timeout"}, "--timeout\n"},
		{[]string{"elect", "g1", "--timeout", "5s", "--value", "v1", "--", "sh", "-c", `echo "$WARDEN_ELECTION_VALUE"`}, "v1\n"},
		{[]string{"task", "j1", "--op-timeout", "10s", "t1", "--kill-after", "1s", "--", "echo", "tasked"}, "tasked\n"},
		{[]string{"create", "/f1", "data", "--op-timeout", "5s"}, "/f1\n"},
		{[]string{"get", "/f1", "--op-timeout", "5s"}, "data"},
		{[]string{"ls", "/", "--socket", e.proc.Socket}, ""},
	} {
		r := e.cli(tc.args...)
		if r.code != 0 || (tc.out != "" && r.stdout != tc.out) {
			t.Errorf("warden %q: exit %d, stdout %q, stderr %q; want %q", tc.args, r.code, r.stdout, r.stderr, tc.out)
		}
	}
}

// TestLockExitCodes: the exit statuses of lock, elect and task, with real
// processes and real signals.
func TestLockExitCodes(t *testing.T) {
	e := startAgent(t)
	c := e.dial()
	ctx := testCtx(t, 2*time.Minute)
	held, err := c.Lock(ctx, "/held")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Campaign(ctx, "/warden/elections/taken", []byte("other")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	plain := filepath.Join(dir, "not-executable")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\necho ran\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "ran")
	code := func(want int, args ...string) result {
		t.Helper()
		start := time.Now()
		r := e.cli(args...)
		if r.code != want {
			t.Fatalf("warden %q: exit %d after %v, want %d; stderr %q", args, r.code, time.Since(start), want, r.stderr)
		}
		return r
	}

	// 124: not acquired (elected) within --timeout; the command never runs.
	start := time.Now()
	r := code(124, "lock", "--timeout", "300ms", "/held", "--", "touch", marker)
	if took := time.Since(start); took < 300*time.Millisecond || !strings.Contains(r.stderr, "lock on /held not acquired within 300ms") {
		t.Fatalf("lock --timeout 300ms on a held lock: after %v, stderr %q", took, r.stderr)
	}
	r = code(124, "elect", "taken", "--timeout", "300ms", "--", "touch", marker)
	if !strings.Contains(r.stderr, "not elected in /warden/elections/taken within 300ms") {
		t.Fatalf("elect --timeout: stderr %q", r.stderr)
	}
	// 127: not found; 126: not executable.
	for _, verb := range [][]string{{"lock", "/free"}, {"elect", "free"}, {"task", "job", "t"}} {
		r = code(127, append(verb, "--", "no-such-command-here")...)
		if !strings.Contains(r.stderr, "cannot run no-such-command-here") {
			t.Fatalf("%v of a missing command: stderr %q", verb, r.stderr)
		}
		code(127, append(verb, "--", filepath.Join(dir, "missing"))...)
		code(126, append(verb, "--", plain)...)
	}
	// 128+N: the command killed by a signal; else the command's status.
	code(137, "lock", "/free", "--", "sh", "-c", "kill -KILL $$")
	code(143, "task", "job", "t", "--", "sh", "-c", "kill -TERM $$")
	code(7, "elect", "free", "--", "sh", "-c", "exit 7")
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a command ran without its grant")
	}

	// 130 and 143: SIGINT or SIGTERM to warden while it waits.
	for _, s := range []struct {
		sig  syscall.Signal
		want int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		b := e.start("lock", "/held", "--", "touch", marker)
		agenttest.Eventually(t, 10*time.Second, "the waiter in line", func() bool { return contenders(t, c, "/held") == 2 })
		if err := b.cmd.Process.Signal(s.sig); err != nil {
			t.Fatal(err)
		}
		if got := b.wait(t, 10*time.Second); got != s.want || !strings.Contains(b.errb.String(), "interrupted by") {
			t.Fatalf("lock interrupted by %v: exit %d, want %d; stderr %s", s.sig, got, s.want, b.errb)
		}
		agenttest.Eventually(t, 10*time.Second, "the waiter gone", func() bool { return contenders(t, c, "/held") == 1 })

		b = e.start("elect", "taken", "--", "touch", marker)
		agenttest.Eventually(t, 10*time.Second, "the candidate in line", func() bool {
			return contenders(t, c, "/warden/elections/taken") == 2
		})
		if err := b.cmd.Process.Signal(s.sig); err != nil {
			t.Fatal(err)
		}
		if got := b.wait(t, 10*time.Second); got != s.want {
			t.Fatalf("elect interrupted by %v: exit %d, want %d; stderr %s", s.sig, got, s.want, b.errb)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a command ran without its grant")
	}
	if ok, err := held.Check(ctx); !ok || err != nil {
		t.Fatalf("the holder after the waiters: %v %v", ok, err)
	}
}

// TestCLINoLeader: against an agent whose cluster has lost its quorum
// (two of three servers SIGKILLed), every verb gives up within its
// timeout and says there is no leader; status says so too.
func TestCLINoLeader(t *testing.T) {
	cl := agenttest.StartCluster(t, 3, 0)
	survivor := cl.Servers[2]
	e := &env{t: t, bin: agenttest.Binary(t), proc: survivor}
	// A session opened while there was a leader.
	c := e.dial()
	for _, p := range cl.Servers[:2] {
		p.Kill()
	}
	agenttest.Eventually(t, 60*time.Second, "the survivor to know no leader", func() bool {
		st, err := survivor.Status()
		return err == nil && st.Leader == "" && st.NoLeaderMs > 0
	})

	// The Go client: a write and a lock with a deadline end by it, and say why.
	for _, call := range []struct {
		name string
		f    func(context.Context) error
	}{
		{"create", func(ctx context.Context) error { _, err := c.Create(ctx, "/n", nil, warden.Persistent); return err }},
		{"lock", func(ctx context.Context) error { _, err := c.Lock(ctx, "/l"); return err }},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		start := time.Now()
		err := call.f(ctx)
		took := time.Since(start)
		cancel()
		if took > 3*time.Second || !errors.Is(err, warden.ErrUnavailable) || !strings.Contains(err.Error(), "no leader for") {
			t.Fatalf("%s without a leader: after %v: %v", call.name, took, err)
		}
	}

	r := e.cli("status")
	if r.code != 0 || !strings.Contains(r.stdout, "leader         no leader (for ") {
		t.Fatalf("status without a leader: %+v", r)
	}
	for _, tc := range []struct {
		args  []string
		limit time.Duration
		code  int
		want  string
	}{
		{[]string{"lock", "--timeout", "3s", "/x", "--", "true"}, 3 * time.Second, 124,
			"lock on /x not acquired within 3s: cluster unavailable: no leader for "},
		{[]string{"elect", "g", "--timeout", "2s", "--", "true"}, 2 * time.Second, 124,
			"not elected in /warden/elections/g within 2s: cluster unavailable: no leader for "},
		{[]string{"create", "--op-timeout", "3s", "/y"}, 3 * time.Second, 1, "cluster unavailable: no leader for "},
		{[]string{"task", "j", "t", "--op-timeout", "2s", "--", "true"}, 2 * time.Second, 1, "cluster unavailable: no leader for "},
		{[]string{"lock", "/x", "--op-timeout", "2s", "--", "true"}, 2 * time.Second, 1, "cluster unavailable: no leader for "},
	} {
		start := time.Now()
		r := e.cli(tc.args...)
		took := time.Since(start)
		t.Logf("warden %q: exit %d after %v: %s", tc.args, r.code, took, strings.TrimSpace(r.stderr))
		if took > tc.limit+time.Second || r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Fatalf("warden %q without a leader: exit %d after %v, stderr %q; want exit %d within %v saying %q",
				tc.args, r.code, took, r.stderr, tc.code, tc.limit+time.Second, tc.want)
		}
	}
}
