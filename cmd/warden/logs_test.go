package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
)

// logLine is one line of the agent's --log-format json.
type logLine struct {
	Node   string `json:"node"`
	Level  string `json:"level"`
	Msg    string `json:"msg"`
	Logger string `json:"logger"`
}

// agentLogs runs a dev agent process with extra flags, its standard
// error in a file; once it is ready (its banner on standard output), it
// calls during, then stops it with SIGTERM and returns its standard error.
func agentLogs(t *testing.T, during func(sock string), extra ...string) []byte {
	t.Helper()
	sock := filepath.Join(agenttest.SocketDir(t), "w.sock")
	args := append([]string{"agent", "--dev", "--node", "logged", "--socket", sock, "--data-dir", t.TempDir(), "--http-port", "-2"}, extra...)
	cmd := exec.Command(agenttest.Binary(t), args...)
	stderr, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "is ready") {
				ready <- true
			}
		}
		close(ready)
	}()
	select {
	case ok := <-ready:
		if !ok {
			b, _ := os.ReadFile(stderr.Name())
			t.Fatalf("the agent ended before it was ready:\n%s", b)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the agent was not ready within 60s")
	}
	if during != nil {
		during(sock)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the agent's exit after SIGTERM: %v", err)
	}
	b, err := os.ReadFile(stderr.Name())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parseLogs parses every line as JSON and checks node, level and msg.
func parseLogs(t *testing.T, b []byte) []logLine {
	t.Helper()
	var lines []logLine
	for i, l := range bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n")) {
		var ll logLine
		if err := json.Unmarshal(l, &ll); err != nil {
			t.Fatalf("stderr line %d is not JSON (%v): %s", i+1, err, l)
		}
		if ll.Node != "logged" || ll.Level == "" || ll.Msg == "" {
			t.Fatalf("stderr line %d lacks node=logged, level or msg: %s", i+1, l)
		}
		lines = append(lines, ll)
	}
	return lines
}

// TestLogJSON: with --log-format json every line the agent writes to
// standard error is a JSON object with node, level and msg, Raft's,
// Serf's and memberlist's lines among them at their own levels.
func TestLogJSON(t *testing.T) {
	lines := parseLogs(t, agentLogs(t, func(sock string) {
		cmd := exec.Command(agenttest.Binary(t), "create", "--socket", sock, "/logged", "x")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("warden create: %v\n%s", err, out)
		}
	}, "--log-format", "json", "--log-level", "debug"))
	find := func(logger, level, msg string) bool {
		for _, l := range lines {
			if l.Logger == logger && l.Level == level && strings.Contains(l.Msg, msg) {
				return true
			}
		}
		return false
	}
	for _, w := range []struct{ logger, level, msg string }{
		{"raft", "INFO", "entering leader state"},
		{"raft", "DEBUG", "voting for self"},
		{"serf", "INFO", "EventMemberJoin: logged"},
		{"memberlist", "DEBUG", ""},
		{"", "INFO", "agent started"},
	} {
		if !find(w.logger, w.level, w.msg) {
			t.Errorf("no %s line from logger %q saying %q among the %d lines", w.level, w.logger, w.msg, len(lines))
		}
	}
}

// TestLogLevelWarn: --log-level warn drops info and debug lines, Raft's
// and Serf's too; warnings stay (the cluster port without TLS is one).
func TestLogLevelWarn(t *testing.T) {
	lines := parseLogs(t, agentLogs(t, nil, "--log-format", "json", "--log-level", "warn"))
	warned := false
	for _, l := range lines {
		if l.Level != "WARN" && l.Level != "ERROR" {
			t.Errorf("a %s line at --log-level warn: %+v", l.Level, l)
		}
		warned = warned || strings.Contains(l.Msg, "no TLS")
	}
	if !warned {
		t.Fatalf("no warning about the cluster port without TLS among %+v", lines)
	}
}

// TestLogText: the default format is key=value text, node included.
func TestLogText(t *testing.T) {
	b := agentLogs(t, nil)
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if !strings.HasPrefix(l, "time=") || !strings.Contains(l, " node=logged") {
			t.Fatalf("a text line without time= or node=logged: %q", l)
		}
	}
	if !strings.Contains(string(b), "level=INFO msg=\"entering leader state\" node=logged logger=raft") {
		t.Fatalf("no Raft leader line in:\n%s", b)
	}
}

