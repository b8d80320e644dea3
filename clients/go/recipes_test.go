package warden_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent"
	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// Tests of the read-write lock, semaphore, barriers, queue and counter
// against an in-process agent.

// rcpResult is what a blocking call in a goroutine returns.
type rcpResult[T any] struct {
	v   T
	err error
}

// rcpGo runs f in a goroutine and returns a channel for its outcome.
func rcpGo[T any](f func() (T, error)) <-chan rcpResult[T] {
	ch := make(chan rcpResult[T], 1)
	go func() {
		v, err := f()
		ch <- rcpResult[T]{v, err}
	}()
	return ch
}

// rcpPending fails the test if ch has already delivered.
func rcpPending[T any](t *testing.T, what string, ch <-chan rcpResult[T]) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s returned early: %v %v", what, r.v, r.err)
	case <-time.After(50 * time.Millisecond):
	}
}

// rcpWait waits for ch and fails the test on an error or after 10s.
func rcpWait[T any](t *testing.T, what string, ch <-chan rcpResult[T]) T {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("%s: %v", what, r.err)
		}
		return r.v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return", what)
	}
	panic("unreachable")
}

// rcpWaitErr waits for ch and returns its error.
func rcpWaitErr[T any](t *testing.T, what string, ch <-chan rcpResult[T]) error {
	t.Helper()
	select {
	case r := <-ch:
		return r.err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return", what)
	}
	panic("unreachable")
}

