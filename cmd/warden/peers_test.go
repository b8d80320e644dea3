package main

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// voters lists the Raft voters p's agent knows of.
func voters(t *testing.T, p *agenttest.Proc) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := warden.Dial(ctx, warden.Options{Socket: p.Socket, NoSession: true})
	if err != nil {
		return nil
	}
	defer c.Close()
	ms, err := c.Members(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range ms {
		if m.Suffrage == "voter" {
			out = append(out, m.Name)
		}
	}
	sort.Strings(out)
	return out
}

// TestRemovePeer: a SIGKILLed server leaves the Raft configuration as soon
// as Serf sees it failed and an operator runs warden operator remove-peer
// against a survivor; the cluster goes on committing with 2 voters; a
// reconcile does not add it back while it is down; force-leave marks it
// left; and when it comes back it is a voter again. Alive servers and the
// leader are refused.
func TestRemovePeer(t *testing.T) {
	c := agenttest.StartCluster(t, 3, 0)
	leader := c.Leader()
	var followers []*agenttest.Proc
	for _, p := range c.Servers {
		if p != leader {
			followers = append(followers, p)
		}
	}
	victim, survivor := followers[0], followers[1]

	refusals := []struct{ name, want string }{
		{victim.Name, "is alive"},
		{leader.Name, "is the leader"},
		{"no-such-agent", "not in the Raft configuration"},
	}
	for _, rf := range refusals {
		r := wardenAt(t, survivor, "operator", "remove-peer", rf.name)
		if r.code != 1 || !strings.Contains(r.stderr, rf.want) {
			t.Errorf("remove-peer %s: exit %d, want 1 with %q\n%s%s", rf.name, r.code, rf.want, r.stdout, r.stderr)
		}
	}
	if got := voters(t, survivor); len(got) != 3 {
		t.Fatalf("voters after refused removals: %v", got)
	}

	victim.Kill()
	killed := time.Now()
	var r result
	agenttest.Eventually(t, 30*time.Second, "remove-peer of the killed server to be accepted", func() bool {
		r = wardenAt(t, survivor, "operator", "remove-peer", victim.Name)
		if r.code != 0 && !strings.Contains(r.stderr, "is alive") {
			t.Fatalf("remove-peer %s: exit %d\n%s%s", victim.Name, r.code, r.stdout, r.stderr)
		}
		return r.code == 0
	})
	if !strings.Contains(r.stdout, "2 voters remain (quorum 2)") {
		t.Errorf("remove-peer output:\n%s", r.stdout)
	}
	want := []string{leader.Name, survivor.Name}
	sort.Strings(want)
	agenttest.Eventually(t, 5*time.Second, "2 voters", func() bool { return strings.Join(voters(t, survivor), ",") == strings.Join(want, ",") })
	t.Logf("the killed server left the Raft configuration %v after SIGKILL", time.Since(killed).Round(time.Millisecond))

	ctx := testCtx(t, time.Minute)
	cl := dialAt(t, survivor, false)
	if _, err := cl.Create(ctx, "/after-remove", []byte("x"), warden.Persistent); err != nil {
		t.Fatalf("a write with 2 voters: %v", err)
	}
	// The leader reconciles Raft with Serf every 5 s: through one round,
	// the failed server stays out.
	until := time.Now().Add(6 * time.Second)
	for time.Now().Before(until) {
		if got := voters(t, leader); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("voters changed to %v while the removed server is down", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r := wardenAt(t, survivor, "operator", "remove-peer", victim.Name); r.code != 1 || !strings.Contains(r.stderr, "not in the Raft configuration") {
		t.Errorf("second remove-peer: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	r = wardenAt(t, leader, "force-leave", victim.Name)
	if r.code != 0 || !strings.Contains(r.stdout, "marked left in Serf") {
		t.Fatalf("force-leave: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	agenttest.Eventually(t, 10*time.Second, "Serf to list the removed server as left", func() bool {
		return memberStatus(t, survivor, victim.Name) == "left"
	})

	// It comes back: alive in Serf again, the leader adds it back.
	victim.Restart()
	agenttest.Eventually(t, 30*time.Second, "the restarted server to be a voter again", func() bool { return len(voters(t, leader)) == 3 })
	if _, err := cl.Set(ctx, "/after-remove", []byte("y"), -1); err != nil {
		t.Fatalf("a write with 3 voters again: %v", err)
	}

	// force-leave alone, of a server killed again: left in Serf and out
	// of Raft in one step.
	victim.Kill()
	agenttest.Eventually(t, 30*time.Second, "force-leave of the killed server to be accepted", func() bool {
		r = wardenAt(t, survivor, "force-leave", victim.Name)
		if r.code != 0 && !strings.Contains(r.stderr, "is alive") {
			t.Fatalf("force-leave %s: exit %d\n%s%s", victim.Name, r.code, r.stdout, r.stderr)
		}
		return r.code == 0
	})
	if !strings.Contains(r.stdout, "marked left in Serf") || !strings.Contains(r.stdout, "2 voters remain") {
		t.Errorf("force-leave output:\n%s", r.stdout)
	}
	agenttest.Eventually(t, 5*time.Second, "2 voters after force-leave", func() bool { return strings.Join(voters(t, leader), ",") == strings.Join(want, ",") })
	if _, err := cl.Set(ctx, "/after-remove", []byte("z"), -1); err != nil {
		t.Fatalf("a write after force-leave: %v", err)
	}
}
