package localcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warden-dev/warden/deploy/internal/deploytest"
)

// cluster drives the script for one test.
type cluster struct {
	t      *testing.T
	script string
	bin    string
	dir    string
	env    []string
}

func newCluster(t *testing.T) *cluster {
	root := deploytest.Root(t)
	c := &cluster{t: t, script: filepath.Join(root, "deploy", "local-cluster.sh"), bin: deploytest.Binary(t),
		dir: filepath.Join(t.TempDir(), "cluster")}
	// A loopback /24 of this test's own (127.0.N.11.., 127.0.N.21..), away
	// from make cluster's 127.0.0.x and from the Go tests' 127.20-219.x.x.
	net := fmt.Sprintf("127.0.%d", 1+os.Getpid()%250)
	c.env = []string{"WARDEN_CLUSTER_DIR=" + c.dir, "WARDEN_CLUSTER_NET=" + net, "WARDEN_BIN=" + c.bin, "WARDEN_CLUSTER_WAIT=300"}
	t.Cleanup(c.cleanup)
	return c
}

// run runs the script; it must succeed within a minute.
func (c *cluster) run(args ...string) string {
	c.t.Helper()
	out, err := c.try(args...)
	if err != nil {
		c.t.Fatalf("local-cluster.sh %s: %v\n%s%s", strings.Join(args, " "), err, out, c.logs())
	}
	return out
}

// make runs a target of the repository's Makefile on this cluster; it
// must succeed within a minute.
func (c *cluster) make(args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", append([]string{"--no-print-directory", "-C", filepath.Dir(filepath.Dir(c.script))}, args...)...)
	cmd.Env = append(os.Environ(), c.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		c.t.Fatalf("make %s: %v\n%s%s", strings.Join(args, " "), err, out, c.logs())
	}
	return string(out)
}

