package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/localapi/wire"
)

// The crash tests of this file run real agents (3 servers, 2 replicas on
// loopback addresses), SIGKILL them, and check the cluster's invariants
// over what the clients saw: every acknowledged write is present exactly
// once with its data, and every agent ends up with the identical tree
// (data and Stat of every node, so every replica applied the same
// sequence of entries).

// electionTimeout is the agents' default Raft election timeout; failover
// must take a few of them at most.
const electionTimeout = 500 * time.Millisecond

// TestLeaderSIGKILLUnderWriteLoad: SIGKILL of the leader under a steady
// write load (creates, sequential creates and versioned sets, from
// clients on both replicas, both other servers and the leader itself):
// a new leader within a few election timeouts, writes resume on every
// surviving agent, every acknowledged write is present exactly once with
// its data on every agent, no write was applied twice (the forwarding
// agents' retries are deduplicated), and the killed server, restarted,
// catches up to the identical tree.
func TestLeaderSIGKILLUnderWriteLoad(t *testing.T) {
	c := agenttest.StartCluster(t, 3, 2)
	leader := c.Leader()
	var survivors []*agenttest.Proc
	for _, p := range c.All() {
		if p != leader {
			survivors = append(survivors, p)
		}
	}
	setup := leader.Dial(t, warden.Options{})
	ctx := context.Background()
	if _, err := setup.Create(ctx, "/t1", nil, warden.Persistent); err != nil {
		t.Fatal(err)
	}

	// One client per agent; several writers share each client's session
	// (so its writes are in flight concurrently), and each writer owns a
	// parent node and a counter.
	const writersPerAgent = 3
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writers []*writer
	for _, p := range append([]*agenttest.Proc{leader}, survivors...) {
		cl := p.Dial(t, warden.Options{Name: "load"})
		for i := 0; i < writersPerAgent; i++ {
			w := &writer{name: fmt.Sprintf("%s-w%d", p.Name, i), agent: p.Name, c: cl, onLeader: p == leader}
			w.prepare(t, "/t1")
			writers = append(writers, w)
		}
	}
	for _, w := range writers {
		wg.Add(1)
		go func() { defer wg.Done(); w.run(stop) }()
	}

	// Status clients opened beforehand: a status request is a local read,
	// while dialing needs a leader (it opens a session).
	monitors := map[string]*warden.Client{}
	for _, p := range survivors {
		monitors[p.Name] = p.Dial(t, warden.Options{Name: "monitor"})
	}

	waitAcks(t, writers, 30, 10*time.Second)
	killed := time.Now()
	leader.Kill()
	firstSeen, allAgree, newLeader := watchFailover(t, monitors, leader.Name, killed)
	t.Logf("leader %s killed; first agent reported new leader %s after %v, all %d survivors agreed after %v",
		leader.Name, newLeader, firstSeen, len(survivors), allAgree)
	if allAgree > 10*electionTimeout {
		t.Errorf("new leader agreed on %v after the kill, want within %v", allAgree, 10*electionTimeout)
	}

	// Every writer on a surviving agent makes progress again, and keeps
	// writing for a while.
	resumed := time.Now()
	agenttest.Eventually(t, 15*time.Second, "every surviving writer to have acks after the failover", func() bool {
		for _, w := range writers {
			if !w.onLeader && w.acksAfter(resumed) < 30 {
				return false
			}
		}
		return true
	})
	close(stop)
	wg.Wait()

	firstAck, firstFresh := time.Duration(-1), time.Duration(-1)
	for _, w := range writers {
		for _, a := range w.acks() {
			if a.end.After(killed) && (firstAck < 0 || a.end.Sub(killed) < firstAck) {
				firstAck = a.end.Sub(killed)
			}
			if a.start.After(killed) && (firstFresh < 0 || a.end.Sub(killed) < firstFresh) {
				firstFresh = a.end.Sub(killed)
			}
		}
	}
	var acked, unknown int
	for _, w := range writers {
		acked += w.ackedCount()
		unknown += len(w.unknown)
		for _, e := range w.refused {
			t.Errorf("%s: %s", w.name, e)
		}
	}
	t.Logf("first acknowledged write %v after the kill; first write issued after the kill acknowledged %v after it",
		firstAck, firstFresh)
	t.Logf("%d writes acknowledged, %d with unknown outcome", acked, unknown)
	if firstFresh < 0 || firstFresh > 10*electionTimeout {
		t.Errorf("the first write issued after the kill was acknowledged %v after it, want within %v", firstFresh, 10*electionTimeout)
	}

	// Checker: every survivor has the same tree, and it holds every
	// acknowledged write exactly once.
	dumps := map[string]treeDump{}
	for _, p := range survivors {
		dumps[p.Name] = syncedDump(t, p)
	}
	ref := dumps[survivors[0].Name]
	assertSameTrees(t, dumps)
	for _, w := range writers {
		w.check(t, ref)
	}

	// The killed leader, restarted, catches up to the same tree.
	leader.Restart()
	c.Leader()
	all := map[string]treeDump{}
	for _, p := range c.All() {
		all[p.Name] = syncedDump(t, p)
	}
	assertSameTrees(t, all)
	if d := diffTrees(ref, all[leader.Name]); len(d) > 0 {
		t.Errorf("the restarted leader's tree differs from the survivors' before its restart:\n%s", strings.Join(d, "\n"))
	}
	t.Logf("%d nodes identical on all %d agents", len(ref), len(all))
}

