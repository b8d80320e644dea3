package cluster_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// The session system tests: what apps are told about their sessions, and
// when their locks and ephemeral nodes pass on, across partitions, stuck
// processes, agent crashes and agent restarts. Every agent is a real
// `warden agent` process; every "app" is a Go client in this process
// (recording time-stamped session states) or, where the app itself must be
// stopped, a copy of this test binary run as a lock holder (see TestMain).

// lockDelay is the agents' --lock-delay (agenttest.ClusterArgs).
const lockDelay = 200 * time.Millisecond

// slack is what lower bounds on session lifetimes allow for timer ticks
// (the agent's 10ms keepalive tick, the leader's 50ms expiry tick) and
// scheduling under -race on a loaded machine (a keepalive 100ms late has
// been seen).
const slack = 250 * time.Millisecond

// TestMain runs this binary as a lock-holder app when holderEnv is set, so
// a test can SIGSTOP a real app process without building another binary.
func TestMain(m *testing.M) {
	if spec := os.Getenv(holderEnv); spec != "" {
		os.Exit(runHolder(spec))
	}
	os.Exit(m.Run())
}

// TestPartitionedHolderToldLostFirst: an agent cut off from the others (in
// a private network namespace) while one of its apps holds a lock. The
// majority keeps serving writes; the holder is told "lost" (and its
// connection closes) before a waiter on another agent is granted the lock;
// once healed, the cut agent catches up. Both when the cut agent is a
// follower and when it is the leader.
func TestPartitionedHolderToldLostFirst(t *testing.T) {
	t.Run("follower", func(t *testing.T) { testPartitionedHolder(t, false) })
	t.Run("leader", func(t *testing.T) { testPartitionedHolder(t, true) })
}

