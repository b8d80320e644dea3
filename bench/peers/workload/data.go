package workload

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warden-dev/warden/bench/peers/system"
)

// value is the 16-byte value raw writes set.
var value = []byte("0123456789abcdef")

// writes: each client sets its own key to a small value.
func writes(ctx context.Context, e *Env) (Result, error) {
	clients, err := dialAll(ctx, e, e.Clients)
	if err != nil {
		return Result{}, err
	}
	defer closeAll(clients)
	for i, c := range clients {
		if err := c.Put(ctx, fmt.Sprintf("/bench/w/k%d", i), value); err != nil {
			return Result{}, err
		}
	}
	return steady(ctx, e, clients, "write", func(ctx context.Context, i int, c system.Client, _ *recorder) (time.Duration, error) {
		t0 := time.Now()
		if err := c.Put(ctx, fmt.Sprintf("/bench/w/k%d", i), value); err != nil {
			return 0, err
		}
		return time.Since(t0), nil
	})
}

// reads: every client reads one key, each system's usual way (Warden
// and ZooKeeper: the server the client talks to answers from its
// replica; etcd: a linearizable read unless -etcd-serializable).
func reads(ctx context.Context, e *Env) (Result, error) {
	clients, err := dialAll(ctx, e, e.Clients)
	if err != nil {
		return Result{}, err
	}
	defer closeAll(clients)
	if err := clients[0].Put(ctx, "/bench/r", value); err != nil {
		return Result{}, err
	}
	// Every client sees the value before the clock starts.
	for i, c := range clients {
		err := system.Poll(ctx, fmt.Sprintf("client %d reads the value", i), func() error {
			_, err := c.Get(ctx, "/bench/r")
			return err
		})
		if err != nil {
			return Result{}, err
		}
	}
	return steady(ctx, e, clients, "read", func(ctx context.Context, _ int, c system.Client, _ *recorder) (time.Duration, error) {
		t0 := time.Now()
		if _, err := c.Get(ctx, "/bench/r"); err != nil {
			return 0, err
		}
		return time.Since(t0), nil
	})
}

// subscriber is what one config subscriber has seen: for each value the
// writer wrote, when the subscriber first held it or a later one, and
// whether it saw that value itself.
type subscriber struct {
	mu   sync.Mutex
	high int64       // highest value held
	held []time.Time // held[k]: when a value >= k was first held
	saw  []bool      // saw[k]: value k itself arrived
}

func (s *subscriber) got(v []byte) {
	k, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return // the initial empty value
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for int64(len(s.held)) <= k {
		s.held = append(s.held, time.Time{})
		s.saw = append(s.saw, false)
	}
	s.saw[k] = true
	for j := s.high + 1; j <= k; j++ {
		s.held[j] = now
	}
	s.high = max(s.high, k)
}

// propagation: one writer sets a config value every ConfigInterval; the
// other Clients subscribe to it. The latency of a write is from the
// writer's ack to the moment every subscriber holds it (or a later
// value); Missed counts values a subscriber never saw itself.
func propagation(ctx context.Context, e *Env) (Result, error) {
	clients, err := dialAll(ctx, e, e.Clients+1)
	if err != nil {
		return Result{}, err
	}
	defer closeAll(clients)
	writer, subscribers := clients[e.Clients], clients[:e.Clients]
	const key = "/bench/config"
	if err := writer.Put(ctx, key, []byte("0")); err != nil {
		return Result{}, err
	}
	subCtx, stopSubs := context.WithCancel(ctx)
	defer stopSubs()
	subs := make([]*subscriber, len(subscribers))
	for i, c := range subscribers {
		subs[i] = &subscriber{held: []time.Time{{}}, saw: []bool{true}}
		if err := c.Subscribe(subCtx, key, subs[i].got); err != nil {
			return Result{}, fmt.Errorf("subscriber %d: %w", i, err)
		}
	}

	var (
		mu       sync.Mutex
		acks     = []time.Time{{}} // acks[k]: when the write of k was acknowledged
		first    atomic.Int64      // first value written in the window
		last     atomic.Int64      // last value acknowledged
		writeErr atomic.Int64
	)
	r := &recorder{}
	wctx, stopWriter := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(max(e.ConfigInterval, time.Microsecond))
		defer tick.Stop()
		for k := int64(1); wctx.Err() == nil; k++ {
			measuring := r.measuring.Load()
			if measuring && first.Load() == 0 {
				first.Store(k)
			}
			err := writer.Put(wctx, key, []byte(strconv.FormatInt(k, 10)))
			now := time.Now()
			if err != nil {
				if wctx.Err() != nil {
					return
				}
				if measuring {
					writeErr.Add(1)
				}
			}
			mu.Lock()
			acks = append(acks, now)
			mu.Unlock()
			if measuring {
				last.Store(k)
				if err == nil {
					r.ops.Add(1)
				}
			}
			select {
			case <-tick.C:
			case <-wctx.Done():
				return
			}
		}
	}()
	res, err := window(ctx, e, r, "ack-to-all-subscribers")
	stopWriter()
	<-done
	if err != nil {
		return Result{}, err
	}
	lo, hi := first.Load(), last.Load()
	// Give the subscribers a moment to catch up with the window's writes.
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = system.Poll(cctx, "subscribers catch up", func() error {
		for i, s := range subs {
			s.mu.Lock()
			h := s.high
			s.mu.Unlock()
			if h < hi {
				return fmt.Errorf("subscriber %d at %d of %d", i, h, hi)
			}
		}
		return nil
	})
	stopSubs()
	var lat []time.Duration
	for k := lo; lo > 0 && k <= hi; k++ {
		var all time.Time
		late := false
		for _, s := range subs {
			s.mu.Lock()
			if k < int64(len(s.held)) && !s.held[k].IsZero() {
				all = later(all, s.held[k])
				if !s.saw[k] {
					res.Missed++
				}
			} else {
				late = true
			}
			s.mu.Unlock()
		}
		if late {
			res.Late++
			continue
		}
		mu.Lock()
		ack := acks[k]
		mu.Unlock()
		lat = append(lat, max(all.Sub(ack), 0))
	}
	res.Errors = writeErr.Load()
	res.P50ms, res.P99ms, res.Samples = percentiles(lat)
	return res, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