// TestAllAgentsSIGKILLRestart: a few hundred nodes written through every
// agent (creates, sets, deletes, sequential nodes, ephemerals); SIGKILL of
// all five agents and a restart: every persistent node is as it was,
// Stat included, on every agent, and the ephemeral nodes of the sessions
// that died with the agents are gone once the agents serve again (their
// agents close them as orphans at start; they must not linger until
// their session timeout).
func TestAllAgentsSIGKILLRestart(t *testing.T) {
	c := agenttest.StartCluster(t, 3, 2)
	ctx := context.Background()
	all := c.All()
	clients := make([]*warden.Client, len(all))
	for i, p := range all {
		clients[i] = p.Dial(t, warden.Options{})
	}
	createNode(t, clients[0], "/t2", "")
	createNode(t, clients[0], "/t2/eph", "")
	var wg sync.WaitGroup
	errs := make(chan error, len(all))
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- writeMix(ctx, cl, fmt.Sprintf("/t2/a%d", i), 60)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Ephemerals of long sessions, so that only closing them as orphans,
	// not their expiry, can remove them within the test.
	const ephTimeout = 60 * time.Second
	for _, p := range all {
		ec := p.Dial(t, warden.Options{SessionTimeout: ephTimeout, Name: "eph"})
		if ec.SessionTimeout() < 30*time.Second {
			t.Fatalf("session timeout granted %v, want >= 30s", ec.SessionTimeout())
		}
		for j := 0; j < 3; j++ {
			if _, err := ec.Create(ctx, fmt.Sprintf("/t2/eph/%s-%d", p.Name, j), []byte("e"), warden.Ephemeral); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := ec.Create(ctx, fmt.Sprintf("/t2/eph/%s-s-", p.Name), nil, warden.Ephemeral|warden.Sequential); err != nil {
			t.Fatal(err)
		}
	}

	before := map[string]treeDump{}
	for _, p := range all {
		before[p.Name] = syncedDump(t, p)
	}
	assertSameTrees(t, before)
	ref := before[all[0].Name]
	if n := len(ref.children("/t2/eph")); n != 4*len(all) {
		t.Fatalf("%d ephemerals before the kill, want %d", n, 4*len(all))
	}
	t.Logf("%d nodes before the kill", len(ref))

	for _, p := range all {
		p.Kill()
	}
	restarted := time.Now()
	restartAll(t, all)
	c.Leader()
	t.Logf("all agents serving again %v after the restart", time.Since(restarted))

	// The ephemerals must be gone at once: every agent closed its orphaned
	// sessions before opening its socket.
	after := map[string]treeDump{}
	for _, p := range all {
		after[p.Name] = syncedDump(t, p)
	}
	for name, d := range after {
		if left := d.children("/t2/eph"); len(left) > 0 {
			t.Errorf("%s: %d ephemerals of dead sessions remain after every agent restarted (e.g. %s, owner %d)",
				name, len(left), left[0], d["/t2/eph/"+left[0]].Stat.EphemeralOwner)
		}
	}
	if t.Failed() {
		// Say how long they linger.
		start := time.Now()
		cl := all[0].Dial(t, warden.Options{})
		for time.Since(start) < 20*time.Second {
			if _, err := cl.Sync(ctx); err == nil {
				if kids, _, err := cl.Children(ctx, "/t2/eph"); err == nil && len(kids) == 0 {
					t.Logf("the ephemerals went %v after the agents served again", time.Since(start))
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("the ephemerals were still there 20s after the agents served again")
		return
	}
	assertSameTrees(t, after)

	// Persistent nodes are as they were, Stat included. Only /t2/eph's
	// child counters moved (its children were deleted).
	want := treeDump{}
	for p, n := range ref {
		if strings.HasPrefix(p, "/t2/eph/") {
			continue
		}
		want[p] = n
	}
	got := treeDump{}
	for p, n := range after[all[0].Name] {
		got[p] = n
	}
	e := want["/t2/eph"]
	g := got["/t2/eph"]
	if g.Stat.NumChildren != 0 || g.Stat.Cversion <= e.Stat.Cversion || g.Stat.Pzxid <= e.Stat.Pzxid {
		t.Errorf("/t2/eph after the restart: %+v, want no children and a later pzxid and cversion than %+v", g.Stat, e.Stat)
	}
	e.Stat.NumChildren, e.Stat.Cversion, e.Stat.Pzxid = 0, g.Stat.Cversion, g.Stat.Pzxid
	want["/t2/eph"] = e
	if d := diffTrees(want, got); len(d) > 0 {
		t.Errorf("tree after restarting every agent differs from before:\n%s", strings.Join(d, "\n"))
	}
}

// TestRestartedServerCatchesUpAndNewReplicaGetsSnapshot: a server killed
// while writes go on is restarted and reads them all through itself
// after a sync; with --snapshot-threshold 64 (and --snapshot-interval 1s
// on the cluster), after a few hundred writes a new replica joins,
// receives the leader's snapshot and the log after it, has the identical
// tree, and is listed as a non-voter.
func TestRestartedServerCatchesUpAndNewReplicaGetsSnapshot(t *testing.T) {
	snapArgs := []string{"--snapshot-threshold", "64", "--snapshot-interval", "1s"}
	c := agenttest.StartCluster(t, 3, 2, snapArgs...)
	ctx := context.Background()
	leader := c.Leader()
	var down *agenttest.Proc
	for _, p := range c.Servers {
		if p != leader {
			down = p
			break
		}
	}
	down.Kill()

	writes := []*warden.Client{c.Replicas[0].Dial(t, warden.Options{}), leader.Dial(t, warden.Options{})}
	createNode(t, writes[0], "/t3", "")
	var wg sync.WaitGroup
	errs := make(chan error, len(writes))
	for i, cl := range writes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- writeMix(ctx, cl, fmt.Sprintf("/t3/c%d", i), 100)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	// The leader snapshots once the log has grown past the threshold (Raft
	// checks every SnapshotInterval, randomized up to twice that); the
	// snapshot compacts the log, so an agent that joins later must be sent
	// the snapshot.
	// A snapshot taken while the writes ran may keep (in its trailing
	// logs) what the killed server lacks, so wait for one that covers them
	// all.
	st, err := writes[1].Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitStart := time.Now()
	fill := 0
	agenttest.Eventually(t, 20*time.Second, "a snapshot on the leader covering the writes", func() bool {
		if snapshotIndex(leader.DataDir) >= st.AppliedIndex {
			return true
		}
		// The leader snapshots only once the threshold's worth of entries
		// came after its last snapshot: if that one fell late in the
		// writes, add entries until the next one comes.
		fill++
		if _, err := writes[1].Create(ctx, fmt.Sprintf("/t3/fill%d", fill), nil, warden.Persistent); err != nil {
			t.Fatalf("filler write: %v", err)
		}
		return false
	})
	t.Logf("the leader had a snapshot %v after the writes", time.Since(waitStart))
	// More writes after the snapshot: the newcomers need snapshot + log.
	if err := writeMix(ctx, writes[1], "/t3/after", 20); err != nil {
		t.Fatal(err)
	}

	// The killed server catches up through itself.
	down.Restart()
	dc := down.Dial(t, warden.Options{})
	if _, err := dc.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ref := syncedDump(t, leader)
	if d := diffTrees(ref, dumpTree(t, dc)); len(d) > 0 {
		t.Errorf("the restarted server %s differs from the leader after a sync:\n%s", down.Name, strings.Join(d, "\n"))
	}
	if !hasSnapshot(down.DataDir) {
		t.Errorf("the restarted server has no snapshot: the leader's log was compacted past its last entry, so it must have been sent one")
	}
	if ref["/t3/after/n19"].Data != "v1" {
		t.Fatalf("leader's tree lacks the last writes: %+v", ref["/t3/after/n19"])
	}

	// A new replica joins and gets the whole tree.
	joined := time.Now()
	// (With the default snapshot interval, so that any snapshot it has
	// within the test is one it was sent.)
	nr := startAgent(t, c, "replica9", "--snapshot-threshold", "64")
	nc := nr.dial(t)
	t.Logf("new replica serving %v after its start", time.Since(joined))
	if _, err := nc.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got := dumpTree(t, nc)
	ref = syncedDump(t, leader)
	if d := diffTrees(ref, got); len(d) > 0 {
		t.Errorf("the new replica's tree differs from the leader's:\n%s", strings.Join(d, "\n"))
	}
	if !hasSnapshot(nr.dataDir) {
		t.Errorf("the new replica has no snapshot in %s: it was not sent the leader's snapshot", nr.dataDir)
	}
	t.Logf("new replica has all %d nodes", len(got))

	agenttest.Eventually(t, 10*time.Second, "replica9 listed as an alive non-voter", func() bool {
		ms, err := nc.Members(ctx)
		if err != nil {
			return false
		}
		for _, m := range ms {
			if m.Name == "replica9" {
				return m.Role == "replica" && m.Status == "alive" && m.Suffrage == "nonvoter"
			}
		}
		return false
	})
	// And it keeps up with new writes.
	if err := writeMix(ctx, nc, "/t3/new", 10); err != nil {
		t.Fatal(err)
	}
	assertSameTrees(t, map[string]treeDump{leader.Name: syncedDump(t, leader), "replica9": syncedDumpClient(t, nc)})
}

// TestReplicaLeavesIsRemoved: a replica stopped with SIGTERM leaves Serf
// and the Raft configuration at once (its sessions' ephemerals go too),
// while a server killed with SIGKILL stays a voter: it is failed, and
// expected back. Restarted, it is alive and a voter again.
func TestReplicaLeavesIsRemoved(t *testing.T) {
	c := agenttest.StartCluster(t, 3, 2)
	ctx := context.Background()
	leader := c.Leader()
	watch := c.Replicas[0].Dial(t, warden.Options{})
	gone := c.Replicas[1]
	gc := gone.Dial(t, warden.Options{})
	if _, err := gc.Create(ctx, "/leaver", nil, warden.Ephemeral); err != nil {
		t.Fatal(err)
	}
	agenttest.Eventually(t, 10*time.Second, "every agent in the raft configuration", func() bool {
		ms, err := watch.Members(ctx)
		return err == nil && len(ms) == 5 && memberSuffrage(ms, gone.Name) == "nonvoter"
	})

	lc := leader.Dial(t, warden.Options{})
	gone.Signal(syscall.SIGTERM)
	select {
	case <-gone.Exited():
	case <-time.After(15 * time.Second):
		t.Fatal("the replica did not exit within 15s of SIGTERM")
	}
	stopped := time.Now()
	// The leaver asks the leader to drop it from the Raft configuration
	// before it exits: every agent has it out at once.
	outOfRaft := func(ms []warden.Member) bool {
		return memberSuffrage(ms, gone.Name) == "" || memberSuffrage(ms, gone.Name) == "none"
	}
	agenttest.Eventually(t, 10*time.Second, gone.Name+" out of the Raft configuration everywhere", func() bool {
		fromLeader, err1 := lc.Members(ctx)
		fromReplica, err2 := watch.Members(ctx)
		return err1 == nil && err2 == nil && outOfRaft(fromLeader) && outOfRaft(fromReplica)
	})
	t.Logf("%s out of the Raft configuration %v after it exited", gone.Name, time.Since(stopped))
	// The leader, whose view of Serf drives the Raft configuration, must
	// see it left (or have forgotten it), not failed. Serf marks a leaving
	// member left when memberlist has it gone: at once if the leaver's
	// farewell gossip reached this agent, else once its failure detector
	// gives up on it, which on the local profile takes up to a probe round
	// over every member (5 s) plus the longest suspicion (6 x 3 x log10(5)
	// x 1 s = 12.6 s). (Another agent's Serf may report it failed rather
	// than left: its status there is only logged.)
	var fromLeader, fromReplica []warden.Member
	agenttest.Eventually(t, 30*time.Second, gone.Name+" listed as left by the leader", func() bool {
		var err1, err2 error
		fromLeader, err1 = lc.Members(ctx)
		fromReplica, err2 = watch.Members(ctx)
		st := memberStatus(fromLeader, gone.Name)
		return err1 == nil && err2 == nil && (st == "" || st == "left") && outOfRaft(fromLeader)
	})
	t.Logf("%s left and was removed %v after it exited (the leader lists it %q, %s %q)", gone.Name, time.Since(stopped),
		memberStatus(fromLeader, gone.Name), watch.Agent(), memberStatus(fromReplica, gone.Name))
	if _, err := lc.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := lc.Exists(ctx, "/leaver"); err != nil || ok {
		t.Errorf("the leaving replica's ephemeral: exists=%v err=%v, want gone", ok, err)
	}

	// A follower server killed: failed, and still a voter. (Not the
	// first server, which every agent joins through: see
	// TestRestartedSeedRejoinsSerf.)
	var srv *agenttest.Proc
	for _, p := range c.Servers[1:] {
		if p != leader {
			srv = p
			break
		}
	}
	srv.Kill()
	killed := time.Now()
	agenttest.Eventually(t, 30*time.Second, srv.Name+" seen failed", func() bool {
		ms, err := lc.Members(ctx)
		return err == nil && memberStatus(ms, srv.Name) == "failed"
	})
	t.Logf("%s seen failed %v after SIGKILL", srv.Name, time.Since(killed))
	// Reconcile runs on every membership change and every 5s: give it a
	// round beyond the failure.
	holdVoter(t, lc, srv.Name, 6*time.Second)
	if _, err := lc.Create(ctx, "/still-writable", nil, warden.Persistent); err != nil {
		t.Fatal(err)
	}

	// The other two servers restart: the leader they elect has never seen
	// the killed server in Serf (it was down all along), which must not
	// count as "reaped": it is still failed and expected back.
	var others []*agenttest.Proc
	for _, p := range c.Servers {
		if p != srv {
			others = append(others, p)
		}
	}
	for _, p := range others {
		p.Kill()
	}
	restartAll(t, others)
	nl := c.Leader()
	lc = nl.Dial(t, warden.Options{})
	t.Logf("servers restarted; %s leads", nl.Name)
	holdVoter(t, lc, srv.Name, 6*time.Second)

	srv.Restart()
	agenttest.Eventually(t, 15*time.Second, srv.Name+" alive and a voter again", func() bool {
		ms, err := lc.Members(ctx)
		return err == nil && memberStatus(ms, srv.Name) == "alive" && memberSuffrage(ms, srv.Name) == "voter"
	})
}

// holdVoter checks for d that name stays a voter in the Raft
// configuration as cl's agent reports it.
func holdVoter(t *testing.T, cl *warden.Client, name string, d time.Duration) {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		ms, err := cl.Members(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		switch s := memberSuffrage(ms, name); s {
		case "voter":
		case "":
			t.Errorf("%v into the check: killed server %s is missing from members (%+v); it must be listed "+
				"as a voter while it is in the Raft configuration and counts toward the quorum",
				time.Since(start).Round(time.Millisecond), name, ms)
			return
		default:
			t.Errorf("%v into the check: killed server %s has suffrage %q (members %+v), want voter: it is expected back",
				time.Since(start).Round(time.Millisecond), name, s, ms)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRestartedSeedRejoinsSerf: the first server, which every agent was
// started with --join pointing at (itself included), is killed, stays
// down for half a minute, and is restarted: it must find the cluster
// again (it knew every member before the crash), so that it shows alive
// to the others and sees them all, within seconds.
//
// The outage is timed so that nothing but the restarted agent's own join
// can bring it back within the check: memberlist has stopped gossiping to
// it (15s after it was marked dead), and Serf's reconnect attempts (every
// 30s from each agent's start, each with some probability) have just
// passed while it was down.
func TestRestartedSeedRejoinsSerf(t *testing.T) {
	began := time.Now()
	c := agenttest.StartCluster(t, 3, 2)
	seed := c.Servers[0]
	c.Leader()
	// The seed knows every member (serf.known in its data dir lists them)
	// before the crash.
	agenttest.Eventually(t, 10*time.Second, seed.Name+"'s serf.known lists every member", func() bool {
		known, err := os.ReadFile(filepath.Join(seed.DataDir, "serf.known"))
		if err != nil {
			return false
		}
		for _, p := range c.All()[1:] {
			if !strings.Contains(string(known), p.IP+":7301\n") {
				return false
			}
		}
		return true
	})
	seed.Kill()
	leader := liveLeader(t, c)
	lc := leader.Dial(t, warden.Options{})
	ctx := context.Background()
	agenttest.Eventually(t, 30*time.Second, seed.Name+" seen failed", func() bool {
		ms, err := lc.Members(ctx)
		return err == nil && memberStatus(ms, seed.Name) == "failed"
	})
	failed := time.Now()
	time.Sleep(max(time.Until(failed.Add(16*time.Second)), time.Until(began.Add(32*time.Second))))
	// Serf's snapshot may hold none of it (it buffers its lines until the
	// next event, which a kill soon after the cluster formed never saw):
	// empty it, so that only what the agent itself recorded can help.
	if err := os.Truncate(filepath.Join(seed.DataDir, "serf.snapshot"), 0); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	seed.Restart()
	restarted := time.Now()
	t.Logf("%s serving again %v after its restart began", seed.Name, restarted.Sub(start))
	sc := seed.Dial(t, warden.Options{})
	deadline := restarted.Add(8 * time.Second)
	for {
		mine, err1 := sc.Members(ctx)
		theirs, err2 := lc.Members(ctx)
		alive := 0
		for _, m := range mine {
			if m.Status == "alive" {
				alive++
			}
		}
		if err1 == nil && err2 == nil && alive == 5 && memberStatus(theirs, seed.Name) == "alive" {
			t.Logf("%s back in Serf %v after its restart", seed.Name, time.Since(restarted))
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%v after its restart, %s sees %d alive members (%+v) and the leader %s sees it %q; "+
				"it joined only itself (--join is its own address) and kept no memory of the cluster",
				time.Since(restarted).Round(time.Millisecond), seed.Name, alive, mine, leader.Name, memberStatus(theirs, seed.Name))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestForwardedWritesDeduplicated: many concurrent sequential creates on
// one session through a replica (every one forwarded to the leader) while
// the leader is killed, twice (five servers, so three are left): the
// forwarding agent retries each write until it is answered, and the FSM
// applies each (session, sequence) once. Per client, the sequential nodes
// are its acknowledged creates, each exactly once at the path it was
// told, plus some of those whose outcome it does not know, none twice.
func TestForwardedWritesDeduplicated(t *testing.T) {
	c := agenttest.StartCluster(t, 5, 1)
	r := c.Replicas[0]
	cl := r.Dial(t, warden.Options{})
	createNode(t, cl, "/t5", "")
	const goroutines = 8
	var writers []*writer
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < goroutines; i++ {
		w := &writer{name: fmt.Sprintf("g%d", i), agent: r.Name, c: cl, seqOnly: true}
		w.prepare(t, "/t5")
		writers = append(writers, w)
	}
	for _, w := range writers {
		wg.Add(1)
		go func() { defer wg.Done(); w.run(stop) }()
	}
	for round := 0; round < 2; round++ {
		waitAcks(t, writers, 20*(round+1), 10*time.Second)
		l := liveLeader(t, c)
		l.Kill()
		mark := time.Now()
		agenttest.Eventually(t, 15*time.Second, "writes through the replica after the leader's kill", func() bool {
			for _, w := range writers {
				if w.acksAfter(mark) < 10 {
					return false
				}
			}
			return true
		})
		t.Logf("round %d: killed leader %s; every writer had 10 writes acknowledged %v later", round, l.Name, time.Since(mark))
	}
	close(stop)
	wg.Wait()
	ref := syncedDump(t, r)
	var acked, unknown int
	for _, w := range writers {
		for _, e := range w.refused {
			t.Errorf("%s: %s", w.name, e)
		}
		acked += w.ackedCount()
		unknown += len(w.unknown)
		w.check(t, ref)
	}
	t.Logf("%d sequential creates acknowledged, %d with unknown outcome", acked, unknown)
	live := map[string]treeDump{}
	for _, p := range c.All() {
		select {
		case <-p.Exited():
		default:
			live[p.Name] = syncedDump(t, p)
		}
	}
	assertSameTrees(t, live)
}

// writer is one goroutine of write load, and the record of what its
// client was told: creates (plain and sequential) under its own parent,
// and versioned sets of its own counter.
type writer struct {
	name     string
	agent    string
	c        *warden.Client
	onLeader bool // its agent is killed: its connection dies
	seqOnly  bool
	parent   string
	counter  string

	k int // attempts so far; only run's goroutine uses it

	mu      sync.Mutex
	done    []writeAck  // acknowledged writes, in order
	creates []createRec // acknowledged creates
	unknown []createRec // creates whose outcome is unknown
	sets    []setRec    // every versioned set attempt
	refused []string    // definite refusals that cannot happen
	last    warden.Stat // the counter's Stat as last known
}

type writeAck struct{ start, end time.Time }

type createRec struct {
	path string // requested path (a prefix for sequential creates)
	got  string // path created, when acknowledged
	data string
	seq  bool
}

type setRec struct {
	data    string
	prior   int32 // version the set expected
	acked   bool
	refused bool  // refused as a bad version: not applied
	version int32 // version after it, when acked
}

func (w *writer) prepare(t *testing.T, root string) {
	t.Helper()
	w.parent = root + "/" + w.name
	w.counter = root + "/" + w.name + "-counter"
	createNode(t, w.c, w.parent, "")
	createNode(t, w.c, w.counter, "0")
}

// opTimeout bounds each write: long enough to ride out a failover.
const opTimeout = 8 * time.Second

func (w *writer) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-w.c.Done():
			return
		default:
		}
		w.k++
		switch {
		case w.seqOnly || w.k%3 == 1:
			w.create(true)
		case w.k%3 == 2:
			w.create(false)
		default:
			w.set()
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (w *writer) create(seq bool) {
	rec := createRec{data: fmt.Sprintf("%s:%d", w.name, w.k), seq: seq}
	mode := warden.Persistent
	if seq {
		rec.path = w.parent + "/s-"
		mode = warden.Sequential
	} else {
		rec.path = fmt.Sprintf("%s/n%d", w.parent, w.k)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	start := time.Now()
	got, err := w.c.Create(ctx, rec.path, []byte(rec.data), mode)
	end := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err == nil:
		rec.got = got
		w.creates = append(w.creates, rec)
		w.done = append(w.done, writeAck{start, end})
	case outcomeUnknown(err):
		w.unknown = append(w.unknown, rec)
	default:
		w.refused = append(w.refused, fmt.Sprintf("create %s (%s) refused: %v", rec.path, rec.data, err))
	}
}

func (w *writer) set() {
	data := fmt.Sprintf("%s:%d", w.name, w.k)
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	w.mu.Lock()
	prior := w.last.Version
	w.mu.Unlock()
	start := time.Now()
	st, err := w.c.Set(ctx, w.counter, []byte(data), prior)
	end := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	rec := setRec{data: data, prior: prior}
	switch {
	case err == nil:
		rec.acked, rec.version = true, st.Version
		if st.Version != prior+1 {
			w.refused = append(w.refused, fmt.Sprintf("set %s at version %d gave version %d", w.counter, prior, st.Version))
		}
		w.last = st
		w.done = append(w.done, writeAck{start, end})
	case errors.Is(err, warden.ErrBadVersion):
		rec.refused = true
		// An earlier set of unknown outcome was applied: learn the
		// version (reads after a sync see every acknowledged write).
		w.mu.Unlock()
		_, serr := w.c.Sync(ctx)
		_, cur, gerr := w.c.Get(ctx, w.counter)
		w.mu.Lock()
		if serr == nil && gerr == nil {
			if cur.Version <= w.last.Version {
				w.refused = append(w.refused, fmt.Sprintf("set %s at version %d refused as a bad version, but it is at %d", w.counter, prior, cur.Version))
			}
			w.last = cur
		}
	case outcomeUnknown(err):
	default:
		w.refused = append(w.refused, fmt.Sprintf("set %s at version %d refused: %v", w.counter, prior, err))
	}
	w.sets = append(w.sets, rec)
}

func (w *writer) acks() []writeAck {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]writeAck(nil), w.done...)
}

func (w *writer) ackedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.done)
}

func (w *writer) acksAfter(t0 time.Time) int {
	n := 0
	for _, a := range w.acks() {
		if a.start.After(t0) {
			n++
		}
	}
	return n
}

// check holds the tree against what this writer was told: every
// acknowledged create exactly once with its data; nothing else but some
// of the creates of unknown outcome, each at most once; the counter at a
// version and data one of its sets produced, no older than the last
// acknowledged one.
func (w *writer) check(t *testing.T, tr treeDump) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	byData := map[string][]string{}
	for _, kid := range tr.children(w.parent) {
		p := w.parent + "/" + kid
		n := tr[p]
		byData[n.Data] = append(byData[n.Data], p)
		if n.Stat.Version != 0 || n.Stat.EphemeralOwner != 0 || n.Stat.NumChildren != 0 {
			t.Errorf("%s: %s has stat %+v, want an untouched persistent leaf", w.name, p, n.Stat)
		}
	}
	attempts := map[string]createRec{}
	for _, r := range w.creates {
		attempts[r.data] = r
		paths := byData[r.data]
		switch {
		case len(paths) == 0:
			t.Errorf("%s: acknowledged create %s (%s) is missing", w.name, r.got, r.data)
		case len(paths) > 1:
			t.Errorf("%s: acknowledged create %s was applied %d times: %v", w.name, r.data, len(paths), paths)
		case paths[0] != r.got:
			t.Errorf("%s: acknowledged create %s is at %s, not at the path returned, %s", w.name, r.data, paths[0], r.got)
		}
	}
	applied := 0
	for _, r := range w.unknown {
		attempts[r.data] = r
		paths := byData[r.data]
		if len(paths) > 1 {
			t.Errorf("%s: create %s of unknown outcome was applied %d times: %v", w.name, r.data, len(paths), paths)
		}
		if len(paths) == 1 {
			applied++
			if !r.seq && paths[0] != r.path {
				t.Errorf("%s: create %s of unknown outcome is at %s, want %s", w.name, r.data, paths[0], r.path)
			}
		}
	}
	for data, paths := range byData {
		r, ok := attempts[data]
		if !ok {
			t.Errorf("%s: %v hold %q, which this writer never wrote", w.name, paths, data)
			continue
		}
		if r.seq && !strings.HasPrefix(paths[0], r.path) {
			t.Errorf("%s: sequential create %s landed at %s", w.name, data, paths[0])
		}
	}
	if kids := len(tr.children(w.parent)); kids != len(w.creates)+applied {
		t.Errorf("%s: %d nodes, want %d acknowledged + %d of unknown outcome applied", w.name, kids, len(w.creates), applied)
	}

	// The counter.
	cnt, ok := tr[w.counter]
	if !ok {
		t.Errorf("%s: counter %s missing", w.name, w.counter)
		return
	}
	var lastAcked setRec
	for _, s := range w.sets {
		if s.acked {
			lastAcked = s
		}
	}
	switch {
	case cnt.Stat.Version < lastAcked.version:
		t.Errorf("%s: counter at version %d, older than the last acknowledged set (version %d)", w.name, cnt.Stat.Version, lastAcked.version)
	case cnt.Stat.Version == lastAcked.version && lastAcked.acked && cnt.Data != lastAcked.data:
		t.Errorf("%s: counter at version %d holds %q, want the acknowledged %q", w.name, cnt.Stat.Version, cnt.Data, lastAcked.data)
	case cnt.Stat.Version == 0 && cnt.Data != "0":
		t.Errorf("%s: counter at version 0 holds %q", w.name, cnt.Data)
	case cnt.Stat.Version > 0:
		found := false
		for _, s := range w.sets {
			if !s.refused && s.data == cnt.Data && s.prior+1 == cnt.Stat.Version {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: counter holds %q at version %d, which no set of this writer produced", w.name, cnt.Data, cnt.Stat.Version)
		}
	}
}

// outcomeUnknown reports whether a write's error leaves open whether it
// was applied: the connection died, the agent gave up waiting, or the
// cluster had no leader.
func outcomeUnknown(err error) bool {
	if errors.Is(err, warden.ErrClosed) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	switch warden.CodeOf(err) {
	case wire.CodeTimeout, wire.CodeUnavailable, wire.CodeCanceled:
		return true
	}
	return false
}

// waitAcks waits until every writer that is still connected has n
// acknowledged writes.
func waitAcks(t *testing.T, ws []*writer, n int, timeout time.Duration) {
	t.Helper()
	agenttest.Eventually(t, timeout, fmt.Sprintf("%d acknowledged writes per writer", n), func() bool {
		for _, w := range ws {
			if w.ackedCount() < n {
				return false
			}
		}
		return true
	})
}

// watchFailover polls the survivors' status until one reports a leader
// other than old, and until all agree on one; it returns both delays
// since killed and the new leader's name.
func watchFailover(t *testing.T, monitors map[string]*warden.Client, old string, killed time.Time) (first, agree time.Duration, leader string) {
	t.Helper()
	first = -1
	deadline := killed.Add(30 * time.Second)
	for time.Now().Before(deadline) {
		seen := map[string]int{}
		for name, m := range monitors {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := m.Status(ctx)
			cancel()
			if err != nil {
				t.Fatalf("status of %s: %v", name, err)
			}
			if st.Leader != "" && st.Leader != old {
				seen[st.Leader]++
			}
		}
		now := time.Since(killed)
		if len(seen) > 0 && first < 0 {
			first = now
		}
		for l, n := range seen {
			if n == len(monitors) {
				return first, now, l
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("the survivors agreed on no new leader within 30s of the kill")
	return
}

// writeMix writes n nodes under parent through cl (creating parent):
// plain creates, a set on every third, a sequential create on every
// fifth, and a delete on every seventh, so Stats vary.
func writeMix(ctx context.Context, cl *warden.Client, parent string, n int) error {
	if _, err := cl.Create(ctx, parent, []byte(parent), warden.Persistent); err != nil && !errors.Is(err, warden.ErrNodeExists) {
		return fmt.Errorf("create %s: %w", parent, err)
	}
	for i := 0; i < n; i++ {
		p := fmt.Sprintf("%s/n%d", parent, i)
		if _, err := cl.Create(ctx, p, []byte("v0"), warden.Persistent); err != nil {
			return fmt.Errorf("create %s: %w", p, err)
		}
		if i%3 == 0 || i == n-1 {
			if _, err := cl.Set(ctx, p, []byte("v1"), 0); err != nil {
				return fmt.Errorf("set %s: %w", p, err)
			}
		}
		if i%5 == 0 {
			if _, err := cl.Create(ctx, parent+"/s-", []byte(p), warden.Sequential); err != nil {
				return fmt.Errorf("create sequential under %s: %w", parent, err)
			}
		}
		if i%7 == 6 {
			if err := cl.Delete(ctx, p, warden.AnyVersion); err != nil {
				return fmt.Errorf("delete %s: %w", p, err)
			}
		}
	}
	return nil
}

func createNode(t *testing.T, cl *warden.Client, p, data string) {
	t.Helper()
	if _, err := cl.Create(context.Background(), p, []byte(data), warden.Persistent); err != nil {
		t.Fatalf("create %s: %v", p, err)
	}
}

// treeDump is a full dump: every node's data and Stat by path.
type treeDump map[string]nodeDump

type nodeDump struct {
	Data string
	Stat warden.Stat
}

// children lists the names of p's children in the dump, sorted.
func (tr treeDump) children(p string) []string {
	var out []string
	prefix := p + "/"
	if p == "/" {
		prefix = "/"
	}
	for q := range tr {
		if q != "/" && strings.HasPrefix(q, prefix) && !strings.Contains(q[len(prefix):], "/") {
			out = append(out, q[len(prefix):])
		}
	}
	sort.Strings(out)
	return out
}

// syncedDump syncs agent p and dumps its tree through a fresh client.
func syncedDump(t *testing.T, p *agenttest.Proc) treeDump {
	t.Helper()
	cl := p.Dial(t, warden.Options{Name: "dump"})
	defer cl.Close()
	return syncedDumpClient(t, cl)
}

func syncedDumpClient(t *testing.T, cl *warden.Client) treeDump {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cl.Sync(ctx); err != nil {
		t.Fatalf("sync %s: %v", cl.Agent(), err)
	}
	return dumpTree(t, cl)
}

// dumpTree reads every node's data and Stat, level by level, a few
// requests in flight at a time.
func dumpTree(t *testing.T, cl *warden.Client) treeDump {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := treeDump{}
	var mu sync.Mutex
	level := []string{"/"}
	for len(level) > 0 {
		var next []string
		var firstErr error
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for _, p := range level {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				data, st, err := cl.Get(ctx, p)
				var kids []string
				if err == nil && st.NumChildren > 0 {
					kids, _, err = cl.Children(ctx, p)
				}
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil {
						firstErr = fmt.Errorf("read %s: %w", p, err)
					}
					return
				}
				out[p] = nodeDump{Data: string(data), Stat: st}
				for _, k := range kids {
					next = append(next, path.Join(p, k))
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			t.Fatalf("dump through %s: %v", cl.Agent(), firstErr)
		}
		level = next
	}
	return out
}

// diffTrees lists up to 20 differences between want and got.
func diffTrees(want, got treeDump) []string {
	var out []string
	var paths []string
	for p := range want {
		paths = append(paths, p)
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		w, wok := want[p]
		g, gok := got[p]
		switch {
		case !gok:
			out = append(out, fmt.Sprintf("  %s missing (want %q %+v)", p, w.Data, w.Stat))
		case !wok:
			out = append(out, fmt.Sprintf("  %s unexpected (%q %+v)", p, g.Data, g.Stat))
		case w != g:
			out = append(out, fmt.Sprintf("  %s: got %q %+v, want %q %+v", p, g.Data, g.Stat, w.Data, w.Stat))
		}
		if len(out) == 20 {
			out = append(out, "  ...")
			break
		}
	}
	return out
}

// assertSameTrees fails unless every dump is identical.
func assertSameTrees(t *testing.T, dumps map[string]treeDump) {
	t.Helper()
	var names []string
	for n := range dumps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names[1:] {
		if d := diffTrees(dumps[names[0]], dumps[n]); len(d) > 0 {
			t.Errorf("%s's tree differs from %s's (%d vs %d nodes):\n%s",
				n, names[0], len(dumps[n]), len(dumps[names[0]]), strings.Join(d, "\n"))
		}
	}
}

// restartAll restarts killed agents together: a server's socket opens
// only once there is a leader, which takes a quorum of them.
func restartAll(t *testing.T, ps []*agenttest.Proc) {
	t.Helper()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Restart() // on failure it marks the test failed and ends this goroutine
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// liveLeader is c.Leader(), waiting out the moment after a kill when the
// survivors still agree on the dead leader.
func liveLeader(t *testing.T, c *agenttest.Cluster) *agenttest.Proc {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l := c.Leader()
		select {
		case <-l.Exited():
		default:
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agents still name %s, which is dead, as their leader", l.Name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func memberSuffrage(ms []warden.Member, name string) string {
	for _, m := range ms {
		if m.Name == name {
			return m.Suffrage
		}
	}
	return ""
}

func memberStatus(ms []warden.Member, name string) string {
	for _, m := range ms {
		if m.Name == name {
			return m.Status
		}
	}
	return ""
}

// hasSnapshot reports whether an agent's data dir holds a Raft snapshot.
func hasSnapshot(dataDir string) bool {
	m, _ := filepath.Glob(filepath.Join(dataDir, "snapshots", "*", "meta.json"))
	return len(m) > 0
}

// snapshotIndex is the Raft index of the newest snapshot in dataDir (0 when
// there is none).
func snapshotIndex(dataDir string) uint64 {
	metas, _ := filepath.Glob(filepath.Join(dataDir, "snapshots", "*", "meta.json"))
	var newest uint64
	for _, m := range metas {
		b, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		var meta struct{ Index uint64 }
		if json.Unmarshal(b, &meta) == nil {
			newest = max(newest, meta.Index)
		}
	}
	return newest
}

// extraAgent is an agent process started beside a running cluster.
type extraAgent struct {
	socket, dataDir string
	cmd             *exec.Cmd
	log             *os.File
	exited          chan struct{}
}

// startAgent starts a replica named name that joins c through its first
// server, the way agenttest starts the cluster's own (with a certificate
// when c runs TLS), and kills it when the test ends.
func startAgent(t *testing.T, c *agenttest.Cluster, name string, extra ...string) *extraAgent {
	t.Helper()
	a := &extraAgent{
		socket:  filepath.Join(agenttest.SocketDir(t), "w.sock"),
		dataDir: filepath.Join(t.TempDir(), name),
		exited:  make(chan struct{}),
	}
	args := []string{"agent", "--node", name, "--bind", agenttest.NextIP(), "--data-dir", a.dataDir,
		"--socket", a.socket, "--join", c.Servers[0].IP}
	if c.TLSDir != "" {
		args = append(args, agenttest.TLSArgs(t, c.TLSDir, name)...)
	}
	args = append(append(args, agenttest.ClusterArgs...), extra...)
	log, err := os.CreateTemp("", "warden-agent-*.log")
	if err != nil {
		t.Fatal(err)
	}
	a.log = log
	a.cmd = exec.Command(agenttest.Binary(t), args...)
	a.cmd.Stdout, a.cmd.Stderr = log, log
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = a.cmd.Wait(); close(a.exited) }()
	t.Cleanup(func() {
		_ = a.cmd.Process.Signal(syscall.SIGKILL)
		<-a.exited
		if t.Failed() {
			if out, err := os.ReadFile(log.Name()); err == nil {
				t.Logf("agent %s log:\n%s", name, out)
			}
		}
		log.Close()
		os.Remove(log.Name())
	})
	return a
}

// dial waits until the agent's socket answers and connects a client.
func (a *extraAgent) dial(t *testing.T) *warden.Client {
	t.Helper()
	agenttest.Eventually(t, 60*time.Second, "the new agent's socket", func() bool {
		select {
		case <-a.exited:
			out, _ := os.ReadFile(a.log.Name())
			t.Fatalf("the new agent exited:\n%s", out)
		default:
		}
		c, err := net.Dial("unix", a.socket)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := warden.Dial(ctx, warden.Options{Socket: a.socket})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}
