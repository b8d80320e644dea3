// Package workload runs the benchmark's workloads against any
// system.Cluster: lock cycles, a contended lock's handoffs, raw writes
// and reads, config propagation, election failover (graceful and by
// SIGKILL of the holder's process) and memory per node. Each measures a
// window after a warm-up and returns one Result.
package workload

import (
	"context"
	"fmt"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warden-dev/warden/bench/peers/system"
)

// Env is what a workload runs against. The caller starts a fresh cluster
// for each workload and stops it afterwards.
type Env struct {
	Sys     system.System
	Cluster system.Cluster
	// Endpoints are what clients dial: client i dials Endpoints[i%len].
	Endpoints []string
	// Clients is the number of concurrent clients (subscribers, for
	// config propagation; candidates, for elections).
	Clients int
	// Warmup runs the workload unmeasured before the window.
	Warmup time.Duration
	// Window is how long the measurement runs.
	Window time.Duration
	// Dial shapes every client (the peers' session timeout).
	Dial system.DialOptions
	// Holder starts a separate process that dials endpoint, takes the
	// lock key (or, with elect, leads the election key), writes "held\n"
	// to its stdout and waits to be killed.
	Holder func(endpoint, key string, elect bool) *exec.Cmd
	// Iterations is how many times crash failover kills a holder.
	Iterations int
	// Znodes is how many nodes the memory workload creates.
	Znodes int
	// ConfigInterval is the config writer's pause between writes.
	ConfigInterval time.Duration
	// Logf reports progress.
	Logf func(format string, args ...any)
}

// Result is one workload's measurement on one cluster.
type Result struct {
	// Ops is the operations completed in the window (lock cycles,
	// handoffs, writes, reads, config writes, failovers, creates).
	Ops int64 `json:"ops"`
	// Seconds is the window's length.
	Seconds float64 `json:"seconds"`
	// Rate is Ops per second.
	Rate float64 `json:"rate"`
	// P50ms and P99ms are the latency percentiles, in milliseconds, of
	// what the workload times (Latency names it).
	P50ms float64 `json:"p50_ms"`
	P99ms float64 `json:"p99_ms"`
	// Samples is the number of latencies behind the percentiles.
	Samples int `json:"samples"`
	// Latency says what P50ms and P99ms time.
	Latency string `json:"latency"`
	// CPUus is the servers' CPU time (utime+stime, all servers) over the
	// window per operation, in microseconds.
	CPUus float64 `json:"cpu_us_per_op"`
	// Errors counts failed operations in the window.
	Errors int64 `json:"errors"`
	// Missed counts, for config propagation, values a subscriber never
	// saw (summed over subscribers); Late those that had not reached
	// every subscriber a few seconds after the window.
	Missed int64 `json:"missed,omitempty"`
	Late   int64 `json:"late,omitempty"`
	// RSSMB is the servers' mean resident memory at the end, in MiB.
	RSSMB float64 `json:"rss_mb"`
	// BytesPerZnode is, for the memory workload, the growth of the
	// servers' mean RSS per node created.
	BytesPerZnode float64 `json:"bytes_per_znode,omitempty"`
}

// Workload is one benchmark scenario.
type Workload struct {
	// Name is the workload's flag name.
	Name string
	// Unit names what Rate counts.
	Unit string
	// PerClients says whether the workload runs at each client count;
	// the others run once per system, at Clients 0.
	PerClients bool
	// MinClients raises the client count (a handoff needs two).
	MinClients int
	// Run measures the workload.
	Run func(ctx context.Context, e *Env) (Result, error)
}

// All lists the workloads in report order.
var All = []Workload{
	{Name: "lock-uncontended", Unit: "cycles/s", PerClients: true, Run: uncontended},
	{Name: "lock-contended", Unit: "handoffs/s", PerClients: true, MinClients: 2, Run: contended},
	{Name: "write", Unit: "writes/s", PerClients: true, Run: writes},
	{Name: "read", Unit: "reads/s", PerClients: true, Run: reads},
	{Name: "config", Unit: "writes/s", PerClients: true, Run: propagation},
	{Name: "election", Unit: "failovers/s", PerClients: true, MinClients: 2, Run: election},
	{Name: "crash-failover", Unit: "failovers", Run: crashLock},
	{Name: "crash-election", Unit: "failovers", Run: crashElection},
	{Name: "memory", Unit: "creates/s", Run: memory},
}

