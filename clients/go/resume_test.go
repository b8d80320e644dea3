package warden_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// stateLog records the session states a client reports.
type stateLog struct {
	mu     sync.Mutex
	states []string
	seen   map[string]chan struct{} // closed once their state is reported
}

func (l *stateLog) record(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.states = append(l.states, s)
	ch := l.seenLocked(s)
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// reached is closed once state has been reported.
func (l *stateLog) reached(state string) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seenLocked(state)
}

func (l *stateLog) seenLocked(state string) chan struct{} {
	if l.seen == nil {
		l.seen = make(map[string]chan struct{})
	}
	ch, ok := l.seen[state]
	if !ok {
		ch = make(chan struct{})
		l.seen[state] = ch
	}
	return ch
}

// await waits, at most d, until state has been reported.
func (l *stateLog) await(t *testing.T, state string, d time.Duration) {
	t.Helper()
	select {
	case <-l.reached(state):
	case <-time.After(d):
		t.Fatalf("no %s state within %v; states %v", state, d, l.get())
	}
}

// isLost reports whether err is a lost session's: it matches both
// ErrSessionLost and ErrClosed.
func isLost(err error) bool {
	return errors.Is(err, warden.ErrSessionLost) && errors.Is(err, warden.ErrClosed)
}

func (l *stateLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.states)
}

// update is a config update as the test expects it.
type update struct {
	path, value string
	deleted     bool
}

func (u update) String() string {
	if u.deleted {
		return "-" + u.path
	}
	return u.path + "=" + u.value
}

