package agent_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/agent"
	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/localapi/wire"
)

// scrape fetches a's /metrics and returns the page and its families.
func scrape(t *testing.T, a *agent.Agent) ([]byte, map[string]*dto.MetricFamily) {
	t.Helper()
	resp, err := http.Get("http://" + a.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v\n%s", resp.StatusCode, err, page)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(page))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return page, fams
}

// value is the value of the series of family name whose labels include
// want (name=value pairs), and whether there is one. For a histogram or
// summary it is the sample count.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == want[i] && l.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Summary != nil:
			return float64(m.Summary.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func wantValue(t *testing.T, fams map[string]*dto.MetricFamily, wantV float64, name string, labels ...string) {
	t.Helper()
	if v, ok := value(fams, name, labels...); !ok || v != wantV {
		t.Errorf("%s%v = %v (present %v), want %v", name, labels, v, ok, wantV)
	}
}

// lockWorkload runs a short lock workload through the Go client: one app
// takes /locks/m, a second waits for it (seen in flight on /metrics), a
// try-lock finds it taken, then cycles lock and unlock. It returns the
// scrape taken at the end, with both apps still connected.
const lockCycles = 5

func lockWorkload(t *testing.T, a *agent.Agent) ([]byte, map[string]*dto.MetricFamily) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dial := func(name string) *warden.Client {
		c, err := warden.Dial(ctx, warden.Options{Socket: a.SocketPath(), Name: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c1, c2 := dial("one"), dial("two")
	if _, err := c1.Create(ctx, "/data", []byte("12345"), warden.Persistent); err != nil {
		t.Fatal(err)
	}
	l1, err := c1.Lock(ctx, "/locks/m")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *warden.Lease, 1)
	go func() {
		l, err := c2.Lock(ctx, "/locks/m")
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	agenttest.Eventually(t, 10*time.Second, "the second app waits for the lock", func() bool {
		_, fams := scrape(t, a)
		v, _ := value(fams, "warden_api_requests_in_flight", "op", "lock")
		return v == 1
	})
	if l, err := c2.TryLock(ctx, "/locks/m"); err != nil || l != nil {
		t.Fatalf("try-lock of a held lock: %v %v", l, err)
	}
	if err := l1.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	l2 := <-got
	if l2 == nil {
		t.FailNow()
	}
	if err := l2.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	for range lockCycles {
		l, err := c1.Lock(ctx, "/locks/m")
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return scrape(t, a)
}

// promtool finds promtool: $WARDEN_PROMTOOL (make test-go sets it to the
// one make installs in bin/), then bin/promtool, then $PATH. Without it
// the test fails in CI ($CI or $WARDEN_PROMTOOL set) and is skipped
// elsewhere.
func promtool(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("WARDEN_PROMTOOL"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("WARDEN_PROMTOOL: %v (make bin/promtool installs it)", err)
		}
		return p
	}
	if p, err := filepath.Abs(filepath.Join("..", "bin", "promtool")); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("promtool is missing: make bin/promtool installs it")
	}
	t.Skip("promtool is missing (make bin/promtool installs it)")
	return ""
}

// A real agent's /metrics after a lock workload: promtool accepts it,
// the request histograms counted the lock ops by reply code, Raft's
// commit time was measured, and the agent's state is there.
func TestMetrics(t *testing.T) {
	tool := promtool(t)
	a := agenttest.Start(t)
	page, fams := lockWorkload(t, a)

	cmd := exec.Command(tool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(page)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}

	// 1 + 1 (the waiter) + lockCycles granted, 1 try-lock refused.
	wantValue(t, fams, 2+lockCycles, "warden_api_request_duration_seconds", "op", "lock", "code", "ok")
	wantValue(t, fams, 2+lockCycles, "warden_api_requests_total", "op", "lock", "code", "ok")
	wantValue(t, fams, 1, "warden_api_requests_total", "op", "lock", "code", "timeout")
	wantValue(t, fams, 2+lockCycles, "warden_api_request_duration_seconds", "op", "unlock", "code", "ok")
	wantValue(t, fams, 2, "warden_api_requests_total", "op", "hello", "code", "ok")
	wantValue(t, fams, 0, "warden_api_requests_in_flight", "op", "lock")
	if v, _ := value(fams, "raft_commit_time"); v == 0 {
		t.Errorf("raft_commit_time has no samples after %d writes", 2*(2+lockCycles))
	}
	if v, _ := value(fams, "raft_logstore_store_logs"); v == 0 {
		t.Error("raft_logstore_store_logs has no samples")
	}
	wantValue(t, fams, 1, "warden_build_info", "version", agent.Version, "protocol", "1", "goversion", runtime.Version())
	wantValue(t, fams, 1, "warden_is_leader")
	wantValue(t, fams, 1, "warden_has_leader")
	wantValue(t, fams, 2, "warden_local_connections")
	wantValue(t, fams, 2, "warden_local_sessions")
	wantValue(t, fams, 2, "warden_local_sessions_by_state", "state", "connected")
	wantValue(t, fams, 2, "warden_sessions")
	wantValue(t, fams, 1, "warden_serf_members", "status", "alive")
	wantValue(t, fams, 5, "warden_data_bytes")
	if v, _ := value(fams, "warden_raft_leader_changes_total"); v < 1 {
		t.Errorf("warden_raft_leader_changes_total = %v, want at least 1", v)
	}
	st := a.Node().Status()
	if v, _ := value(fams, "warden_raft_applied_index"); v == 0 || v > float64(st.AppliedIndex) {
		t.Errorf("warden_raft_applied_index = %v, applied index now %d", v, st.AppliedIndex)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes"} {
		if _, ok := value(fams, name); !ok {
			t.Errorf("%s is missing", name)
		}
	}
}

// Two agents in one process keep their own series: requests made to one
// are not counted by the other. Raft's library metrics are the process's.
func TestMetricsPerAgent(t *testing.T) {
	a := agenttest.Start(t)
	b := agenttest.Start(t)
	lockWorkload(t, a)
	_, fams := scrape(t, b)
	if v, ok := value(fams, "warden_api_requests_total", "op", "lock"); ok {
		t.Errorf("agent b counts agent a's lock requests: %v", v)
	}
	if v, _ := value(fams, "raft_commit_time"); v == 0 {
		t.Error("raft_commit_time is missing from agent b")
	}
}

// An op the agent does not serve is counted under op "other" with its
// error code, so apps cannot mint labels; a request refused before it
// runs (a write on a connection without a session) is counted too.
func TestMetricsUnknownOp(t *testing.T) {
	a := agenttest.Start(t)
	nc, err := net.Dial("unix", a.SocketPath())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r := bufio.NewReader(nc)
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	call := func(req *wire.Request) *wire.Message {
		t.Helper()
		if err := wire.WriteFrame(nc, req); err != nil {
			t.Fatal(err)
		}
		for {
			frame, err := wire.ReadFrame(r, nil, wire.MaxFrameSize)
			if err != nil {
				t.Fatal(err)
			}
			var m wire.Message
			if err := msgpack.Unmarshal(frame, &m); err != nil {
				t.Fatal(err)
			}
			if m.ID == req.ID {
				return &m
			}
		}
	}
	if m := call(&wire.Request{ID: 1, Op: wire.OpHello}); m.Error != nil {
		t.Fatalf("hello: %v", m.Error)
	}
	for id := uint64(2); id < 5; id++ {
		if m := call(&wire.Request{ID: id, Op: fmt.Sprintf("no_such_op_%d", id)}); m.Error == nil || m.Error.Code != wire.CodeUnknownOp {
			t.Fatalf("unknown op answered %+v", m)
		}
	}
	c, err := warden.Dial(context.Background(), warden.Options{Socket: a.SocketPath(), NoSession: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Lock(context.Background(), "/l"); err == nil {
		t.Fatal("lock without a session succeeded")
	}
	_, fams := scrape(t, a)
	wantValue(t, fams, 3, "warden_api_requests_total", "op", "other", "code", "unknown_op")
	wantValue(t, fams, 1, "warden_api_requests_total", "op", "lock", "code", "no_session")
	for _, m := range fams["warden_api_requests_total"].Metric {
		for _, l := range m.Label {
			if strings.HasPrefix(l.GetValue(), "no_such_op") {
				t.Errorf("an unknown op became a label: %v", m.Label)
			}
		}
	}
}

// A snapshot the agent writes shows in its snapshot metrics and Raft's.
func TestMetricsSnapshot(t *testing.T) {
	a := agenttest.Start(t, func(c *agent.Config) {
		c.SnapshotThreshold = 4
		c.SnapshotInterval = 100 * time.Millisecond
	})
	lockWorkload(t, a)
	var fams map[string]*dto.MetricFamily
	agenttest.Eventually(t, 20*time.Second, "a snapshot is written", func() bool {
		_, fams = scrape(t, a)
		n, _ := value(fams, "warden_snapshots_total")
		return n >= 1
	})
	if v, _ := value(fams, "warden_snapshot_last_bytes"); v <= 0 {
		t.Errorf("warden_snapshot_last_bytes = %v after a snapshot", v)
	}
	if v, _ := value(fams, "warden_snapshot_last_duration_seconds"); v <= 0 {
		t.Errorf("warden_snapshot_last_duration_seconds = %v after a snapshot", v)
	}
	if v, _ := value(fams, "raft_snapshot_persist"); v == 0 {
		t.Error("raft_snapshot_persist has no samples after a snapshot")
	}
}

// TestZKMetrics: requests on the ZooKeeper port are counted by op and
// ZooKeeper's reply code, and its connections are gauged.
func TestZKMetrics(t *testing.T) {
	a := agenttest.Start(t, func(c *agent.Config) { c.ZKPort = agent.ZKPortFree })
	c, events, err := zk.Connect([]string{a.ZKAddr()}, 5*time.Second, zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	agenttest.Eventually(t, 10*time.Second, "a ZooKeeper session", func() bool {
		select {
		case ev := <-events:
			return ev.State == zk.StateHasSession
		default:
			return false
		}
	})
	if _, _, err := c.Get("/missing"); err != zk.ErrNoNode {
		t.Fatalf("get: %v", err)
	}
	if _, err := c.Create("/made", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	_, fams := scrape(t, a)
	wantValue(t, fams, 1, "warden_zk_requests_total", "op", "getData", "code", "NONODE")
	wantValue(t, fams, 1, "warden_zk_requests_total", "op", "create", "code", "OK")
	wantValue(t, fams, 1, "warden_zk_request_duration_seconds", "op", "create", "code", "OK")
	wantValue(t, fams, 1, "warden_zk_connections")
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

// TestPprofOnlyWhenEnabled: /debug/pprof/ answers on the HTTP endpoint
// with --enable-pprof, and is not there without it.
func TestPprofOnlyWhenEnabled(t *testing.T) {
	for _, on := range []bool{false, true} {
		a := agenttest.Start(t, func(c *agent.Config) { c.EnablePprof = on })
		resp, err := http.Get("http://" + a.HTTPAddr() + "/debug/pprof/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{false: http.StatusNotFound, true: http.StatusOK}[on]; resp.StatusCode != want {
			t.Errorf("enable-pprof %v: /debug/pprof/cmdline answered %d, want %d", on, resp.StatusCode, want)
		}
	}
}