// TestNoLeaderHint: a lone --server without --bootstrap-expect says at
// once what to add; with --bootstrap-expect 1 it elects itself and never
// says it.
func TestNoLeaderHint(t *testing.T) {
	bin := agenttest.Binary(t)
	start := func(extra ...string) (*exec.Cmd, *os.File) {
		f, err := os.CreateTemp(t.TempDir(), "stderr")
		if err != nil {
			t.Fatal(err)
		}
		args := append([]string{"agent", "--server", "--node", "lone", "--bind", "127.0.0.1", "--rpc-port", "0", "--serf-port", "0",
			"--http-port", "-2", "--data-dir", t.TempDir(), "--socket", filepath.Join(agenttest.SocketDir(t), "w.sock"),
			"--log-format", "json"}, extra...)
		cmd := exec.Command(bin, args...)
		cmd.Stderr = f
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd, f
	}
	hinted := func(f *os.File) bool {
		b, _ := os.ReadFile(f.Name())
		for _, l := range bytes.Split(b, []byte("\n")) {
			var ll logLine
			if json.Unmarshal(l, &ll) == nil && ll.Level == "WARN" && ll.Node == "lone" &&
				strings.Contains(ll.Msg, "--bootstrap-expect N") && strings.Contains(ll.Msg, "--join") && strings.Contains(ll.Msg, "--dev") {
				return true
			}
		}
		return false
	}
	_, f := start()
	agenttest.Eventually(t, 30*time.Second, "the no-leader warning", func() bool { return hinted(f) })

	// A server that bootstraps itself: ready, and no warning.
	sock := filepath.Join(agenttest.SocketDir(t), "w.sock")
	_, g := start("--bootstrap-expect", "1", "--socket", sock)
	p := &agenttest.Proc{Socket: sock}
	agenttest.Eventually(t, 60*time.Second, "the bootstrapped server's socket", func() bool {
		st, err := p.Status()
		return err == nil && st.State == "Leader"
	})
	if hinted(g) {
		b, _ := os.ReadFile(g.Name())
		t.Fatalf("a server with --bootstrap-expect 1 was told to add it:\n%s", b)
	}
}

// TestLogJSONStartFailure: with --log-format json, an agent that cannot
// start says why in a JSON line too, and exits 1.
func TestLogJSONStartFailure(t *testing.T) {
	r := runBinary(t, nil, "agent", "--dev", "--node", "logged", "--socket", "/nonexistent-warden-dir/sub/w.sock",
		"--data-dir", t.TempDir(), "--http-port", "-2", "--log-format", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1: %+v", r.code, r)
	}
	lines := parseLogs(t, []byte(r.stderr))
	last := lines[len(lines)-1]
	if last.Level != "ERROR" || last.Msg != "the agent did not start" || !strings.Contains(r.stderr, "nonexistent-warden-dir") {
		t.Fatalf("the last line: %+v\n%s", last, r.stderr)
	}
}

// TestLogNoLinePerRequest: at the default level, app requests (30 CLI
// calls, each a connection, a session and a write or read) add no lines.
func TestLogNoLinePerRequest(t *testing.T) {
	const calls = 30
	lines := parseLogs(t, agentLogs(t, func(sock string) {
		bin := agenttest.Binary(t)
		for i := 0; i < calls; i++ {
			args := []string{"create", "--socket", sock, "/n" + strconv.Itoa(i), "x"}
			if i%2 == 1 {
				args = []string{"get", "--socket", sock, "/n" + strconv.Itoa(i-1)}
			}
			if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
				t.Fatalf("warden %v: %v\n%s", args, err, out)
			}
		}
	}, "--log-format", "json"))
	after := -1
	for i, l := range lines {
		if l.Msg == "agent started" {
			after = i
		}
	}
	if after < 0 {
		t.Fatal("no 'agent started' line")
	}
	t.Logf("%d lines after the start", len(lines)-after-1)
	// What may follow: the shutdown's lines (Serf's, Raft's).
	if rest := lines[after+1:]; len(rest) > 5 {
		t.Fatalf("%d lines after the start for %d requests: %+v", len(rest), calls, rest)
	}
}
