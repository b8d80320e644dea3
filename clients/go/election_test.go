package warden_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent"
	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

type campaignResult struct {
	who  int
	lead *warden.Leadership
	err  error
}

// TestElectionOrder: candidates are elected one at a time in the order
// they entered; each resignation hands over to the next at once; tokens
// strictly increase; Leader names the one that believes it leads.
func TestElectionOrder(t *testing.T) {
	a := agenttest.Start(t)
	const n = 6
	const path = "/elections/order"
	probe := dial(t, a)
	ctx := testCtx(t, 30*time.Second)

	if l, err := probe.Leader(ctx, path); err != nil || l != nil {
		t.Fatalf("leader of an election nobody entered: %+v %v", l, err)
	}
	first, err := probe.Campaign(ctx, path, []byte("first"))
	if err != nil {
		t.Fatal(err)
	}
	if first.Path != path || !strings.HasPrefix(first.Key, path+"/") || first.Token == 0 {
		t.Fatalf("leadership %+v", first)
	}
	if data, st := mustGet(t, probe, first.Key); string(data) != "first" || st.Czxid != first.Token || st.EphemeralOwner != probe.SessionID() {
		t.Fatalf("candidate node: data %q stat %+v, token %d", data, st, first.Token)
	}

	var leaders atomic.Int32
	leaders.Store(1) // first
	results := make(chan campaignResult, n)
	resign := make([]chan struct{}, n)
	for i := 0; i < n; i++ {
		c := dial(t, a)
		resign[i] = make(chan struct{})
		go func() {
			l, err := c.Campaign(ctx, path, []byte(fmt.Sprint("c", i)))
			if err == nil {
				if k := leaders.Add(1); k != 1 {
					err = fmt.Errorf("candidate %d elected while %d others lead", i, k-1)
				}
			}
			results <- campaignResult{i, l, err}
			if err != nil {
				return
			}
			<-resign[i]
			leaders.Add(-1)
			if err := l.Resign(ctx); err != nil {
				t.Errorf("candidate %d resign: %v", i, err)
			}
		}()
		agenttest.Eventually(t, 10*time.Second, fmt.Sprintf("candidate %d in line", i), func() bool {
			return childCount(t, probe, path) == i+2
		})
	}
	select {
	case r := <-results:
		t.Fatalf("candidate %d elected while the first leads: %v", r.who, r.err)
	case <-time.After(50 * time.Millisecond):
	}

	leaders.Add(-1)
	if err := first.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "second resign", first.Resign(ctx), warden.ErrNotHeld)
	wantErr(t, "proclaim after resigning", first.Proclaim(ctx, []byte("x")), warden.ErrNotHeld)

	prev := first.Token
	for i := 0; i < n; i++ {
		var r campaignResult
		select {
		case r = <-results:
		case <-time.After(10 * time.Second):
			t.Fatalf("nobody elected after candidate %d's predecessor resigned", i)
		}
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.who != i {
			t.Fatalf("candidate %d elected, want %d (arrival order)", r.who, i)
		}
		if r.lead.Token <= prev {
			t.Fatalf("candidate %d token %d, not above the previous leader's %d", i, r.lead.Token, prev)
		}
		prev = r.lead.Token
		l, err := probe.Leader(ctx, path)
		if err != nil || l == nil || l.Key != r.lead.Key || l.Token != r.lead.Token || string(l.Value) != fmt.Sprint("c", i) {
			t.Fatalf("leader %+v %v, want candidate %d %+v", l, err, i, r.lead)
		}
		close(resign[i])
	}
	agenttest.Eventually(t, 10*time.Second, "the election's nodes to go", func() bool {
		_, ok, err := probe.Exists(ctx, path)
		return err == nil && !ok
	})
	if l, err := probe.Leader(ctx, path); err != nil || l != nil {
		t.Fatalf("leader after everyone resigned: %+v %v", l, err)
	}
}