func testPartitionedHolder(t *testing.T, cutLeader bool) {
	const timeout = 2 * time.Second
	const path = "/part/lock"
	ns := agenttest.NewNetns(t)
	c := startCluster(t, agenttest.ClusterOptions{Servers: 3, Replicas: 1, Netns: ns})
	leader := c.Leader()
	var cut *agenttest.Proc
	var majority []*agenttest.Proc // the servers left connected
	for _, s := range c.Servers {
		if (s == leader) == cutLeader && cut == nil {
			cut = s
		} else {
			majority = append(majority, s)
		}
	}
	other, waiterAgent := majority[0], c.Replicas[0]
	t.Logf("leader %s; cutting %s; waiter on %s; writes through %s", leader.Name, cut.Name, waiterAgent.Name, other.Name)

	var holds holdLog
	states := &stateLog{}
	holder := cut.Dial(t, warden.Options{SessionTimeout: timeout, Name: "holder", OnSessionState: states.record})
	if got := holder.SessionTimeout(); got != timeout {
		t.Fatalf("session timeout %v granted, asked for %v", got, timeout)
	}
	lease := lockNow(t, holder, path)
	holds.acquired("holder", lease.Token, time.Now())

	waiter := waiterAgent.Dial(t, warden.Options{SessionTimeout: 10 * time.Second, Name: "waiter"})
	granted := lockAsync(t, waiter, path)
	waitInLine(t, waiter, path, 2)
	// Apps on the majority's servers, connected before the cut.
	onMajority := make([]*warden.Client, len(majority))
	for i, s := range majority {
		onMajority[i] = s.Dial(t, warden.Options{SessionTimeout: 10 * time.Second, Name: "writer"})
	}
	agenttest.Eventually(t, 5*time.Second, "the holder told it is connected", func() bool {
		_, ok := states.first("connected")
		return ok
	})

	cutAt := time.Now()
	ns.Cut(cut.IP)
	healed := false
	t.Cleanup(func() {
		if !healed {
			ns.Heal(cut.IP)
		}
	})

	// A new app connecting to the majority after the cut.
	type dialed struct {
		took time.Duration
		err  error
	}
	newApp := make(chan dialed, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cl, err := warden.Dial(ctx, warden.Options{Socket: other.Socket, Name: "new app"})
		if err == nil {
			cl.Close()
		}
		newApp <- dialed{time.Since(cutAt), err}
	}()

	// The majority has (or elects) a leader of its own: the cut isolates.
	newLeader := majorityLeader(t, onMajority, cut, 10*time.Second)
	t.Logf("the majority's leader is %s, %v after the cut", newLeader, time.Since(cutAt).Round(time.Millisecond))

	// The majority keeps serving: a write through another server commits.
	agenttest.Eventually(t, 15*time.Second, "a write through "+other.Name+" during the partition", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := onMajority[0].Create(ctx, "/during", []byte("written while "+cut.Name+" was cut off"), warden.Persistent)
		return err == nil || errors.Is(err, warden.ErrNodeExists)
	})
	t.Logf("write committed %v after the cut", time.Since(cutAt).Round(time.Millisecond))

	// The holder is told it lost its session, and its connection closes.
	select {
	case <-holder.Done():
	case <-time.After(2*timeout + 5*time.Second):
		t.Fatalf("the cut-off holder's connection is still open %v after the cut; states: %s", time.Since(cutAt), states)
	}
	lostAt, ok := states.first("lost")
	if !ok {
		t.Fatalf("the holder's connection closed (%v) without a lost event; states: %s", holder.Err(), states)
	}
	holds.ended("holder", lostAt)
	if s, ok := states.first("suspended"); !ok || !s.Before(lostAt) {
		t.Errorf("the holder was not told suspended before lost; states: %s", states)
	}

	g := waitGrant(t, granted, 15*time.Second)
	holds.acquired("waiter", g.lease.Token, g.at)
	t.Logf("states: %s", states)
	t.Logf("cut→lost %v, cut→grant %v: lost %v before the grant",
		lostAt.Sub(cutAt).Round(time.Millisecond), g.at.Sub(cutAt).Round(time.Millisecond), g.at.Sub(lostAt).Round(time.Millisecond))
	if !lostAt.Before(g.at) {
		t.Errorf("the waiter was granted the lock %v before the cut-off holder was told lost", lostAt.Sub(g.at))
	}
	if d := lostAt.Sub(cutAt); d > timeout+time.Second {
		t.Errorf("the holder was told lost %v after the cut; want within its timeout %v (+1s)", d, timeout)
	}
	holds.check(t)

	select {
	case d := <-newApp:
		if d.err != nil || d.took > 5*time.Second {
			t.Errorf("a new app could not open a session through %s until %v after the cut (err: %v); the majority had a leader after the election",
				other.Name, d.took.Round(time.Millisecond), d.err)
		} else {
			t.Logf("a new app opened a session through %s %v after the cut", other.Name, d.took.Round(time.Millisecond))
		}
	case <-time.After(15 * time.Second):
		t.Errorf("a new app's dial through %s is still pending", other.Name)
	}

	// Healed, the cut agent rejoins and catches up: it sees the write made
	// while it was away, and the new holder.
	ns.Heal(cut.IP)
	healed = true
	healAt := time.Now()
	agenttest.Eventually(t, 30*time.Second, cut.Name+" to catch up after the heal", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		cl, err := warden.Dial(ctx, warden.Options{Socket: cut.Socket})
		if err != nil {
			return false
		}
		defer cl.Close()
		if _, err := cl.Sync(ctx); err != nil {
			return false
		}
		_, during, err1 := cl.Exists(ctx, "/during")
		_, newHolder, err2 := cl.Exists(ctx, g.lease.Key)
		_, oldHolder, err3 := cl.Exists(ctx, lease.Key)
		return errors.Join(err1, err2, err3) == nil && during && newHolder && !oldHolder
	})
	t.Logf("%s caught up %v after the heal", cut.Name, time.Since(healAt).Round(time.Millisecond))
}

