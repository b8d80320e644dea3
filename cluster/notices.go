package cluster

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// Commit notices. hashicorp/raft tells a follower that entries are
// committed only in its next AppendEntries to it: with the next entries,
// or, while none come, after its commit timeout (Config.CommitTimeout,
// 10–20 ms); its heartbeats carry no commit index. A write committed by
// the leader therefore reached the other agents' trees, their watchers
// and subscribers that much later, unless another write followed it.
//
// The leader sends each follower a commit notice instead as soon as it
// can apply more: an AppendEntries request of the leader's term with no
// entries whose previous entry and commit index are both the committed
// entry the follower is known to hold. The follower handles it as any
// AppendEntries of its leader: it checks that it holds that entry (same
// index and term, so that its log matches the leader's up to it) and
// applies up to it. Nothing is written to either log.
//
// What a follower holds and what it has been told come from Raft's own
// appends, observed on their way through the transport (unpipelined, in
// transport.go): a successful append means the follower holds everything
// up to the append's last entry, and it applied up to the smaller of that
// and the append's commit index. A notice goes out when the leader's
// commit index, or what the follower holds, moves past what it was told:
// after a write the leader applied (Node.nudgeFollowers) and after each
// append Raft completes. So a follower gets a notice only for an entry it
// holds (it never warns of a missing one), none while it is down (its
// appends fail), and none when Raft's append told it already.
//
// A notice is safe whatever happened since: its entry, index and term,
// is read from the leader's log at an index no higher than the leader's
// commit index, where entries never change; a follower that holds an
// entry of that index and term holds the same log up to it (Raft's log
// matching), all of it committed. It claims the term Raft's appends to
// that follower claimed, and is sent only while this node leads. Each
// follower has at most one notice in flight; what is committed meanwhile
// goes in the next, so a burst of writes costs a follower one or two
// notices, not one per write.

// commitNotices keeps, per follower, what it holds and has been told, and
// sends the notices.
type commitNotices struct {
	n     *Node
	mu    sync.Mutex
	term  uint64 // the term of the latest append seen; peers are of it
	peers map[raft.ServerID]*noticePeer
	sent  atomic.Uint64 // notices answered, for tests
}

// errNoticeRefused: the follower did not take a notice (it has heard of a
// later term).
var errNoticeRefused = errors.New("the follower refused the notice")

// noticePeer is one follower as the leader's appends to it left it.
type noticePeer struct {
	addr     raft.ServerAddress
	header   raft.RPCHeader // of Raft's appends to it
	leader   []byte
	held     uint64 // its log holds this index and every one before
	told     uint64 // it may apply up to this index
	inFlight bool   // a notice is on its way
}

func newCommitNotices(n *Node) *commitNotices {
	return &commitNotices{n: n, peers: make(map[raft.ServerID]*noticePeer)}
}

// appended records a successful append of Raft's to a follower and sends
// it a notice if it may now apply more than the append told it.
func (c *commitNotices) appended(id raft.ServerID, target raft.ServerAddress, req *raft.AppendEntriesRequest) {
	held := req.PrevLogEntry
	if k := len(req.Entries); k > 0 {
		held = req.Entries[k-1].Index
	}
	if held == 0 {
		return // a heartbeat: it says nothing of the log
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case req.Term < c.term:
		return // an append of an earlier term, answered late
	case req.Term > c.term:
		// A new term of this node's leadership: what followers held
		// and were told before may have changed since.
		c.term = req.Term
		clear(c.peers)
	}
	p := c.peers[id]
	if p == nil || p.addr != target {
		p = &noticePeer{addr: target}
		c.peers[id] = p
	}
	p.header, p.leader = req.RPCHeader, req.Leader
	p.held = max(p.held, held)
	p.told = max(p.told, min(req.LeaderCommitIndex, held))
	c.kick(id, p)
}

// committed sends a notice to every follower that may now apply more than
// it was told: the leader committed more.
func (c *commitNotices) committed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, p := range c.peers {
		c.kick(id, p)
	}
}

// kick starts a notice to p unless one is in flight (that one sends
// another when it returns, if there is more to tell). c.mu is held.
func (c *commitNotices) kick(id raft.ServerID, p *noticePeer) {
	if p.inFlight || c.next(p) <= p.told {
		return
	}
	p.inFlight = c.n.run.Go(func(ctx context.Context) { c.send(ctx, id, p) })
}

// next is the index p may apply: what this node, while it leads,
// committed, up to what p holds (0 when it does not lead). c.mu is held.
func (c *commitNotices) next(p *noticePeer) uint64 {
	r := c.n.raftUp.Load()
	if r == nil || r.State() != raft.Leader {
		return 0
	}
	return min(r.CommitIndex(), p.held)
}

// send sends p notices until it has been told all it may apply, then
// returns. It stops when the node closes, or when p is no longer the
// follower's record (a new term began).
func (c *commitNotices) send(ctx context.Context, id raft.ServerID, p *noticePeer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		index := c.next(p)
		if ctx.Err() != nil || c.peers[id] != p || index <= p.told {
			p.inFlight = false
			return
		}
		req := &raft.AppendEntriesRequest{
			RPCHeader: p.header, Term: c.term, Leader: p.leader,
			PrevLogEntry: index, LeaderCommitIndex: index,
		}
		c.mu.Unlock()
		err := c.notify(id, p.addr, req)
		c.mu.Lock()
		// Told, or refused (a later term, which Raft hears of too):
		// either way, Raft's own appends take it from here.
		p.told = max(p.told, index)
		if err != nil {
			p.inFlight = false
			c.n.cfg.Logger.Debug("commit notice", "to", id, "index", index, "error", err)
			return
		}
	}
}

// notify sends one notice for req.PrevLogEntry, a committed index, with
// the term of the entry at that index in this node's log.
func (c *commitNotices) notify(id raft.ServerID, addr raft.ServerAddress, req *raft.AppendEntriesRequest) error {
	var l raft.Log
	if err := c.n.logs.GetLog(req.PrevLogEntry, &l); err != nil {
		return err // compacted into a snapshot: Raft tells it
	}
	req.PrevLogTerm = l.Term
	var resp raft.AppendEntriesResponse
	if err := c.n.transport.AppendEntries(id, addr, req, &resp); err != nil {
		return err
	}
	c.sent.Add(1)
	if !resp.Success {
		return errNoticeRefused
	}
	return nil
}
