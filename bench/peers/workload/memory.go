package workload

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warden-dev/warden/bench/peers/system"
)

// memoryValue is the 100-byte value of each node the memory workload
// creates.
var memoryValue = []byte(fmt.Sprintf("%0100d", 0))

// memoryClients is how many clients create the memory workload's nodes.
const memoryClients = 16

// memory: the servers' RSS after creating Znodes nodes of 100 bytes,
// minus their RSS before, per node (the mean over the servers). The
// JVM's heap and Go's garbage collector both keep memory they no longer
// need, so this is rough: see docs/bench-peers.md.
func memory(ctx context.Context, e *Env) (Result, error) {
	clients, err := dialAll(ctx, e, memoryClients)
	if err != nil {
		return Result{}, err
	}
	defer closeAll(clients)
	if err := clients[0].Put(ctx, "/bench/mem", nil); err != nil {
		return Result{}, err
	}
	pids := e.Cluster.Pids()
	// Let the servers settle after start before the baseline.
	if err := sleep(ctx, 2*time.Second); err != nil {
		return Result{}, err
	}
	before, err := system.TotalRSS(pids)
	if err != nil {
		return Result{}, err
	}
	cpu0, err := system.CPUSeconds(pids)
	if err != nil {
		return Result{}, err
	}
	var next, errs atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				n := next.Add(1)
				if n > int64(e.Znodes) {
					return
				}
				if err := c.Create(ctx, fmt.Sprintf("/bench/mem/n%08d", n), memoryValue); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if n := errs.Load(); n > 0 {
		return Result{}, fmt.Errorf("%d creates failed, first: %v", n, firstErr.Load())
	}
	cpu1, err := system.CPUSeconds(pids)
	if err != nil {
		return Result{}, err
	}
	// Followers apply a moment after the leader acks.
	if err := sleep(ctx, 2*time.Second); err != nil {
		return Result{}, err
	}
	after, err := system.TotalRSS(pids)
	if err != nil {
		return Result{}, err
	}
	res := Result{Ops: int64(e.Znodes), Seconds: secs, Rate: float64(e.Znodes) / secs, Latency: "none"}
	res.CPUus = (cpu1 - cpu0) / float64(e.Znodes) * 1e6
	res.RSSMB = float64(after) / float64(len(pids)) / (1 << 20)
	res.BytesPerZnode = float64(after-before) / float64(len(pids)) / float64(e.Znodes)
	return res, nil
}
