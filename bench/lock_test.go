package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// BenchmarkLockCycle measures Lock+Unlock cycles through the Go client
// against a `warden agent --dev` process, so client and agent do not share
// a Go runtime.
func BenchmarkLockCycle(b *testing.B) { lockCycles(b, true) }

// BenchmarkLockCycleInProcess is BenchmarkLockCycle against an in-process
// agent (agenttest.Start), which is easier to profile.
func BenchmarkLockCycleInProcess(b *testing.B) { lockCycles(b, false) }

func lockCycles(b *testing.B, proc bool) {
	for _, v := range []struct {
		name    string
		clients int
		shared  bool // every client contends on one path
	}{
		{"clients=1", 1, true},
		// One lock handed from session to session: contended handoff.
		{"clients=16", 16, true},
		// A lock per client: uncontended, so it measures how many writes
		// the agent commits when many arrive together.
		{"clients=16,paths=16", 16, false},
	} {
		b.Run(v.name, func(b *testing.B) {
			measure(b, []string{startAgent(b, proc)}, v.clients, "cycles/s", nil, lockCycle(v.shared))
		})
	}
}

// lockCycle is one Lock+Unlock, on one path all workers share or on one
// path per worker.
func lockCycle(shared bool) func(ctx context.Context, c *warden.Client, worker, _ int) error {
	return func(ctx context.Context, c *warden.Client, worker, _ int) error {
		path := "/bench-lock"
		if !shared {
			path = fmt.Sprintf("/bench-lock-%d", worker)
		}
		lease, err := c.Lock(ctx, path)
		if err != nil {
			return fmt.Errorf("lock %s: %w", path, err)
		}
		if err := lease.Unlock(ctx); err != nil {
			return fmt.Errorf("unlock %s: %w", lease.Key, err)
		}
		return nil
	}
}

// BenchmarkCreate measures creates of persistent 100-byte nodes, each at a
// new path, against a `warden agent --dev` process.
func BenchmarkCreate(b *testing.B) {
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			measure(b, []string{startAgent(b, true)}, clients, "ops/s", createSetup, createOp)
		})
	}
}

// createParent holds the nodes the create benchmarks make; createData is
// each node's 100 bytes.
const createParent = "/bench-create"

var createData = func() []byte {
	data := make([]byte, 100)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	return data
}()

func createSetup(ctx context.Context, c *warden.Client) error {
	_, err := c.Create(ctx, createParent, nil, warden.Persistent)
	return err
}

// createOp creates the i-th persistent node under createParent.
func createOp(ctx context.Context, c *warden.Client, _, i int) error {
	path := fmt.Sprintf("%s/n%010d", createParent, i)
	if _, err := c.Create(ctx, path, createData, warden.Persistent); err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return nil
}

// startAgent starts a fresh dev agent for one benchmark run, as a process
// or in-process, and returns its socket. It goes when the run ends.
func startAgent(b *testing.B, proc bool) string {
	b.Helper()
	if !proc {
		return agenttest.Start(quietTB{b}).SocketPath()
	}
	sock := filepath.Join(agenttest.SocketDir(b), "w.sock")
	p := agenttest.StartProc(b, b.TempDir(), sock)
	b.Cleanup(func() { os.Remove(p.Log.Name()) })
	return sock
}

// measure dials clients sessions (untimed), client w to the agent at
// socks[w%len(socks)], runs setup once on the first client, then runs op
// b.N times in all, shared among the clients, one goroutine each. It
// reports the throughput as unit, the p50 and p99 latency of one op, and
// the Raft log entries written per op.
func measure(b *testing.B, socks []string, clients int, unit string,
	setup func(ctx context.Context, c *warden.Client) error,
	op func(ctx context.Context, c *warden.Client, worker, i int) error,
) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cs := make([]*warden.Client, clients)
	for w := range cs {
		c, err := warden.Dial(ctx, warden.Options{Socket: socks[w%len(socks)], Name: fmt.Sprintf("bench-%d", w)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		cs[w] = c
	}
	if setup != nil {
		if err := setup(ctx, cs[0]); err != nil {
			b.Fatalf("setup: %v", err)
		}
	}
	before, err := cs[0].Sync(ctx)
	if err != nil {
		b.Fatal(err)
	}

	lat := make([]time.Duration, b.N)
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		runErr  error
	)
	b.ResetTimer()
	start := time.Now()
	for w, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				if err := op(ctx, c, w, i); err != nil {
					errOnce.Do(func() { runErr = err; cancel() })
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if runErr != nil {
		b.Fatal(runErr)
	}

	after, err := cs[0].Sync(ctx)
	if err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), unit)
	b.ReportMetric(us(lat[(len(lat)-1)*50/100]), "p50-µs")
	b.ReportMetric(us(lat[(len(lat)-1)*99/100]), "p99-µs")
	b.ReportMetric(float64(after-before)/float64(b.N), "entries/op")
}

// quietTB drops the warning a fresh single-server Raft logs as it elects
// itself, so that it does not clutter every in-process result, and passes
// every other log line on.
type quietTB struct{ *testing.B }

func (q quietTB) Log(args ...any) {
	if len(args) == 1 {
		if s, ok := args[0].(string); ok && strings.Contains(s, "heartbeat timeout reached, starting election") {
			return
		}
	}
	q.B.Log(args...)
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