// TestAutoResumeAfterAgentRestart: a resumable client holds a lock, waits
// on a second lock (held by another resumable client) and follows a config
// tree when its agent is SIGKILLed. The agent comes back, on another
// socket path at first, so that changes are made before the client can
// resume; then at its own. The client resumes by itself: it still holds
// its lock with its token, its wait is in line again with exactly one
// place of its session (the agent reclaimed the one the drop left), it
// gets the lock when the other releases, and the subscription delivers
// every change after the kill exactly once, in order.
func TestAutoResumeAfterAgentRestart(t *testing.T) {
	sock := agenttest.SocketDir(t) + "/w.sock"
	p := agenttest.StartProc(t, t.TempDir(), sock)
	ctx := testCtx(t, 90*time.Second)
	const timeout = 30 * time.Second

	var states stateLog
	app := p.Dial(t, warden.Options{Resumable: true, SessionTimeout: timeout, Name: "app", OnSessionState: states.record})
	other := p.Dial(t, warden.Options{Resumable: true, SessionTimeout: timeout, Name: "other"})
	w := p.Dial(t, warden.Options{Name: "writer"})

	held, err := app.Lock(ctx, "/ar/held")
	if err != nil {
		t.Fatal(err)
	}
	busy, err := other.Lock(ctx, "/ar/busy")
	if err != nil {
		t.Fatal(err)
	}
	type granted struct {
		lease *warden.Lease
		err   error
	}
	waited := make(chan granted, 1)
	go func() {
		l, err := app.Lock(ctx, "/ar/busy")
		waited <- granted{l, err}
	}()
	var dropped string // the wait's place in line when the agent dies
	agenttest.Eventually(t, 10*time.Second, "the app's wait in line", func() bool {
		kids, _, err := w.Children(ctx, "/ar/busy")
		if err != nil || len(kids) != 2 {
			return false
		}
		dropped = "/ar/busy/" + kids[1]
		return true
	})

	for _, p := range []string{"/ar/cfg", "/ar/cfg/a", "/ar/cfg/gone"} {
		if _, err := w.Create(ctx, p, []byte("0"), warden.Persistent); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := app.Config("/ar/cfg").SubscribeTree(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	next := func() warden.ConfigUpdate {
		t.Helper()
		nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		u, err := sub.Next(nctx)
		if err != nil {
			t.Fatalf("config update: %v", err)
		}
		return u
	}
	for i := 0; i < 3; i++ {
		if u := next(); !u.Resync {
			t.Fatalf("initial state: %+v", u)
		}
	}
	var want []update
	set := func(c *warden.Client, path, value string) {
		t.Helper()
		if _, err := c.Config(path).Set(ctx, []byte(value), warden.AnyVersion); err != nil {
			t.Fatal(err)
		}
		want = append(want, update{path: path, value: value})
	}
	set(w, "/ar/cfg/a", "before")
	if u := next(); u.Path != "/ar/cfg/a" || string(u.Value) != "before" {
		t.Fatalf("update before the kill: %+v", u)
	}
	want = want[:0]

	// A wait that is not a grant wait (in flight at the drop, or sent
	// after it: ErrDisconnected either way), and a one-shot watch.
	if err := w.Barrier("/ar/barrier").Set(ctx); err != nil {
		t.Fatal(err)
	}
	barrier := make(chan error, 1)
	go func() { barrier <- app.Barrier("/ar/barrier").Wait(ctx) }()
	_, _, watch, err := app.GetW(ctx, "/ar/cfg")
	if err != nil {
		t.Fatal(err)
	}

	// The agent dies. The app's session is resuming: calls fail at once.
	p.Kill()
	agenttest.Eventually(t, 5*time.Second, "the app to report disconnected", func() bool {
		return slices.Contains(states.get(), warden.SessionDisconnected)
	})
	start := time.Now()
	if _, _, err := app.Get(ctx, "/ar/cfg"); !errors.Is(err, warden.ErrDisconnected) || time.Since(start) > time.Second {
		t.Fatalf("get while resuming: %v after %v, want ErrDisconnected at once", err, time.Since(start))
	}
	if err := app.Err(); err != nil {
		t.Fatalf("the client ended: %v", err)
	}
	select {
	case err := <-barrier:
		if !errors.Is(err, warden.ErrDisconnected) {
			t.Fatalf("the barrier wait in flight ended with %v, want ErrDisconnected", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the barrier wait in flight did not end at the drop")
	}
	if ev, err := watch.Wait(ctx); !errors.Is(err, warden.ErrDisconnected) {
		t.Fatalf("one-shot watch after the drop: %+v %v, want ErrDisconnected", ev, err)
	}

	// It comes back where the app cannot reach it yet: changes are made.
	hidden := sock + ".hidden"
	p.Socket = hidden
	p.Args[slices.Index(p.Args, sock)] = hidden
	p.Restart()
	w2 := p.Dial(t, warden.Options{Name: "writer-2"})
	set(w2, "/ar/cfg/a", "during-1")
	if _, err := w2.Multi(ctx, warden.CreateOp("/ar/cfg/new", []byte("n"), warden.Persistent),
		warden.DeleteOp("/ar/cfg/gone", warden.AnyVersion)); err != nil {
		t.Fatal(err)
	}
	want = append(want, update{path: "/ar/cfg/new", value: "n"}, update{path: "/ar/cfg/gone", deleted: true})
	set(w2, "/ar/cfg/a", "during-2")
	if kids, _, err := w2.Children(ctx, "/ar/busy"); err != nil || len(kids) != 2 {
		t.Fatalf("before the resume /ar/busy holds %v (%v), want the holder and the dropped wait", kids, err)
	}

	// Now at its own socket: both clients resume by themselves.
	if err := os.Rename(hidden, sock); err != nil {
		t.Fatal(err)
	}
	p.Socket = sock
	p.Args[slices.Index(p.Args, hidden)] = sock
	for _, c := range []*warden.Client{app, other} {
		if err := c.WaitConnected(ctx); err != nil {
			t.Fatalf("resume: %v", err)
		}
	}
	if got := states.get(); !slices.Equal(got, []string{warden.SessionConnected, warden.SessionDisconnected, warden.SessionConnected}) {
		t.Fatalf("session states %v", got)
	}
	if ok, err := app.CheckToken(ctx, "/ar/held", held.Token); err != nil || !ok {
		t.Fatalf("after the resume the held lock's token %d is not current (%v, %v)", held.Token, ok, err)
	}
	if ok, err := held.Check(ctx); err != nil || !ok {
		t.Fatalf("lease check after the resume: %v %v", ok, err)
	}
	set(app, "/ar/cfg/a", "after")

	// The wait is in line again: the holder's node and exactly one of the
	// app's session, not the one the drop left.
	var mine string
	agenttest.Eventually(t, 10*time.Second, "the app's wait in line again", func() bool {
		kids, _, err := w2.Children(ctx, "/ar/busy")
		if err != nil || len(kids) != 2 || "/ar/busy/"+kids[0] != busy.Key {
			return false
		}
		st, ok, err := w2.Exists(ctx, "/ar/busy/"+kids[1])
		mine = "/ar/busy/" + kids[1]
		return err == nil && ok && st.EphemeralOwner == app.SessionID()
	})
	if mine == dropped {
		t.Fatalf("the wait's place %s is the one the drop left; the resume should have reclaimed it", mine)
	}
	time.Sleep(200 * time.Millisecond) // no second place shows up
	if kids, _, err := w2.Children(ctx, "/ar/busy"); err != nil || len(kids) != 2 {
		t.Fatalf("/ar/busy holds %v (%v) after the resume, want the holder and one wait", kids, err)
	}
	select {
	case g := <-waited:
		t.Fatalf("the wait returned while the lock is held: %+v %v", g.lease, g.err)
	default:
	}
	if err := busy.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-waited:
		if g.err != nil || g.lease.Key != mine || g.lease.Token <= busy.Token {
			t.Fatalf("the wait got %+v, %v; want %s with a token above %d", g.lease, g.err, mine, busy.Token)
		}
		if ok, err := g.lease.Check(ctx); err != nil || !ok {
			t.Fatalf("the granted lease does not hold: %v %v", ok, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the wait was not granted after the holder released")
	}

	// Every change after the kill, once, in order, and nothing else.
	var got []update
	for len(got) < len(want) {
		u := next()
		got = append(got, update{path: u.Path, value: string(u.Value), deleted: u.Deleted})
		if u.Resync {
			t.Fatalf("a resync after the resume: %+v", u)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("updates after the kill:\n got %v\nwant %v", got, want)
	}
	nctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if u, err := sub.Next(nctx); err == nil {
		t.Fatalf("an extra update: %+v", u)
	}
	if strings.Contains(fmt.Sprint(states.get()), warden.SessionLost) {
		t.Fatalf("states %v", states.get())
	}
}

// TestAutoResumeGivesUp: when the agent does not come back within the
// session timeout, the client reports the session lost and ends with
// ErrSessionLost (an ErrClosed too): the grant wait it kept for the
// resume, the subscription, a new call and WaitConnected fail with it.
func TestAutoResumeGivesUp(t *testing.T) {
	sock := agenttest.SocketDir(t) + "/w.sock"
	p := agenttest.StartProc(t, t.TempDir(), sock)
	ctx := testCtx(t, 30*time.Second)
	var states stateLog
	app := p.Dial(t, warden.Options{Resumable: true, SessionTimeout: time.Second, OnSessionState: states.record})
	holder := p.Dial(t, warden.Options{})
	if _, err := holder.Lock(ctx, "/gu/lock"); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() {
		_, err := app.Lock(ctx, "/gu/lock")
		waited <- err
	}()
	agenttest.Eventually(t, 10*time.Second, "the app's wait in line", func() bool {
		kids, _, err := holder.Children(ctx, "/gu/lock")
		return err == nil && len(kids) == 2
	})
	sub, err := app.Subscribe(ctx, "/gu/none", warden.SubscribeOptions{Fold: true})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := sub.Next(ctx); err != nil || !ev.Deleted || !ev.Synced {
		t.Fatalf("initial state: %+v %v", ev, err)
	}

	killed := time.Now()
	p.Kill()
	states.await(t, warden.SessionDisconnected, 5*time.Second)
	states.await(t, warden.SessionLost, 10*time.Second)
	if d := time.Since(killed); d < 900*time.Millisecond {
		t.Fatalf("gave up %v after the drop, before the session timeout", d)
	}
	select {
	case <-app.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the client reported lost but did not end")
	}
	if got := states.get(); !slices.Equal(got, []string{warden.SessionConnected, warden.SessionDisconnected, warden.SessionLost}) {
		t.Fatalf("session states %v", got)
	}
	if err := app.Err(); !isLost(err) {
		t.Fatalf("Err() = %v, want ErrSessionLost and ErrClosed", err)
	}
	select {
	case err := <-waited:
		if !isLost(err) {
			t.Fatalf("the lock wait ended with %v, want ErrSessionLost", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the lock wait did not end")
	}
	if _, err := sub.Next(ctx); !isLost(err) {
		t.Fatalf("subscription after the end: %v, want ErrSessionLost", err)
	}
	if _, _, err := app.Get(ctx, "/gu"); !isLost(err) {
		t.Fatalf("a call after the end: %v, want ErrSessionLost", err)
	}
	if err := app.WaitConnected(ctx); !isLost(err) {
		t.Fatalf("WaitConnected after the end: %v, want ErrSessionLost", err)
	}
}

// TestSessionLostWithConnection: the session of a client that is not
// resumable is gone with its connection. When the agent is SIGKILLed, the
// client reports lost, before the calls in flight fail, and ends with
// ErrSessionLost (an ErrClosed too): a lock wait in flight, a
// subscription, a new call and WaitConnected fail with it. A client the
// app closes ends with ErrClosed and reports nothing.
func TestSessionLostWithConnection(t *testing.T) {
	sock := agenttest.SocketDir(t) + "/w.sock"
	p := agenttest.StartProc(t, t.TempDir(), sock)
	ctx := testCtx(t, 30*time.Second)
	var states, closedStates stateLog
	app := p.Dial(t, warden.Options{Name: "app", OnSessionState: states.record})
	closed := p.Dial(t, warden.Options{Name: "closed", OnSessionState: closedStates.record})
	holder := p.Dial(t, warden.Options{Name: "holder"})
	if _, err := holder.Lock(ctx, "/sl/lock"); err != nil {
		t.Fatal(err)
	}
	type waitEnd struct {
		err    error
		states []string // reported when the wait returned
	}
	waited := make(chan waitEnd, 1)
	go func() {
		_, err := app.Lock(ctx, "/sl/lock")
		waited <- waitEnd{err, states.get()}
	}()
	agenttest.Eventually(t, 10*time.Second, "the app's wait in line", func() bool {
		kids, _, err := holder.Children(ctx, "/sl/lock")
		return err == nil && len(kids) == 2
	})
	sub, err := app.Subscribe(ctx, "/sl/none", warden.SubscribeOptions{Fold: true})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := sub.Next(ctx); err != nil || !ev.Deleted || !ev.Synced {
		t.Fatalf("initial state: %+v %v", ev, err)
	}

	// Closed by the app: not lost.
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	if err := closed.Err(); !errors.Is(err, warden.ErrClosed) || errors.Is(err, warden.ErrSessionLost) {
		t.Fatalf("Err() after Close = %v, want ErrClosed only", err)
	}

	p.Kill()
	states.await(t, warden.SessionLost, 10*time.Second)
	select {
	case <-app.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the client reported lost but did not end")
	}
	if got := states.get(); !slices.Equal(got, []string{warden.SessionConnected, warden.SessionLost}) {
		t.Fatalf("session states %v, want connected then lost", got)
	}
	if err := app.Err(); !isLost(err) {
		t.Fatalf("Err() = %v, want ErrSessionLost and ErrClosed", err)
	}
	select {
	case w := <-waited:
		if !isLost(w.err) {
			t.Fatalf("the lock wait in flight ended with %v, want ErrSessionLost", w.err)
		}
		if !slices.Contains(w.states, warden.SessionLost) {
			t.Fatalf("the lock wait failed before lost was reported (states then: %v)", w.states)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the lock wait in flight did not end")
	}
	if _, err := sub.Next(ctx); !isLost(err) {
		t.Fatalf("subscription after the drop: %v, want ErrSessionLost", err)
	}
	start := time.Now()
	if _, _, err := app.Get(ctx, "/sl"); !isLost(err) || time.Since(start) > time.Second {
		t.Fatalf("a call after the drop: %v after %v, want ErrSessionLost at once", err, time.Since(start))
	}
	if err := app.WaitConnected(ctx); !isLost(err) {
		t.Fatalf("WaitConnected after the drop: %v, want ErrSessionLost", err)
	}
	if got := closedStates.get(); !slices.Equal(got, []string{warden.SessionConnected}) {
		t.Fatalf("the closed client reported %v, want connected only", got)
	}
}
