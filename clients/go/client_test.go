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
	"github.com/warden-dev/warden/localapi/wire"
)

// dial opens a client on a's socket, closed when the test ends.
func dial(t *testing.T, a *agent.Agent) *warden.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := warden.Dial(ctx, warden.Options{Socket: a.SocketPath(), Name: t.Name()})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testCtx is a context that ends with the test or after d.
func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustCreate(t *testing.T, c *warden.Client, path, data string, mode warden.CreateMode) string {
	t.Helper()
	p, err := c.Create(testCtx(t, 10*time.Second), path, []byte(data), mode)
	if err != nil {
		t.Fatalf("create %s: %v", path, err)
	}
	return p
}

func mustGet(t *testing.T, c *warden.Client, path string) ([]byte, warden.Stat) {
	t.Helper()
	data, st, err := c.Get(testCtx(t, 10*time.Second), path)
	if err != nil {
		t.Fatalf("get %s: %v", path, err)
	}
	return data, st
}

func mustChildren(t *testing.T, c *warden.Client, path string) []string {
	t.Helper()
	kids, _, err := c.Children(testCtx(t, 10*time.Second), path)
	if err != nil {
		t.Fatalf("children %s: %v", path, err)
	}
	return kids
}

// childCount is the number of children of path, or 0 when it is missing.
func childCount(t *testing.T, c *warden.Client, path string) int {
	t.Helper()
	kids, _, err := c.Children(testCtx(t, 10*time.Second), path)
	if errors.Is(err, warden.ErrNoNode) {
		return 0
	}
	if err != nil {
		t.Fatalf("children %s: %v", path, err)
	}
	return len(kids)
}

func exists(t *testing.T, c *warden.Client, path string) bool {
	t.Helper()
	_, ok, err := c.Exists(testCtx(t, 10*time.Second), path)
	if err != nil {
		t.Fatalf("exists %s: %v", path, err)
	}
	return ok
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v (code %q), want %v", what, err, warden.CodeOf(err), target)
	}
}

// wantNone checks that a try found the thing taken: no result, no error.
func wantNone[T any](t *testing.T, what string, v *T, err error) {
	t.Helper()
	if v != nil || err != nil {
		t.Fatalf("%s: got %+v, %v; want nil and no error", what, v, err)
	}
}