// TestElectionProclaim: the leader's value can be replaced by the leader
// only; Leader reports it.
func TestElectionProclaim(t *testing.T) {
	a := agenttest.Start(t)
	const path = "/elections/proclaim"
	leader := dial(t, a)
	other := dial(t, a)
	ctx := testCtx(t, 30*time.Second)

	l, err := leader.Campaign(ctx, path, []byte("v1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Proclaim(ctx, []byte("v2")); err != nil {
		t.Fatal(err)
	}
	got, err := other.Leader(ctx, path)
	if err != nil || got == nil || string(got.Value) != "v2" || got.Key != l.Key || got.Token != l.Token {
		t.Fatalf("leader after proclaim: %+v %v, want v2 at %+v", got, err, l)
	}

	// Another session cannot proclaim with the leader's key.
	stolen, err := other.Campaign(ctx, "/elections/elsewhere", nil)
	if err != nil {
		t.Fatal(err)
	}
	own := stolen.Key
	stolen.Key, stolen.Token = l.Key, l.Token
	wantErr(t, "proclaim with another session's key", stolen.Proclaim(ctx, []byte("evil")), warden.ErrNotHeld)
	wantErr(t, "resign with another session's key", stolen.Resign(ctx), warden.ErrNotHeld)

	// A candidate that does not lead cannot proclaim: another session's
	// candidate waiting behind the leader.
	go func() { _, _ = other.Campaign(ctx, path, []byte("waiting")) }()
	var behind string
	agenttest.Eventually(t, 5*time.Second, "a second candidate in line", func() bool {
		kids, _, err := leader.Children(ctx, path)
		for _, k := range kids {
			if path+"/"+k != l.Key {
				behind = path + "/" + k
			}
		}
		return err == nil && len(kids) == 2
	})
	stolen.Key, stolen.Token = behind, 0
	wantErr(t, "proclaim by a candidate that does not lead", stolen.Proclaim(ctx, []byte("evil")), warden.ErrNotHeld)
	// A wrong token names another candidacy.
	stolen.Key, stolen.Token = own, 1
	wantErr(t, "proclaim with a wrong token", stolen.Proclaim(ctx, []byte("evil")), warden.ErrNotHeld)
	if data, _ := mustGet(t, other, l.Key); string(data) != "v2" {
		t.Fatalf("leader's value %q after refused proclaims", data)
	}

	// Bad arguments.
	_, err = leader.Campaign(ctx, "/", nil)
	wantErr(t, "campaign at /", err, warden.ErrBadArguments)
	_, err = leader.Leader(ctx, "no-slash")
	wantErr(t, "leader of an invalid path", err, warden.ErrBadArguments)
	stolen.Key = "/elections/proclaim/x-0000000001"
	wantErr(t, "resign a key that is not a candidate's", stolen.Resign(ctx), warden.ErrBadArguments)

	// Leadership ends with the session: the candidate behind takes over.
	leader.Close()
	agenttest.Eventually(t, 5*time.Second, "the next candidate to lead", func() bool {
		got, err := other.Leader(ctx, path)
		return err == nil && got != nil && got.Key == behind && string(got.Value) == "waiting"
	})
}

// TestElectionObserve: an observer sees the current leader first, then
// every change of leader or value, in order, and nothing else.
func TestElectionObserve(t *testing.T) {
	a := agenttest.Start(t)
	const path = "/elections/observe"
	watcher := dial(t, a)
	ca, cb, cc := dial(t, a), dial(t, a), dial(t, a)
	ctx := testCtx(t, 30*time.Second)

	obs, err := watcher.Observe(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	next := func(what string) warden.Leader {
		t.Helper()
		nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		l, err := obs.Next(nctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		return l
	}
	quiet := func(what string) {
		t.Helper()
		nctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if l, err := obs.Next(nctx); err == nil {
			t.Fatalf("%s: unexpected leader event %+v", what, l)
		}
	}
	if l := next("the first event"); !l.None() {
		t.Fatalf("first event %+v, want none", l)
	}

	la, err := ca.Campaign(ctx, path, []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	if l := next("a"); l.Key != la.Key || string(l.Value) != "a" || l.Token != la.Token {
		t.Fatalf("got %+v, want a %+v", l, la)
	}
	// b and c queue up: the leader does not change.
	waits := make(chan campaignResult, 2)
	for i, c := range []*warden.Client{cb, cc} {
		go func() {
			l, err := c.Campaign(ctx, path, []byte(string(rune('b'+i))))
			waits <- campaignResult{i, l, err}
		}()
		agenttest.Eventually(t, 5*time.Second, "candidate in line", func() bool { return childCount(t, watcher, path) == i+2 })
	}
	quiet("candidates joining behind the leader")

	if err := la.Proclaim(ctx, []byte("a2")); err != nil {
		t.Fatal(err)
	}
	if l := next("a2"); l.Key != la.Key || string(l.Value) != "a2" {
		t.Fatalf("got %+v, want a2", l)
	}
	if err := la.Proclaim(ctx, []byte("a2")); err != nil {
		t.Fatal(err)
	}
	quiet("proclaiming the same value")

	if err := la.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	lb := (<-waits).lead
	if l := next("b"); l.Key != lb.Key || string(l.Value) != "b" || l.Token != lb.Token || l.Token <= la.Token {
		t.Fatalf("got %+v, want b %+v", l, lb)
	}
	cb.Close() // the leader's session ends
	lc := (<-waits).lead
	if l := next("c"); l.Key != lc.Key || string(l.Value) != "c" || l.Token <= lb.Token {
		t.Fatalf("got %+v, want c %+v", l, lc)
	}
	if err := lc.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if l := next("none"); !l.None() {
		t.Fatalf("got %+v, want none", l)
	}

	// A second observer starts from the current state.
	ld, err := ca.Campaign(ctx, path, []byte("d"))
	if err != nil {
		t.Fatal(err)
	}
	if l := next("d"); l.Key != ld.Key {
		t.Fatalf("got %+v, want d", l)
	}
	obs2, err := watcher.Observe(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := obs2.Next(ctx); err != nil || l.Key != ld.Key || string(l.Value) != "d" {
		t.Fatalf("second observer's first event: %+v %v", l, err)
	}
	if err := obs2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := obs2.Next(ctx); !errors.Is(err, warden.ErrStreamClosed) {
		t.Fatalf("next after close: %v", err)
	}
	_, err = watcher.Observe(ctx, "/")
	wantErr(t, "observe /", err, warden.ErrBadArguments)
}

// TestCampaignTimeoutAndCancel: a campaign that gives up (deadline or
// cancel) removes its candidate node, so it never holds up those behind.
func TestCampaignTimeoutAndCancel(t *testing.T) {
	a := agenttest.Start(t)
	const path = "/elections/giveup"
	leader := dial(t, a)
	waiter := dial(t, a)
	ctx := testCtx(t, 30*time.Second)

	l, err := leader.Campaign(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}

	dctx, dcancel := context.WithTimeout(ctx, 200*time.Millisecond)
	start := time.Now()
	_, err = waiter.Campaign(dctx, path, nil)
	dcancel()
	if !errors.Is(err, warden.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("campaign with a deadline: %v", err)
	}
	if el := time.Since(start); el < 150*time.Millisecond || el > 5*time.Second {
		t.Fatalf("campaign with a 200ms deadline returned after %v", el)
	}
	if kids := mustChildren(t, leader, path); len(kids) != 1 {
		t.Fatalf("candidates after a timed-out campaign: %v", kids)
	}

	cctx, ccancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := waiter.Campaign(cctx, path, nil)
		done <- err
	}()
	agenttest.Eventually(t, 5*time.Second, "waiter in line", func() bool { return childCount(t, leader, path) == 2 })
	ccancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled campaign: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled campaign did not return")
	}
	if kids := mustChildren(t, leader, path); len(kids) != 1 {
		t.Fatalf("candidates after a cancelled campaign: %v", kids)
	}

	// A third candidate behind a waiter that gives up is elected as soon
	// as the leader goes.
	behind := dial(t, a)
	gctx, gcancel := context.WithCancel(ctx)
	go func() {
		_, err := waiter.Campaign(gctx, path, nil)
		done <- err
	}()
	agenttest.Eventually(t, 5*time.Second, "waiter in line", func() bool { return childCount(t, leader, path) == 2 })
	got := make(chan campaignResult, 1)
	go func() {
		l, err := behind.Campaign(ctx, path, nil)
		got <- campaignResult{lead: l, err: err}
	}()
	agenttest.Eventually(t, 5*time.Second, "third in line", func() bool { return childCount(t, leader, path) == 3 })
	gcancel()
	<-done
	if err := l.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.err != nil || r.lead.Token <= l.Token {
			t.Fatalf("third candidate: %+v %v", r.lead, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("third candidate not elected after the leader resigned")
	}

	// A waiting candidate whose node is deleted by another session fails
	// with ErrNotHeld.
	go func() {
		_, err := waiter.Campaign(ctx, path, nil)
		done <- err
	}()
	agenttest.Eventually(t, 5*time.Second, "waiter in line", func() bool { return childCount(t, leader, path) == 2 })
	kids := mustChildren(t, leader, path)
	if err := leader.Delete(ctx, path+"/"+kids[1], warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		wantErr(t, "campaign whose candidate node was deleted", err, warden.ErrNotHeld)
	case <-time.After(5 * time.Second):
		t.Fatal("campaign did not notice its candidate node was deleted")
	}
}

// TestElectionTokensAndExclusion: many sessions campaign again and again;
// at no moment do two believe they lead, and every token is above the one
// before.
func TestElectionTokensAndExclusion(t *testing.T) {
	a := agenttest.Start(t)
	const workers, rounds = 5, 10
	const path = "/elections/churn"
	ctx := testCtx(t, 60*time.Second)
	observer := dial(t, a)
	obs, err := observer.Observe(ctx, path)
	if err != nil {
		t.Fatal(err)
	}

	var leaders atomic.Int32
	var mu sync.Mutex
	var tokens []uint64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		c := dial(t, a)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				l, err := c.Campaign(ctx, path, []byte(fmt.Sprintf("w%d-r%d", w, r)))
				if err != nil {
					t.Errorf("worker %d round %d: %v", w, r, err)
					return
				}
				if k := leaders.Add(1); k != 1 {
					t.Errorf("worker %d round %d: %d leaders at once", w, r, k)
				}
				mu.Lock()
				tokens = append(tokens, l.Token)
				mu.Unlock()
				leaders.Add(-1)
				if err := l.Resign(ctx); err != nil {
					t.Errorf("worker %d round %d resign: %v", w, r, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(tokens) != workers*rounds {
		t.Fatalf("%d elections, want %d", len(tokens), workers*rounds)
	}
	for i := 1; i < len(tokens); i++ {
		if tokens[i] <= tokens[i-1] {
			t.Fatalf("token %d (%d) not above token %d (%d)", i, tokens[i], i-1, tokens[i-1])
		}
	}
	// The observer saw leaders with increasing tokens, every elected one
	// among them, and ends with none.
	var seen []uint64
	for {
		nctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		l, err := obs.Next(nctx)
		cancel()
		if err != nil {
			t.Fatalf("observer: %v after %d leaders", err, len(seen))
		}
		if l.None() {
			if len(seen) >= len(tokens) {
				break
			}
			continue
		}
		if len(seen) > 0 && l.Token <= seen[len(seen)-1] {
			t.Fatalf("observer: token %d after %d", l.Token, seen[len(seen)-1])
		}
		seen = append(seen, l.Token)
	}
	for _, tok := range tokens {
		if !slices.Contains(seen, tok) {
			t.Fatalf("observer never saw the leader with token %d", tok)
		}
	}
}

// TestElectionLockDelay: a leader whose session expired (rather than
// closed) is followed only after the lock delay, so a leader cut off from
// the cluster has stopped before the next starts.
func TestElectionLockDelay(t *testing.T) {
	const delay = 300 * time.Millisecond
	a := agenttest.Start(t, func(c *agent.Config) { c.LockDelay = delay })
	const path = "/elections/delay"
	ctx := testCtx(t, 30*time.Second)
	old := dialExpiring(t, a)
	if _, err := old.Campaign(ctx, path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	next := dial(t, a)
	watcher := dial(t, a)
	got := make(chan time.Time, 1)
	go func() {
		if _, err := next.Campaign(ctx, path, []byte("next")); err != nil {
			t.Error(err)
		}
		got <- time.Now()
	}()
	agenttest.Eventually(t, 5*time.Second, "next in line", func() bool { return childCount(t, watcher, path) == 2 })
	obs, err := watcher.Observe(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := obs.Next(ctx); err != nil || string(l.Value) != "old" {
		t.Fatalf("observer's first event: %+v %v", l, err)
	}
	old.Close() // resumable: the session lives on until it expires
	l, err := obs.Next(ctx)
	if err != nil || string(l.Value) != "next" {
		t.Fatalf("after the old leader's session expired: %+v %v", l, err)
	}
	expired := time.Now()
	var at time.Time
	select {
	case at = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("next candidate not elected after the lock delay")
	}
	// The observer hears of the expiry a little after it was applied.
	if d := at.Sub(expired); d < delay-50*time.Millisecond {
		t.Fatalf("elected %v after the old leader's session expired, want the lock delay of %v first", d, delay)
	} else {
		t.Logf("elected %v after the expiry (lock delay %v)", d, delay)
	}
}
