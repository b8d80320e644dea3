package fsm

import "fmt"

// TTL nodes, as in ZooKeeper: a persistent node created with a TTL is
// deleted once TTL milliseconds have passed since its last modification
// (Mtime) and it has no children. Apply never reads the clock, so nothing
// expires by itself: the leader finds the nodes whose time has come
// (ExpiredTTL) and proposes a CmdExpireTTL naming each with the Mzxid it
// saw. Applying it deletes a named node only if that still holds at the
// entry's time: the node exists with that Mzxid (no set since), has no
// children, and Time >= Mtime+TTL. Otherwise the entry leaves it alone,
// without an error: a child created or a set applied meanwhile simply
// won the race.

// MaxTTL is the longest TTL a node may have, in milliseconds: 2^40-1
// (about 34 years), ZooKeeper's bound (its servers keep the TTL in the
// low 40 bits of a node's owner field).
const MaxTTL int64 = 1<<40 - 1

// MaxExpirePerEntry bounds the nodes one CmdExpireTTL names.
const MaxExpirePerEntry = 1000

// ExpireTTL deletes the TTL nodes it names whose time has come by Time
// (ms since the epoch, the leader's clock).
type ExpireTTL struct {
	Time  int64       `msgpack:"t"`
	Nodes []TTLExpiry `msgpack:"n"`
}

// TTLExpiry names one TTL node to delete, as the leader saw it: its path
// and its Mzxid then. A node modified since is not deleted.
type TTLExpiry struct {
	Path  string `msgpack:"p"`
	Mzxid uint64 `msgpack:"m"`
}

// ttlItem indexes a TTL node by when it is due: Mtime+TTL, then its key.
type ttlItem struct {
	deadline int64
	key      string // nodeKey(path)
}

func ttlLess(a, b ttlItem) bool {
	return a.deadline < b.deadline || (a.deadline == b.deadline && a.key < b.key)
}

func ttlDeadline(n *Node) int64 { return n.Stat.Mtime + n.Stat.TTL }

func (s *state) indexTTL(it nodeItem) {
	if it.node.Stat.TTL > 0 {
		s.ttls.ReplaceOrInsert(ttlItem{deadline: ttlDeadline(it.node), key: it.key})
	}
}

func (s *state) unindexTTL(it nodeItem) {
	if it.node.Stat.TTL > 0 {
		s.ttls.Delete(ttlItem{deadline: ttlDeadline(it.node), key: it.key})
	}
}

// checkTTL refuses a TTL a create may not carry.
func checkTTL(op *Op) *Error {
	switch {
	case op.TTL == 0:
		return nil
	case op.TTL < 0 || op.TTL > MaxTTL:
		return &Error{Code: CodeBadArguments, Msg: fmt.Sprintf("TTL must be between 1 and %d ms, not %d", MaxTTL, op.TTL)}
	case op.Ephemeral:
		return &Error{Code: CodeBadArguments, Msg: "an ephemeral node cannot have a TTL"}
	case op.Container:
		return &Error{Code: CodeBadArguments, Msg: "a container cannot have a TTL"}
	}
	return nil
}

// ExpiredTTL returns up to limit TTL nodes that are due at now (ms since
// the epoch): TTL has passed since their Mtime and they have no children.
// It walks the TTL nodes in deadline order and stops at the first not yet
// due, so it looks only at nodes whose time has come.
func (f *FSM) ExpiredTTL(now int64, limit int) []TTLExpiry {
	st := f.current()
	var out []TTLExpiry
	st.ttls.Ascend(func(it ttlItem) bool {
		if it.deadline > now || len(out) >= limit {
			return false
		}
		n, ok := st.nodes.Get(nodeItem{key: it.key})
		if ok && n.node.Stat.NumChildren == 0 {
			out = append(out, TTLExpiry{Path: keyPath([]byte(it.key)), Mzxid: n.node.Stat.Mzxid})
		}
		return true
	})
	return out
}

// TTLNodes returns the number of TTL nodes in the tree.
func (f *FSM) TTLNodes() int { return f.current().ttls.Len() }

// applyExpireTTL deletes each named node that is still due; the others
// are left as they are. Its Result lists the nodes deleted, each as an
// OpResult with its path and last Stat.
func (f *FSM) applyExpireTTL(index uint64, e *ExpireTTL) *Result {
	c := &change{st: f.advance(index), zxid: index, time: e.Time}
	res := &Result{Zxid: index}
	for _, x := range e.Nodes {
		if ValidatePath(x.Path) != nil || x.Path == "/" {
			continue
		}
		n, ok := c.st.node(x.Path)
		if !ok || n.Stat.TTL <= 0 || n.Stat.Mzxid != x.Mzxid || n.Stat.NumChildren > 0 || e.Time < ttlDeadline(n) {
			continue
		}
		c.remove(x.Path, n)
		res.Ops = append(res.Ops, OpResult{Path: x.Path, Stat: n.Stat})
	}
	f.publish(c.st, c.events)
	return res
}
