package cluster

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// A gate makes a node's cluster port refuse every connection while it is
// shut, as the port refuses agents that are not members (a replica does
// so to the leader until its Serf has found it). Set its refuse as the
// node's before Open.
type gate struct {
	admit atomic.Bool  // open
	first atomic.Int64 // when it first refused since it was shut (UnixNano)
}

func (g *gate) refuse(net.IP) bool {
	if g.admit.Load() {
		return false
	}
	g.first.CompareAndSwap(0, time.Now().UnixNano())
	return true
}

func (g *gate) shut() {
	g.first.Store(0)
	g.admit.Store(false)
}

func (g *gate) open() { g.admit.Store(true) }

// waitRefused waits until the shut gate has refused the leader, then
// until 3.5 s after that. The leader's replication to the node retries
// 10 ms after a failure, then twice as long after each further one: at
// about 1.3, 2.6 and 5.1 s after the first. Opened at 3.5 s, the gate
// lets the leader's heartbeats in at once (they retry within half a
// heartbeat timeout) and its entries about 1.6 s later. (The wait is the
// outage being simulated, not a synchronisation.)
func (g *gate) waitRefused(t *testing.T) {
	t.Helper()
	waitFor(t, 30*time.Second, "the node to refuse the leader's first connection", func() bool {
		return g.first.Load() != 0
	})
	time.Sleep(time.Until(time.Unix(0, g.first.Load()).Add(3500 * time.Millisecond)))
}

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

	g := new(gate) // shut
	rep := newTestNode(t, "r1", func(c *Config) { c.Join = []string{srv.SerfAddr()} })
	rep.refuse = g.refuse
	openTestNode(t, rep)
	g.waitRefused(t)
	committed := srv.raft.AppliedIndex() // the replica's addition included
	if srv.FSM().Index() != 0 {
		t.Fatalf("the leader applied a command (zxid %d); the test needs a log without any", srv.FSM().Index())
	}
	g.open()
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

// TestSessionOpenedThroughLaggingReplica: a session opened through a
// replica that the leader's entries reach late is kept alive from the
// moment the leader opened it, not only once the replica has applied the
// open: it reaches its app current, though the open took longer than its
// timeout. The replica lags as in TestReplicaReadyOnlyOnceCaughtUp, after
// it was ready: it drops the leader's connections and refuses new ones
// for a while, so the leader's replication to it backs off.
func TestSessionOpenedThroughLaggingReplica(t *testing.T) {
	srv := startTestNode(t, "s1", func(c *Config) { c.Server, c.Bootstrap = true, true })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	g := new(gate)
	g.open()
	rep := newTestNode(t, "r1", func(c *Config) { c.Join = []string{srv.SerfAddr()} })
	rep.refuse = g.refuse
	openTestNode(t, rep)
	if err := rep.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}

	g.shut()
	// And the connections the leader has open to the replica end.
	rep.mux.mu.Lock()
	for c := range rep.mux.conns {
		c.Conn.Close()
	}
	rep.mux.mu.Unlock()
	g.waitRefused(t)
	g.open()
	const timeout = time.Second
	opened := time.Now()
	s, err := rep.OpenSession(ctx, SessionOptions{Timeout: timeout})
	took := time.Since(opened)
	if err != nil {
		t.Fatalf("open a session through the lagging replica: %v", err)
	}
	if took < timeout {
		t.Fatalf("the open took %v, less than the session's timeout %v: the replica did not lag as this test needs", took.Round(time.Millisecond), timeout)
	}
	if !rep.SessionCurrent(s.ID) {
		t.Fatalf("a session opened through the lagging replica in %v is not current (its timeout is %v)", took.Round(time.Millisecond), timeout)
	}
	t.Logf("the open took %v; the session is current", took.Round(time.Millisecond))
}
