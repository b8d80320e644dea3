package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/warden-dev/warden/fsm"
)

// TestCommitNoticesReachFollowers: in a cluster of three servers and a
// replica whose Raft would tell followers of a commit only a minute after
// it (CommitTimeout) unless another entry followed, every agent applies
// a write of the leader's own within seconds, a write forwarded by the
// replica returns within seconds (the replica answers once it has applied
// it), a burst of writes costs far fewer notices than writes, and after a
// change of leader the new leader's writes reach every agent too. No
// follower warns of a notice for an entry it does not hold.
func TestCommitNoticesReachFollowers(t *testing.T) {
	const commitTimeout = time.Minute
	logs := make(map[string]*lockedBuffer)
	tune := func(name string, f func(*Config)) func(*Config) {
		logs[name] = new(lockedBuffer)
		return func(c *Config) {
			c.CommitTimeout = commitTimeout
			c.Logger = hclog.New(&hclog.LoggerOptions{Name: name, Output: logs[name], Level: hclog.Warn})
			f(c)
		}
	}
	s1 := startTestNode(t, "s1", tune("s1", func(c *Config) { c.Server, c.Bootstrap = true, true }))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s1.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	nodes := []*Node{s1}
	for _, name := range []string{"s2", "s3", "r1"} {
		n := startTestNode(t, name, tune(name, func(c *Config) {
			c.Server = name != "r1"
			c.Join = []string{s1.SerfAddr()}
		}))
		nodes = append(nodes, n)
	}
	waitFor(t, time.Minute, "two more voters and a non-voter", func() bool {
		voters, nonvoters := 0, 0
		for _, s := range s1.raftServers() {
			if s.Suffrage == raft.Voter {
				voters++
			} else {
				nonvoters++
			}
		}
		return voters == 3 && nonvoters == 1
	})
	for _, n := range nodes[1:] {
		if err := n.WaitReady(ctx); err != nil {
			t.Fatalf("%s: %v", n.Name(), err)
		}
	}
	if !s1.IsLeader() {
		t.Fatal("s1 no longer leads")
	}
	// (A joining follower's first append fails its check, and it warns:
	// that is Raft's own probe, before any notice.)
	formed := make(map[string]int)
	for name, l := range logs {
		formed[name] = len(l.String())
	}
	r1 := nodes[3]
	s, err := s1.OpenSession(ctx, SessionOptions{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	write := func(n *Node, sid uint64, path string) uint64 {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		res, err := n.Write(wctx, sid, []fsm.Op{{Kind: fsm.OpCreate, Path: path}})
		if err != nil || res.Error() != nil {
			t.Fatalf("create %s through %s: %v, %v", path, n.Name(), err, res.Error())
		}
		return res.Zxid
	}
	// everyone waits until every agent has applied zxid, and returns how
	// long that took.
	everyone := func(zxid uint64) time.Duration {
		t.Helper()
		start := time.Now()
		for _, n := range nodes {
			waitFor(t, 10*time.Second, fmt.Sprintf("%s to apply zxid %d", n.Name(), zxid), func() bool {
				return n.FSM().Index() >= zxid
			})
		}
		return time.Since(start)
	}

	// The leader's own writes, one at a time: nothing follows each.
	var slowest time.Duration
	for i := range 10 {
		slowest = max(slowest, everyone(write(s1, s.ID, fmt.Sprintf("/leader%d", i))))
	}
	t.Logf("the leader's writes: the last agent applied each within %v", slowest)

	// Writes forwarded by the replica, which answers once it has applied
	// each; every other agent has it soon after.
	rs, err := r1.OpenSession(ctx, SessionOptions{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	slowest = 0
	for i := range 10 {
		start := time.Now()
		zxid := write(r1, rs.ID, fmt.Sprintf("/forwarded%d", i))
		took := time.Since(start)
		if took > 5*time.Second {
			t.Fatalf("a write forwarded by the replica took %v", took)
		}
		slowest = max(slowest, took)
		everyone(zxid)
	}
	t.Logf("writes forwarded by the replica: the slowest returned in %v", slowest)

	// A burst: notices are coalesced, per follower.
	before := s1.notices.sent.Load()
	const writers, each = 16, 25
	var wg sync.WaitGroup
	zxids := make(chan uint64, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				res, err := s1.Write(ctx, s.ID, []fsm.Op{{Kind: fsm.OpCreate, Path: fmt.Sprintf("/burst%d-%d", w, i)}})
				if err != nil || res.Error() != nil {
					t.Errorf("burst write: %v, %v", err, res.Error())
					return
				}
				zxids <- res.Zxid
			}
		}()
	}
	wg.Wait()
	close(zxids)
	var last uint64
	for z := range zxids {
		last = max(last, z)
	}
	everyone(last)
	notices := s1.notices.sent.Load() - before
	t.Logf("%d writes in a burst: %d notices to 3 followers", writers*each, notices)
	if notices >= writers*each {
		t.Errorf("%d notices for a burst of %d writes to 3 followers: not coalesced", notices, writers*each)
	}

	// After a change of leader, the new one's writes too.
	if err := s1.raft.LeadershipTransfer().Error(); err != nil {
		t.Fatalf("transfer the leadership: %v", err)
	}
	var leader *Node
	waitFor(t, 10*time.Second, "a new leader", func() bool {
		for _, n := range nodes[1:3] {
			if n.IsLeader() {
				leader = n
			}
		}
		return leader != nil
	})
	ls, err := leader.OpenSession(ctx, SessionOptions{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		everyone(write(leader, ls.ID, fmt.Sprintf("/new-leader%d", i)))
	}

	for name, l := range logs {
		for _, line := range strings.Split(l.String()[formed[name]:], "\n") {
			if strings.Contains(line, "previous log") {
				t.Errorf("%s: %s", name, line)
			}
		}
	}
}