// majorityLeader waits until the agents behind clients agree on a leader
// other than cut, and returns its name.
func majorityLeader(t *testing.T, clients []*warden.Client, cut *agenttest.Proc, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	seen := make([]string, len(clients)) // each agent's last answer
	for {
		leader := ""
		agree := true
		for i, cl := range clients {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := cl.Status(ctx)
			cancel()
			if err != nil {
				seen[i] += fmt.Sprintf(" (then %v)", err)
				agree = false
				continue
			}
			seen[i] = fmt.Sprintf("%s: %s, leader %q, term %d", st.Node, st.State, st.Leader, st.Term)
			if st.Leader == "" || st.Leader == cut.Name || (leader != "" && st.Leader != leader) {
				agree = false
			}
			leader = st.Leader
		}
		if agree {
			return leader
		}
		if time.Now().After(deadline) {
			t.Fatalf("the servers left connected have no leader of their own %v after %s was cut off (%s): the cut does not isolate %s",
				timeout, cut.Name, strings.Join(seen, "; "), cut.Name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHeartbeatSIGSTOP: a holder process with heartbeat liveness that is
// stopped with SIGSTOP loses its lock to a waiter once its timeout passes;
// without heartbeat liveness the agent keeps the stopped holder's session
// alive, and it keeps the lock (the reason heartbeat liveness exists).
func TestHeartbeatSIGSTOP(t *testing.T) {
	const timeout = time.Second
	c := startCluster(t, agenttest.ClusterOptions{Servers: 3, Replicas: 1})
	holderAgent, waiterAgent := c.Replicas[0], c.Servers[0]

	t.Run("heartbeat", func(t *testing.T) {
		const path = "/hb/heartbeat"
		h := startHolder(t, holderAgent, path, true, timeout)
		waiter := waiterAgent.Dial(t, warden.Options{Name: "waiter"})
		granted := lockAsync(t, waiter, path)
		waitInLine(t, waiter, path, 2)

		stoppedAt := h.stop(t)
		g := waitGrant(t, granted, 3*timeout+5*time.Second)
		d := g.at.Sub(stoppedAt)
		t.Logf("a waiter on %s acquired %v after the heartbeat holder was stopped (timeout %v)", waiterAgent.Name, d.Round(time.Millisecond), timeout)
		// The holder pings every third of its timeout, so its last frame
		// went out at most timeout/3 (and some scheduling) before it was
		// stopped.
		if floor := timeout*2/3 - slack; d < floor {
			t.Errorf("the stopped holder lost its lock after %v; its session was good for at least %v", d, floor)
		}
		if d > 3*timeout {
			t.Errorf("the stopped holder kept its lock for %v; want its timeout %v (+ margin, < %v)", d, timeout, 3*timeout)
		}
		if g.lease.Token <= h.token {
			t.Errorf("the waiter's token %d is not above the stopped holder's %d", g.lease.Token, h.token)
		}
		select {
		case <-h.exited:
			t.Errorf("the holder process exited; the lock must have passed on because it stopped heartbeating")
		default:
		}
	})

	t.Run("no heartbeat", func(t *testing.T) {
		const path = "/hb/plain"
		h := startHolder(t, holderAgent, path, false, timeout)
		waiter := waiterAgent.Dial(t, warden.Options{Name: "waiter"})

		stoppedAt := h.stop(t)
		// A wait of twice the timeout (and more) must end without the lock.
		ctx, cancel := context.WithTimeout(context.Background(), 2*timeout+500*time.Millisecond)
		defer cancel()
		l, err := waiter.Lock(ctx, path)
		if err == nil {
			t.Fatalf("a waiter acquired the lock (token %d) %v after its holder was stopped; without heartbeat liveness the agent keeps a stopped process's session alive",
				l.Token, time.Since(stoppedAt))
		}
		if !errors.Is(err, warden.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("lock: %v", err)
		}
		held, err := waiter.CheckToken(context.Background(), path, h.token)
		if err != nil || !held {
			t.Fatalf("%v after SIGSTOP the stopped holder's token %d is not current (held=%v, err=%v)", time.Since(stoppedAt), h.token, held, err)
		}
		t.Logf("the stopped holder without heartbeat still held the lock %v after SIGSTOP (timeout %v)", time.Since(stoppedAt).Round(time.Millisecond), timeout)

		// Once the process really dies, the lock passes on at once.
		granted := lockAsync(t, waiter, path)
		waitInLine(t, waiter, path, 2)
		killedAt := h.kill()
		g := waitGrant(t, granted, 5*time.Second)
		t.Logf("acquired %v after SIGKILL of the stopped holder", g.at.Sub(killedAt).Round(time.Millisecond))
		if d := g.at.Sub(killedAt); d > time.Second {
			t.Errorf("acquired %v after the stopped holder was killed; a process exit hands on at once", d)
		}
	})
}

// TestResumableSessionSurvivesAgentRestart: an app's resumable session,
// taken up again after its agent was SIGKILLed and restarted, keeps its
// lock and its fencing token, and a waiter elsewhere gets the lock only
// when the resumed session releases it. A resumable session nobody resumes
// expires after its timeout, and its lock passes on after the lock-delay.
func TestResumableSessionSurvivesAgentRestart(t *testing.T) {
	c := startCluster(t, agenttest.ClusterOptions{Servers: 3, Replicas: 1})
	rep, srv := c.Replicas[0], c.Servers[0]

	t.Run("resumed", func(t *testing.T) {
		const timeout = 10 * time.Second
		const path = "/res/resumed"
		var holds holdLog
		appStates := &stateLog{}
		app := rep.Dial(t, warden.Options{Resumable: true, SessionTimeout: timeout, Name: "resumable", OnSessionState: appStates.record})
		tok := app.ResumeToken()
		if tok == nil {
			t.Fatal("a resumable session has no resume token")
		}
		lease := lockNow(t, app, path)
		holds.acquired("app", lease.Token, time.Now())
		waiter := srv.Dial(t, warden.Options{Name: "waiter"})
		granted := lockAsync(t, waiter, path)
		waitInLine(t, waiter, path, 2)

		killedAt := time.Now()
		rep.Kill()
		agenttest.Eventually(t, 5*time.Second, "the app to see its connection drop", func() bool {
			_, ok := appStates.first(warden.SessionDisconnected)
			return ok
		})
		// The client would resume the session by itself; this test takes it
		// up in a new client instead, as another process would.
		app.Close()
		rep.Restart()
		t.Logf("%s restarted in %v", rep.Name, time.Since(killedAt).Round(time.Millisecond))

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		states := &stateLog{}
		app2, err := warden.Dial(ctx, warden.Options{Socket: rep.Socket, Resume: tok, Name: "resumed", OnSessionState: states.record})
		if err != nil {
			t.Fatalf("resume session %d after the agent restart: %v", tok.SessionID, err)
		}
		t.Cleanup(func() { app2.Close() })
		t.Logf("resumed %v after the kill", time.Since(killedAt).Round(time.Millisecond))
		if app2.SessionID() != tok.SessionID {
			t.Fatalf("resumed session %d, want %d", app2.SessionID(), tok.SessionID)
		}
		if tok2 := app2.ResumeToken(); tok2 == nil || tok2.SessionID != tok.SessionID || string(tok2.Secret) != string(tok.Secret) {
			t.Errorf("the resumed session's token is %+v, want %+v", tok2, tok)
		}
		// The secret is the app's alone: no agent's log, snapshots or any
		// other file holds it, only its hash (so the scan does see the log).
		for _, a := range c.All() {
			if f := filesHolding(t, a.DataDir, tok.Secret); len(f) > 0 {
				t.Errorf("%s keeps the resumable session's secret in the clear: %v", a.Name, f)
			}
		}
		hash := sha256.Sum256(tok.Secret)
		if f := filesHolding(t, srv.DataDir, hash[:]); len(f) == 0 {
			t.Errorf("%s holds neither the secret nor its hash: does the scan read the log?", srv.Name)
		}
		if held, err := app2.CheckToken(ctx, path, lease.Token); err != nil || !held {
			t.Fatalf("after the resume the lease's token %d is not current (held=%v, err=%v)", lease.Token, held, err)
		}
		st, ok, err := app2.Exists(ctx, lease.Key)
		if err != nil || !ok {
			t.Fatalf("the lease node %s is gone after the resume (err=%v)", lease.Key, err)
		}
		if st.EphemeralOwner != tok.SessionID {
			t.Fatalf("the lease node's owner is session %d, want the resumed %d", st.EphemeralOwner, tok.SessionID)
		}
		select {
		case g := <-granted:
			t.Fatalf("the waiter got the lock (token %d, err %v) while the resumable session held it", tokenOf(g), g.err)
		default:
		}

		// The resumed session releases: the client has no Lease for it any
		// more, so delete the lease node, which is what unlock does.
		// The holding ends when the release is sent.
		releasedAt := time.Now()
		holds.ended("app", releasedAt)
		if err := app2.Delete(ctx, lease.Key, warden.AnyVersion); err != nil {
			t.Fatalf("release the resumed lease %s: %v", lease.Key, err)
		}
		g := waitGrant(t, granted, 5*time.Second)
		holds.acquired("waiter", g.lease.Token, g.at)
		holds.check(t)
		t.Logf("the waiter acquired %v after the resumed session released (tokens %d → %d)",
			g.at.Sub(releasedAt).Round(time.Millisecond), lease.Token, g.lease.Token)
		if d := g.at.Sub(releasedAt); d > time.Second {
			t.Errorf("the waiter acquired %v after a clean release; want at once", d)
		}
		if l, ok := states.first("lost"); ok {
			t.Errorf("the resumed session was lost at %v; states %s", l, states)
		}
	})

	t.Run("not resumed", func(t *testing.T) {
		const timeout = 2 * time.Second
		const path = "/res/abandoned"
		app := rep.Dial(t, warden.Options{Resumable: true, SessionTimeout: timeout, Name: "resumable"})
		lease := lockNow(t, app, path)
		waiter := srv.Dial(t, warden.Options{Name: "waiter"})
		granted := lockAsync(t, waiter, path)
		waitInLine(t, waiter, path, 2)

		// Watch, from the waiter's agent, for the abandoned lease to go.
		gone := make(chan time.Time, 1)
		obs := srv.Dial(t, warden.Options{Name: "observer"})
		go func() {
			for {
				_, ok, err := obs.Exists(context.Background(), lease.Key)
				if err != nil {
					return
				}
				if !ok {
					gone <- time.Now()
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()

		// Let a keepalive cycle pass, so that the kill lands at some point
		// of one rather than just after the session was opened.
		time.Sleep(timeout / 3)
		killedAt := time.Now()
		rep.Kill()
		app.Close()   // it would resume the session by itself
		rep.Restart() // and nobody resumes the session
		g := waitGrant(t, granted, timeout+lockDelay+10*time.Second)
		var goneAt time.Time
		select {
		case goneAt = <-gone:
		case <-time.After(time.Second):
			t.Fatal("the waiter was granted but the abandoned lease node is still there")
		}
		t.Logf("kill→lease gone %v, kill→grant %v, gone→grant %v (timeout %v, lock-delay %v)",
			goneAt.Sub(killedAt).Round(time.Millisecond), g.at.Sub(killedAt).Round(time.Millisecond),
			g.at.Sub(goneAt).Round(time.Millisecond), timeout, lockDelay)
		if g.lease.Token <= lease.Token {
			t.Errorf("the waiter's token %d is not above the abandoned %d", g.lease.Token, lease.Token)
		}
		// Keepalives went out every third of the timeout, so the session
		// was good for at least 2/3 of it after the kill.
		if d, floor := goneAt.Sub(killedAt), timeout*2/3-slack; d < floor {
			t.Errorf("the abandoned session ended %v after the kill; it was good for at least %v", d, floor)
		}
		if d := goneAt.Sub(killedAt); d > timeout+time.Second {
			t.Errorf("the abandoned session ended %v after the kill; want within its timeout %v (+1s)", d, timeout)
		}
		if d := g.at.Sub(goneAt); d < lockDelay/2 {
			t.Errorf("the lock passed on %v after its expired holder's node went; want the lock-delay %v", d, lockDelay)
		}
	})
}

// TestSessionStatesSuspendedThenConnected: an agent cut off for less than
// its app's session timeout. The app is told suspended, then connected
// again; it keeps its lock, and the waiter gets it only when it is
// released.
func TestSessionStatesSuspendedThenConnected(t *testing.T) {
	const timeout = 4 * time.Second
	const path = "/susp/lock"
	ns := agenttest.NewNetns(t)
	c := startCluster(t, agenttest.ClusterOptions{Servers: 3, Replicas: 1, Netns: ns})
	leader := c.Leader()
	var cut *agenttest.Proc
	for _, s := range c.Servers {
		if s != leader {
			cut = s
			break
		}
	}
	var holds holdLog
	states := &stateLog{}
	app := cut.Dial(t, warden.Options{SessionTimeout: timeout, Name: "holder", OnSessionState: states.record})
	lease := lockNow(t, app, path)
	holds.acquired("app", lease.Token, time.Now())
	waiter := c.Replicas[0].Dial(t, warden.Options{Name: "waiter"})
	granted := lockAsync(t, waiter, path)
	waitInLine(t, waiter, path, 2)

	cutAt := time.Now()
	ns.Cut(cut.IP)
	healed := false
	t.Cleanup(func() {
		if !healed {
			ns.Heal(cut.IP)
		}
	})
	agenttest.Eventually(t, timeout, "the app told suspended", func() bool {
		_, ok := states.first("suspended")
		return ok
	})
	ns.Heal(cut.IP)
	healed = true
	healAt := time.Now()
	// Wait for connected, noting when the cut agent knows its leader again
	// (from when on it can renew the session).
	var rejoined time.Duration
	for states.last() != "connected" || states.count("connected") < 2 {
		if rejoined == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			if st, err := app.Status(ctx); err == nil && st.Leader != "" {
				rejoined = time.Since(healAt)
			}
			cancel()
		}
		if time.Since(healAt) > timeout {
			t.Fatalf("the app was not told connected again within %v of the heal (cut for %v; %s had a leader again %v after the heal); states: %s",
				timeout, healAt.Sub(cutAt).Round(time.Millisecond), cut.Name, rejoined.Round(time.Millisecond), states)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("cut for %v; %s had a leader again %v after the heal; states: %s",
		healAt.Sub(cutAt).Round(time.Millisecond), cut.Name, rejoined.Round(time.Millisecond), states)

	// Watch until the session would surely have expired had the agent not
	// renewed it: the holder stays connected and the waiter stays waiting.
	for time.Since(cutAt) < timeout+time.Second {
		if _, lost := states.first("lost"); lost {
			t.Fatalf("the app was told lost after a cut shorter than its timeout; states: %s", states)
		}
		select {
		case g := <-granted:
			t.Fatalf("the waiter got the lock (token %d, err %v) while the app held it", tokenOf(g), g.err)
		case <-app.Done():
			t.Fatalf("the app's connection ended: %v", app.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if held, err := lease.Check(context.Background()); err != nil || !held {
		t.Fatalf("after the heal the app's lease is not current as %s sees it (held=%v, err=%v)", app.Agent(), held, err)
	}
	if held, err := waiter.CheckToken(context.Background(), path, lease.Token); err != nil || !held {
		t.Fatalf("after the heal token %d is not current as %s sees it (held=%v, err=%v)", lease.Token, waiter.Agent(), held, err)
	}

	holds.ended("app", time.Now()) // the holding ends when the release is sent
	if err := lease.Unlock(context.Background()); err != nil {
		t.Fatal(err)
	}
	g := waitGrant(t, granted, 5*time.Second)
	holds.acquired("waiter", g.lease.Token, g.at)
	holds.check(t)
	if got := states.String(); strings.Count(got, "suspended") != 1 {
		t.Errorf("states %s: want exactly one suspension", got)
	}
}

// TestReplicaSIGKILLEphemeralsExpire: SIGKILL of a replica agent; the
// ephemeral nodes of its apps disappear, as a server sees them, within
// their session timeouts, and not before (their sessions were good until
// then).
func TestReplicaSIGKILLEphemeralsExpire(t *testing.T) {
	c := startCluster(t, agenttest.ClusterOptions{Servers: 3, Replicas: 1})
	rep, srv := c.Replicas[0], c.Servers[0]
	obs := srv.Dial(t, warden.Options{Name: "observer"})
	ctx := context.Background()
	if _, err := obs.Create(ctx, "/eph", nil, warden.Persistent); err != nil {
		t.Fatal(err)
	}
	timeouts := []time.Duration{2 * time.Second, 3 * time.Second}
	paths := make([]string, len(timeouts))
	for i, timeout := range timeouts {
		app := rep.Dial(t, warden.Options{SessionTimeout: timeout, Name: fmt.Sprintf("app%d", i)})
		p, err := app.Create(ctx, fmt.Sprintf("/eph/app%d-", i), nil, warden.Ephemeral|warden.Sequential)
		if err != nil {
			t.Fatal(err)
		}
		paths[i] = p
	}
	agenttest.Eventually(t, 5*time.Second, "the server to see the ephemerals", func() bool {
		kids, _, err := obs.Children(ctx, "/eph")
		return err == nil && len(kids) == len(paths)
	})
	// Keepalives for all of an agent's sessions go out every third of the
	// shortest timeout. Let a cycle pass, so that the kill lands at some
	// point of one rather than just after the sessions were opened.
	interval := timeouts[0] / 3
	time.Sleep(interval)

	killedAt := time.Now()
	rep.Kill()
	goneAt := make([]time.Time, len(paths))
	agenttest.Eventually(t, timeouts[len(timeouts)-1]+10*time.Second, "the ephemerals to go", func() bool {
		left := 0
		for i, p := range paths {
			if !goneAt[i].IsZero() {
				continue
			}
			if _, ok, err := obs.Exists(ctx, p); err == nil && !ok {
				goneAt[i] = time.Now()
				continue
			}
			left++
		}
		return left == 0
	})
	for i, timeout := range timeouts {
		d := goneAt[i].Sub(killedAt)
		t.Logf("session timeout %v: ephemeral gone %v after SIGKILL of %s", timeout, d.Round(time.Millisecond), rep.Name)
		if d > timeout+time.Second {
			t.Errorf("timeout %v: ephemeral gone %v after the kill, want ≤ timeout + 1s", timeout, d)
		}
		if floor := timeout - interval - slack; d < floor {
			t.Errorf("timeout %v: ephemeral gone %v after the kill, before its session could have expired (≥ %v)", timeout, d, floor)
		}
	}
}

// startCluster starts a cluster and logs how long that took.
func startCluster(t *testing.T, o agenttest.ClusterOptions) *agenttest.Cluster {
	t.Helper()
	start := time.Now()
	c := agenttest.StartClusterWith(t, o)
	t.Logf("%d servers and %d replicas up in %v", o.Servers, o.Replicas, time.Since(start).Round(time.Millisecond))
	return c
}

// stateLog records, with times, the session states an app is told.
type stateLog struct {
	mu     sync.Mutex
	start  time.Time
	events []stateEvent
}

type stateEvent struct {
	state string
	at    time.Time
}

func (l *stateLog) record(state string) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.start.IsZero() {
		l.start = now
	}
	l.events = append(l.events, stateEvent{state, now})
}

// first returns when state was first reported.
func (l *stateLog) first(state string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e.state == state {
			return e.at, true
		}
	}
	return time.Time{}, false
}

func (l *stateLog) count(state string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.state == state {
			n++
		}
	}
	return n
}

func (l *stateLog) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.events) == 0 {
		return ""
	}
	return l.events[len(l.events)-1].state
}

func (l *stateLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for i, e := range l.events {
		if i > 0 {
			b.WriteString(" → ")
		}
		fmt.Fprintf(&b, "%s@+%v", e.state, e.at.Sub(l.start).Round(time.Millisecond))
	}
	return b.String()
}

// holdLog is an event log of lock holdings (from acquisition until the
// holder released or was told its session was lost), and checks that no
// two overlap and that fencing tokens increase from one holder to the next.
type holdLog struct {
	mu    sync.Mutex
	holds []holding
}

type holding struct {
	who      string
	token    uint64
	from, to time.Time // to is zero while held
}

func (h *holdLog) acquired(who string, token uint64, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.holds = append(h.holds, holding{who: who, token: token, from: at})
}

func (h *holdLog) ended(who string, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := len(h.holds) - 1; i >= 0; i-- {
		if h.holds[i].who == who && h.holds[i].to.IsZero() {
			h.holds[i].to = at
			return
		}
	}
}

// check: each holding ended before the next began, with a higher token.
func (h *holdLog) check(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := 1; i < len(h.holds); i++ {
		prev, next := h.holds[i-1], h.holds[i]
		if prev.to.IsZero() || !prev.to.Before(next.from) {
			t.Errorf("two holders at once: %s (token %d, until %v) and %s (token %d, from %v)",
				prev.who, prev.token, prev.to, next.who, next.token, next.from)
		}
		if next.token <= prev.token {
			t.Errorf("fencing token went from %d (%s) to %d (%s)", prev.token, prev.who, next.token, next.who)
		}
	}
}

// grant is the outcome of a lock wait, and when the waiter heard it.
type grant struct {
	lease *warden.Lease
	at    time.Time
	err   error
}

func tokenOf(g grant) uint64 {
	if g.lease == nil {
		return 0
	}
	return g.lease.Token
}

// lockNow acquires path, failing the test if that takes more than a few
// seconds.
func lockNow(t *testing.T, c *warden.Client, path string) *warden.Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := c.Lock(ctx, path)
	if err != nil {
		t.Fatalf("lock %s: %v", path, err)
	}
	return l
}

// lockAsync waits for path in the background; the wait ends with the test
// (its client closes).
func lockAsync(t *testing.T, c *warden.Client, path string) <-chan grant {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch := make(chan grant, 1)
	go func() {
		l, err := c.Lock(ctx, path)
		ch <- grant{l, time.Now(), err}
	}()
	return ch
}

func waitGrant(t *testing.T, ch <-chan grant, timeout time.Duration) grant {
	t.Helper()
	select {
	case g := <-ch:
		if g.err != nil {
			t.Fatalf("lock wait: %v", g.err)
		}
		return g
	case <-time.After(timeout):
		t.Fatalf("no grant within %v", timeout)
		return grant{}
	}
}

// waitInLine waits until n contenders are in line for path, as c sees it.
func waitInLine(t *testing.T, c *warden.Client, path string, n int) {
	t.Helper()
	agenttest.Eventually(t, 5*time.Second, fmt.Sprintf("%d contenders for %s", n, path), func() bool {
		kids, _, err := c.Children(context.Background(), path)
		return err == nil && len(kids) == n
	})
}

// holderEnv carries a holderSpec to this binary run as a lock holder.
const holderEnv = "WARDEN_TEST_LOCK_HOLDER"

type holderSpec struct {
	Socket    string `json:"socket"`
	Path      string `json:"path"`
	Marker    string `json:"marker"` // written with the fencing token once held
	Heartbeat bool   `json:"heartbeat"`
	TimeoutMs int64  `json:"timeout_ms"`
}

// runHolder is the lock-holder app: it connects (with heartbeat liveness
// if asked), takes the lock, writes its token to the marker file, and then
// holds the lock until its connection ends.
func runHolder(specJSON string) int {
	var s holderSpec
	if err := json.Unmarshal([]byte(specJSON), &s); err != nil {
		fmt.Fprintln(os.Stderr, "holder:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := warden.Dial(ctx, warden.Options{
		Socket: s.Socket, SessionTimeout: time.Duration(s.TimeoutMs) * time.Millisecond,
		Heartbeat: s.Heartbeat, Name: "holder",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "holder: dial:", err)
		return 1
	}
	lease, err := c.Lock(ctx, s.Path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "holder: lock:", err)
		return 1
	}
	tmp := s.Marker + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatUint(lease.Token, 10)), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "holder:", err)
		return 1
	}
	if err := os.Rename(tmp, s.Marker); err != nil {
		fmt.Fprintln(os.Stderr, "holder:", err)
		return 1
	}
	<-c.Done()
	fmt.Fprintln(os.Stderr, "holder: connection ended:", c.Err())
	return 3
}

// holderProc is this test binary running as a lock holder.
type holderProc struct {
	cmd    *exec.Cmd
	token  uint64
	exited chan struct{}
}

// startHolder runs a lock-holder process through agent p and waits until
// it holds path. It is killed when the test ends.
func startHolder(t *testing.T, p *agenttest.Proc, path string, heartbeat bool, timeout time.Duration) *holderProc {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "held")
	spec, _ := json.Marshal(holderSpec{Socket: p.Socket, Path: path, Marker: marker, Heartbeat: heartbeat, TimeoutMs: timeout.Milliseconds()})
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), holderEnv+"="+string(spec))
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &holderProc{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(h.exited) }()
	t.Cleanup(func() {
		h.kill()
		if s := out.String(); s != "" {
			t.Logf("holder process output:\n%s", s)
		}
	})
	agenttest.Eventually(t, 30*time.Second, "the holder process to hold "+path, func() bool {
		select {
		case <-h.exited:
			t.Fatalf("the holder process exited: %s", out.String())
		default:
		}
		b, err := os.ReadFile(marker)
		if err != nil {
			return false
		}
		h.token, err = strconv.ParseUint(string(b), 10, 64)
		return err == nil
	})
	return h
}

