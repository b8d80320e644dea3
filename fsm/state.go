package fsm

import (
	"encoding/binary"
	"strings"

	"github.com/google/btree"
)

const btreeDegree = 32

type nodeItem struct {
	key  string // nodeKey(path)
	node *Node
}

type sessionItem struct {
	id   uint64
	sess *Session
}

// resultItem caches the outcome of a deduplicated write.
type resultItem struct {
	sid, seq uint64
	res      *Result
}

// state is one version of the replicated state. A version is never changed
// once published: apply works on a clone (O(1), copy-on-write) and swaps it
// in, so readers and snapshots need no lock while they walk it.
type state struct {
	nodes      *btree.BTreeG[nodeItem]
	ephemerals *btree.BTreeG[string] // 8-byte session id + path
	sessions   *btree.BTreeG[sessionItem]
	results    *btree.BTreeG[resultItem]
	delays     *btree.BTreeG[delayItem] // lock-delays by lock path
	ttls       *btree.BTreeG[ttlItem]   // TTL nodes by deadline (kept by putItem and deleteNode)
	index      uint64                   // the last applied Raft index
	dataBytes  int64                    // the sum of every znode's data length (kept by putNode and deleteNode)
}

// delayItem holds back a lock whose holder's session expired. How long
// is what each agent measures on its own clock from when it applied the
// close (see FSM.OnLockDelay); until, from the proposer's wall clock, only
// decides when the item is forgotten.
type delayItem struct {
	path    string
	until   int64 // ms since the epoch
	delayMs int64
}

func newState() *state {
	s := &state{
		nodes:      btree.NewG(btreeDegree, func(a, b nodeItem) bool { return a.key < b.key }),
		ephemerals: btree.NewG(btreeDegree, func(a, b string) bool { return a < b }),
		sessions:   btree.NewG(btreeDegree, func(a, b sessionItem) bool { return a.id < b.id }),
		results: btree.NewG(btreeDegree, func(a, b resultItem) bool {
			return a.sid < b.sid || (a.sid == b.sid && a.seq < b.seq)
		}),
		delays: btree.NewG(btreeDegree, func(a, b delayItem) bool { return a.path < b.path }),
		ttls:   btree.NewG(btreeDegree, ttlLess),
	}
	s.nodes.ReplaceOrInsert(nodeItem{key: "", node: &Node{}})
	return s
}

func (s *state) clone() *state {
	return &state{
		nodes:      s.nodes.Clone(),
		ephemerals: s.ephemerals.Clone(),
		sessions:   s.sessions.Clone(),
		results:    s.results.Clone(),
		delays:     s.delays.Clone(),
		ttls:       s.ttls.Clone(),
		index:      s.index,
		dataBytes:  s.dataBytes,
	}
}

func (s *state) node(path string) (*Node, bool) {
	it, ok := s.nodes.Get(nodeItem{key: string(nodeKey(path))})
	return it.node, ok
}

func (s *state) putNode(path string, n *Node) {
	s.putItem(nodeItem{key: string(nodeKey(path)), node: n})
}

// putItem inserts or replaces a node, keeping dataBytes and the TTL
// index.
func (s *state) putItem(it nodeItem) {
	if old, had := s.nodes.ReplaceOrInsert(it); had {
		s.dataBytes -= int64(len(old.node.Data))
		s.unindexTTL(old)
	}
	s.dataBytes += int64(len(it.node.Data))
	s.indexTTL(it)
}

func (s *state) deleteNode(path string) {
	if old, had := s.nodes.Delete(nodeItem{key: string(nodeKey(path))}); had {
		s.dataBytes -= int64(len(old.node.Data))
		s.unindexTTL(old)
	}
}

// children lists the names of path's children in byte order.
func (s *state) children(path string) []string {
	prefix := string(childPrefix(path))
	var out []string
	s.nodes.AscendGreaterOrEqual(nodeItem{key: prefix}, func(it nodeItem) bool {
		if !strings.HasPrefix(it.key, prefix) {
			return false
		}
		out = append(out, it.key[len(prefix):])
		return true
	})
	return out
}

func (s *state) session(id uint64) (*Session, bool) {
	it, ok := s.sessions.Get(sessionItem{id: id})
	return it.sess, ok
}

func ephemeralKey(sid uint64, path string) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], sid)
	return string(b[:]) + path
}

// ephemeralsOf lists the ephemeral nodes a session owns.
func (s *state) ephemeralsOf(sid uint64) []string {
	prefix := ephemeralKey(sid, "")
	var out []string
	s.ephemerals.AscendGreaterOrEqual(prefix, func(k string) bool {
		if !strings.HasPrefix(k, prefix) {
			return false
		}
		out = append(out, k[len(prefix):])
		return true
	})
	return out
}
