package fsm

import (
	"bufio"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// snapshotVersion is the snapshot format; Restore refuses any other.
const snapshotVersion = 1

// snapshotHeader opens a snapshot stream. The nodes, sessions and cached
// results follow, each as a msgpack value, in key order.
type snapshotHeader struct {
	Version  int    `msgpack:"v"`
	Index    uint64 `msgpack:"index"`
	Nodes    int    `msgpack:"nodes"`
	Sessions int    `msgpack:"sessions"`
	Results  int    `msgpack:"results"`
	Delays   int    `msgpack:"delays"`
}

type snapNode struct {
	Key  string `msgpack:"k"`
	Node *Node  `msgpack:"n"`
}

type snapDelay struct {
	Path    string `msgpack:"p"`
	Until   int64  `msgpack:"u"`
	DelayMs int64  `msgpack:"d,omitempty"`
}

type snapResult struct {
	Session uint64  `msgpack:"sid"`
	Seq     uint64  `msgpack:"seq"`
	Result  *Result `msgpack:"r"`
}

// snapshot is one published version; versions never change, so Persist
// may run while applies continue.
type snapshot struct {
	st    *state
	stats *snapshotStats
}

// snapshotStats describe the snapshots this replica persisted, for
// metrics. They are local, never part of the replicated state.
type snapshotStats struct {
	count, lastBytes, lastNanos atomic.Int64
}

// SnapshotStats describe the snapshots this replica persisted.
type SnapshotStats struct {
	// Count is how many snapshots Persist wrote since the FSM was made.
	Count int64
	// LastBytes and LastDuration are the size and write time of the
	// latest one (zero before the first).
	LastBytes    int64
	LastDuration time.Duration
}

// Snapshot captures the current version in O(1).
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return &snapshot{st: f.current(), stats: &f.snaps}, nil
}

// SnapshotStats returns what this replica's snapshots measured.
func (f *FSM) SnapshotStats() SnapshotStats {
	return SnapshotStats{Count: f.snaps.count.Load(), LastBytes: f.snaps.lastBytes.Load(),
		LastDuration: time.Duration(f.snaps.lastNanos.Load())}
}

// Persist writes the version to sink.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	start := time.Now()
	cw := &countingWriter{w: sink}
	if err := s.st.writeTo(cw); err != nil {
		_ = sink.Cancel()
		return err
	}
	if err := sink.Close(); err != nil {
		return err
	}
	s.stats.lastBytes.Store(cw.n)
	s.stats.lastNanos.Store(int64(time.Since(start)))
	s.stats.count.Add(1)
	return nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeSnapNode writes one znode of a snapshot: the bytes msgpack's
// reflective encoder writes for snapNode{key, n} with writeTo's encoder
// (integers at their full width), written by hand. The reflective path
// filters every Stat's and Node's fields for omitempty, which made
// persisting a snapshot a fifth slower. TestSnapNodeBytes holds the two
// to the same bytes.
func writeSnapNode(enc *msgpack.Encoder, key string, n *Node) error {
	s := &n.Stat
	w := fixedWriter{enc: enc}
	w.mapLen(2)
	w.str("k")
	w.str(key)
	w.str("n")
	if n.Container {
		w.mapLen(3)
	} else {
		w.mapLen(2)
	}
	w.str("d")
	if w.err == nil {
		w.err = enc.EncodeBytes(n.Data)
	}
	w.str("s")
	if s.TTL != 0 {
		w.mapLen(12)
	} else {
		w.mapLen(11)
	}
	w.uint64("czxid", s.Czxid)
	w.uint64("mzxid", s.Mzxid)
	w.uint64("pzxid", s.Pzxid)
	w.int64("ctime", s.Ctime)
	w.int64("mtime", s.Mtime)
	w.int32("version", s.Version)
	w.int32("cversion", s.Cversion)
	w.int32("aversion", s.Aversion)
	w.uint64("ephemeral_owner", s.EphemeralOwner)
	w.int32("data_length", s.DataLength)
	w.int32("num_children", s.NumChildren)
	if s.TTL != 0 {
		w.int64("ttl", s.TTL)
	}
	if n.Container {
		w.str("k")
		if w.err == nil {
			w.err = enc.EncodeBool(true)
		}
	}
	return w.err
}

// fixedWriter writes msgpack with integers at their full width, keeping
// the first error.
type fixedWriter struct {
	enc *msgpack.Encoder
	err error
}

