package cluster

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// TestReplicaReadyOnlyOnceCaughtUp: a replica is ready (WaitReady returns,
// and its agent opens its socket) only once its Raft log holds what the
// leader committed, not merely once it knows the leader and its tree has
// the leader's zxid.
//
// The replica refuses the leader's connections at first, as a replica
// does until its Serf has found the leader (a loaded machine once took
// 16 s), long enough for the leader's replication to it to back off for
// seconds. Then it admits them: the leader's heartbeats get through within
// a heartbeat timeout, and name the leader, while its entries come only
// once the backoff is over. The leader has applied no command, so its
// zxid (0) is the empty replica's: WaitReady returned with the replica's
// log empty, and a session opened through the replica at once waited for
// the backoff, expired at the leader meanwhile, and reached its app lost.
func TestReplicaReadyOnlyOnceCaughtUp(t *testing.T) {
	srv := startTestNode(t, "s1", func(c *Config) { c.Server, c.Bootstrap = true, true })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}

	var firstRefusal atomic.Int64 // UnixNano
	var admit atomic.Bool
	rep := newTestNode(t, "r1", func(c *Config) { c.Join = []string{srv.SerfAddr()} })
	rep.refuse = func(net.IP) bool {
		if admit.Load() {
			return false
		}
		firstRefusal.CompareAndSwap(0, time.Now().UnixNano())
		return true
	}
	openTestNode(t, rep)

	// The leader's replication to the replica retries after 10 ms, then
	// twice as long after each failure: at about 1.3, 2.6 and 5.1 s
	// after the first. Admitting at 3.5 s leaves the entries out for
	// about 1.6 s after the heartbeats get in.
	waitFor(t, 30*time.Second, "the replica to refuse the leader's first connection", func() bool {
		return firstRefusal.Load() != 0
	})
	time.Sleep(time.Until(time.Unix(0, firstRefusal.Load()).Add(3500 * time.Millisecond)))
	committed := srv.raft.AppliedIndex() // the replica's addition included
	if srv.FSM().Index() != 0 {
		t.Fatalf("the leader applied a command (zxid %d); the test needs a log without any", srv.FSM().Index())
	}
	admit.Store(true)
	admitted := time.Now()

	if err := rep.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	ready := time.Since(admitted)
	if got := rep.raft.AppliedIndex(); got < committed {
		t.Fatalf("the replica was ready %v after it admitted the leader with its log applied to index %d; the leader had committed %d before",
			ready.Round(time.Millisecond), got, committed)
	}
	t.Logf("the replica was ready %v after it admitted the leader, at index %d (the leader's was %d)",
		ready.Round(time.Millisecond), rep.raft.AppliedIndex(), committed)

	// What an app connecting at once gets: a session that is current.
	const timeout = time.Second
	opened := time.Now()
	s, err := rep.OpenSession(ctx, SessionOptions{Timeout: timeout})
	if err != nil {
		t.Fatalf("open a session through the ready replica: %v", err)
	}
	if took := time.Since(opened); !rep.SessionCurrent(s.ID) {
		t.Fatalf("a session opened through the ready replica took %v and is not current (its timeout is %v)", took.Round(time.Millisecond), timeout)
	}
}
