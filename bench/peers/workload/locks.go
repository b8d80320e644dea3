package workload

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/warden-dev/warden/bench/peers/system"
)

// uncontended: each client cycles its own lock (acquire, release); the
// latency is one cycle.
func uncontended(ctx context.Context, e *Env) (Result, error) {
	clients, err := dialAll(ctx, e, e.Clients)
	if err != nil {
		return Result{}, err
	}
	defer closeAll(clients)
	return steady(ctx, e, clients, "cycle", func(ctx context.Context, i int, c system.Client, _ *recorder) (time.Duration, error) {
		t0 := time.Now()
		u, err := c.Lock(ctx, fmt.Sprintf("/bench/locks/l%d", i))
		if err != nil {
			return 0, err
		}
		if err := u.Unlock(ctx); err != nil {
			return 0, err
		}
		return time.Since(t0), nil
	})
}

// handoffs times the gap between one holder starting to give something
// up (a lock, a leadership) and the next one getting it, among clients
// taking turns.
type handoffs struct {
	mu       sync.Mutex
	released time.Time
	by       int
}

// granted records a grant to client i and returns the handoff time, or 0
// when i itself had released last (nobody was waiting).
func (h *handoffs) granted(i int) time.Duration {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released.IsZero() || h.by == i {
		return 0
	}
	return now.Sub(h.released)
}

// releasing records that client i is about to release.
func (h *handoffs) releasing(i int) {
	h.mu.Lock()
	h.released, h.by = time.Now(), i
	h.mu.Unlock()
}

// turns is the steady op of a contended lock or election: take it,
// record the handoff, give it up.
// A grant while another client holds counts as an error: the recipe is
// broken and its figures mean nothing.
func turns(take func(ctx context.Context, i int, c system.Client) (system.Unlocker, error)) op {
	h := &handoffs{by: -1}
	var holders atomic.Int32
	return func(ctx context.Context, i int, c system.Client, _ *recorder) (time.Duration, error) {
		u, err := take(ctx, i, c)
		if err != nil {
			return 0, err
		}
		overlap := holders.Add(1) > 1
		d := h.granted(i)
		h.releasing(i)
		holders.Add(-1)
		uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = u.Unlock(uctx)
		if overlap {
			return 0, errOverlap
		}
		return d, err
	}
}

// errOverlap is a grant while another client held the same lock or
// leadership.
var errOverlap = errors.New("granted while another client held it")

// contended: every client queues for one lock; the latency is the
// handoff from one holder's release to the next holder's grant.
func contended(ctx context.Context, e *Env) (Result, error) {
	clients, err := dialAll(ctx, e, e.Clients)
	if err != nil {
		return Result{}, err
	}
	defer closeAll(clients)
	return steady(ctx, e, clients, "handoff", turns(func(ctx context.Context, _ int, c system.Client) (system.Unlocker, error) {
		return c.Lock(ctx, "/bench/contended")
	}))
}

// election: every client campaigns; each leader resigns at once. The
// latency is from the leader's resign to the next leader knowing it leads.
func election(ctx context.Context, e *Env) (Result, error) {
	clients, err := dialAll(ctx, e, e.Clients)
	if err != nil {
		return Result{}, err
	}
	defer closeAll(clients)
	return steady(ctx, e, clients, "resign-to-leader", turns(func(ctx context.Context, i int, c system.Client) (system.Unlocker, error) {
		return c.Campaign(ctx, "/bench/election", fmt.Appendf(nil, "candidate-%d", i))
	}))
}

// crashLock: a separate process holds a lock and is killed with SIGKILL
// while a client here waits for it; the latency is from the kill to the
// waiter's grant. The peers' sessions must time out first.
func crashLock(ctx context.Context, e *Env) (Result, error) {
	return crash(ctx, e, false)
}

// crashElection is crashLock for an election: the killed process leads,
// and the latency runs to the waiting candidate's election.
func crashElection(ctx context.Context, e *Env) (Result, error) {
	return crash(ctx, e, true)
}

// crash runs Iterations holder processes, killing each.
func crash(ctx context.Context, e *Env, elect bool) (Result, error) {
	if e.Holder == nil {
		return Result{}, fmt.Errorf("crash failover needs a holder process")
	}
	iters := max(e.Iterations, 1)
	waiter, err := dialAll(ctx, &Env{Sys: e.Sys, Endpoints: e.Endpoints[1%len(e.Endpoints):], Dial: e.Dial}, 1)
	if err != nil {
		return Result{}, err
	}
	defer closeAll(waiter)
	var lat []time.Duration
	start := time.Now()
	for it := 0; it < iters; it++ {
		d, err := crashOnce(ctx, e, waiter[0], elect)
		if err != nil {
			return Result{}, fmt.Errorf("iteration %d: %w", it, err)
		}
		e.Logf("  crash failover %d: %v", it, d.Round(time.Millisecond))
		lat = append(lat, d)
	}
	res := Result{Ops: int64(len(lat)), Seconds: time.Since(start).Seconds(), Latency: "kill-to-grant"}
	res.P50ms, res.P99ms, res.Samples = percentiles(lat)
	res.RSSMB = meanRSS(e.Cluster.Pids())
	return res, nil
}

// crashOnce runs one holder process, kills it and times the handoff.
func crashOnce(ctx context.Context, e *Env, waiter system.Client, elect bool) (time.Duration, error) {
	key := "/bench/crash"
	cmd := e.Holder(e.Endpoints[0], key, elect)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan struct{})
	held := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		held <- line
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
		close(exited)
	}()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	select {
	case line := <-held:
		if line != "held\n" {
			select {
			case <-exited: // its stderr is complete
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
			return 0, fmt.Errorf("holder process: %q instead of held: %s", line, strings.TrimSpace(stderr.String()))
		}
	case <-time.After(60 * time.Second):
		return 0, fmt.Errorf("holder process did not take the lock or lead within 60s")
	}

	wctx, cancel := context.WithTimeout(ctx, 3*timeoutOf(e)+60*time.Second)
	defer cancel()
	type grant struct {
		at  time.Time
		u   system.Unlocker
		err error
	}
	got := make(chan grant, 1)
	go func() {
		var u system.Unlocker
		var err error
		if elect {
			u, err = waiter.Campaign(wctx, key, []byte("waiter"))
		} else {
			u, err = waiter.Lock(wctx, key)
		}
		got <- grant{time.Now(), u, err}
	}()
	// Let the waiter queue up behind the holder before the kill.
	if err := sleep(ctx, 500*time.Millisecond); err != nil {
		return 0, err
	}
	select {
	case g := <-got:
		return 0, fmt.Errorf("waiter was granted while the holder lived (%v)", g.err)
	default:
	}
	killed := time.Now()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	g := <-got
	if g.err != nil {
		return 0, fmt.Errorf("waiter after the kill: %w", g.err)
	}
	uctx, ucancel := context.WithTimeout(ctx, 10*time.Second)
	defer ucancel()
	if err := g.u.Unlock(uctx); err != nil {
		return 0, fmt.Errorf("waiter's unlock: %w", err)
	}
	return g.at.Sub(killed), nil
}

// timeoutOf is the peers' session timeout in effect.
func timeoutOf(e *Env) time.Duration {
	if e.Dial.SessionTimeout > 0 {
		return e.Dial.SessionTimeout
	}
	return 10 * time.Second
}
