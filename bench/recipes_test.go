package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// BenchmarkLockHandoff measures contended lock handoff: clients sessions
// all queue on one lock, and each, once granted it, unlocks at once and
// queues again, so the lock always passes from a holder to a waiter that
// has been in line. One handoff is one op; its latency runs from the
// moment the holder's Unlock returned to the moment the next holder's
// Lock returned (p50-µs, p99-µs). The next holder may hear before the old
// one does (its grant and the old holder's reply leave the agent
// together), so a latency can be negative; early-% is the share that
// were. call-p50-µs and call-p99-µs time the handoff from the moment the
// holder called Unlock instead, which is never negative.
//
// Variants: agent,clients=8 against one `warden agent --dev` process;
// against a cluster of three servers, cluster,clients=3 with one client
// on each agent, so that every handoff crosses agents, and
// cluster,clients=9 with three on each, where cross-% says how many
// handoffs crossed agents and cross-call-p50-µs times those. The agents
// are started once, before the timer, and serve every round. About 20 s
// with the default -benchtime:
//
//	go test -run x -bench LockHandoff ./bench/
func BenchmarkLockHandoff(b *testing.B) {
	single := startAgent(b, true)
	c := agenttest.StartCluster(b, 3, 0)
	var servers []string
	for _, p := range c.Servers {
		servers = append(servers, p.Socket)
	}
	round := 0
	for _, v := range []struct {
		name    string
		socks   []string
		clients int
	}{
		{"agent,clients=8", []string{single}, 8},
		{"cluster,clients=3", servers, 3},
		{"cluster,clients=9", servers, 9},
	} {
		b.Run(v.name, func(b *testing.B) {
			round++
			lockHandoffs(b, v.socks, v.clients, fmt.Sprintf("/bench-handoff/%d", round))
		})
	}
}

// release is what a holder passes to the next one: when it called Unlock
// and when Unlock returned.
type release struct {
	called, returned time.Time
	worker           int
	seed             bool // no previous holder
}

// handoffLog is the benchmark's record; only the lock's holder touches it
// (the release channel hands it from one holder to the next).
type handoffLog struct {
	acquisitions     int
	fromRet, fromCal []time.Duration
	crossCal         []time.Duration // fromCal of the handoffs between agents
}

func lockHandoffs(b *testing.B, socks []string, clients int, path string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cs := make([]*warden.Client, clients)
	for w := range cs {
		c, err := warden.Dial(ctx, warden.Options{Socket: socks[w%len(socks)], Name: fmt.Sprintf("handoff-%d", w)})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cs[w] = c
	}
	// The first clients acquisitions fill the line; then every handoff
	// is to a waiter that has been queued behind clients-1 others' turns.
	warmup := clients
	log := &handoffLog{fromRet: make([]time.Duration, 0, b.N), fromCal: make([]time.Duration, 0, b.N)}
	released := make(chan release, 1)
	released <- release{seed: true}
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		runErr  error
	)
	fail := func(err error) { errOnce.Do(func() { runErr = err; cancel() }) }
	b.ResetTimer()
	for w, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lease, err := c.Lock(ctx, path)
				if err != nil {
					if ctx.Err() == nil {
						fail(fmt.Errorf("lock: %w", err))
					}
					return
				}
				got := time.Now()
				prev := <-released
				log.acquisitions++
				done := len(log.fromRet) >= b.N
				if !prev.seed && !done && log.acquisitions > warmup {
					log.fromRet = append(log.fromRet, got.Sub(prev.returned))
					log.fromCal = append(log.fromCal, got.Sub(prev.called))
					if prev.worker%len(socks) != w%len(socks) {
						log.crossCal = append(log.crossCal, got.Sub(prev.called))
					}
					done = len(log.fromRet) >= b.N
				}
				if done {
					b.StopTimer()
					cancel() // the others stop waiting
				}
				uctx, ucancel := context.WithTimeout(context.Background(), 10*time.Second)
				r := release{called: time.Now(), worker: w}
				err = lease.Unlock(uctx)
				r.returned = time.Now()
				ucancel()
				released <- r
				if err != nil {
					fail(fmt.Errorf("unlock: %w", err))
					return
				}
				if done {
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if runErr != nil {
		b.Fatal(runErr)
	}
	if len(log.fromRet) < b.N {
		b.Fatalf("%d handoffs, want %d", len(log.fromRet), b.N)
	}
	early := 0
	for _, d := range log.fromRet {
		if d < 0 {
			early++
		}
	}
	slices.Sort(log.fromRet)
	slices.Sort(log.fromCal)
	b.ReportMetric(us(pct(log.fromRet, 50)), "p50-µs")
	b.ReportMetric(us(pct(log.fromRet, 99)), "p99-µs")
	b.ReportMetric(100*float64(early)/float64(b.N), "early-%")
	b.ReportMetric(us(pct(log.fromCal, 50)), "call-p50-µs")
	b.ReportMetric(us(pct(log.fromCal, 99)), "call-p99-µs")
	if len(socks) > 1 && len(log.crossCal) > 0 {
		slices.Sort(log.crossCal)
		b.ReportMetric(100*float64(len(log.crossCal))/float64(b.N), "cross-%")
		b.ReportMetric(us(pct(log.crossCal, 50)), "cross-call-p50-µs")
	}
}