func TestReadWriteLock(t *testing.T) {
	a := agenttest.Start(t)
	const path = "/rw/data"
	ctx := testCtx(t, 60*time.Second)
	r1, r2, w, r3, obs := dial(t, a), dial(t, a), dial(t, a), dial(t, a), dial(t, a)

	// Readers share the lock.
	l1, err := r1.ReadLock(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := r2.TryReadLock(ctx, path)
	if err != nil {
		t.Fatalf("a second reader: %v", err)
	}
	if !strings.HasPrefix(l1.Key, path+"/") || l2.Token <= l1.Token {
		t.Fatalf("read leases %+v %+v", l1, l2)
	}
	if data, st := mustGet(t, obs, l1.Key); string(data) != "read" || st.Czxid != l1.Token || st.EphemeralOwner != r1.SessionID() {
		t.Fatalf("read contender %q %+v", data, st)
	}

	// A writer waits for the readers; a plain lock is a writer too.
	none, err := w.TryWriteLock(ctx, path)
	wantNone(t, "try write lock under readers", none, err)
	none, err = w.TryLock(ctx, path)
	wantNone(t, "try plain lock under readers", none, err)
	if n := childCount(t, obs, path); n != 2 {
		t.Fatalf("%d contenders after failed tries, want 2", n)
	}
	wch := rcpGo(func() (*warden.Lease, error) { return w.WriteLock(ctx, path) })
	agenttest.Eventually(t, 5*time.Second, "writer in line", func() bool { return childCount(t, obs, path) == 3 })

	// A reader that comes after the waiting writer waits behind it (no
	// writer starvation), and a try fails.
	none, err = r3.TryReadLock(ctx, path)
	wantNone(t, "try read lock behind a waiting writer", none, err)
	rch := rcpGo(func() (*warden.Lease, error) { return r3.ReadLock(ctx, path) })
	agenttest.Eventually(t, 5*time.Second, "late reader in line", func() bool { return childCount(t, obs, path) == 4 })
	rcpPending(t, "writer", wch)
	rcpPending(t, "late reader", rch)

	// The readers go (out of order): the writer gets it, the late reader not.
	if err := l2.Unlock(ctx); err != nil {
		t.Fatalf("unlock a read lease: %v", err)
	}
	rcpPending(t, "writer after one reader left", wch)
	if err := l1.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	wl := rcpWait(t, "writer", wch)
	if wl.Token <= l2.Token {
		t.Fatalf("writer token %d not above the readers' %d", wl.Token, l2.Token)
	}
	if ok, err := wl.Check(ctx); !ok || err != nil {
		t.Fatalf("writer's check = %v %v", ok, err)
	}
	rcpPending(t, "late reader while the writer holds", rch)
	none, err = r1.TryReadLock(ctx, path)
	wantNone(t, "try read lock under a writer", none, err)

	// The writer goes: the late reader gets it.
	if err := wl.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	l3 := rcpWait(t, "late reader", rch)
	if l3.Token <= wl.Token {
		t.Fatalf("late reader's token %d not above the writer's %d", l3.Token, wl.Token)
	}

	// Cancel and timeout remove the contender, so nobody behind is held up.
	cctx, cancel := context.WithCancel(ctx)
	cch := rcpGo(func() (*warden.Lease, error) { return w.WriteLock(cctx, path) })
	agenttest.Eventually(t, 5*time.Second, "writer in line", func() bool { return childCount(t, obs, path) == 2 })
	cancel()
	if err := rcpWaitErr(t, "canceled write lock", cch); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled write lock: %v", err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 150*time.Millisecond)
	_, err = w.WriteLock(tctx, path)
	tcancel()
	if !errors.Is(err, warden.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write lock with a deadline: %v", err)
	}
	if kids := mustChildren(t, obs, path); len(kids) != 1 {
		t.Fatalf("contenders after a canceled and a timed-out writer: %v", kids)
	}
	// A reader waiting behind a writer, canceled.
	wl2ch := rcpGo(func() (*warden.Lease, error) { return w.WriteLock(ctx, path) })
	agenttest.Eventually(t, 5*time.Second, "writer in line", func() bool { return childCount(t, obs, path) == 2 })
	rctx, rcancel := context.WithCancel(ctx)
	rcch := rcpGo(func() (*warden.Lease, error) { return r1.ReadLock(rctx, path) })
	agenttest.Eventually(t, 5*time.Second, "reader in line", func() bool { return childCount(t, obs, path) == 3 })
	rcancel()
	if err := rcpWaitErr(t, "canceled read lock", rcch); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled read lock: %v", err)
	}
	agenttest.Eventually(t, 5*time.Second, "canceled reader gone", func() bool { return childCount(t, obs, path) == 2 })
	if err := l3.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	wl2 := rcpWait(t, "second writer", wl2ch)
	wantErr(t, "unlock twice", l3.Unlock(ctx), warden.ErrNotHeld)

	// A holder's session ending hands the lock on.
	rch = rcpGo(func() (*warden.Lease, error) { return r2.ReadLock(ctx, path) })
	agenttest.Eventually(t, 5*time.Second, "reader in line", func() bool { return childCount(t, obs, path) == 2 })
	w.Close()
	l4 := rcpWait(t, "reader after the writer's client closed", rch)
	if l4.Token <= wl2.Token {
		t.Fatalf("token %d not above the closed writer's %d", l4.Token, wl2.Token)
	}
	if err := l4.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if exists(t, obs, path) {
		t.Fatalf("lock node left after every holder went: %v", mustChildren(t, obs, path))
	}
}

