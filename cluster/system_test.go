package cluster_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// TestClusterFormsAndLocksAcrossReplicas: three servers and two replicas
// form one cluster from --join alone; a lock held through replica A blocks
// a waiter on replica B; SIGKILL of the holder's process on A lets B
// acquire within 200 ms.
func TestClusterFormsAndLocksAcrossReplicas(t *testing.T) {
	c := agenttest.StartCluster(t, 3, 2)
	a, b := c.Replicas[0], c.Replicas[1]

	ac := a.Dial(t, warden.Options{NoSession: true})
	var last []warden.Member
	converged := func() bool {
		members, err := ac.Members(context.Background())
		if err != nil {
			return false
		}
		last = members
		for _, m := range members {
			want := "server/voter"
			if m.Role == "replica" {
				want = "replica/nonvoter"
			}
			if m.Status != "alive" || m.Role+"/"+m.Suffrage != want {
				return false
			}
		}
		return len(members) == 5
	}
	for deadline := time.Now().Add(30 * time.Second); !converged(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the cluster did not converge within 30s; %s sees %+v", a.Name, last)
		}
	}

	for round := 0; round < 3; round++ {
		holder := agenttest.LockHolder(t, a, "/x")
		waiter := b.Dial(t, warden.Options{})
		got := make(chan time.Time, 1)
		go func() {
			if _, err := waiter.Lock(context.Background(), "/x"); err != nil {
				t.Error(err)
			}
			got <- time.Now()
		}()
		agenttest.Eventually(t, 5*time.Second, "the waiter in line", func() bool {
			kids, _, err := waiter.Children(context.Background(), "/x")
			return err == nil && len(kids) == 2
		})
		select {
		case <-got:
			t.Fatal("the waiter got the lock while it was held")
		default:
		}
		killed := holder.Kill()
		at := <-got
		if d := at.Sub(killed); d > 200*time.Millisecond {
			t.Errorf("round %d: waiter on another replica acquired %v after the holder was killed, want < 200ms", round, d)
		} else {
			t.Logf("round %d: acquired %v after SIGKILL of the holder", round, d)
		}
		waiter.Close()
	}
}

// TestReadsWithoutQuorum: with two of three servers gone there is no
// leader, yet `warden status`, `members` and reads still answer from the
// surviving agent's replica (they need no session), while a write fails
// with a clear error.
func TestReadsWithoutQuorum(t *testing.T) {
	c := agenttest.StartCluster(t, 3, 0)
	s := c.Servers[0]
	w := s.Dial(t, warden.Options{})
	ctx := context.Background()
	if _, err := w.Create(ctx, "/kept", []byte("v"), warden.Persistent); err != nil {
		t.Fatal(err)
	}
	w.Close()
	c.Servers[1].Kill()
	c.Servers[2].Kill()
	agenttest.Eventually(t, 10*time.Second, "the survivor to lose its leader", func() bool {
		st, err := s.Status()
		return err == nil && st.Leader == ""
	})
	bin := agenttest.Binary(t)
	for _, args := range [][]string{{"status"}, {"members"}, {"get", "/kept"}, {"ls", "/"}} {
		out, err := exec.Command(bin, append(args, "--socket", s.Socket, "--op-timeout", "5s")...).CombinedOutput()
		if err != nil {
			t.Errorf("warden %v without a leader: %v\n%s", args, err, out)
		}
	}
	out, err := exec.Command(bin, "create", "--socket", s.Socket, "--op-timeout", "3s", "/new").CombinedOutput()
	if err == nil {
		t.Fatalf("a write succeeded without a leader: %s", out)
	}
	if !strings.Contains(string(out), "unavailable") && !strings.Contains(string(out), "no leader") && !strings.Contains(string(out), "deadline") {
		t.Errorf("unclear error for a write without a leader: %s", out)
	}
}