// BenchmarkConfigPropagation measures how long a config update takes to
// reach its subscribers: 16 subscribers, spread round-robin over the
// three agents of a cluster of three servers, follow one node through
// Config.Subscribe; a writer sets it, waits until every subscriber has
// seen the update, and sets it again. One update is one op. With
// writer=follower the writer is on a follower's agent (which forwards the
// write to the leader); with writer=leader it is on the Raft leader's
// agent, which commits the write itself and must then tell the followers.
// Latency runs from just before Set is called to the moment a
// subscriber's Next returned the update; p50-µs, p99-µs and max-µs are
// over every (subscriber, update) pair, leader-p50-µs over the
// subscribers on the Raft leader's agent, follower-p50-µs over those on
// the two followers; set-p50-µs is how long Set took to return.
// ack-p50-µs, ack-p99-µs and ack-max-µs are over the updates: how long
// after Set returned (the writer's ack) the last subscriber, on whichever
// agent, had the update (0 when every one had it first). Every subscriber
// must see every version once, in order. The cluster starts once, before
// the timer. About 30 s with the default -benchtime:
//
//	go test -run x -bench ConfigPropagation ./bench/
func BenchmarkConfigPropagation(b *testing.B) {
	c := agenttest.StartCluster(b, 3, 0)
	leader := c.Leader()
	var agents []*agenttest.Proc // the followers, then the leader
	for _, p := range c.Servers {
		if p != leader {
			agents = append(agents, p)
		}
	}
	agents = append(agents, leader)
	round := 0
	for _, v := range []struct {
		name   string
		writer *agenttest.Proc
	}{
		{"writer=follower,subscribers=16", agents[0]},
		{"writer=leader,subscribers=16", leader},
	} {
		b.Run(v.name, func(b *testing.B) {
			round++
			if c.Leader() != leader {
				b.Fatalf("the Raft leader moved from %s", leader.Name)
			}
			configPropagation(b, agents, v.writer, 16, fmt.Sprintf("/bench-config/%d", round))
		})
	}
}

// receipt is one subscriber's sighting of one update.
type receipt struct {
	sub     int
	version int32
	at      time.Time
	err     error
}

// configPropagation runs the benchmark with the writer on writer's agent
// and the leader as the last of agents.
func configPropagation(b *testing.B, agents []*agenttest.Proc, writer *agenttest.Proc, subscribers int, path string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dial := func(p *agenttest.Proc, name string) *warden.Client {
		c, err := warden.Dial(ctx, warden.Options{Socket: p.Socket, Name: name})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	cfg := dial(writer, "config-writer").Config(path)
	if _, err := cfg.Set(ctx, []byte("0"), warden.ConfigAbsent); err != nil {
		b.Fatal(err)
	}
	got := make(chan receipt, subscribers)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for s := 0; s < subscribers; s++ {
		c := dial(agents[s%len(agents)], fmt.Sprintf("config-sub-%d", s))
		if _, err := c.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		sub, err := c.Config(path).Subscribe(ctx, 0)
		if err != nil {
			b.Fatal(err)
		}
		if u, err := sub.Next(ctx); err != nil || !u.Resync || u.Version != 0 {
			b.Fatalf("subscriber %d: first update %+v, %v", s, u, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				u, err := sub.Next(ctx)
				if ctx.Err() != nil {
					return
				}
				select {
				case got <- receipt{sub: s, version: u.Version, at: time.Now(), err: err}:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		}()
	}

	all := make([]time.Duration, 0, b.N*subscribers)
	var onLeader, onFollower, sets, fromAck []time.Duration
	value := make([]byte, 100)
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		copy(value, fmt.Sprintf("update %d", i))
		t0 := time.Now()
		v, err := cfg.Set(ctx, value, int32(i-1))
		if err != nil {
			b.Fatalf("set version %d: %v", i, err)
		}
		acked := time.Now()
		sets = append(sets, acked.Sub(t0))
		var last time.Duration // the last subscriber's, after the ack
		for n := 0; n < subscribers; n++ {
			r := <-got
			if r.err != nil || r.version != v {
				b.Fatalf("subscriber %d: got version %d (%v), want %d", r.sub, r.version, r.err, v)
			}
			d := r.at.Sub(t0)
			all = append(all, d)
			last = max(last, r.at.Sub(acked))
			if r.sub%len(agents) == len(agents)-1 {
				onLeader = append(onLeader, d)
			} else {
				onFollower = append(onFollower, d)
			}
		}
		fromAck = append(fromAck, last)
	}
	b.StopTimer()
	for _, ds := range [][]time.Duration{all, onLeader, onFollower, sets, fromAck} {
		slices.Sort(ds)
	}
	b.ReportMetric(us(pct(all, 50)), "p50-µs")
	b.ReportMetric(us(pct(all, 99)), "p99-µs")
	b.ReportMetric(us(all[len(all)-1]), "max-µs")
	b.ReportMetric(us(pct(onLeader, 50)), "leader-p50-µs")
	b.ReportMetric(us(pct(onFollower, 50)), "follower-p50-µs")
	b.ReportMetric(us(pct(sets, 50)), "set-p50-µs")
	b.ReportMetric(us(pct(fromAck, 50)), "ack-p50-µs")
	b.ReportMetric(us(pct(fromAck, 99)), "ack-p99-µs")
	b.ReportMetric(us(fromAck[len(fromAck)-1]), "ack-max-µs")
}

// pct is the p-th percentile of sorted durations.
func pct(sorted []time.Duration, p int) time.Duration {
	return sorted[(len(sorted)-1)*p/100]
}