// TestReadWriteLockExclusion: many clients take read and write locks at
// random; a writer never holds alongside anyone, readers do share.
func TestReadWriteLockExclusion(t *testing.T) {
	a := agenttest.Start(t)
	const workers, rounds = 6, 12
	const path = "/rw/excl"
	ctx := testCtx(t, 90*time.Second)
	var mu sync.Mutex
	readers, writers, maxReaders := 0, 0, 0
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for i := 0; i < workers; i++ {
		c := dial(t, a)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				write := (i+r)%3 == 0
				var lease *warden.Lease
				var err error
				if write {
					lease, err = c.WriteLock(ctx, path)
				} else {
					lease, err = c.ReadLock(ctx, path)
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if write {
					writers++
				} else {
					readers++
					maxReaders = max(maxReaders, readers)
				}
				if writers > 1 || (writers == 1 && readers > 0) {
					errs <- fmt.Errorf("%d writers and %d readers at once", writers, readers)
				}
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
				mu.Lock()
				if write {
					writers--
				} else {
					readers--
				}
				mu.Unlock()
				if err := lease.Unlock(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if maxReaders < 2 {
		t.Errorf("at most %d reader at once: readers never shared the lock", maxReaders)
	}
	t.Logf("at most %d readers at once", maxReaders)
}

func TestSemaphore(t *testing.T) {
	a := agenttest.Start(t)
	const path = "/sem/pool"
	ctx := testCtx(t, 60*time.Second)
	c1, c2, c3, c4, obs := dial(t, a), dial(t, a), dial(t, a), dial(t, a), dial(t, a)

	l1, err := c1.Semaphore(path, 2).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := c2.Semaphore(path, 2).TryAcquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(l1.Key, path+"/") || l2.Token <= l1.Token {
		t.Fatalf("leases %+v %+v", l1, l2)
	}
	if data, _ := mustGet(t, obs, path); string(data) != "2" {
		t.Fatalf("semaphore data %q, want the count 2", data)
	}
	full, err := c3.Semaphore(path, 2).TryAcquire(ctx)
	wantNone(t, "try a full semaphore", full, err)
	_, err = c3.Semaphore(path, 3).TryAcquire(ctx)
	wantErr(t, "acquire with another count", err, warden.ErrBadArguments)
	_, err = c3.Semaphore(path, 0).Acquire(ctx)
	wantErr(t, "count 0", err, warden.ErrBadArguments)

	// Waiters are served in order as leases come back.
	ch3 := rcpGo(func() (*warden.SemaphoreLease, error) { return c3.Semaphore(path, 2).Acquire(ctx) })
	agenttest.Eventually(t, 5*time.Second, "c3 in line", func() bool { return childCount(t, obs, path+"/_lock") == 1 })
	ch4 := rcpGo(func() (*warden.SemaphoreLease, error) { return c4.Semaphore(path, 2).Acquire(ctx) })
	agenttest.Eventually(t, 5*time.Second, "c4 in line", func() bool { return childCount(t, obs, path+"/_lock") == 2 })
	rcpPending(t, "c3", ch3)
	if err := l1.Release(ctx); err != nil {
		t.Fatal(err)
	}
	l3 := rcpWait(t, "c3", ch3)
	rcpPending(t, "c4", ch4)
	wantErr(t, "release twice", l1.Release(ctx), warden.ErrNotHeld)

	// A holder's session ending frees its lease.
	c2.Close()
	l4 := rcpWait(t, "c4 after c2 closed", ch4)
	if n := childCount(t, obs, path+"/leases"); n != 2 {
		t.Fatalf("%d leases, want 2", n)
	}

	// Cancel and timeout leave nothing behind.
	cctx, cancel := context.WithCancel(ctx)
	cch := rcpGo(func() (*warden.SemaphoreLease, error) { return c1.Semaphore(path, 2).Acquire(cctx) })
	agenttest.Eventually(t, 5*time.Second, "c1 in line", func() bool { return childCount(t, obs, path+"/_lock") == 1 })
	cancel()
	if err := rcpWaitErr(t, "canceled acquire", cch); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled acquire: %v", err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 150*time.Millisecond)
	_, err = c1.Semaphore(path, 2).Acquire(tctx)
	tcancel()
	if !errors.Is(err, warden.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire with a deadline: %v", err)
	}
	agenttest.Eventually(t, 5*time.Second, "the line empty", func() bool { return childCount(t, obs, path+"/_lock") == 0 })
	if n := childCount(t, obs, path+"/leases"); n != 2 {
		t.Fatalf("%d leases after a canceled and a timed-out acquire, want 2", n)
	}
	if err := l4.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l3.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if exists(t, obs, path) {
		t.Fatalf("semaphore node left when idle: %v", mustChildren(t, obs, path))
	}
	// Idle, the count is forgotten: another count may be used now.
	l5, err := c1.Semaphore(path, 5).TryAcquire(ctx)
	if err != nil {
		t.Fatalf("a new count once idle: %v", err)
	}
	if err := l5.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSemaphoreBound: many clients hammer a semaphore of 3; never more than
// 3 hold a lease, and 3 do at times.
func TestSemaphoreBound(t *testing.T) {
	a := agenttest.Start(t)
	const n, workers, rounds = 3, 7, 8
	const path = "/sem/bound"
	ctx := testCtx(t, 90*time.Second)
	var holders, peak atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for i := 0; i < workers; i++ {
		c := dial(t, a)
		sem := c.Semaphore(path, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				l, err := sem.Acquire(ctx)
				if err != nil {
					errs <- err
					return
				}
				h := holders.Add(1)
				if h > n {
					errs <- fmt.Errorf("%d holders of a semaphore of %d", h, n)
				}
				for p := peak.Load(); h > p && !peak.CompareAndSwap(p, h); p = peak.Load() {
				}
				time.Sleep(25 * time.Millisecond)
				holders.Add(-1)
				if err := l.Release(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if peak.Load() != n {
		t.Errorf("at most %d holders at once, want the semaphore used to its %d", peak.Load(), n)
	}
}

// TestSemaphoreLockDelay: a lease freed by an expired session (not a
// release) is handed on only after the lock delay.
func TestSemaphoreLockDelay(t *testing.T) {
	const delay = 300 * time.Millisecond
	a := agenttest.Start(t, func(c *agent.Config) { c.LockDelay = delay })
	const path = "/sem/delay"
	ctx := testCtx(t, 30*time.Second)
	old := dialExpiring(t, a)
	held, err := old.Semaphore(path, 1).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next, watcher := dial(t, a), dial(t, a)
	ch := rcpGo(func() (*warden.SemaphoreLease, error) { return next.Semaphore(path, 1).Acquire(ctx) })
	agenttest.Eventually(t, 5*time.Second, "next in line", func() bool { return childCount(t, watcher, path+"/_lock") == 1 })
	_, ok, w, err := watcher.ExistsW(ctx, held.Key)
	if err != nil || !ok {
		t.Fatalf("exists %s = %v %v", held.Key, ok, err)
	}
	old.Close() // resumable: the session lives on until it expires
	if _, err := w.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	expired := time.Now()
	l := rcpWait(t, "next acquirer", ch)
	if d := time.Since(expired); d < delay-50*time.Millisecond {
		t.Fatalf("lease granted %v after the holder's session expired, want the lock delay of %v first", d, delay)
	}
	if l.Token <= held.Token {
		t.Fatalf("token %d not above the expired holder's %d", l.Token, held.Token)
	}
}

func TestBarrier(t *testing.T) {
	a := agenttest.Start(t)
	const path = "/barriers/b"
	ctx := testCtx(t, 30*time.Second)
	c, waiter := dial(t, a), dial(t, a)
	b := c.Barrier(path)

	if err := waiter.Barrier(path).Wait(ctx); err != nil {
		t.Fatalf("wait on an unset barrier: %v", err)
	}
	if err := b.Set(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx); err != nil {
		t.Fatalf("set twice: %v", err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 150*time.Millisecond)
	err := waiter.Barrier(path).Wait(tctx)
	tcancel()
	if !errors.Is(err, warden.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait with a deadline on a set barrier: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cch := rcpGo(func() (struct{}, error) { return struct{}{}, waiter.Barrier(path).Wait(cctx) })
	rcpPending(t, "wait", cch)
	cancel()
	if err := rcpWaitErr(t, "canceled wait", cch); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled wait: %v", err)
	}
	var chans []<-chan rcpResult[struct{}]
	for i := 0; i < 3; i++ {
		w := dial(t, a)
		chans = append(chans, rcpGo(func() (struct{}, error) { return struct{}{}, w.Barrier(path).Wait(ctx) }))
	}
	for _, ch := range chans {
		rcpPending(t, "wait on a set barrier", ch)
	}
	if err := b.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ch := range chans {
		rcpWait(t, "wait after remove", ch)
	}
	if err := b.Remove(ctx); err != nil {
		t.Fatalf("remove twice: %v", err)
	}
	if exists(t, c, "/barriers") {
		t.Fatal("barrier's container parent left behind")
	}
	wantErr(t, "root barrier", c.Barrier("/").Set(ctx), warden.ErrBadArguments)
}

func TestDoubleBarrier(t *testing.T) {
	a := agenttest.Start(t)
	const path = "/barriers/double"
	const n = 3
	ctx := testCtx(t, 60*time.Second)
	obs := dial(t, a)
	var members []*warden.DoubleBarrier
	for i := 0; i < n; i++ {
		members = append(members, dial(t, a).DoubleBarrier(path, n, fmt.Sprintf("m%d", i)))
	}

	// Enter: nobody goes on until all n have entered.
	var enters []<-chan rcpResult[struct{}]
	for i, m := range members[:n-1] {
		enters = append(enters, rcpGo(func() (struct{}, error) { return struct{}{}, m.Enter(ctx) }))
		agenttest.Eventually(t, 5*time.Second, "member entered", func() bool { return childCount(t, obs, path) == i+1 })
	}
	for _, ch := range enters {
		rcpPending(t, "enter with too few members", ch)
	}
	if err := members[n-1].Enter(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ch := range enters {
		rcpWait(t, "enter", ch)
	}
	if !exists(t, obs, path+"/ready") {
		t.Fatal("no ready node after the round was released")
	}

	// A late arrival passes at once.
	late := dial(t, a).DoubleBarrier(path, n, "late")
	if err := late.Enter(testCtx(t, 2*time.Second)); err != nil {
		t.Fatalf("late arrival: %v", err)
	}
	// The same name from another session is refused.
	wantErr(t, "a member name taken", dial(t, a).DoubleBarrier(path, n, "m0").Enter(ctx), warden.ErrNodeExists)

	// Leave: nobody goes on until every member has left.
	members = append(members, late)
	var leaves []<-chan rcpResult[struct{}]
	for _, m := range members[:len(members)-1] {
		leaves = append(leaves, rcpGo(func() (struct{}, error) { return struct{}{}, m.Leave(ctx) }))
	}
	for _, ch := range leaves {
		rcpPending(t, "leave with a member left inside", ch)
	}
	if err := members[len(members)-1].Leave(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ch := range leaves {
		rcpWait(t, "leave", ch)
	}
	if exists(t, obs, path) {
		t.Fatalf("barrier left behind after every member left: %v", mustChildren(t, obs, path))
	}

	// Enter with a deadline and too few members: the member is removed.
	solo := dial(t, a).DoubleBarrier(path, 2, "solo")
	tctx, tcancel := context.WithTimeout(ctx, 150*time.Millisecond)
	err := solo.Enter(tctx)
	tcancel()
	if !errors.Is(err, warden.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("enter with a deadline: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cch := rcpGo(func() (struct{}, error) { return struct{}{}, solo.Enter(cctx) })
	agenttest.Eventually(t, 5*time.Second, "solo entered", func() bool { return childCount(t, obs, path) == 1 })
	cancel()
	if err := rcpWaitErr(t, "canceled enter", cch); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled enter: %v", err)
	}
	agenttest.Eventually(t, 5*time.Second, "solo removed", func() bool { return !exists(t, obs, path) })

	// Bad arguments.
	for _, b := range []*warden.DoubleBarrier{
		obs.DoubleBarrier(path, 2, "ready"), obs.DoubleBarrier(path, 2, "a/b"),
		obs.DoubleBarrier(path, 2, ""), obs.DoubleBarrier(path, 0, "x"),
	} {
		wantErr(t, fmt.Sprintf("enter %+v", *b), b.Enter(ctx), warden.ErrBadArguments)
	}
	wantErr(t, "leave without entering", obs.DoubleBarrier(path, 2, "x").Leave(ctx), warden.ErrNotHeld)
}

// TestDoubleBarrierLeaveTimeout: a member whose leave times out has left
// all the same; the last member then leaves at once and cleans up.
func TestDoubleBarrierLeaveTimeout(t *testing.T) {
	a := agenttest.Start(t)
	const path = "/barriers/leave"
	ctx := testCtx(t, 30*time.Second)
	obs := dial(t, a)
	ma, mb := dial(t, a).DoubleBarrier(path, 2, "a"), dial(t, a).DoubleBarrier(path, 2, "b")
	ch := rcpGo(func() (struct{}, error) { return struct{}{}, ma.Enter(ctx) })
	if err := mb.Enter(ctx); err != nil {
		t.Fatal(err)
	}
	rcpWait(t, "a's enter", ch)
	// a is the lowest member: it waits for b to leave first.
	tctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	err := ma.Leave(tctx)
	cancel()
	if !errors.Is(err, warden.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("leave with a member inside: %v", err)
	}
	if exists(t, obs, path+"/a") {
		t.Fatal("a timed-out leave left the member's node")
	}
	if err := mb.Leave(testCtx(t, 2*time.Second)); err != nil {
		t.Fatalf("last member's leave: %v", err)
	}
	if exists(t, obs, path) {
		t.Fatalf("barrier left behind: %v", mustChildren(t, obs, path))
	}
	wantErr(t, "leave again", ma.Leave(ctx), warden.ErrNotHeld)
}

// TestDoubleBarrierStaleReady: a ready node left by a round whose members
// all died does not release the next round early.
func TestDoubleBarrierStaleReady(t *testing.T) {
	a := agenttest.Start(t)
	const path = "/barriers/stale"
	ctx := testCtx(t, 30*time.Second)
	obs := dial(t, a)
	d1, d2 := dial(t, a), dial(t, a)
	ch := rcpGo(func() (struct{}, error) { return struct{}{}, d1.DoubleBarrier(path, 2, "a").Enter(ctx) })
	agenttest.Eventually(t, 5*time.Second, "a entered", func() bool { return childCount(t, obs, path) == 1 })
	if err := d2.DoubleBarrier(path, 2, "b").Enter(ctx); err != nil {
		t.Fatal(err)
	}
	rcpWait(t, "a's enter", ch)
	d1.Close()
	d2.Close()
	agenttest.Eventually(t, 5*time.Second, "members gone", func() bool { return childCount(t, obs, path) == 1 })

	// A new round of 3: two members must still wait.
	c1, c2, c3 := dial(t, a), dial(t, a), dial(t, a)
	e1 := rcpGo(func() (struct{}, error) { return struct{}{}, c1.DoubleBarrier(path, 3, "x").Enter(ctx) })
	e2 := rcpGo(func() (struct{}, error) { return struct{}{}, c2.DoubleBarrier(path, 3, "y").Enter(ctx) })
	agenttest.Eventually(t, 5*time.Second, "x and y entered", func() bool { return childCount(t, obs, path) == 3 })
	rcpPending(t, "enter past a stale ready node", e1)
	rcpPending(t, "enter past a stale ready node", e2)
	if err := c3.DoubleBarrier(path, 3, "z").Enter(ctx); err != nil {
		t.Fatal(err)
	}
	rcpWait(t, "x", e1)
	rcpWait(t, "y", e2)
	for _, m := range []*warden.DoubleBarrier{c1.DoubleBarrier(path, 3, "x"), c2.DoubleBarrier(path, 3, "y"), c3.DoubleBarrier(path, 3, "z")} {
		go func() { _ = m.Leave(ctx) }()
	}
	agenttest.Eventually(t, 5*time.Second, "the barrier cleaned up", func() bool { return !exists(t, obs, path) })
}

func TestQueue(t *testing.T) {
	a := agenttest.Start(t)
	const path = "/queues/q"
	ctx := testCtx(t, 60*time.Second)
	p, c, obs := dial(t, a), dial(t, a), dial(t, a)
	q := p.Queue(path)

	// First in, first out.
	var keys []string
	for i := 0; i < 3; i++ {
		k, err := q.Put(ctx, []byte(fmt.Sprint("item", i)))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if !slices.IsSorted(keys) || !strings.HasPrefix(keys[0], path+"/item-") {
		t.Fatalf("keys %v", keys)
	}
	for i := 0; i < 3; i++ {
		it, err := c.Queue(path).Take(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if it.Key != keys[i] || string(it.Data) != fmt.Sprint("item", i) {
			t.Fatalf("take %d = %s %q, want %s", i, it.Key, it.Data, keys[i])
		}
	}
	item, err := c.Queue(path).TryTake(ctx)
	wantNone(t, "try take on an empty queue", item, err)
	if exists(t, obs, path) {
		t.Fatal("an empty, idle queue left its node behind")
	}
	tctx, tcancel := context.WithTimeout(ctx, 150*time.Millisecond)
	_, err = c.Queue(path).Take(tctx)
	tcancel()
	if !errors.Is(err, warden.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("take with a deadline: %v", err)
	}

	// Waiting takers line up (one watches the queue); each put hands one
	// item to one taker.
	var takes []<-chan rcpResult[*warden.QueueItem]
	for i := 0; i < 3; i++ {
		tc := dial(t, a)
		takes = append(takes, rcpGo(func() (*warden.QueueItem, error) { return tc.Queue(path).Take(ctx) }))
		agenttest.Eventually(t, 5*time.Second, "taker in line", func() bool { return childCount(t, obs, path+"/_takers") == i+1 })
	}
	cctx, cancel := context.WithCancel(ctx)
	cch := rcpGo(func() (*warden.QueueItem, error) { return c.Queue(path).Take(cctx) })
	agenttest.Eventually(t, 5*time.Second, "taker in line", func() bool { return childCount(t, obs, path+"/_takers") == 4 })
	cancel()
	if err := rcpWaitErr(t, "canceled take", cch); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled take: %v", err)
	}
	agenttest.Eventually(t, 5*time.Second, "canceled taker gone", func() bool { return childCount(t, obs, path+"/_takers") == 3 })
	got := map[string]bool{}
	for i := 0; i < 3; i++ {
		if _, err := q.Put(ctx, []byte(fmt.Sprint("late", i))); err != nil {
			t.Fatal(err)
		}
		it := rcpWait(t, "waiting taker", takes[i]) // first in line, first served
		if string(it.Data) != fmt.Sprint("late", i) || got[it.Key] {
			t.Fatalf("waiting taker %d got %s %q", i, it.Key, it.Data)
		}
		got[it.Key] = true
	}
	if exists(t, obs, path) {
		t.Fatalf("queue left behind: %v", mustChildren(t, obs, path))
	}
}

// TestQueueEachItemOnce: concurrent producers and consumers; every item is
// taken exactly once.
func TestQueueEachItemOnce(t *testing.T) {
	a := agenttest.Start(t)
	const path = "/queues/once"
	const producers, perProducer, consumers = 3, 40, 4
	ctx := testCtx(t, 90*time.Second)
	var mu sync.Mutex
	taken := map[string]int{}
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, producers+consumers)
	for i := 0; i < consumers; i++ {
		q := dial(t, a).Queue(path)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
				it, err := q.Take(tctx)
				cancel()
				if err != nil {
					if done.Load() && (errors.Is(err, warden.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)) {
						return
					}
					if !errors.Is(err, warden.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
						errs <- err
						return
					}
					continue
				}
				mu.Lock()
				taken[string(it.Data)]++
				mu.Unlock()
			}
		}()
	}
	var pwg sync.WaitGroup
	for i := 0; i < producers; i++ {
		q := dial(t, a).Queue(path)
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			for j := 0; j < perProducer; j++ {
				if _, err := q.Put(ctx, []byte(fmt.Sprintf("%d-%d", i, j))); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	pwg.Wait()
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(taken) != producers*perProducer {
		t.Errorf("%d distinct items taken, want %d", len(taken), producers*perProducer)
	}
	for item, n := range taken {
		if n != 1 {
			t.Errorf("item %s taken %d times", item, n)
		}
	}
}

func TestCounter(t *testing.T) {
	a := agenttest.Start(t)
	const path = "/counters/c"
	ctx := testCtx(t, 60*time.Second)
	c := dial(t, a)
	k := c.Counter(path)

	if v, err := k.Get(ctx); err != nil || v != 0 {
		t.Fatalf("missing counter = %d %v, want 0", v, err)
	}
	if v, err := k.Add(ctx, 5); err != nil || v != 5 {
		t.Fatalf("add 5 = %d %v", v, err)
	}
	if v, err := k.Add(ctx, -2); err != nil || v != 3 {
		t.Fatalf("add -2 = %d %v", v, err)
	}
	if data, _ := mustGet(t, c, path); string(data) != "3" {
		t.Fatalf("counter node data %q, want decimal text 3", data)
	}
	if ok, v, err := k.CompareAndSet(ctx, 3, 10); err != nil || !ok || v != 10 {
		t.Fatalf("cas 3->10 = %v %d %v", ok, v, err)
	}
	if ok, v, err := k.CompareAndSet(ctx, 3, 20); err != nil || ok || v != 10 {
		t.Fatalf("cas 3->20 on 10 = %v %d %v", ok, v, err)
	}
	if ok, v, err := c.Counter("/counters/fresh").CompareAndSet(ctx, 0, 7); err != nil || !ok || v != 7 {
		t.Fatalf("cas 0->7 on a missing counter = %v %d %v", ok, v, err)
	}
	_, err := k.Add(ctx, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	_, err = k.Add(ctx, 1<<62)
	wantErr(t, "overflow", err, warden.ErrBadArguments)
	mustCreate(t, c, "/counters/text", "hello", warden.Persistent)
	_, err = c.Counter("/counters/text").Add(ctx, 1)
	wantErr(t, "add to a node that is not a counter", err, warden.ErrBadArguments)
	_, err = c.Counter("/").Add(ctx, 1)
	wantErr(t, "root counter", err, warden.ErrBadArguments)

	// Concurrent adds: every add applied exactly once, each seeing a
	// distinct value.
	const workers, adds = 5, 30
	var mu sync.Mutex
	var seen []int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := 0; i < workers; i++ {
		kc := dial(t, a).Counter("/counters/shared")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < adds; j++ {
				v, err := kc.Add(ctx, 1)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				seen = append(seen, v)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if v, err := c.Counter("/counters/shared").Get(ctx); err != nil || v != workers*adds {
		t.Fatalf("shared counter = %d %v, want %d", v, err, workers*adds)
	}
	slices.Sort(seen)
	for i, v := range seen {
		if v != int64(i+1) {
			t.Fatalf("values returned by the adds: %v, want 1..%d once each", seen, workers*adds)
		}
	}
	if data, _ := mustGet(t, c, "/counters/shared"); string(data) != strconv.Itoa(workers*adds) {
		t.Fatalf("shared counter data %q", data)
	}
}

// TestReadLeasesPassLockCheck: every reader holding a shared lock has a
// valid fencing token; a writer waiting behind them does not.
func TestReadLeasesPassLockCheck(t *testing.T) {
	a := agenttest.Start(t)
	ctx := testCtx(t, 20*time.Second)
	r1, r2, w := dial(t, a), dial(t, a), dial(t, a)
	l1, err := r1.ReadLock(ctx, "/rw-check")
	if err != nil {
		t.Fatal(err)
	}
	l2, err := r2.ReadLock(ctx, "/rw-check")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _, _ = w.WriteLock(wctx, "/rw-check") }()
	agenttest.Eventually(t, 5*time.Second, "the writer in line", func() bool {
		kids, _, err := r1.Children(ctx, "/rw-check")
		return err == nil && len(kids) == 3
	})
	for i, l := range []*warden.Lease{l1, l2} {
		if ok, err := r1.CheckToken(ctx, "/rw-check", l.Token); err != nil || !ok {
			t.Errorf("reader %d: token %d not accepted (%v)", i+1, l.Token, err)
		}
	}
	kids, _, _ := r1.Children(ctx, "/rw-check")
	_, st, err := r1.Get(ctx, "/rw-check/"+kids[2])
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := r1.CheckToken(ctx, "/rw-check", st.Czxid); ok {
		t.Error("the waiting writer's token was accepted")
	}
}

// dialExpiring opens a resumable session with a 200 ms timeout: closing its
// connection only detaches it, so it then expires (an unclean loss, which
// the lock delay applies to) rather than closing cleanly.
func dialExpiring(t *testing.T, a *agent.Agent) *warden.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := warden.Dial(ctx, warden.Options{Socket: a.SocketPath(), Resumable: true, SessionTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