func (c *cluster) try(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.script, args...)
	cmd.Env = append(os.Environ(), c.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// cleanup tears the cluster down, and SIGKILLs whatever agent survived
// that (so a failed test leaves no process behind).
func (c *cluster) cleanup() {
	pids := c.pids()
	if _, err := os.Stat(c.dir); err == nil {
		if out, err := c.try("down"); err != nil {
			c.t.Logf("down: %v\n%s", err, out)
		}
	}
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			c.t.Errorf("agent pid %d survived down; killing it", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// pids are the agents' pids as their pid files say.
func (c *cluster) pids() []int {
	files, _ := filepath.Glob(filepath.Join(c.dir, "*", "pid"))
	var out []int
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// logs is the tail of every agent's log, for failure messages.
func (c *cluster) logs() string {
	files, _ := filepath.Glob(filepath.Join(c.dir, "*", "agent.log"))
	var b strings.Builder
	for _, f := range files {
		data, _ := os.ReadFile(f)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		lines = lines[max(0, len(lines)-8):]
		fmt.Fprintf(&b, "\n--- %s\n%s\n", f, strings.Join(lines, "\n"))
	}
	return b.String()
}

// cli runs warden against one agent's socket.
func (c *cluster) cli(agent string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = append(os.Environ(), "WARDEN_SOCKET="+filepath.Join(c.dir, agent+".sock"))
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

type member struct{ Name, Status, Suffrage string }

func (c *cluster) members(agent string) map[string]member {
	out, err := c.cli(agent, "members", "--json", "--op-timeout", "2s")
	if err != nil {
		return nil
	}
	var ms []member
	if json.Unmarshal([]byte(out), &ms) != nil {
		return nil
	}
	m := map[string]member{}
	for _, x := range ms {
		m[x.Name] = x
	}
	return m
}

// eventually polls cond every 100 ms for up to 30 s.
func (c *cluster) eventually(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("after 30 s: %s%s", what, c.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var leaderLine = regexp.MustCompile(`(?m)^leader: (\S+)$`)

// TestKillAndRestartAServer starts 3 servers and a replica, SIGKILLs the
// leader, checks that the others elect another and take writes, restarts
// it and checks that it catches up; then stops and restarts the replica,
// and tears the cluster down.
func TestKillAndRestartAServer(t *testing.T) {
	c := newCluster(t)
	out := c.run("start", "3", "1")
	if !strings.Contains(out, "state: "+c.dir) {
		t.Fatalf("start does not print its state dir:\n%s", out)
	}
	st := c.run("status")
	for _, n := range []string{"server1", "server2", "server3", "replica1"} {
		if !regexp.MustCompile(`(?m)^` + n + ` .* running \(pid \d+\)$`).MatchString(st) {
			t.Fatalf("status does not show %s running:\n%s", n, st)
		}
	}
	m := leaderLine.FindStringSubmatch(st)
	if m == nil {
		t.Fatalf("status names no leader:\n%s", st)
	}
	old := m[1]

	if out := c.run("kill", old); !strings.Contains(out, old+" (KILL) stopped") {
		t.Fatalf("kill %s: %s", old, out)
	}
	// The other two elect a leader among themselves, and Serf sees the
	// killed one fail; a write through the replica goes through.
	var survivor string
	c.eventually("no new leader after the leader's SIGKILL", func() bool {
		out, err := c.try("status")
		m := leaderLine.FindStringSubmatch(out)
		if err != nil || m == nil || m[1] == old {
			return false
		}
		survivor = m[1]
		return true
	})
	c.eventually(old+" not failed in warden members", func() bool {
		return c.members(survivor)[old].Status == "failed"
	})
	if out, err := c.cli("replica1", "create", "/after-kill", "written"); err != nil {
		t.Fatalf("a write with %s down: %v %s", old, err, out)
	}
	if st := c.run("status"); !regexp.MustCompile(`(?m)^` + old + ` .* stopped$`).MatchString(st) {
		t.Fatalf("status does not show %s stopped:\n%s", old, st)
	}

	// Back on its data dir, it rejoins as a voter and catches up.
	if out := c.run("restart", old); !strings.Contains(out, old+" restarted") {
		t.Fatalf("restart %s: %s", old, out)
	}
	c.eventually(old+" not back as an alive voter", func() bool {
		m := c.members(survivor)[old]
		return m.Status == "alive" && m.Suffrage == "voter"
	})
	c.eventually(old+" does not have the write made while it was down", func() bool {
		out, err := c.cli(old, "get", "/after-kill")
		return err == nil && out == "written"
	})

	// A replica stopped cleanly leaves; restarted, it is back.
	if out := c.run("stop", "replica1"); !strings.Contains(out, "replica1 (TERM) stopped") {
		t.Fatalf("stop replica1: %s", out)
	}
	c.eventually("replica1 has not left", func() bool { return c.members(survivor)["replica1"].Status == "left" })
	c.run("restart", "replica1")
	c.eventually("replica1 is not back", func() bool {
		m := c.members(survivor)["replica1"]
		return m.Status == "alive" && m.Suffrage == "nonvoter"
	})
	if !leaderLine.MatchString(c.run("status")) {
		t.Fatal("no leader at the end")
	}

	// Bad input is refused with a clear message.
	if out, err := c.try("kill", "server9"); err == nil || !strings.Contains(out, "no agent named server9") {
		t.Errorf("kill server9: %v %s", err, out)
	}
	if out, err := c.try("start"); err == nil || !strings.Contains(out, "already") {
		t.Errorf("a second start: %v %s", err, out)
	}

	pids := c.pids()
	if len(pids) != 4 {
		t.Fatalf("%d pid files, want 4", len(pids))
	}
	c.run("down")
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("agent pid %d still runs after down", pid)
		}
	}
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Errorf("down left %s behind (%v)", c.dir, err)
	}
}

// TestStartRefusesBadSizes checks the script's argument errors.
func TestStartRefusesBadSizes(t *testing.T) {
	c := newCluster(t)
	for _, args := range [][]string{{"start", "0"}, {"start", "10"}, {"start", "3", "x"}, {"frobnicate"}, {"restart"}} {
		if out, err := c.try(args...); err == nil || out == "" {
			t.Errorf("local-cluster.sh %s: %v %q, want an error message", strings.Join(args, " "), err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(c.dir, "names")); !os.IsNotExist(err) {
		t.Errorf("a refused start left a cluster behind (%v)", err)
	}
}

// waitGone waits up to 10 s for a process that is not our child to exit.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still runs 10 s after SIGKILL", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStartRefusesOverAClusterAndStalePidFiles: start refuses to run over
// a running cluster, naming its agents; agents SIGKILLed behind the
// script's back leave stale pid files, which status and start report
// with the remedy; a pid file whose pid now belongs to another process
// is not taken for the agent (kill leaves that process alone); restart
// of several agents at once (make cluster-restart) brings the cluster
// back on its data.
func TestStartRefusesOverAClusterAndStalePidFiles(t *testing.T) {
	c := newCluster(t)
	c.run("start", "1", "1")
	if out, err := c.cli("replica1", "create", "/before", "kept"); err != nil {
		t.Fatalf("create: %v %s", err, out)
	}
	out, err := c.try("start", "1", "1")
	if err == nil || !regexp.MustCompile(`running: server1 \(pid \d+\) replica1 \(pid \d+\)`).MatchString(out) ||
		!strings.Contains(out, "local-cluster.sh down") {
		t.Fatalf("start over a running cluster: %v\n%s", err, out)
	}

	pids := c.pids()
	if len(pids) != 2 {
		t.Fatalf("%d pid files, want 2", len(pids))
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	for _, pid := range pids {
		waitGone(t, pid)
	}
	st := c.run("status")
	for _, n := range []string{"server1", "replica1"} {
		if !regexp.MustCompile(`(?m)^` + n + ` .* dead \(stale pid file: pid \d+ is not running it; restart ` + n + `\)$`).MatchString(st) {
			t.Fatalf("status does not show %s's stale pid file:\n%s", n, st)
		}
	}
	out, err = c.try("start", "1", "1")
	if err == nil || !regexp.MustCompile(`stale pid files \(those agents are dead\): server1 \(pid \d+\) replica1 \(pid \d+\)`).MatchString(out) ||
		!strings.Contains(out, "local-cluster.sh restart server1 replica1' starts them again") {
		t.Fatalf("start over stale pid files: %v\n%s", err, out)
	}

	// The replica's pid now names a live process that is not the agent.
	other := exec.Command("sleep", "600")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	pidFile := filepath.Join(c.dir, "replica1", "pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(other.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if st := c.run("status"); !regexp.MustCompile(`(?m)^replica1 .* dead \(stale pid file: pid ` + strconv.Itoa(other.Process.Pid)).MatchString(st) {
		t.Fatalf("status takes another process for replica1:\n%s", st)
	}
	if out := c.run("kill", "replica1"); !strings.Contains(out, "replica1 is not running") {
		t.Fatalf("kill replica1 with a reused pid: %s", out)
	}
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("kill replica1 killed the process that reused its pid: %v", err)
	}

	// Through make, as a user would.
	out = c.make("cluster-restart", "AGENT=server1 replica1")
	if !strings.Contains(out, "server1 restarted") || !strings.Contains(out, "replica1 restarted") {
		t.Fatalf("make cluster-restart AGENT='server1 replica1': %s", out)
	}
	st = c.make("cluster-status")
	for _, n := range []string{"server1", "replica1"} {
		if !regexp.MustCompile(`(?m)^` + n + ` .* running \(pid \d+\)$`).MatchString(st) {
			t.Fatalf("status does not show %s running after restart:\n%s", n, st)
		}
	}
	if !leaderLine.MatchString(st) {
		t.Fatalf("no leader after restart:\n%s", st)
	}
	c.eventually("the write made before the SIGKILLs", func() bool {
		out, err := c.cli("replica1", "get", "/before")
		return err == nil && out == "kept"
	})
}
