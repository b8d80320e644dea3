package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// These tests run the real binary: an agent process that is SIGKILLed and
// restarted on its data dir, and CLI processes against it.

// env is one agent process and the binary to talk to it with.
type env struct {
	t    *testing.T
	bin  string
	proc *agenttest.Proc
}

func startAgent(t *testing.T) *env {
	t.Helper()
	bin := agenttest.Binary(t)
	sock := filepath.Join(agenttest.SocketDir(t), "w.sock")
	return &env{t: t, bin: bin, proc: agenttest.StartProc(t, t.TempDir(), sock)}
}

// dial opens a Go client on the agent, closed when the test ends.
func (e *env) dial() *warden.Client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := warden.Dial(ctx, warden.Options{Socket: e.proc.Socket, Name: e.t.Name()})
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// command prepares a warden CLI process that finds the agent through
// WARDEN_SOCKET. It runs in its own process group, which is SIGKILLed when
// the test ends so that no child it started outlives the test.
func (e *env) command(args ...string) *exec.Cmd {
	cmd := exec.Command(e.bin, args...)
	cmd.Env = append(os.Environ(), "WARDEN_SOCKET="+e.proc.Socket)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// result is how a CLI process ended.
type result struct {
	stdout, stderr string
	code           int
}

// cli runs a warden verb to completion.
func (e *env) cli(args ...string) result {
	e.t.Helper()
	cmd := e.command(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		e.t.Fatalf("run warden %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

// bg is a CLI process running in the background.
type bg struct {
	cmd       *exec.Cmd
	out, errb *syncBuffer
	exited    chan struct{}
	waitErr   error
}

// start runs a warden verb in the background. When the test ends, its
// whole process group is SIGKILLed.
func (e *env) start(args ...string) *bg {
	e.t.Helper()
	b := &bg{cmd: e.command(args...), out: &syncBuffer{}, errb: &syncBuffer{}, exited: make(chan struct{})}
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.errb
	if err := b.cmd.Start(); err != nil {
		e.t.Fatalf("start warden %v: %v", args, err)
	}
	go func() { b.waitErr = b.cmd.Wait(); close(b.exited) }()
	e.t.Cleanup(func() {
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-b.exited
	})
	return b
}

// wait waits for the process to exit and returns its exit code.
func (b *bg) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-b.exited:
	case <-time.After(timeout):
		t.Fatalf("warden %v still running after %v; stderr: %s", b.cmd.Args[1:], timeout, b.errb)
	}
	var ee *exec.ExitError
	if errors.As(b.waitErr, &ee) {
		return ee.ExitCode()
	}
	if b.waitErr != nil {
		t.Fatalf("wait: %v", b.waitErr)
	}
	return 0
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// contenders counts the contender nodes of the lock at path.
func contenders(t *testing.T, c *warden.Client, path string) int {
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

func fileHas(path, s string) bool {
	b, _ := os.ReadFile(path)
	return strings.Contains(string(b), s)
}

// acquired is how a Lock call ended, and when.
type acquired struct {
	lease *warden.Lease
	err   error
	at    time.Time
}

// TestLockHolderSIGKILL: a `warden lock` process holds a lock; when it is
// SIGKILLed, the agent sees its socket close and hands the lock to the
// next waiter at once.
func TestLockHolderSIGKILL(t *testing.T) {
	e := startAgent(t)
	waiter := e.dial()
	probe := e.dial()
	if _, err := probe.Create(testCtx(t, 10*time.Second), "/probe", nil, warden.Persistent); err != nil {
		t.Fatal(err)
	}
	const path = "/x"
	const runs = 5
	const limit = 100 * time.Millisecond
	var lats []time.Duration
	for i := 0; i < runs; i++ {
		marker := filepath.Join(t.TempDir(), "held")
		holder := e.start("lock", path, "--", "sh", "-c", "touch "+marker+"; exec sleep 60")
		agenttest.Eventually(t, 10*time.Second, "the holder to run its command", func() bool {
			_, err := os.Stat(marker)
			return err == nil
		})
		if n := contenders(t, waiter, path); n != 1 {
			t.Fatalf("run %d: %d contenders while the holder runs, want 1", i, n)
		}

		ctx := testCtx(t, 10*time.Second)
		got := make(chan acquired, 1)
		go func() {
			l, err := waiter.Lock(ctx, path)
			got <- acquired{l, err, time.Now()}
		}()
		agenttest.Eventually(t, 10*time.Second, "the waiter in line", func() bool { return contenders(t, waiter, path) == 2 })
		select {
		case r := <-got:
			t.Fatalf("run %d: waiter returned while the holder lives: %v", i, r.err)
		default:
		}

		// One plain write's round trip, for scale: handing the lock on takes
		// one write (the dead session's close) and a notification.
		wstart := time.Now()
		if _, err := probe.Set(ctx, "/probe", []byte("x"), warden.AnyVersion); err != nil {
			t.Fatal(err)
		}
		write := time.Since(wstart)

		if err := syscall.Kill(holder.cmd.Process.Pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		var r acquired
		select {
		case r = <-got:
		case <-time.After(5 * time.Second):
			t.Fatalf("run %d: waiter did not acquire within 5s of the holder's SIGKILL", i)
		}
		if r.err != nil {
			t.Fatalf("run %d: waiter: %v", i, r.err)
		}
		lat := r.at.Sub(killed)
		lats = append(lats, lat)
		if lat >= limit {
			t.Errorf("run %d: kill -> acquire took %v, want < %v (one write took %v just before)", i, lat, limit, write)
		}
		// The orphaned sleep goes with the holder's process group (it also
		// holds the holder's output pipes, which Wait drains).
		_ = syscall.Kill(-holder.cmd.Process.Pid, syscall.SIGKILL)
		if code := holder.wait(t, 5*time.Second); code != -1 {
			t.Errorf("run %d: holder exit code %d, want -1 (killed)", i, code)
		}
		if err := r.lease.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("kill -> acquire latencies: %v", lats)
}

// node is a znode as acknowledged: its data and Stat.
type node struct {
	data string
	stat warden.Stat
}

// snapshotTree reads every node under root (root included).
func snapshotTree(t *testing.T, c *warden.Client, root string) map[string]node {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	out := map[string]node{}
	var walk func(p string)
	walk = func(p string) {
		data, st, err := c.Get(ctx, p)
		if err != nil {
			t.Fatalf("get %s: %v", p, err)
		}
		out[p] = node{string(data), st}
		kids, _, err := c.Children(ctx, p)
		if err != nil {
			t.Fatalf("children %s: %v", p, err)
		}
		for _, k := range kids {
			walk(strings.TrimSuffix(p, "/") + "/" + k)
		}
	}
	walk(root)
	return out
}

// TestAgentKill9Restart: every acknowledged write survives SIGKILL of the
// agent, and the sessions of the dead run are closed on restart.
func TestAgentKill9Restart(t *testing.T) {
	e := startAgent(t)
	c := e.dial()
	holder := e.dial() // holds ephemerals, stays open until the agent dies
	ctx := testCtx(t, 60*time.Second)

	// 200 persistent nodes: nested, sequential, and some set repeatedly.
	persistent := 0
	setAcks := map[string]warden.Stat{} // the Stat each node's last set acknowledged
	create := func(p, data string, mode warden.CreateMode) string {
		t.Helper()
		got, err := c.Create(ctx, p, []byte(data), mode)
		if err != nil {
			t.Fatalf("create %s: %v", p, err)
		}
		if mode&warden.Ephemeral == 0 {
			persistent++
		}
		return got
	}
	create("/kv", "root", warden.Persistent)
	for d := 0; d < 10; d++ {
		dir := fmt.Sprintf("/kv/d%d", d)
		create(dir, "dir "+dir, warden.Persistent)
		create(dir+"/deep", "", warden.Persistent)
		create(dir+"/deep/er", strings.Repeat("x", d*100), warden.Persistent)
		for i := 0; i < 10; i++ {
			p := create(fmt.Sprintf("%s/n%02d", dir, i), fmt.Sprintf("v0-%d-%d", d, i), warden.Persistent)
			for v := 1; v <= i%4; v++ { // versions 0..3
				st, err := c.Set(ctx, p, []byte(fmt.Sprintf("v%d-%d-%d", v, d, i)), int32(v-1))
				if err != nil {
					t.Fatal(err)
				}
				setAcks[p] = st
			}
		}
	}
	create("/kv/seq", "", warden.Persistent)
	for persistent < 199 {
		create("/kv/seq/item-", fmt.Sprint(persistent), warden.Sequential)
	}
	create("/kv/ctr", "", warden.Container)
	if persistent != 200 {
		t.Fatalf("created %d persistent nodes", persistent)
	}

	// Ephemerals of a session that dies with the agent, under two parents.
	var ephs []string
	for i := 0; i < 5; i++ {
		for _, parent := range []string{"/kv/d3", "/kv/ctr"} {
			p, err := holder.Create(ctx, parent+"/e-", []byte("eph"), warden.Ephemeral|warden.Sequential)
			if err != nil {
				t.Fatal(err)
			}
			ephs = append(ephs, p)
		}
	}
	p, err := c.Create(ctx, "/kv/mine", nil, warden.Ephemeral)
	if err != nil {
		t.Fatal(err)
	}
	ephs = append(ephs, p)

	before := snapshotTree(t, c, "/kv")
	if len(before) != 200+len(ephs) {
		t.Fatalf("tree has %d nodes before the kill, want %d", len(before), 200+len(ephs))
	}
	for _, p := range ephs {
		if before[p].stat.EphemeralOwner == 0 {
			t.Fatalf("%s is not ephemeral: %+v", p, before[p].stat)
		}
	}

	e.proc.Kill()
	for _, cl := range []*warden.Client{c, holder} {
		select {
		case <-cl.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("client did not notice the agent's death")
		}
	}
	e.proc.Restart()
	c2 := e.dial()
	if c2.SessionID() == c.SessionID() || c2.SessionID() == holder.SessionID() {
		t.Fatalf("new session reuses an old id %d", c2.SessionID())
	}

	after := snapshotTree(t, c2, "/kv")
	// The previous run's sessions were closed before the socket opened:
	// their ephemerals are gone the moment the agent answers, and with
	// them the container they emptied.
	gone := append([]string{"/kv/ctr"}, ephs...)
	removed := map[string]int32{} // parent -> children removed
	for _, p := range gone {
		removed[p[:strings.LastIndexByte(p, '/')]]++
		if _, ok := after[p]; ok {
			t.Errorf("%s survived the restart; its session (or its last child) is gone", p)
		}
	}
	for p, want := range before {
		if slices.Contains(gone, p) {
			continue
		}
		got, ok := after[p]
		if !ok {
			t.Errorf("acknowledged node %s lost", p)
			continue
		}
		if got.data != want.data {
			t.Errorf("%s: data %q, want %q", p, got.data, want.data)
		}
		w := want.stat
		if n := removed[p]; n > 0 {
			// The parent of removed nodes: one child change per removal.
			if got.stat.NumChildren != w.NumChildren-n || got.stat.Cversion != w.Cversion+n || got.stat.Pzxid <= w.Pzxid {
				t.Errorf("%s: stat %+v after %d children went (before %+v)", p, got.stat, n, w)
			}
			w.NumChildren, w.Cversion, w.Pzxid = got.stat.NumChildren, got.stat.Cversion, got.stat.Pzxid
		}
		if got.stat != w {
			t.Errorf("%s: stat %+v, want %+v", p, got.stat, w)
		}
	}
	for p, st := range setAcks {
		if after[p].stat != st {
			t.Errorf("%s: stat %+v after restart, its last set acknowledged %+v", p, after[p].stat, st)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("unexpected node %s after restart", p)
		}
	}
	if want := 199; len(after) != want { // 200 persistent, less the emptied container
		t.Errorf("%d nodes after restart, want %d", len(after), want)
	}

	// The tree takes writes again; sequence counters continue.
	seq, err := c2.Create(ctx, "/kv/seq/item-", nil, warden.Sequential)
	if err != nil {
		t.Fatal(err)
	}
	kids, _, _ := c2.Children(ctx, "/kv/seq")
	if last := "/kv/seq/" + kids[len(kids)-2]; seq <= last {
		t.Errorf("sequential after restart %s not after %s", seq, last)
	}
}

// TestAgentKill9WritesInFlight: writers run continuously while the agent is
// SIGKILLed; every write acknowledged before the kill is there after the
// restart, and nothing that was never sent appears.
func TestAgentKill9WritesInFlight(t *testing.T) {
	e := startAgent(t)
	const writers = 4
	setup := e.dial()
	ctx := testCtx(t, 60*time.Second)
	if _, err := setup.Create(ctx, "/w", nil, warden.Persistent); err != nil {
		t.Fatal(err)
	}

	type log struct {
		created   []string // acknowledged creates, data == path
		attempted int      // creates sent
		setAcked  int32    // the version the last acknowledged set made
		setsSent  int32    // sets sent; set k writes "c-k" and makes version k
	}
	logs := make([]*log, writers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := 0
	for w := 0; w < writers; w++ {
		c := e.dial()
		lg := &log{}
		logs[w] = lg
		counter := fmt.Sprintf("/w/counter-%d", w)
		if _, err := c.Create(ctx, counter, []byte("c-0"), warden.Persistent); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				p := fmt.Sprintf("/w/n-%d-%06d", w, i)
				mu.Lock()
				lg.attempted = i + 1
				mu.Unlock()
				if _, err := c.Create(ctx, p, []byte(p), warden.Persistent); err != nil {
					return
				}
				mu.Lock()
				lg.created = append(lg.created, p)
				acked++
				k := lg.setsSent + 1
				lg.setsSent = k
				mu.Unlock()
				st, err := c.Set(ctx, counter, []byte(fmt.Sprintf("c-%d", k)), k-1)
				if err != nil {
					return
				}
				if st.Version != k {
					panic(fmt.Sprintf("set %d made version %d", k, st.Version))
				}
				mu.Lock()
				lg.setAcked = k
				mu.Unlock()
			}
		}()
	}
	agenttest.Eventually(t, 30*time.Second, "writes to flow", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return acked >= 200
	})
	e.proc.Kill() // writes are in flight
	wg.Wait()

	e.proc.Restart()
	c := e.dial()
	total := 0
	for w, lg := range logs {
		for _, p := range lg.created {
			data, _, err := c.Get(ctx, p)
			if err != nil {
				t.Errorf("acknowledged create %s: %v", p, err)
				continue
			}
			if string(data) != p {
				t.Errorf("%s: data %q", p, data)
			}
		}
		total += len(lg.created)
		counter := fmt.Sprintf("/w/counter-%d", w)
		data, st, err := c.Get(ctx, counter)
		if err != nil {
			t.Fatal(err)
		}
		if st.Version < lg.setAcked || st.Version > lg.setsSent || string(data) != fmt.Sprintf("c-%d", st.Version) {
			t.Errorf("%s: version %d data %q; acknowledged up to %d, sent %d", counter, st.Version, data, lg.setAcked, lg.setsSent)
		}
	}
	// Nothing beyond what was sent: each writer had at most one create in
	// flight.
	kids, _, err := c.Children(ctx, "/w")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kids {
		var w, i int
		if strings.HasPrefix(k, "counter-") {
			continue
		}
		if _, err := fmt.Sscanf(k, "n-%d-%06d", &w, &i); err != nil {
			t.Fatalf("unexpected node /w/%s", k)
		}
		if lg := logs[w]; i >= lg.attempted {
			t.Errorf("/w/%s exists but writer %d sent only %d creates", k, w, lg.attempted)
		}
	}
	t.Logf("%d acknowledged creates before the kill; %d nodes under /w after restart", total, len(kids))
}

// TestLockCLIOrder: `warden lock` processes get the lock in arrival order,
// one at a time, and warden lock exits with its command's status.
func TestLockCLIOrder(t *testing.T) {
	e := startAgent(t)
	c := e.dial()
	ctx := testCtx(t, 30*time.Second)
	file := filepath.Join(t.TempDir(), "order")

	// Hold the lock so all three queue up behind it.
	first, err := c.Lock(ctx, "/q")
	if err != nil {
		t.Fatal(err)
	}
	var procs []*bg
	for n := 1; n <= 3; n++ {
		script := fmt.Sprintf("echo start %d >> %s; sleep 0.2; echo end %d >> %s", n, file, n, file)
		procs = append(procs, e.start("lock", "/q", "--", "sh", "-c", script))
		agenttest.Eventually(t, 10*time.Second, fmt.Sprintf("process %d in line", n), func() bool {
			return contenders(t, c, "/q") == n+1
		})
	}
	if _, err := os.Stat(file); err == nil {
		t.Fatal("a command ran while the lock was held")
	}
	if err := first.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	for i, p := range procs {
		if code := p.wait(t, 10*time.Second); code != 0 {
			t.Fatalf("process %d exited %d: %s", i+1, code, p.errb)
		}
	}
	got, _ := os.ReadFile(file)
	want := "start 1\nend 1\nstart 2\nend 2\nstart 3\nend 3\n"
	if string(got) != want {
		t.Fatalf("order file:\n%s\nwant:\n%s", got, want)
	}
	if contenders(t, c, "/q") != 0 {
		t.Fatal("contenders left under /q")
	}

	r := e.cli("lock", "/demo", "--", "echo", "held")
	if r.code != 0 || r.stdout != "held\n" {
		t.Fatalf("warden lock /demo -- echo held: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if _, ok, err := c.Exists(ctx, "/demo"); ok || err != nil {
		t.Fatalf("/demo after the lock's command ended: exists %v, %v", ok, err)
	}
	r = e.cli("lock", "/x", "--", "sh", "-c", "exit 7")
	if r.code != 7 {
		t.Fatalf("warden lock -- sh -c 'exit 7': exit %d, stderr %q", r.code, r.stderr)
	}
	r = e.cli("lock", "/x", "--", "sh", "-c", `test -n "$WARDEN_LOCK_TOKEN" && test "$WARDEN_LOCK_PATH" = /x && echo "$WARDEN_LOCK_KEY"`)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "/x/lock-") {
		t.Fatalf("lock environment: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// TestCLIErrors: the verbs' output and exit statuses.
func TestCLIErrors(t *testing.T) {
	e := startAgent(t)

	r := e.cli("get", "/missing")
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if r.code == 0 || len(lines) != 1 || !strings.Contains(r.stderr, "/missing") || !strings.Contains(r.stderr, "does not exist") {
		t.Fatalf("get /missing: exit %d, stderr %q", r.code, r.stderr)
	}
	if r.stdout != "" {
		t.Fatalf("get /missing printed %q", r.stdout)
	}
	if r := e.cli("get"); r.code != 2 || !strings.Contains(r.stderr, "usage") {
		t.Fatalf("get with no args: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := e.cli("frobnicate"); r.code != 2 {
		t.Fatalf("unknown verb: exit %d", r.code)
	}
	if r := e.cli("create", "/a", "x"); r.code != 0 || r.stdout != "/a\n" {
		t.Fatalf("create /a x: %+v", r)
	}
	if r := e.cli("create", "/a", "y"); r.code != 1 || !strings.Contains(r.stderr, "/a") || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("create existing: %+v", r)
	}
	if r := e.cli("get", "/a"); r.code != 0 || r.stdout != "x" {
		t.Fatalf("get /a: %+v", r)
	}
	if r := e.cli("create", "--sequential", "/a/s-"); r.code != 0 || r.stdout != "/a/s-0000000000\n" {
		t.Fatalf("create --sequential: %+v", r)
	}
	if r := e.cli("ls", "/"); r.code != 0 || !slices.Contains(strings.Split(r.stdout, "\n"), "a") {
		t.Fatalf("ls /: %+v", r)
	}
	if r := e.cli("ls", "/a"); r.code != 0 || r.stdout != "s-0000000000\n" {
		t.Fatalf("ls /a: %+v", r)
	}
	if r := e.cli("set", "/a", "hello"); r.code != 0 {
		t.Fatalf("set: %+v", r)
	}
	if r := e.cli("set", "--version", "0", "/a", "stale"); r.code != 1 || !strings.Contains(r.stderr, "version") {
		t.Fatalf("set with a stale version: %+v", r)
	}
	r = e.cli("stat", "/a")
	if r.code != 0 || !strings.Contains(r.stdout, "version         1\n") || !strings.Contains(r.stdout, "numChildren     1\n") ||
		!strings.Contains(r.stdout, "dataLength      5\n") {
		t.Fatalf("stat /a: %+v", r)
	}
	if r := e.cli("get", "/a"); r.stdout != "hello" {
		t.Fatalf("get after set: %+v", r)
	}
	if r := e.cli("rm", "/a"); r.code != 1 || !strings.Contains(r.stderr, "children") {
		t.Fatalf("rm of a node with children: %+v", r)
	}
	for _, p := range []string{"/a/s-0000000000", "/a"} {
		if r := e.cli("rm", p); r.code != 0 {
			t.Fatalf("rm %s: %+v", p, r)
		}
	}
	if r := e.cli("stat", "/a"); r.code == 0 || !strings.Contains(r.stderr, "/a") {
		t.Fatalf("stat after rm: %+v", r)
	}

	// A timed-out lock: non-zero, a clear message, the command never runs.
	c := e.dial()
	ctx := testCtx(t, 10*time.Second)
	held, err := c.Lock(ctx, "/held")
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "ran")
	start := time.Now()
	r = e.cli("lock", "--timeout", "100ms", "/held", "--", "touch", marker)
	took := time.Since(start)
	if r.code == 0 || !strings.Contains(r.stderr, "/held") || !strings.Contains(r.stderr, "not acquired within 100ms") {
		t.Fatalf("lock --timeout on a held lock: %+v", r)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the command ran without the lock")
	}
	if took < 100*time.Millisecond {
		t.Fatalf("lock --timeout 100ms gave up after %v", took)
	}
	if n := contenders(t, c, "/held"); n != 1 {
		t.Fatalf("%d contenders after the timed-out lock, want 1", n)
	}
	if ok, err := held.Check(ctx); !ok || err != nil {
		t.Fatalf("holder after a timed-out waiter: %v %v", ok, err)
	}
	if r := e.cli("lock", "/held"); r.code != 2 {
		t.Fatalf("lock without a command: %+v", r)
	}
}

// TestLockLostStopsCommand: when the agent dies, `warden lock` stops its
// command and exits non-zero.
func TestLockLostStopsCommand(t *testing.T) {
	e := startAgent(t)
	file := filepath.Join(t.TempDir(), "f")
	script := fmt.Sprintf(`trap "echo term >> %s; exit 0" TERM; echo ready >> %s; while true; do sleep 0.05; done`, file, file)
	p := e.start("lock", "/l", "--", "sh", "-c", script)
	agenttest.Eventually(t, 10*time.Second, "the command to start", func() bool { return fileHas(file, "ready") })

	e.proc.Kill()
	killed := time.Now()
	agenttest.Eventually(t, 5*time.Second, "the command to get SIGTERM", func() bool { return fileHas(file, "term") })
	code := p.wait(t, 5*time.Second)
	took := time.Since(killed)
	if code == 0 || code == -1 {
		t.Fatalf("warden lock exited %d after losing its lock, want a non-zero exit status", code)
	}
	if !strings.Contains(p.errb.String(), "lost") {
		t.Fatalf("stderr does not say the lock was lost: %q", p.errb)
	}
	t.Logf("agent kill -> warden lock exit: %v (exit %d)", took, code)
	if took > 2*time.Second {
		t.Fatalf("warden lock took %v to stop after the agent died", took)
	}
}

// TestLockKilledTakesCommandAlong: SIGKILL of `warden lock` ends its
// session, so the lock passes on; its command must not live on beside the
// next holder's.
func TestLockKilledTakesCommandAlong(t *testing.T) {
	e := startAgent(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	b := e.start("lock", "/pd", "--", "sh", "-c", "echo $$ > "+pidFile+"; exec sleep 600")
	var pid int
	agenttest.Eventually(t, 10*time.Second, "the command to start", func() bool {
		data, err := os.ReadFile(pidFile)
		if err != nil {
			return false
		}
		_, err = fmt.Sscanf(string(data), "%d", &pid)
		return err == nil && pid > 0
	})
	_ = b.cmd.Process.Signal(syscall.SIGKILL)
	agenttest.Eventually(t, 5*time.Second, "the command to die with warden lock", func() bool {
		return gone(pid)
	})
}

// gone reports whether a process has ended (a zombie that nobody reaped
// yet counts as ended).
func gone(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}