func (w *fixedWriter) mapLen(n int) {
	if w.err == nil {
		w.err = w.enc.EncodeMapLen(n)
	}
}

func (w *fixedWriter) str(s string) {
	if w.err == nil {
		w.err = w.enc.EncodeString(s)
	}
}

func (w *fixedWriter) uint64(key string, v uint64) {
	w.str(key)
	if w.err == nil {
		w.err = w.enc.EncodeUint64(v)
	}
}

func (w *fixedWriter) int64(key string, v int64) {
	w.str(key)
	if w.err == nil {
		w.err = w.enc.EncodeInt64(v)
	}
}

func (w *fixedWriter) int32(key string, v int32) {
	w.str(key)
	if w.err == nil {
		w.err = w.enc.EncodeInt32(v)
	}
}

// Release does nothing: the version is garbage once unreferenced.
func (s *snapshot) Release() {}

func (st *state) writeTo(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := msgpack.NewEncoder(bw)
	err := enc.Encode(snapshotHeader{
		Version:  snapshotVersion,
		Index:    st.index,
		Nodes:    st.nodes.Len(),
		Sessions: st.sessions.Len(),
		Results:  st.results.Len(),
		Delays:   st.delays.Len(),
	})
	st.nodes.Ascend(func(it nodeItem) bool {
		err = writeSnapNode(enc, it.key, it.node)
		return err == nil
	})
	if err == nil {
		st.sessions.Ascend(func(it sessionItem) bool {
			err = enc.Encode(it.sess)
			return err == nil
		})
	}
	if err == nil {
		st.results.Ascend(func(it resultItem) bool {
			err = enc.Encode(snapResult{Session: it.sid, Seq: it.seq, Result: it.res})
			return err == nil
		})
	}
	if err == nil {
		st.delays.Ascend(func(d delayItem) bool {
			err = enc.Encode(snapDelay{Path: d.path, Until: d.until, DelayMs: d.delayMs})
			return err == nil
		})
	}
	if err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return bw.Flush()
}

// Restore replaces the tree with a snapshot, then fires every watch with
// EventResync so their owners read again.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, err := readState(rc)
	if err != nil {
		return err
	}
	if f.OnLockDelay != nil {
		// When these closes were applied is not known here: each delay
		// starts over now, which holds the lock back longer, never less.
		st.delays.Ascend(func(d delayItem) bool {
			f.OnLockDelay(LockDelay{Path: d.path, Delay: time.Duration(d.delayMs) * time.Millisecond})
			return true
		})
	}
	f.publish(st, []Event{{Type: EventResync, Path: "/", Zxid: st.index}})
	return nil
}

func readState(r io.Reader) (*state, error) {
	dec := msgpack.NewDecoder(bufio.NewReaderSize(r, 1<<16))
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("read snapshot header: %w", err)
	}
	if h.Version != snapshotVersion {
		return nil, fmt.Errorf("snapshot format %d is not supported (want %d)", h.Version, snapshotVersion)
	}
	st := newState()
	st.index = h.Index
	for i := 0; i < h.Nodes; i++ {
		var n snapNode
		if err := dec.Decode(&n); err != nil {
			return nil, fmt.Errorf("read snapshot node %d: %w", i, err)
		}
		if n.Node == nil {
			return nil, fmt.Errorf("read snapshot node %d: empty", i)
		}
		st.putItem(nodeItem{key: n.Key, node: n.Node})
		if owner := n.Node.Stat.EphemeralOwner; owner != 0 {
			st.ephemerals.ReplaceOrInsert(ephemeralKey(owner, keyPath([]byte(n.Key))))
		}
	}
	for i := 0; i < h.Sessions; i++ {
		var s Session
		if err := dec.Decode(&s); err != nil {
			return nil, fmt.Errorf("read snapshot session %d: %w", i, err)
		}
		st.sessions.ReplaceOrInsert(sessionItem{id: s.ID, sess: &s})
	}
	for i := 0; i < h.Results; i++ {
		var r snapResult
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("read snapshot result %d: %w", i, err)
		}
		st.results.ReplaceOrInsert(resultItem{sid: r.Session, seq: r.Seq, res: r.Result})
	}
	for i := 0; i < h.Delays; i++ {
		var d snapDelay
		if err := dec.Decode(&d); err != nil {
			return nil, fmt.Errorf("read snapshot lock-delay %d: %w", i, err)
		}
		st.delays.ReplaceOrInsert(delayItem{path: d.Path, until: d.Until, delayMs: d.DelayMs})
	}
	return st, nil
}
