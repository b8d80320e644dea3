package zkcompat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	warden "github.com/warden-dev/warden/clients/go"
)

// TestMixedFleet: a Curator app (MixedFleetTest in curator/, through the
// ZooKeeper port) and a Warden socket app (the Go client, on an agent of
// the same cluster) contend on one lock and on one election, taking turns
// as MixedFleetTest describes. Both append "who what" entries to a log per
// recipe; at the end the log must show one holder (one leader) at a time,
// each handing over to the other. Warden only: the point is Warden's
// recipes beside Curator's.
func TestMixedFleet(t *testing.T) {
	if !slices.Contains(Kinds(t), "warden") {
		t.Skip("a mixed fleet needs Warden's recipes: ZK_TARGET=warden or both")
	}
	if _, err := exec.LookPath("mvn"); err != nil {
		t.Fatalf("mvn is not installed (systest/zkcompat/install.sh installs Debian's maven): %v", err)
	}
	w := StartWarden(t)
	c := w.c.Servers[1].Dial(t, warden.Options{Name: "mixed-fleet"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	base := fmt.Sprintf("/mixed-%d", time.Now().UnixNano())
	for _, p := range []string{base, base + "/lock-log", base + "/election-log", base + "/sig"} {
		if _, err := c.Create(ctx, p, nil, warden.Persistent); err != nil {
			t.Fatalf("create %s: %v", p, err)
		}
	}
	m := startMaven(t, []string{"ZK_HOSTS=" + w.Hosts(), "MIXED_BASE=" + base},
		"-Dtest=MixedFleetTest", "-Dsurefire.failIfNoSpecifiedTests=false")
	f := &fleet{t: t, c: c, ctx: ctx, mvn: m}

	t.Run("lock", func(t *testing.T) { f.t = t; f.lock(base) })
	t.Run("election", func(t *testing.T) { f.t = t; f.election(base) })
	if err := m.wait(4 * time.Minute); err != nil {
		t.Fatalf("MixedFleetTest: %v\n%s", err, m.out.String())
	}
	f.t = t
	locks := f.log(base + "/lock-log")
	checkTurns(t, locks, "enter", "exit")
	if n := count(locks, "warden enter"); n != 1+roundsMixed {
		t.Errorf("warden held the lock %d times, want %d", n, 1+roundsMixed)
	}
	if n := count(locks, "curator enter"); n != 2+roundsMixed {
		t.Errorf("curator held the lock %d times, want %d", n, 2+roundsMixed)
	}
	want := []string{"curator leads", "curator leaves", "warden leads", "warden leaves", "curator leads", "curator leaves"}
	if got := f.log(base + "/election-log"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("election log %q, want %q", got, want)
	}
}

// roundsMixed is MixedFleetTest.ROUNDS: the rounds each side takes the
// lock at once.
const roundsMixed = 10

type fleet struct {
	t   *testing.T
	c   *warden.Client
	ctx context.Context
	mvn *maven
}

// lock is the Warden half of MixedFleetTest.mutexAgainstWardenLock.
func (f *fleet) lock(base string) {
	t, c, ctx := f.t, f.c, f.ctx
	path, log := base+"/lock", base+"/lock-log"
	f.waitFor("Curator to hold the lock", func() bool {
		return f.hasCuratorChild(path) && count(f.log(log), "curator enter") == 1
	})
	got := make(chan error, 1)
	var lease *warden.Lease
	go func() {
		var err error
		lease, err = c.Lock(ctx, path)
		got <- err
	}()
	if err := f.await(got, "the lock after Curator released it"); err != nil {
		t.Fatal(err)
	}
	// The grant came after Curator's release, which came after its exit.
	if l := f.log(log); strings.Join(l, ",") != "curator enter,curator exit" {
		t.Fatalf("log when Warden got the lock: %q", l)
	}
	f.append(log, "warden enter")
	if _, err := c.Create(ctx, base+"/sig/warden-holds", nil, warden.Persistent); err != nil {
		t.Fatal(err)
	}
	f.waitFor("Curator's contender in line", func() bool { return f.hasCuratorChild(path) })
	if l := f.log(log); count(l, "curator enter") != 1 {
		t.Fatalf("Curator entered while Warden holds: %q", l)
	}
	f.append(log, "warden exit")
	if err := lease.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	f.waitFor("Curator's rounds", func() bool {
		_, ok, err := c.Exists(ctx, base+"/sig/curator-rounds")
		return err == nil && ok
	})
	for r := 0; r < roundsMixed; r++ {
		l, err := c.Lock(ctx, path)
		if err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
		f.append(log, "warden enter")
		f.append(log, "warden exit")
		if err := l.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// election is the Warden half of
// MixedFleetTest.leaderLatchAgainstWardenElection.
func (f *fleet) election(base string) {
	t, c, ctx := f.t, f.c, f.ctx
	path, log := base+"/election", base+"/election-log"
	f.waitFor("Curator to lead", func() bool { return count(f.log(log), "curator leads") == 1 })
	if l, err := c.Leader(ctx, path); err != nil || string(l.Value) != "curator-1" || !strings.Contains(l.Key, "/_c_") {
		t.Fatalf("leader as Warden reads it: %+v, %v; want curator-1's latch", l, err)
	}
	got := make(chan error, 1)
	var lead *warden.Leadership
	go func() {
		var err error
		lead, err = c.Campaign(ctx, path, []byte("warden"))
		got <- err
	}()
	if err := f.await(got, "leadership after curator-1 left"); err != nil {
		t.Fatal(err)
	}
	if l := f.log(log); strings.Join(l, ",") != "curator leads,curator leaves" {
		t.Fatalf("log when Warden was elected: %q", l)
	}
	f.append(log, "warden leads")
	if l, err := c.Leader(ctx, path); err != nil || l.Key != lead.Key {
		t.Fatalf("leader: %+v, %v; want %s", l, err, lead.Key)
	}
	if _, err := c.Create(ctx, base+"/sig/warden-leads", nil, warden.Persistent); err != nil {
		t.Fatal(err)
	}
	f.waitFor("curator-2 to see Warden lead", func() bool {
		_, ok, err := c.Exists(ctx, base+"/sig/curator-sees-warden")
		return err == nil && ok
	})
	f.append(log, "warden leaves")
	if err := lead.Resign(ctx); err != nil {
		t.Fatal(err)
	}
}

// hasCuratorChild reports whether path has a child named as Curator's
// protected mode names its nodes.
func (f *fleet) hasCuratorChild(path string) bool {
	kids, _, err := f.c.Children(f.ctx, path)
	if err != nil {
		return false
	}
	for _, k := range kids {
		if strings.HasPrefix(k, "_c_") {
			return true
		}
	}
	return false
}

func (f *fleet) append(log, entry string) {
	f.t.Helper()
	if _, err := f.c.Create(f.ctx, log+"/e-", []byte(entry), warden.Persistent|warden.Sequential); err != nil {
		f.t.Fatalf("log %q: %v", entry, err)
	}
}

// log reads a log's entries in commit order, after a sync, so that it
// holds every entry Curator's servers committed before.
func (f *fleet) log(log string) []string {
	f.t.Helper()
	if _, err := f.c.Sync(f.ctx); err != nil {
		f.t.Fatal(err)
	}
	kids, _, err := f.c.Children(f.ctx, log)
	if err != nil {
		f.t.Fatal(err)
	}
	// Sequential names of one parent: byte order is commit order.
	var out []string
	slices.Sort(kids)
	for _, k := range kids {
		data, _, err := f.c.Get(f.ctx, log+"/"+k)
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, string(data))
	}
	return out
}

// waitFor polls cond until it holds, failing the test after 60 s or as
// soon as Maven has ended (its half then waits for nothing).
func (f *fleet) waitFor(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		select {
		case <-f.mvn.done:
			f.t.Fatalf("waiting for %s: MixedFleetTest ended (%v)\n%s", what, f.mvn.err, f.mvn.out.String())
		default:
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s: not within 60 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// await waits for a recipe call's outcome, as waitFor does.
func (f *fleet) await(got <-chan error, what string) error {
	select {
	case err := <-got:
		return err
	case <-f.mvn.done:
		return fmt.Errorf("waiting for %s: MixedFleetTest ended (%v)\n%s", what, f.mvn.err, f.mvn.out.String())
	case <-time.After(60 * time.Second):
		return errors.New(what + ": not within 60 s")
	}
}

// checkTurns checks a lock log: entries alternate "X enter", "X exit"
// with the same X, so no two held at once.
func checkTurns(t *testing.T, log []string, enter, exit string) {
	t.Helper()
	if len(log)%2 != 0 {
		t.Errorf("odd log: %q", log)
	}
	for i := 0; i+1 < len(log); i += 2 {
		who, what, _ := strings.Cut(log[i], " ")
		if what != enter || log[i+1] != who+" "+exit {
			t.Fatalf("entries %d and %d: %q, %q: not one holder's turn (log %q)", i, i+1, log[i], log[i+1], log)
		}
	}
}

func count(log []string, entry string) int {
	n := 0
	for _, e := range log {
		if e == entry {
			n++
		}
	}
	return n
}

// maven is a `mvn test` running beside the test.
type maven struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan struct{}
	err  error
}

// startMaven starts the Curator project's tests with env and args added,
// in their own process group, killed when the test ends.
func startMaven(t *testing.T, env []string, args ...string) *maven {
	t.Helper()
	m := &maven{done: make(chan struct{})}
	m.cmd = exec.Command("mvn", append([]string{"-B", "--no-transfer-progress", "test"}, args...)...)
	m.cmd.Dir = filepath.Join(here(t), "curator")
	m.cmd.Env = append(os.Environ(), env...)
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	m.cmd.Stdout = io.MultiWriter(&m.out, os.Stderr) // out is read once done
	m.cmd.Stderr = m.cmd.Stdout
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("mvn: %v", err)
	}
	go func() {
		m.err = m.cmd.Wait()
		close(m.done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
		<-m.done
	})
	return m
}

// wait waits for Maven to end, at most timeout.
func (m *maven) wait(timeout time.Duration) error {
	select {
	case <-m.done:
		return m.err
	case <-time.After(timeout):
		return fmt.Errorf("not done within %v", timeout)
	}
}
