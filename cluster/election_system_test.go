package cluster_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// TestElectionCandidateHelper is not a test: it is the body of the
// candidate processes agenttest.StartCandidate starts (real processes, so
// that SIGKILL is real), and skips in a normal run.
func TestElectionCandidateHelper(t *testing.T) { agenttest.CandidateHelper(t) }

// inLine waits until the election at path has n candidates, as agent p
// sees it.
func inLine(t *testing.T, probe *warden.Client, path string, n int) {
	t.Helper()
	agenttest.Eventually(t, 30*time.Second, fmt.Sprintf("%d candidates in line", n), func() bool {
		kids, _, err := probe.Children(context.Background(), path)
		return err == nil && len(kids) == n
	})
}

// TestElectionFailover: on a 3-server cluster with a replica, SIGKILL of
// the leader's process elects the next candidate within 100 ms when both
// use the same agent, and within 300 ms when they use different agents;
// killing a candidate that does not lead changes nothing; at no moment do
// two candidates believe they lead, and tokens strictly increase.
func TestElectionFailover(t *testing.T) {
	c := agenttest.StartCluster(t, 3, 1)
	agents := c.All()
	probe := agents[0].Dial(t, warden.Options{})
	const path = "/elections/failover"
	dir := t.TempDir()
	var cands []*agenttest.Candidate
	n := 0
	start := func(p *agenttest.Proc) *agenttest.Candidate {
		n++
		cand := agenttest.StartCandidate(t, p, path, dir, fmt.Sprintf("c%02d-%s", n, p.Name))
		cands = append(cands, cand)
		return cand
	}

	leader := start(agents[0])
	leader.WaitElected(t, 30*time.Second)

	var same, across []time.Duration
	var hops []string
	for i := 0; i < 5; i++ {
		prev := leader
		next := start(prev.Agent)
		inLine(t, probe, path, 2)
		prev.Kill(t)
		l := next.WaitElected(t, 10*time.Second)
		d := l.Elected.Sub(prev.Killed)
		same = append(same, d)
		if d >= 100*time.Millisecond {
			t.Errorf("same agent (%s), round %d: elected %v after the leader's SIGKILL, want < 100ms", prev.Agent.Name, i, d)
		}
		leader = next
	}
	for i := 0; i < 6; i++ {
		prev := leader
		at := slices.Index(agents, prev.Agent)
		next := start(agents[(at+1)%len(agents)])
		inLine(t, probe, path, 2)
		prev.Kill(t)
		l := next.WaitElected(t, 10*time.Second)
		d := l.Elected.Sub(prev.Killed)
		across = append(across, d)
		hops = append(hops, fmt.Sprintf("%s->%s %.1fms", prev.Agent.Name, next.Agent.Name, float64(d)/float64(time.Millisecond)))
		if d >= 300*time.Millisecond {
			t.Errorf("across agents (%s -> %s), round %d: elected %v after the leader's SIGKILL, want < 300ms",
				prev.Agent.Name, next.Agent.Name, i, d)
		}
		leader = next
	}
	t.Logf("SIGKILL -> next elected, same agent: %v", same)
	t.Logf("SIGKILL -> next elected, across agents: %v (raft leader %s)", hops, c.Leader().Name)

	// A candidate killed while it waits changes nothing for the leader;
	// the one behind it then follows the leader.
	waiter := start(agents[1])
	inLine(t, probe, path, 2)
	behind := start(agents[2])
	inLine(t, probe, path, 3)
	waiter.Kill(t)
	inLine(t, probe, path, 2)
	time.Sleep(100 * time.Millisecond)
	if l := behind.Read(t); !l.Elected.IsZero() {
		t.Fatalf("%s elected when a waiter ahead of it died, while %s still leads", behind.Name, leader.Name)
	}
	if l, err := probe.Leader(context.Background(), path); err != nil || string(l.Value) != leader.Value() {
		t.Fatalf("leader %q %v, want %s", l.Value, err, leader.Name)
	}
	leader.Kill(t)
	behind.WaitElected(t, 10*time.Second)

	t.Logf("checked %d leaders: one at a time, tokens increasing", agenttest.CheckOneLeader(t, cands))

	electCLIAcrossAgents(t, agents[1], agents[3])
}

// electCLIAcrossAgents: `warden elect` processes on two agents; the second
// runs its command only once the first's process is SIGKILLed, and the
// first's command dies with it.
func electCLIAcrossAgents(t *testing.T, a, b *agenttest.Proc) {
	t.Helper()
	const group = "/elections/cli"
	dir := t.TempDir()
	probe := b.Dial(t, warden.Options{})
	elect := func(p *agenttest.Proc, name string) (*exec.Cmd, string, chan struct{}) {
		pidFile := filepath.Join(dir, name)
		cmd := exec.Command(agenttest.Binary(t), "elect", "--socket", p.Socket, "--value", name, group, "--",
			"sh", "-c", "echo $$ > "+pidFile+".tmp; mv "+pidFile+".tmp "+pidFile+"; exec sleep 600")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		})
		return cmd, pidFile, exited
	}
	fileThere := func(p string) bool { _, err := os.Stat(p); return err == nil }

	first, firstPid, firstExited := elect(a, "first")
	agenttest.Eventually(t, 30*time.Second, "the first warden elect to run its command", func() bool { return fileThere(firstPid) })
	_, secondPid, _ := elect(b, "second")
	inLine(t, probe, group, 2)
	time.Sleep(50 * time.Millisecond)
	if fileThere(secondPid) {
		t.Fatal("the second warden elect ran its command while the first leads")
	}
	b1, _ := os.ReadFile(firstPid)
	cmdPid, _ := strconv.Atoi(strings.TrimSpace(string(b1)))

	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-firstExited
	agenttest.Eventually(t, 10*time.Second, "the second warden elect to run its command", func() bool { return fileThere(secondPid) })
	took := time.Since(killed)
	t.Logf("warden elect across agents: SIGKILL of the leader -> the next runs its command: %v (polled)", took)
	if took > time.Second {
		t.Errorf("the next warden elect ran its command %v after the leader's SIGKILL", took)
	}
	// The killed leader's command went with it: the kernel sends SIGKILL
	// when its parent dies.
	agenttest.Eventually(t, 5*time.Second, "the killed leader's command to die", func() bool {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmdPid))
		if err != nil {
			return true
		}
		i := strings.LastIndexByte(string(st), ')')
		return i+2 < len(st) && st[i+2] == 'Z'
	})
	if l, err := probe.Leader(context.Background(), group); err != nil || string(l.Value) != "second" {
		t.Fatalf("leader after the failover: %+v %v", l, err)
	}
}
