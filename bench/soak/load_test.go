package soak

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	warden "github.com/warden-dev/warden/clients/go"
)

// The load: every worker is one app (one client, one session) on one of
// the servers, looping on one kind of operation until the context ends.
//
//	kv       create a 100-byte node, set it, delete it (three ops)
//	lock     acquire and release one of two shared locks (one op: the cycle)
//	config   set a config value that the subscribers follow (one op)
//	session  connect, create an ephemeral node, disconnect (one op)
//
// Subscribers follow the config tree from other servers and check that
// every value arrives, in order.

// Worker counts per kind.
const (
	kvWorkers      = 8
	lockWorkers    = 4
	configWorkers  = 1
	sessionWorkers = 1
	subscribers    = 3
)

var payload = make([]byte, 100)

// recorder collects what the workers did in the current window.
type recorder struct {
	mu      sync.Mutex
	ops     map[string]int
	lat     []time.Duration
	events  int
	resyncs int
	errs    []string
}

func newRecorder() *recorder { return &recorder{ops: map[string]int{}} }

func (r *recorder) op(kind string, d time.Duration) {
	r.mu.Lock()
	r.ops[kind]++
	r.lat = append(r.lat, d)
	r.mu.Unlock()
}

func (r *recorder) event(resync bool) {
	r.mu.Lock()
	r.events++
	if resync {
		r.resyncs++
	}
	r.mu.Unlock()
}

func (r *recorder) fail(format string, args ...any) {
	r.mu.Lock()
	if len(r.errs) < 20 {
		r.errs = append(r.errs, fmt.Sprintf(format, args...))
	}
	r.mu.Unlock()
}

// window is what one sampling interval saw.
type window struct {
	Ops      int            `json:"ops"`
	OpsPerS  float64        `json:"ops_per_s"`
	ByKind   map[string]int `json:"by_kind"`
	P50Ms    float64        `json:"p50_ms"`
	P99Ms    float64        `json:"p99_ms"`
	Events   int            `json:"config_events"`
	Resyncs  int            `json:"config_resyncs"`
	Errors   []string       `json:"errors,omitempty"`
	Duration float64        `json:"-"`
}

// take ends the current window (of length d) and starts the next.
func (r *recorder) take(d time.Duration) window {
	r.mu.Lock()
	ops, lat, events, resyncs, errs := r.ops, r.lat, r.events, r.resyncs, r.errs
	r.ops, r.lat, r.events, r.resyncs, r.errs = map[string]int{}, make([]time.Duration, 0, len(lat)), 0, 0, nil
	r.mu.Unlock()
	slices.Sort(lat)
	w := window{ByKind: ops, Events: events, Resyncs: resyncs, Errors: errs, Duration: d.Seconds()}
	for _, n := range ops {
		w.Ops += n
	}
	w.OpsPerS = float64(w.Ops) / d.Seconds()
	if len(lat) > 0 {
		w.P50Ms = ms(lat[len(lat)*50/100])
		w.P99Ms = ms(lat[len(lat)*99/100])
	}
	return w
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// load runs the workers against the agents' sockets until ctx ends and
// returns once every worker has stopped.
func load(ctx context.Context, socks []string, r *recorder) {
	var wg sync.WaitGroup
	n := 0
	spawn := func(f func(ctx context.Context, sock string, id int, r *recorder)) {
		sock, id := socks[n%len(socks)], n
		n++
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(ctx, sock, id, r)
		}()
	}
	for i := 0; i < subscribers; i++ {
		spawn(subscriber)
	}
	for i := 0; i < kvWorkers; i++ {
		spawn(kvWorker)
	}
	for i := 0; i < lockWorkers; i++ {
		spawn(lockWorker)
	}
	for i := 0; i < configWorkers; i++ {
		spawn(configWorker)
	}
	for i := 0; i < sessionWorkers; i++ {
		spawn(sessionWorker)
	}
	wg.Wait()
}

// dial connects an app, or records why it could not.
func dial(ctx context.Context, sock string, r *recorder, name string) *warden.Client {
	c, err := warden.Dial(ctx, warden.Options{Socket: sock, Name: name})
	if err != nil {
		if ctx.Err() == nil {
			r.fail("%s: dial: %v", name, err)
		}
		return nil
	}
	return c
}