// Find returns the workload named name.
func Find(name string) (Workload, bool) {
	for _, w := range All {
		if w.Name == name {
			return w, true
		}
	}
	return Workload{}, false
}

// dialAll dials n clients, client i on Endpoints[i%len], in parallel.
func dialAll(ctx context.Context, e *Env, n int) ([]system.Client, error) {
	clients := make([]system.Client, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			clients[i], errs[i] = e.Sys.Dial(dctx, e.Endpoints[i%len(e.Endpoints)], e.Dial)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			closeAll(clients)
			return nil, fmt.Errorf("dial client %d: %w", i, err)
		}
	}
	return clients, nil
}

// closeAll closes every client that was dialled.
func closeAll(clients []system.Client) {
	var wg sync.WaitGroup
	for _, c := range clients {
		if c != nil {
			wg.Add(1)
			go func() { defer wg.Done(); _ = c.Close() }()
		}
	}
	wg.Wait()
}

// recorder collects what the window measures. Its methods may be called
// concurrently.
type recorder struct {
	measuring atomic.Bool
	ops, errs atomic.Int64
	mu        sync.Mutex
	lat       []time.Duration
}

// sample records one latency, if the window is open.
func (r *recorder) sample(d time.Duration) {
	if !r.measuring.Load() {
		return
	}
	r.mu.Lock()
	r.lat = append(r.lat, d)
	r.mu.Unlock()
}

// op is one operation of a steady workload, by client i. It returns the
// latency to record, or 0 to record none.
type op func(ctx context.Context, i int, c system.Client, r *recorder) (time.Duration, error)

// steady runs op in a loop on every client: Warmup unmeasured, then
// Window measured (ops, latencies, the servers' CPU time). Operations
// still blocked when the window closes are cancelled.
func steady(ctx context.Context, e *Env, clients []system.Client, latency string, fn op) (Result, error) {
	r := &recorder{}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil {
				d, err := fn(runCtx, i, c, r)
				if runCtx.Err() != nil {
					return
				}
				if !r.measuring.Load() {
					if err != nil {
						time.Sleep(10 * time.Millisecond)
					}
					continue
				}
				if err != nil {
					r.errs.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				r.ops.Add(1)
				if d > 0 {
					r.sample(d)
				}
			}
		}()
	}
	res, err := window(ctx, e, r, latency)
	stop()
	wg.Wait()
	return res, err
}

// window waits out the warm-up, opens r's window for Window and returns
// what it measured.
func window(ctx context.Context, e *Env, r *recorder, latency string) (Result, error) {
	if err := sleep(ctx, e.Warmup); err != nil {
		return Result{}, err
	}
	pids := e.Cluster.Pids()
	cpu0, err := system.CPUSeconds(pids)
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	r.measuring.Store(true)
	if err := sleep(ctx, e.Window); err != nil {
		return Result{}, err
	}
	r.measuring.Store(false)
	secs := time.Since(start).Seconds()
	cpu1, err := system.CPUSeconds(pids)
	if err != nil {
		return Result{}, err
	}
	r.mu.Lock()
	lat := append([]time.Duration(nil), r.lat...)
	r.mu.Unlock()
	res := Result{Ops: r.ops.Load(), Errors: r.errs.Load(), Seconds: secs, Latency: latency}
	res.Rate = float64(res.Ops) / secs
	if res.Ops > 0 {
		res.CPUus = (cpu1 - cpu0) / float64(res.Ops) * 1e6
	}
	res.P50ms, res.P99ms, res.Samples = percentiles(lat)
	res.RSSMB = meanRSS(pids)
	return res, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// meanRSS is the servers' mean RSS in MiB (0 if unreadable).
func meanRSS(pids []int) float64 {
	total, err := system.TotalRSS(pids)
	if err != nil || len(pids) == 0 {
		return 0
	}
	return float64(total) / float64(len(pids)) / (1 << 20)
}