// stop sends SIGSTOP and returns when it was sent.
func (h *holderProc) stop(t *testing.T) time.Time {
	t.Helper()
	at := time.Now()
	if err := h.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP the holder: %v", err)
	}
	return at
}

// kill SIGKILLs the holder (stopped or not), waits for it to go, and
// returns when the signal was sent.
func (h *holderProc) kill() time.Time {
	at := time.Now()
	_ = h.cmd.Process.Signal(syscall.SIGKILL)
	<-h.exited
	return at
}

// lockedBuffer collects a child process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestMixedTimeoutKeepalives: an agent already keeps a 10 s session alive
// (renewed every second) when idle 300 ms sessions open beside it. Their
// keepalives must follow their own timeout from the moment they open:
// over rounds that open them at different points of the long session's
// renewal cycle, and many of their periods each, none is suspended or
// lost and none of their ephemeral nodes goes.
func TestMixedTimeoutKeepalives(t *testing.T) {
	const short, perRound, rounds, periods = 300 * time.Millisecond, 4, 8, 6
	c := startCluster(t, agenttest.ClusterOptions{Servers: 3, Replicas: 1, Args: []string{"--min-session-timeout", "100ms"}})
	rep := c.Replicas[0]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	long := rep.Dial(t, warden.Options{SessionTimeout: 10 * time.Second, Name: "long"})
	if _, err := long.Create(ctx, "/mixed", nil, 0); err != nil {
		t.Fatal(err)
	}
	obs := c.Servers[0].Dial(t, warden.Options{Name: "observer"})
	for round := 0; round < rounds; round++ {
		// Open the round's sessions at a different point of the long
		// session's one-second renewal cycle each time.
		time.Sleep(time.Duration(round) * 1000 * time.Millisecond / rounds)
		states := make([]*stateLog, perRound)
		apps := make([]*warden.Client, perRound)
		paths := make([]string, perRound)
		for i := range apps {
			states[i] = &stateLog{}
			apps[i] = rep.Dial(t, warden.Options{SessionTimeout: short, Name: fmt.Sprintf("short%d-%d", round, i), OnSessionState: states[i].record})
			if got := apps[i].SessionTimeout(); got != short {
				t.Fatalf("session timeout %v granted, asked for %v", got, short)
			}
			p, err := apps[i].Create(ctx, fmt.Sprintf("/mixed/r%d-%d", round, i), nil, warden.Ephemeral)
			if err != nil {
				t.Fatalf("round %d app %d: %v", round, i, err)
			}
			paths[i] = p
		}
		time.Sleep(periods * short) // idle: only keepalives keep them alive
		for i, app := range apps {
			if n := states[i].count("lost") + states[i].count("suspended"); n > 0 {
				t.Fatalf("round %d: idle %v session %d was %s", round, short, i, states[i])
			}
			if _, ok, err := obs.Exists(ctx, paths[i]); err != nil || !ok {
				t.Fatalf("round %d: the ephemeral of idle %v session %d is gone (exists %v, %v); states %s", round, short, i, ok, err, states[i])
			}
			app.Close()
		}
	}
}

// filesHolding lists the files under dir whose bytes contain needle.
func filesHolding(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, needle) {
			out = append(out, filepath.Base(path))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", dir, err)
	}
	return out
}
