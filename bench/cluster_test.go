package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// The cluster benchmarks run real `warden agent` processes on loopback
// addresses (agenttest.StartCluster, the agents' default timings), a fresh
// cluster for every run, started before the timer.

// BenchmarkClusterCreate measures creates of persistent 100-byte nodes,
// each at a new path, in a cluster of three servers. Clients are spread
// round-robin over the servers' sockets, followers first: a single client
// talks to a follower, which forwards every write to the leader and
// answers once it has applied the entry itself. clients=1,leader puts the
// single client on the leader instead, which tells forwarding apart from
// replication, and clients=16,leader puts all 16 there.
func BenchmarkClusterCreate(b *testing.B) {
	for _, v := range []struct {
		name     string
		clients  int
		toLeader bool
	}{
		{"clients=1", 1, false},
		{"clients=1,leader", 1, true},
		{"clients=16", 16, false},
		{"clients=16,leader", 16, true},
		{"clients=64", 64, false},
	} {
		b.Run(v.name, func(b *testing.B) {
			c := agenttest.StartCluster(b, 3, 0)
			leader := c.Leader()
			var socks []string
			for _, p := range c.Servers {
				if p != leader {
					socks = append(socks, p.Socket)
				}
			}
			socks = append(socks, leader.Socket)
			if v.toLeader {
				socks = []string{leader.Socket}
			}
			measure(b, socks, v.clients, "ops/s", createSetup, createOp)
		})
	}
}

// BenchmarkClusterLockCycleViaReplica measures Lock+Unlock cycles through
// a replica (a non-voter) of a cluster of three servers: every client
// talks to the replica, which forwards each write to the leader and
// answers once it has applied the entry. The variants are those of
// BenchmarkLockCycle.
func BenchmarkClusterLockCycleViaReplica(b *testing.B) {
	for _, v := range []struct {
		name    string
		clients int
		shared  bool
	}{
		{"clients=1", 1, true},
		{"clients=16", 16, true},
		{"clients=16,paths=16", 16, false},
	} {
		b.Run(v.name, func(b *testing.B) {
			c := agenttest.StartCluster(b, 3, 1)
			measure(b, []string{c.Replicas[0].Socket}, v.clients, "cycles/s", nil, lockCycle(v.shared))
		})
	}
}

// BenchmarkLeaderFailover measures, in each iteration, how long a cluster
// of three servers and a replica takes from SIGKILL of its leader to the
// first write the new leader acknowledges, as a client of the replica
// sees it. The client writes continuously (sequential creates, retried on
// error) from before the kill, so the time is that of the first ack after
// it; an ack counts once the replica has heard of a term after the killed
// leader's, so a write the old leader committed just before it died does
// not. Each iteration starts a fresh cluster (untimed), so a few
// iterations take a while: run it with -benchtime 5x.
//
// ns/op and failover-ms are the mean; p50-ms and max-ms are across the
// iterations; elect-ms is the mean time until the replica knew the new
// leader.
func BenchmarkLeaderFailover(b *testing.B) {
	b.StopTimer()
	var acks, elects []time.Duration
	for i := 0; i < b.N; i++ {
		ack, elect := failoverOnce(b, i)
		acks = append(acks, ack)
		elects = append(elects, elect)
	}
	slices.Sort(acks)
	b.ReportMetric(ms(mean(acks)), "failover-ms")
	b.ReportMetric(ms(acks[(len(acks)-1)*50/100]), "p50-ms")
	b.ReportMetric(ms(acks[len(acks)-1]), "max-ms")
	b.ReportMetric(ms(mean(elects)), "elect-ms")
}

// failoverOnce starts a cluster, keeps a writer busy through the replica,
// kills the leader, and returns how long after the kill the first write
// was acknowledged in a later term, and when the replica first knew the
// new leader. It times the kill-to-ack interval on b's timer and stops
// every agent before it returns.
func failoverOnce(b *testing.B, iter int) (ack, elect time.Duration) {
	c := agenttest.StartCluster(b, 3, 1)
	defer func() {
		for _, p := range c.All() {
			p.Kill()
		}
	}()
	replica := c.Replicas[0]
	leader := c.Leader()
	cl := replica.Dial(b, warden.Options{Name: "failover-writer"})
	defer cl.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := cl.Create(ctx, "/failover", nil, warden.Persistent); err != nil {
		b.Fatal(err)
	}
	st, err := cl.Status(ctx)
	if err != nil {
		b.Fatal(err)
	}
	term0 := st.Term

	var (
		writes, errs atomic.Int64
		lastErr      atomic.Value
		killed       = make(chan struct{})
		acked        = make(chan time.Time, 1)
		wg           sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			path := fmt.Sprintf("/failover/n%010d", i)
			if _, err := cl.Create(ctx, path, createData, warden.Persistent); err != nil {
				if ctx.Err() != nil {
					return
				}
				errs.Add(1)
				lastErr.Store(err.Error())
				if errors.Is(err, warden.ErrClosed) {
					b.Errorf("writer: %v", err)
					return
				}
				time.Sleep(time.Millisecond)
				continue
			}
			at := time.Now()
			writes.Add(1)
			select {
			case <-killed:
			default:
				continue
			}
			// Acknowledged after the kill: by the new leader once the
			// replica has heard of a later term.
			if st, err := cl.Status(ctx); err == nil && st.Term > term0 {
				acked <- at
				return
			}
		}
	}()
	defer wg.Wait()
	defer cancel()
	agenttest.Eventually(b, 10*time.Second, "writes through the replica", func() bool { return writes.Load() >= 20 })

	before := writes.Load()
	b.StartTimer()
	killedAt := time.Now()
	close(killed)
	leader.Kill()
	timeout := time.After(30 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case at := <-acked:
			b.StopTimer()
			ack = at.Sub(killedAt)
			if elect == 0 {
				elect = ack
			}
			if b.N > 1 || testing.Verbose() {
				msg, _ := lastErr.Load().(string)
				b.Logf("iteration %d: killed leader %s (term %d); replica knew a new leader after %v, first write acked after %v; %d writes before the kill, %d failed writes (last: %q)",
					iter, leader.Name, term0, elect.Round(time.Millisecond), ack.Round(time.Millisecond), before, errs.Load(), msg)
			}
			return ack, elect
		case <-tick.C:
			if elect == 0 {
				if st, err := cl.Status(ctx); err == nil && st.Term > term0 && st.Leader != "" && st.Leader != leader.Name {
					elect = time.Since(killedAt)
				}
			}
		case <-timeout:
			msg, _ := lastErr.Load().(string)
			b.Fatalf("no write acknowledged within 30s of killing leader %s (%d failed writes, last: %q)", leader.Name, errs.Load(), msg)
		}
	}
}

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