func TestRawOps(t *testing.T) {
	a := agenttest.Start(t)
	c := dial(t, a)
	ctx := testCtx(t, 30*time.Second)

	// Create and read back a persistent node.
	if p := mustCreate(t, c, "/app", "v1", warden.Persistent); p != "/app" {
		t.Fatalf("create returned %q", p)
	}
	data, st := mustGet(t, c, "/app")
	if string(data) != "v1" {
		t.Fatalf("data %q", data)
	}
	if st.Czxid == 0 || st.Mzxid != st.Czxid || st.Pzxid != st.Czxid || st.Version != 0 || st.Cversion != 0 ||
		st.Aversion != 0 || st.NumChildren != 0 || st.DataLength != 2 || st.EphemeralOwner != 0 ||
		st.Ctime == 0 || st.Mtime != st.Ctime {
		t.Fatalf("fresh node stat %+v", st)
	}
	if est, ok, err := c.Exists(ctx, "/app"); err != nil || !ok || est != st {
		t.Fatalf("exists /app = %+v %v %v, want %+v", est, ok, err, st)
	}
	created := st

	// Set bumps version and mzxid only.
	st2, err := c.Set(ctx, "/app", []byte("value-2"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if st2.Version != 1 || st2.Mzxid <= created.Czxid || st2.Czxid != created.Czxid || st2.DataLength != 7 ||
		st2.Cversion != 0 || st2.Pzxid != created.Pzxid || st2.Ctime != created.Ctime || st2.Mtime < created.Mtime {
		t.Fatalf("stat after set %+v (created %+v)", st2, created)
	}
	if data, st := mustGet(t, c, "/app"); string(data) != "value-2" || st != st2 {
		t.Fatalf("get after set = %q %+v, want value-2 %+v", data, st, st2)
	}
	_, err = c.Set(ctx, "/app", []byte("x"), 0)
	wantErr(t, "set with stale version", err, warden.ErrBadVersion)
	if st3, err := c.Set(ctx, "/app", []byte("value-3"), warden.AnyVersion); err != nil || st3.Version != 2 {
		t.Fatalf("set any version = %+v %v", st3, err)
	}

	// A child changes the parent's cversion, numChildren and pzxid, not its data stat.
	mustCreate(t, c, "/app/c1", "", warden.Persistent)
	_, child := mustGet(t, c, "/app/c1")
	_, parent := mustGet(t, c, "/app")
	if parent.NumChildren != 1 || parent.Cversion != 1 || parent.Pzxid != child.Czxid || parent.Version != 2 ||
		parent.Mzxid >= child.Czxid {
		t.Fatalf("parent stat after child create %+v (child %+v)", parent, child)
	}
	if child.DataLength != 0 || child.Version != 0 {
		t.Fatalf("empty child stat %+v", child)
	}

	// Ephemeral node: owned by the session of the client that made it.
	other := dial(t, a)
	mustCreate(t, other, "/app/eph", "e", warden.Ephemeral)
	_, est := mustGet(t, c, "/app/eph")
	if est.EphemeralOwner != other.SessionID() || other.SessionID() == 0 || other.SessionID() == c.SessionID() {
		t.Fatalf("ephemeral owner %d, sessions %d (creator) %d (other)", est.EphemeralOwner, other.SessionID(), c.SessionID())
	}
	_, err = c.Create(ctx, "/app/eph/kid", nil, warden.Persistent)
	if warden.CodeOf(err) != wire.CodeNoChildrenForEphemerals {
		t.Fatalf("child of ephemeral: %v", err)
	}

	// Refusals, matched by code.
	_, err = c.Create(ctx, "/app/c1", nil, warden.Persistent)
	wantErr(t, "create existing", err, warden.ErrNodeExists)
	_, err = c.Create(ctx, "/nope/x", nil, warden.Persistent)
	wantErr(t, "create under missing parent", err, warden.ErrNoNode)
	wantErr(t, "delete non-empty", c.Delete(ctx, "/app", warden.AnyVersion), warden.ErrNotEmpty)
	wantErr(t, "delete stale version", c.Delete(ctx, "/app/c1", 3), warden.ErrBadVersion)
	_, _, err = c.Get(ctx, "/missing")
	wantErr(t, "get missing", err, warden.ErrNoNode)
	_, _, err = c.Children(ctx, "/missing")
	wantErr(t, "children missing", err, warden.ErrNoNode)
	_, err = c.Set(ctx, "/missing", nil, warden.AnyVersion)
	wantErr(t, "set missing", err, warden.ErrNoNode)
	wantErr(t, "delete missing", c.Delete(ctx, "/missing", warden.AnyVersion), warden.ErrNoNode)
	if _, ok, err := c.Exists(ctx, "/missing"); ok || err != nil {
		t.Fatalf("exists missing = %v %v", ok, err)
	}
	_, err = c.Create(ctx, "bad/path", nil, warden.Persistent)
	wantErr(t, "relative path", err, warden.ErrBadArguments)
	if errors.Is(err, warden.ErrNoNode) {
		t.Fatal("errors.Is matched a different code")
	}

	// Sequential names: 10-digit suffix from the parent's cversion, increasing.
	mustCreate(t, c, "/seq", "", warden.Persistent)
	mustCreate(t, c, "/seq/other", "", warden.Persistent) // cversion 1
	var seqs []string
	for i := 0; i < 3; i++ {
		_, pst := mustGet(t, c, "/seq")
		p := mustCreate(t, c, "/seq/job-", fmt.Sprint(i), warden.Sequential)
		want := fmt.Sprintf("/seq/job-%010d", pst.Cversion)
		if p != want {
			t.Fatalf("sequential create %d = %q, want %q", i, p, want)
		}
		seqs = append(seqs, p)
	}
	if !slices.IsSorted(seqs) || seqs[0] == seqs[1] || seqs[1] == seqs[2] {
		t.Fatalf("sequential names not increasing: %v", seqs)
	}
	eseq := mustCreate(t, other, "/seq/e-", "", warden.Ephemeral|warden.Sequential)
	if _, st := mustGet(t, c, eseq); st.EphemeralOwner != other.SessionID() {
		t.Fatalf("ephemeral sequential owner %d", st.EphemeralOwner)
	}
	kids, pst, err := c.Children(ctx, "/seq")
	if err != nil {
		t.Fatal(err)
	}
	wantKids := []string{"e-0000000004", "job-0000000001", "job-0000000002", "job-0000000003", "other"}
	if !slices.Equal(kids, wantKids) {
		t.Fatalf("children /seq = %v, want %v", kids, wantKids)
	}
	if pst.NumChildren != 5 || pst.Cversion != 5 {
		t.Fatalf("children stat %+v", pst)
	}

	// Delete with the right version updates the parent.
	_, before := mustGet(t, c, "/app")
	if err := c.Delete(ctx, "/app/c1", 0); err != nil {
		t.Fatal(err)
	}
	_, after := mustGet(t, c, "/app")
	if after.NumChildren != before.NumChildren-1 || after.Cversion != before.Cversion+1 || after.Pzxid <= before.Pzxid ||
		after.Mzxid != before.Mzxid || after.Version != before.Version {
		t.Fatalf("parent after delete %+v (before %+v)", after, before)
	}

	// Closing a session removes its ephemerals and updates their parents.
	_, before = mustGet(t, c, "/app")
	other.Close()
	agenttest.Eventually(t, 5*time.Second, "ephemerals of the closed session to go", func() bool {
		return !exists(t, c, "/app/eph") && !exists(t, c, eseq)
	})
	_, after = mustGet(t, c, "/app")
	if after.NumChildren != before.NumChildren-1 || after.Cversion != before.Cversion+1 {
		t.Fatalf("parent after session close %+v (before %+v)", after, before)
	}

	// A container goes with its last child, and not before.
	mustCreate(t, c, "/ctr", "", warden.Container)
	if !exists(t, c, "/ctr") {
		t.Fatal("an empty fresh container was removed")
	}
	mustCreate(t, c, "/ctr/a", "", warden.Persistent)
	mustCreate(t, c, "/ctr/b", "", warden.Persistent)
	if err := c.Delete(ctx, "/ctr/a", warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if !exists(t, c, "/ctr") {
		t.Fatal("container removed while it still has a child")
	}
	if err := c.Delete(ctx, "/ctr/b", warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if exists(t, c, "/ctr") {
		t.Fatal("container still there after its last child went")
	}
	_, err = c.Create(ctx, "/bad", nil, warden.Ephemeral|warden.Container)
	wantErr(t, "ephemeral container", err, warden.ErrBadArguments)

	// Sync: reaches at least the last write, and sees another client's write.
	w := dial(t, a)
	sst, err := w.Set(ctx, "/app", []byte("from-w"), warden.AnyVersion)
	if err != nil {
		t.Fatal(err)
	}
	zxid, err := c.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if zxid < sst.Mzxid {
		t.Fatalf("sync reached %d, before the last write %d", zxid, sst.Mzxid)
	}
	if data, _ := mustGet(t, c, "/app"); string(data) != "from-w" {
		t.Fatalf("after sync read %q", data)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestMulti(t *testing.T) {
	a := agenttest.Start(t)
	c := dial(t, a)
	ctx := testCtx(t, 30*time.Second)

	res, err := c.Multi(ctx,
		warden.CreateOp("/m", []byte("a"), warden.Persistent),
		warden.CreateOp("/m/kid-", []byte("k"), warden.Sequential),
		warden.SetOp("/m", []byte("bb"), 0),
		warden.CheckOp("/m", 1),
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 || res[0].Path != "/m" || res[1].Path != "/m/kid-0000000000" {
		t.Fatalf("multi results %+v", res)
	}
	if res[2].Stat.Version != 1 || res[3].Stat.Version != 1 || res[2].Stat.DataLength != 2 {
		t.Fatalf("multi set/check stats %+v %+v", res[2].Stat, res[3].Stat)
	}
	// Every op of one multi is one log entry: one zxid.
	if res[0].Stat.Czxid != res[1].Stat.Czxid || res[2].Stat.Mzxid != res[0].Stat.Czxid {
		t.Fatalf("multi ops have different zxids: %+v", res)
	}
	data, mst := mustGet(t, c, "/m")
	if string(data) != "bb" || mst.NumChildren != 1 || mst.Version != 1 {
		t.Fatalf("after multi: %q %+v", data, mst)
	}

	// Refused at op 1: nothing applied, error names the op.
	cases := []struct {
		name   string
		ops    []warden.Op
		index  int
		target error
	}{
		{"bad version", []warden.Op{
			warden.CreateOp("/m2", nil, warden.Persistent),
			warden.SetOp("/m", []byte("zz"), 7),
			warden.CreateOp("/m3", nil, warden.Persistent),
		}, 1, warden.ErrBadVersion},
		{"check fails", []warden.Op{
			warden.SetOp("/m", []byte("zz"), warden.AnyVersion),
			warden.CreateOp("/m/kid-", nil, warden.Sequential),
			warden.CheckOp("/m", 1), // the set above made it 2
		}, 2, warden.ErrBadVersion},
		{"missing node", []warden.Op{
			warden.CreateOp("/m2", nil, warden.Persistent),
			warden.DeleteOp("/m2", warden.AnyVersion),
			warden.DeleteOp("/m2", warden.AnyVersion),
		}, 2, warden.ErrNoNode},
		{"exists", []warden.Op{warden.CreateOp("/m", nil, warden.Persistent)}, 0, warden.ErrNodeExists},
		{"not empty", []warden.Op{
			warden.SetOp("/m", nil, warden.AnyVersion),
			warden.DeleteOp("/m", warden.AnyVersion),
		}, 1, warden.ErrNotEmpty},
		{"bad op", []warden.Op{
			warden.CreateOp("/m2", nil, warden.Persistent),
			{Op: "frobnicate", Path: "/m"},
		}, 1, warden.ErrBadArguments},
	}
	for _, tc := range cases {
		_, before := mustGet(t, c, "/m")
		_, err := c.Multi(ctx, tc.ops...)
		wantErr(t, tc.name, err, tc.target)
		var we *wire.Error
		if !errors.As(err, &we) {
			t.Fatalf("%s: %T is not a *wire.Error", tc.name, err)
		}
		if we.Index == nil || *we.Index != tc.index {
			t.Fatalf("%s: index %v, want %d", tc.name, we.Index, tc.index)
		}
		data, after := mustGet(t, c, "/m")
		if after != before || string(data) != "bb" {
			t.Fatalf("%s: refused multi changed /m: %q %+v (before %+v)", tc.name, data, after, before)
		}
		for _, p := range []string{"/m2", "/m3"} {
			if exists(t, c, p) {
				t.Fatalf("%s: refused multi created %s", tc.name, p)
			}
		}
	}
	if kids := mustChildren(t, c, "/m"); !slices.Equal(kids, []string{"kid-0000000000"}) {
		t.Fatalf("children after refused multis %v", kids)
	}
}

// lockResult is what a goroutine's Lock call produced.
type lockResult struct {
	who   int
	lease *warden.Lease
	err   error
	at    time.Time
}

func TestLockFairness(t *testing.T) {
	a := agenttest.Start(t)
	const n = 8
	const path = "/locks/fair"
	holder := dial(t, a)
	ctx := testCtx(t, 30*time.Second)

	first, err := holder.Lock(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := first.Check(ctx); !ok || err != nil {
		t.Fatalf("holder check = %v %v", ok, err)
	}

	var mu sync.Mutex
	var order []int
	var tokens []uint64
	var holders atomic.Int32
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		c := dial(t, a)
		wg.Add(1)
		go func() {
			defer wg.Done()
			lease, err := c.Lock(ctx, path)
			if err != nil {
				errs <- fmt.Errorf("waiter %d: %w", i, err)
				return
			}
			if h := holders.Add(1); h != 1 {
				errs <- fmt.Errorf("waiter %d acquired with %d holders", i, h)
			}
			mu.Lock()
			order = append(order, i)
			tokens = append(tokens, lease.Token)
			mu.Unlock()
			holders.Add(-1)
			if err := lease.Unlock(ctx); err != nil {
				errs <- fmt.Errorf("waiter %d unlock: %w", i, err)
			}
		}()
		// The next waiter starts only once this one is in line.
		agenttest.Eventually(t, 10*time.Second, fmt.Sprintf("waiter %d in line", i), func() bool {
			return childCount(t, holder, path) == i+2
		})
	}
	mu.Lock()
	if len(order) != 0 {
		t.Fatalf("waiters acquired while the lock was held: %v", order)
	}
	mu.Unlock()
	if err := first.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(order, want) {
		t.Fatalf("acquired in order %v, want arrival order %v", order, want)
	}
	prev := first.Token
	for i, tok := range tokens {
		if tok <= prev {
			t.Fatalf("token of holder %d is %d, not above the previous %d (all: %d then %v)", i, tok, prev, first.Token, tokens)
		}
		prev = tok
	}
	if exists(t, holder, path) {
		t.Fatalf("lock node %s still there after every holder left: %v", path, mustChildren(t, holder, path))
	}
}

func TestLockMutualExclusion(t *testing.T) {
	a := agenttest.Start(t)
	const workers, rounds = 6, 15
	const path = "/locks/mutex"
	ctx := testCtx(t, 60*time.Second)

	var holders atomic.Int32
	var mu sync.Mutex
	var tokens []uint64 // in order of acquisition: appended inside the critical section
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*2)
	for w := 0; w < workers; w++ {
		c := dial(t, a)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				lease, err := c.Lock(ctx, path)
				if err != nil {
					errs <- fmt.Errorf("worker %d round %d: %w", w, r, err)
					return
				}
				if h := holders.Add(1); h != 1 {
					errs <- fmt.Errorf("worker %d round %d: %d holders at once", w, r, h)
				}
				mu.Lock()
				tokens = append(tokens, lease.Token)
				mu.Unlock()
				if ok, err := c.CheckToken(ctx, path, lease.Token); !ok || err != nil {
					errs <- fmt.Errorf("worker %d round %d: check own token = %v %v", w, r, ok, err)
				}
				holders.Add(-1)
				if err := lease.Unlock(ctx); err != nil {
					errs <- fmt.Errorf("worker %d round %d unlock: %w", w, r, err)
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
	if len(tokens) != workers*rounds {
		t.Fatalf("%d acquisitions, want %d", len(tokens), workers*rounds)
	}
	for i := 1; i < len(tokens); i++ {
		if tokens[i] <= tokens[i-1] {
			t.Fatalf("token %d (%d) not above token %d (%d)", i, tokens[i], i-1, tokens[i-1])
		}
	}
}

func TestLockTimeoutsAndCancel(t *testing.T) {
	a := agenttest.Start(t)
	const path = "/locks/t"
	holder := dial(t, a)
	waiter := dial(t, a)
	ctx := testCtx(t, 30*time.Second)

	// TryLock on a free lock succeeds, and Check and CheckToken agree.
	lease, err := holder.TryLock(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if lease.Path != path || !strings.HasPrefix(lease.Key, path+"/") || lease.Token == 0 {
		t.Fatalf("lease %+v", lease)
	}
	if _, st := mustGet(t, holder, lease.Key); st.Czxid != lease.Token || st.EphemeralOwner != holder.SessionID() {
		t.Fatalf("lease node stat %+v, token %d, session %d", st, lease.Token, holder.SessionID())
	}
	if ok, err := lease.Check(ctx); !ok || err != nil {
		t.Fatalf("check holder = %v %v", ok, err)
	}
	if ok, err := waiter.CheckToken(ctx, path, lease.Token); !ok || err != nil {
		t.Fatalf("check holder's token from another session = %v %v", ok, err)
	}
	if ok, err := waiter.CheckToken(ctx, path, lease.Token+1); ok || err != nil {
		t.Fatalf("check a wrong token = %v %v", ok, err)
	}

	// TryLock on a held lock returns nil at once and leaves no node.
	none, err := waiter.TryLock(ctx, path)
	wantNone(t, "trylock held", none, err)
	if kids := mustChildren(t, holder, path); len(kids) != 1 {
		t.Fatalf("contenders after a failed trylock: %v", kids)
	}

	// Lock with a deadline while held: error, and the waiter's node is gone.
	dctx, dcancel := context.WithTimeout(ctx, 200*time.Millisecond)
	start := time.Now()
	_, err = waiter.Lock(dctx, path)
	dcancel()
	if err == nil {
		t.Fatal("lock with a deadline acquired a held lock")
	}
	if !errors.Is(err, warden.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lock with a deadline: %v", err)
	}
	if el := time.Since(start); el < 150*time.Millisecond || el > 5*time.Second {
		t.Fatalf("lock with a 200ms deadline returned after %v", el)
	}
	if kids := mustChildren(t, holder, path); len(kids) != 1 {
		t.Fatalf("contenders after a timed-out lock: %v", kids)
	}

	// Lock cancelled through its context: the waiter's node is removed.
	cctx, ccancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := waiter.Lock(cctx, path)
		done <- err
	}()
	agenttest.Eventually(t, 5*time.Second, "waiter in line", func() bool { return childCount(t, holder, path) == 2 })
	ccancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled lock: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled lock did not return")
	}
	if kids := mustChildren(t, holder, path); len(kids) != 1 {
		t.Fatalf("contenders after a cancelled lock: %v", kids)
	}

	// Release: Check turns false, a second unlock is refused, an old token
	// stays invalid after the next holder takes the lock.
	if err := lease.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := lease.Check(ctx); ok || err != nil {
		t.Fatalf("check after unlock = %v %v", ok, err)
	}
	wantErr(t, "second unlock", lease.Unlock(ctx), warden.ErrNotHeld)
	if exists(t, holder, path) {
		t.Fatal("lock node left after its only holder released")
	}
	next, err := waiter.TryLock(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if next.Token <= lease.Token {
		t.Fatalf("next token %d not above %d", next.Token, lease.Token)
	}
	if ok, err := holder.CheckToken(ctx, path, lease.Token); ok || err != nil {
		t.Fatalf("check old token = %v %v", ok, err)
	}
	if ok, err := holder.CheckToken(ctx, path, next.Token); !ok || err != nil {
		t.Fatalf("check new token = %v %v", ok, err)
	}
	if err := next.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLockNotReleasableByOtherSession(t *testing.T) {
	a := agenttest.Start(t)
	owner := dial(t, a)
	thief := dial(t, a)
	ctx := testCtx(t, 10*time.Second)
	lease, err := owner.Lock(ctx, "/locks/own")
	if err != nil {
		t.Fatal(err)
	}
	// The thief's client learns the key and tries to unlock it.
	stolen, err := thief.TryLock(ctx, "/locks/other")
	if err != nil {
		t.Fatal(err)
	}
	stolen.Key = lease.Key
	wantErr(t, "unlock another session's lease", stolen.Unlock(ctx), warden.ErrNotHeld)
	if ok, err := lease.Check(ctx); !ok || err != nil {
		t.Fatalf("owner's lease after a foreign unlock = %v %v", ok, err)
	}
}

func TestLockHolderCloseHandsOn(t *testing.T) {
	a := agenttest.Start(t)
	const path = "/locks/close"
	holder := dial(t, a)
	waiter := dial(t, a)
	ctx := testCtx(t, 30*time.Second)

	held, err := holder.Lock(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan lockResult, 1)
	go func() {
		l, err := waiter.Lock(ctx, path)
		res <- lockResult{lease: l, err: err, at: time.Now()}
	}()
	agenttest.Eventually(t, 5*time.Second, "waiter in line", func() bool { return childCount(t, waiter, path) == 2 })
	select {
	case r := <-res:
		t.Fatalf("waiter returned while the lock was held: %+v", r)
	default:
	}
	closed := time.Now()
	holder.Close()
	select {
	case r := <-res:
		if r.err != nil {
			t.Fatal(r.err)
		}
		t.Logf("close -> acquire: %v", r.at.Sub(closed))
		if r.lease.Token <= held.Token {
			t.Fatalf("token %d not above the closed holder's %d", r.lease.Token, held.Token)
		}
		if ok, err := r.lease.Check(ctx); !ok || err != nil {
			t.Fatalf("new holder's check = %v %v", ok, err)
		}
		if ok, err := waiter.CheckToken(ctx, path, held.Token); ok || err != nil {
			t.Fatalf("closed holder's token check = %v %v", ok, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter did not acquire after the holder's client closed")
	}
	// The closed client fails fast.
	if _, err := holder.Lock(ctx, path); !errors.Is(err, warden.ErrClosed) {
		t.Fatalf("lock on a closed client: %v", err)
	}
	select {
	case <-holder.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	holder.Close() // twice is fine
}

// TestLockWaiterNodeDeleted: a waiter whose own contender node is deleted
// by another session learns at once that it is not in line any more.
func TestLockWaiterNodeDeleted(t *testing.T) {
	a := agenttest.Start(t)
	ctx := testCtx(t, 20*time.Second)
	holder, waiter, admin := dial(t, a), dial(t, a), dial(t, a)
	if _, err := holder.Lock(ctx, "/wd"); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := waiter.Lock(ctx, "/wd")
		got <- err
	}()
	var kids []string
	agenttest.Eventually(t, 5*time.Second, "the waiter in line", func() bool {
		kids, _, _ = admin.Children(ctx, "/wd")
		return len(kids) == 2
	})
	if err := admin.Delete(ctx, "/wd/"+kids[1], warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if !errors.Is(err, warden.ErrNotHeld) {
			t.Fatalf("want not_held, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter kept waiting after its node was deleted")
	}
}
