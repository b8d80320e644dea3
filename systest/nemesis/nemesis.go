package main

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"syscall"
	"time"
)

// faultKinds are what the nemesis can do; -faults picks among them.
var faultKinds = []string{"kill", "kill-leader", "pause", "pause-holder", "partition-one", "partition-minority", "clock-jump"}

// nemesis acts every few seconds at random on the cluster, one fault at a
// time, and records each fault with its times.
type nemesis struct {
	h        *history
	agents   []*agent
	w        *workload
	kinds    []string
	interval time.Duration
	r        *rand.Rand
	logf     func(format string, args ...any)
	err      error // the first failure of the nemesis itself (not of the cluster)
}

// run acts until ctx ends; every fault is undone before it returns.
func (n *nemesis) run(ctx context.Context) {
	for {
		pause(ctx, n.r, n.interval)
		if ctx.Err() != nil {
			return
		}
		kind := n.kinds[n.r.Intn(len(n.kinds))]
		f := fault{Kind: kind, Start: n.h.now()}
		err := n.act(ctx, &f)
		f.End = n.h.now()
		if err != nil {
			f.Note = err.Error()
			if n.err == nil && !strings.HasPrefix(err.Error(), "skip") {
				n.err = fmt.Errorf("%s: %w", kind, err)
			}
		}
		n.h.addFault(f)
		n.logf("fault %-18s %-28s %5.1fs  %s", f.Kind, strings.Join(f.Targets, ","), float64(f.End-f.Start)/1e9, f.Note)
		if n.err != nil {
			return
		}
	}
}

// hold waits d (or until ctx ends: the fault is undone at once then).
func hold(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (n *nemesis) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(n.r.Int63n(int64(hi-lo)))
}

func (n *nemesis) act(ctx context.Context, f *fault) error {
	switch f.Kind {
	case "kill", "kill-leader":
		a := n.agents[n.r.Intn(len(n.agents))]
		if f.Kind == "kill-leader" {
			if a = n.leader(); a == nil {
				return fmt.Errorf("skip: no leader the agents agree on")
			}
		}
		f.Targets = []string{a.Name}
		a.kill()
		hold(ctx, n.between(200*time.Millisecond, 2*time.Second))
		return a.start()
	case "clock-jump":
		// An agent restarts with its monotonic clock far from where it
		// was: anything it kept or compared across runs in that clock
		// would now be wrong by up to a day either way.
		a := n.agents[n.r.Intn(len(n.agents))]
		f.Targets = []string{a.Name}
		a.kill()
		before := a.clockOffset
		a.clockOffset = max(0, a.clockOffset+n.r.Intn(2*86400)-86400)
		f.Note = fmt.Sprintf("monotonic clock %+ds", a.clockOffset-before)
		return a.start()
	case "pause", "pause-holder":
		a, d := n.agents[n.r.Intn(len(n.agents))], n.between(time.Second, 4*time.Second)
		if f.Kind == "pause-holder" {
			// The lock holder's agent, for longer than its session's
			// timeout plus the lock-delay: the lock passes on while the
			// holder, unaware, goes on writing.
			if a = n.w.holder.Load(); a == nil {
				return fmt.Errorf("skip: nobody holds the lock")
			}
			d = n.between(3500*time.Millisecond, 5*time.Second)
		}
		f.Targets = []string{a.Name}
		if err := a.signal(syscall.SIGSTOP); err != nil {
			return err
		}
		hold(ctx, d)
		return a.signal(syscall.SIGCONT)
	case "partition-one", "partition-minority":
		size := 1
		if f.Kind == "partition-minority" {
			size = (len(n.agents) - 1) / 2
		}
		perm := n.r.Perm(len(n.agents))
		var side, rest []*agent
		for i, j := range perm {
			if i < size {
				side = append(side, n.agents[j])
			} else {
				rest = append(rest, n.agents[j])
			}
		}
		for _, a := range side {
			f.Targets = append(f.Targets, a.Name)
		}
		sort.Strings(f.Targets)
		ok, err := partition(side, rest)
		f.Verified = ok
		if err != nil {
			_ = heal()
			return err
		}
		hold(ctx, n.between(2*time.Second, 6*time.Second))
		return heal()
	}
	return fmt.Errorf("unknown fault %q", f.Kind)
}

// partition cuts every agent of side from every agent of rest, then
// checks that traffic is blocked: it reports whether every pair whose far
// end was up was seen blocked (a pair with both ends down cannot be
// checked).
func partition(side, rest []*agent) (bool, error) {
	checked := 0
	for _, a := range side {
		for _, b := range rest {
			if err := cut(a.IP, b.IP); err != nil {
				return false, err
			}
		}
	}
	for _, a := range side {
		for _, b := range rest {
			for _, dir := range [][2]*agent{{a, b}, {b, a}} {
				ok, err := blocked(dir[0].IP, dir[1].IP)
				if err != nil {
					continue // the far end is down: no proof either way
				}
				if !ok {
					return false, fmt.Errorf("%s still reaches %s after the cut", dir[0].Name, dir[1].Name)
				}
				checked++
			}
		}
	}
	return checked > 0, nil
}

// leader is the agent that leads, if the running agents agree on one.
func (n *nemesis) leader() *agent {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var name string
	for _, a := range n.agents {
		if !a.running() {
			continue
		}
		st, err := a.status(ctx)
		if err != nil || st.Leader == "" || (name != "" && st.Leader != name) {
			return nil
		}
		name = st.Leader
	}
	for _, a := range n.agents {
		if a.Name == name {
			return a
		}
	}
	return nil
}