// stopped tells an error caused by the end of the run from a real one.
// Past the run's deadline every error is the end's: a dial or a read
// takes its deadline from the run's context and can fail on it before
// the context's own timer has marked the context done.
func stopped(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// timed runs op and records it under kind, or records its error.
func timed(ctx context.Context, r *recorder, kind string, op func() error) bool {
	start := time.Now()
	if err := op(); err != nil {
		if !stopped(ctx, err) {
			r.fail("%s: %v", kind, err)
		}
		return false
	}
	r.op(kind, time.Since(start))
	return true
}

func kvWorker(ctx context.Context, sock string, id int, r *recorder) {
	c := dial(ctx, sock, r, fmt.Sprintf("kv%d", id))
	if c == nil {
		return
	}
	defer c.Close()
	dir := fmt.Sprintf("/soak/kv/w%d", id)
	if _, err := c.Create(ctx, dir, nil, warden.Persistent); err != nil && !errors.Is(err, warden.ErrNodeExists) {
		r.fail("kv: create %s: %v", dir, err)
		return
	}
	for i := 0; ctx.Err() == nil; i++ {
		p := fmt.Sprintf("%s/k%d", dir, i%64)
		_ = timed(ctx, r, "create", func() error { _, err := c.Create(ctx, p, payload, warden.Persistent); return err }) &&
			timed(ctx, r, "set", func() error { _, err := c.Set(ctx, p, payload, warden.AnyVersion); return err }) &&
			timed(ctx, r, "delete", func() error { return c.Delete(ctx, p, warden.AnyVersion) })
	}
}

func lockWorker(ctx context.Context, sock string, id int, r *recorder) {
	c := dial(ctx, sock, r, fmt.Sprintf("lock%d", id))
	if c == nil {
		return
	}
	defer c.Close()
	path := fmt.Sprintf("/soak/locks/l%d", id%2)
	var last uint64
	for ctx.Err() == nil {
		timed(ctx, r, "lock", func() error {
			lease, err := c.Lock(ctx, path)
			if err != nil {
				return err
			}
			if lease.Token <= last {
				r.fail("lock %s: token %d after %d", path, lease.Token, last)
			}
			last = lease.Token
			return lease.Unlock(context.WithoutCancel(ctx))
		})
	}
}

func configWorker(ctx context.Context, sock string, id int, r *recorder) {
	c := dial(ctx, sock, r, fmt.Sprintf("config%d", id))
	if c == nil {
		return
	}
	defer c.Close()
	cfg := c.Config(fmt.Sprintf("/soak/config/c%d", id))
	for i := 0; ctx.Err() == nil; i++ {
		timed(ctx, r, "config", func() error {
			_, err := cfg.Set(ctx, fmt.Appendf(nil, "%d", i), warden.AnyVersion)
			return err
		})
	}
}

func sessionWorker(ctx context.Context, sock string, id int, r *recorder) {
	for i := 0; ctx.Err() == nil; i++ {
		timed(ctx, r, "session", func() error {
			c, err := warden.Dial(ctx, warden.Options{Socket: sock, Name: fmt.Sprintf("session%d", id)})
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Create(ctx, fmt.Sprintf("/soak/eph/s%d-", id), payload, warden.Ephemeral|warden.Sequential)
			return err
		})
	}
}

// subscriber follows the config tree and checks that each config's
// versions arrive one after the other (a resync may jump ahead).
func subscriber(ctx context.Context, sock string, id int, r *recorder) {
	c := dial(ctx, sock, r, fmt.Sprintf("subscriber%d", id))
	if c == nil {
		return
	}
	defer c.Close()
	sub, err := c.Config("/soak/config").SubscribeTree(ctx, 0)
	if err != nil {
		if !stopped(ctx, err) {
			r.fail("subscribe: %v", err)
		}
		return
	}
	versions := map[string]int32{}
	for {
		u, err := sub.Next(ctx)
		if err != nil {
			if !stopped(ctx, err) {
				r.fail("subscription: %v", err)
			}
			return
		}
		if u.Resync {
			if !u.Deleted {
				versions[u.Path] = u.Version
			}
			r.event(true)
			continue
		}
		if last, ok := versions[u.Path]; ok && u.Version != last+1 && !u.Deleted {
			r.fail("subscriber %d: %s went from version %d to %d", id, u.Path, last, u.Version)
		}
		versions[u.Path] = u.Version
		r.event(false)
	}
}
