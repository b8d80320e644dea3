package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
)

// electScript is a command for `warden elect` that writes its pid (sleep
// keeps the shell's pid through exec) to pidFile once it runs.
func electScript(pidFile string) []string {
	return []string{"sh", "-c", "echo $$ > " + pidFile + ".tmp; mv " + pidFile + ".tmp " + pidFile + "; exec sleep 600"}
}

func readPid(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %s: %q", file, b)
	}
	return pid
}

// pidRunning reports whether pid is a live process (not gone, not a zombie).
func pidRunning(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func pathExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestElectCLI: `warden elect` runs its command only while it leads; a
// second one waits; SIGKILL of the first elects the second at once (and
// the first's command dies with it); `warden leader` tells who leads.
func TestElectCLI(t *testing.T) {
	e := startAgent(t)
	c := e.dial()
	dir := t.TempDir()
	pid1, pid2 := filepath.Join(dir, "pid1"), filepath.Join(dir, "pid2")

	if r := e.cli("leader", "g"); r.code != 1 || !strings.Contains(r.stderr, "nobody leads /warden/elections/g") {
		t.Fatalf("leader of an empty election: %+v", r)
	}

	first := e.start(append([]string{"elect", "g", "--value", "one", "--"}, electScript(pid1)...)...)
	agenttest.Eventually(t, 10*time.Second, "the first to run its command", func() bool { return pathExists(pid1) })
	r := e.cli("leader", "g")
	if r.code != 0 || !strings.Contains(r.stdout, "value  one\n") || !strings.Contains(r.stdout, "key    /warden/elections/g/latch-") {
		t.Fatalf("warden leader g: %+v", r)
	}
	var lj struct {
		Path, Key, Value string
		Token            uint64
	}
	r = e.cli("leader", "--json", "/warden/elections/g")
	if err := json.Unmarshal([]byte(r.stdout), &lj); err != nil || r.code != 0 || lj.Value != "one" || lj.Token == 0 ||
		lj.Path != "/warden/elections/g" || !strings.HasPrefix(lj.Key, "/warden/elections/g/latch-") {
		t.Fatalf("warden leader --json: %+v (%v)", r, err)
	}
	firstToken := lj.Token

	second := e.start(append([]string{"elect", "--value", "two", "g", "--"}, electScript(pid2)...)...)
	agenttest.Eventually(t, 10*time.Second, "the second in line", func() bool {
		return contenders(t, c, "/warden/elections/g") == 2
	})
	time.Sleep(50 * time.Millisecond)
	if pathExists(pid2) {
		t.Fatal("the second ran its command while the first leads")
	}

	cmd1 := readPid(t, pid1)
	if err := syscall.Kill(first.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	agenttest.Eventually(t, 5*time.Second, "the second to run its command", func() bool { return pathExists(pid2) })
	t.Logf("SIGKILL of the leader -> the next runs its command: %v", time.Since(killed))
	agenttest.Eventually(t, 5*time.Second, "the first's command to die with it", func() bool { return !pidRunning(cmd1) })

	r = e.cli("leader", "--json", "g")
	if err := json.Unmarshal([]byte(r.stdout), &lj); err != nil || lj.Value != "two" || lj.Token <= firstToken {
		t.Fatalf("leader after the first died: %+v (%v)", r, err)
	}
	// SIGTERM reaches the command; warden elect exits with its status and
	// resigns.
	if err := syscall.Kill(second.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := second.wait(t, 5*time.Second); code != 128+int(syscall.SIGTERM) {
		t.Fatalf("warden elect exited %d after SIGTERM, want %d; stderr %s", code, 128+int(syscall.SIGTERM), second.errb)
	}
	if r := e.cli("leader", "g"); r.code != 1 {
		t.Fatalf("leader once both are gone: %+v", r)
	}
	r = e.cli("leader", "--json", "g")
	if r.code != 1 || !strings.Contains(r.stdout, `"leader": null`) {
		t.Fatalf("leader --json once both are gone: %+v", r)
	}
}

// TestElectCLIStatusAndErrors: exit statuses, environment, a timeout and
// usage errors.
func TestElectCLIStatusAndErrors(t *testing.T) {
	e := startAgent(t)
	c := e.dial()
	ctx := testCtx(t, 30*time.Second)

	if r := e.cli("elect", "/jobs/x", "--", "sh", "-c", "exit 7"); r.code != 7 {
		t.Fatalf("elect -- exit 7: %+v", r)
	}
	r := e.cli("elect", "--value", "v1", "/jobs/x", "--", "sh", "-c",
		`test "$WARDEN_ELECTION_PATH" = /jobs/x && test "$WARDEN_ELECTION_VALUE" = v1 && test -n "$WARDEN_ELECTION_TOKEN" && echo "$WARDEN_ELECTION_KEY"`)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "/jobs/x/latch-") {
		t.Fatalf("election environment: %+v", r)
	}
	if _, ok, err := c.Exists(ctx, "/jobs"); ok || err != nil {
		t.Fatalf("/jobs after the commands ended: %v %v", ok, err)
	}

	held, err := c.Campaign(ctx, "/warden/elections/held", []byte("go"))
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "ran")
	start := time.Now()
	r = e.cli("elect", "--timeout", "100ms", "held", "--", "touch", marker)
	if took := time.Since(start); r.code != 124 || !strings.Contains(r.stderr, "not elected") || took < 100*time.Millisecond {
		t.Fatalf("elect --timeout while another leads: %+v after %v", r, took)
	}
	if pathExists(marker) {
		t.Fatal("the command ran without leading")
	}
	if n := contenders(t, c, "/warden/elections/held"); n != 1 {
		t.Fatalf("%d candidates after a timed-out elect, want 1", n)
	}
	if err := held.Resign(ctx); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{{"elect", "g"}, {"elect"}, {"leader"}, {"leader", "a", "b"}} {
		if r := e.cli(args...); r.code != 2 {
			t.Fatalf("warden %v: %+v", args, r)
		}
	}
	if r := e.cli("leader", "/"); r.code != 1 || r.stderr == "" {
		t.Fatalf("warden leader /: %+v", r)
	}
}

// TestElectCLICandidateDeleted: when its candidate node is deleted, warden
// elect stops its command (SIGTERM) and exits non-zero.
func TestElectCLICandidateDeleted(t *testing.T) {
	e := startAgent(t)
	c := e.dial()
	ctx := testCtx(t, 30*time.Second)
	file := filepath.Join(t.TempDir(), "f")
	script := fmt.Sprintf(`trap "echo term >> %s; exit 0" TERM; echo ready >> %s; while true; do sleep 0.05; done`, file, file)
	p := e.start("elect", "d", "--", "sh", "-c", script)
	agenttest.Eventually(t, 10*time.Second, "the command to start", func() bool { return fileHas(file, "ready") })
	l, err := c.Leader(ctx, "/warden/elections/d")
	if err != nil || l == nil {
		t.Fatalf("leader: %+v %v", l, err)
	}
	if err := c.Delete(ctx, l.Key, -1); err != nil {
		t.Fatal(err)
	}
	agenttest.Eventually(t, 5*time.Second, "the command to get SIGTERM", func() bool { return fileHas(file, "term") })
	if code := p.wait(t, 5*time.Second); code == 0 || code == -1 {
		t.Fatalf("warden elect exited %d after losing leadership", code)
	}
	if !strings.Contains(p.errb.String(), "deleted") {
		t.Fatalf("stderr does not say why: %q", p.errb)
	}
}

// TestElectCLIAgentDies: when the agent dies, warden elect stops its
// command and exits non-zero.
func TestElectCLIAgentDies(t *testing.T) {
	e := startAgent(t)
	file := filepath.Join(t.TempDir(), "f")
	script := fmt.Sprintf(`trap "echo term >> %s; exit 0" TERM; echo ready >> %s; while true; do sleep 0.05; done`, file, file)
	p := e.start("elect", "a", "--", "sh", "-c", script)
	agenttest.Eventually(t, 10*time.Second, "the command to start", func() bool { return fileHas(file, "ready") })
	e.proc.Kill()
	agenttest.Eventually(t, 5*time.Second, "the command to get SIGTERM", func() bool { return fileHas(file, "term") })
	if code := p.wait(t, 5*time.Second); code == 0 || code == -1 {
		t.Fatalf("warden elect exited %d after the agent died", code)
	}
	if !strings.Contains(p.errb.String(), "lost") {
		t.Fatalf("stderr does not say leadership was lost: %q", p.errb)
	}
}
