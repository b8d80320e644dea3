package fsm

// Benchmarks of Apply throughput, memory per znode and snapshot speed.
//
//	go test -run x -bench Apply ./fsm/
//	go test -run x -bench MemoryPerZnode -benchtime 1x ./fsm/
//	go test -run x -bench MemoryPerSession -benchtime 1x ./fsm/
//	go test -run x -bench Snapshot ./fsm/
//
// Log entries are encoded before the timer starts, so the figures are what
// the apply goroutine spends per entry: decode, apply, publish.

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"

	"github.com/hashicorp/raft"
)

var benchData = bytes.Repeat([]byte{'x'}, 100)

// benchFSM applies pre-encoded entries with increasing indexes.
type benchFSM struct {
	f     *FSM
	index uint64
	log   raft.Log
}

func newBenchFSM() *benchFSM {
	return &benchFSM{f: New(), log: raft.Log{Type: raft.LogCommand}}
}

func (bf *benchFSM) applyEntry(tb testing.TB, entry []byte) *Result {
	bf.index++
	bf.log.Index, bf.log.Data = bf.index, entry
	r, _ := bf.f.Apply(&bf.log).(*Result)
	if r == nil || r.Err != nil {
		tb.Fatalf("apply at %d: %+v", bf.index, r)
	}
	return r
}

func (bf *benchFSM) apply(tb testing.TB, ct CommandType, body any) *Result {
	return bf.applyEntry(tb, mustEncode(tb, ct, body))
}

func mustEncode(tb testing.TB, ct CommandType, body any) []byte {
	b, err := Encode(ct, body)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// mkdirs creates /d000 ... /d{n-1}, 100 per write.
func (bf *benchFSM) mkdirs(tb testing.TB, n int) {
	for i := 0; i < n; i += 100 {
		w := &Write{Time: 1}
		for j := i; j < n && j < i+100; j++ {
			w.Ops = append(w.Ops, Op{Kind: OpCreate, Path: fmt.Sprintf("/d%03d", j)})
		}
		bf.apply(tb, CmdWrite, w)
	}
}

// runEntries applies b.N pre-encoded entries under the timer and reports
// entries per second (and ops per second when an entry holds several ops).
func runEntries(b *testing.B, bf *benchFSM, entries [][]byte, opsPerEntry int) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bf.applyEntry(b, entries[i])
	}
	b.StopTimer()
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/sec, "applies/s")
	if opsPerEntry > 1 {
		b.ReportMetric(float64(b.N*opsPerEntry)/sec, "ops/s")
	}
}

// BenchmarkApplyCreate: single-op creates of 100-byte nodes, all under one
// parent or spread over 1,000 parents; "dedup" writes also carry a session
// and a request sequence, so each result is cached and the previous one
// dropped, as forwarded writes are.
func BenchmarkApplyCreate(b *testing.B) {
	for _, bc := range []struct {
		name    string
		parents int
		dedup   bool
	}{
		{"one-parent", 1, false},
		{"spread-1000", 1000, false},
		{"spread-1000-dedup", 1000, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bf := newBenchFSM()
			bf.mkdirs(b, bc.parents)
			var sid uint64
			if bc.dedup {
				sid = bf.apply(b, CmdOpenSession, &OpenSession{Time: 1, Session: Session{TimeoutMs: 10000}}).Session
			}
			entries := make([][]byte, b.N)
			for i := range entries {
				w := &Write{Time: int64(i), Ops: []Op{{
					Kind: OpCreate, Path: fmt.Sprintf("/d%03d/n%08d", i%bc.parents, i), Data: benchData,
				}}}
				if bc.dedup {
					w.Session, w.Seq, w.MinUnacked = sid, uint64(i+1), uint64(i+1)
				}
				entries[i] = mustEncode(b, CmdWrite, w)
			}
			runEntries(b, bf, entries, 1)
		})
	}
}

// BenchmarkApplySet: single-op sets of 100 bytes, round robin over 10,000
// nodes under 100 parents.
func BenchmarkApplySet(b *testing.B) {
	const nodes, parents = 10000, 100
	bf := newBenchFSM()
	bf.mkdirs(b, parents)
	path := func(i int) string { return fmt.Sprintf("/d%03d/n%06d", i%parents, i%nodes) }
	for i := 0; i < nodes; i += 100 {
		w := &Write{Time: 1}
		for j := i; j < i+100; j++ {
			w.Ops = append(w.Ops, Op{Kind: OpCreate, Path: path(j), Data: benchData})
		}
		bf.apply(b, CmdWrite, w)
	}
	entries := make([][]byte, b.N)
	for i := range entries {
		entries[i] = mustEncode(b, CmdWrite, &Write{Time: int64(i), Ops: []Op{{
			Kind: OpSet, Path: path(i), Data: benchData, Version: AnyVersion,
		}}})
	}
	runEntries(b, bf, entries, 1)
}

// BenchmarkApplyMulti: a 4-op transaction per entry, as a recipe issues
// one: check the parent, create two 100-byte nodes, set the first.
func BenchmarkApplyMulti(b *testing.B) {
	const parents = 1000
	bf := newBenchFSM()
	bf.mkdirs(b, parents)
	entries := make([][]byte, b.N)
	for i := range entries {
		parent := fmt.Sprintf("/d%03d", i%parents)
		a, c := fmt.Sprintf("%s/a%08d", parent, i), fmt.Sprintf("%s/b%08d", parent, i)
		entries[i] = mustEncode(b, CmdWrite, &Write{Time: int64(i), Ops: []Op{
			{Kind: OpCheck, Path: parent, Version: AnyVersion},
			{Kind: OpCreate, Path: a, Data: benchData},
			{Kind: OpCreate, Path: c, Data: benchData},
			{Kind: OpSet, Path: a, Data: benchData, Version: 0},
		}})
	}
	runEntries(b, bf, entries, 4)
}

// BenchmarkMemoryPerZnode builds a tree of 1,000,000 znodes of 100 bytes
// (1,000 parents of 1,000 children, /d%03d/n%06d), one create per entry as
// Raft would apply them, and reports the live heap it holds per znode. One
// build takes seconds, so b.N is 1 unless -benchtime asks for more; with
// more, the figures are means. ns/op is the time of one whole build.
func BenchmarkMemoryPerZnode(b *testing.B) {
	const parents, perParent = 1000, 1000
	var heapTotal, znodes float64
	for iter := 0; iter < b.N; iter++ {
		b.StopTimer()
		before := liveHeap()
		bf := newBenchFSM()
		b.StartTimer()

		bf.mkdirs(b, parents)
		w := &Write{Ops: []Op{{Kind: OpCreate, Data: benchData}}}
		for i := 0; i < parents*perParent; i++ {
			w.Time = int64(i)
			w.Ops[0].Path = fmt.Sprintf("/d%03d/n%06d", i%parents, i)
			bf.apply(b, CmdWrite, w)
		}

		b.StopTimer()
		after := liveHeap()
		n := bf.f.NodeCount() - 1 // the root is not counted
		runtime.KeepAlive(bf)
		heapTotal += float64(after) - float64(before)
		znodes += float64(n)
		b.StartTimer()
	}
	b.ReportMetric(heapTotal/znodes, "bytes/znode")
	b.ReportMetric(heapTotal/float64(b.N)/(1<<20), "MiB/tree")
}

// BenchmarkMemoryPerSession opens 100,000 sessions as apps on one agent
// would (an owner, a client name, a secret's hash), one per entry, and
// reports the live heap every agent's replica holds per session: "bare"
// sessions alone, "ephemeral" with one 100-byte ephemeral node each (its
// parent is shared). One build takes seconds, so b.N is 1 unless
// -benchtime asks for more.
func BenchmarkMemoryPerSession(b *testing.B) {
	const sessions = 100_000
	secret := bytes.Repeat([]byte{0xab}, 32)
	for _, withEphemeral := range []bool{false, true} {
		name := "bare"
		if withEphemeral {
			name = "ephemeral"
		}
		b.Run(name, func(b *testing.B) {
			var heapTotal float64
			for iter := 0; iter < b.N; iter++ {
				b.StopTimer()
				before := liveHeap()
				bf := newBenchFSM()
				b.StartTimer()
				bf.mkdirs(b, 1)
				for i := 0; i < sessions; i++ {
					sid := bf.apply(b, CmdOpenSession, &OpenSession{Time: int64(i), Session: Session{
						TimeoutMs: 10000, Owner: "agent-1", Resumable: true, Secret: secret,
						Pid: int32(1000 + i), Client: "go/1.0", Created: int64(i),
					}}).Session
					if withEphemeral {
						bf.apply(b, CmdWrite, &Write{Time: int64(i), Session: sid, Ops: []Op{{
							Kind: OpCreate, Path: fmt.Sprintf("/d000/s%08d", i), Data: benchData, Ephemeral: true,
						}}})
					}
				}
				b.StopTimer()
				after := liveHeap()
				if n := len(bf.f.Sessions()); n != sessions {
					b.Fatalf("%d sessions open, want %d", n, sessions)
				}
				runtime.KeepAlive(bf)
				heapTotal += float64(after) - float64(before)
				b.StartTimer()
			}
			b.ReportMetric(heapTotal/float64(b.N)/sessions, "bytes/session")
		})
	}
}

// liveHeap collects garbage and returns the bytes still allocated.
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// benchTrees caches the trees the snapshot benchmarks read, built once per
// size and process (a benchmark function runs several times).
var benchTrees struct {
	sync.Mutex
	m map[int]*FSM
}

// benchTree returns a tree of n 100-byte znodes under n/1000 parents (at
// least one), built 100 creates per entry.
func benchTree(b *testing.B, n int) *FSM {
	benchTrees.Lock()
	defer benchTrees.Unlock()
	if f := benchTrees.m[n]; f != nil {
		return f
	}
	b.StopTimer()
	defer b.StartTimer()
	parents := max(n/1000, 1)
	bf := newBenchFSM()
	bf.mkdirs(b, parents)
	for i := 0; i < n; i += 100 {
		w := &Write{Time: int64(i)}
		for j := i; j < n && j < i+100; j++ {
			w.Ops = append(w.Ops, Op{Kind: OpCreate, Path: fmt.Sprintf("/d%03d/n%07d", j%parents, j), Data: benchData})
		}
		bf.apply(b, CmdWrite, w)
	}
	if benchTrees.m == nil {
		benchTrees.m = map[int]*FSM{}
	}
	benchTrees.m[n] = bf.f
	return bf.f
}

// countSink is a raft.SnapshotSink that counts and discards.
type countSink struct{ n int64 }

func (s *countSink) Write(p []byte) (int, error) { s.n += int64(len(p)); return len(p), nil }
func (s *countSink) Close() error                { return nil }
func (s *countSink) Cancel() error               { return nil }
func (s *countSink) ID() string                  { return "count" }

// BenchmarkSnapshotPersist: Snapshot and Persist of a whole tree to a sink
// that discards. MB/s is snapshot bytes per second.
func BenchmarkSnapshotPersist(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			f := benchTree(b, n)
			b.ResetTimer()
			var sink countSink
			for i := 0; i < b.N; i++ {
				sink.n = 0
				snap, err := f.Snapshot()
				if err != nil {
					b.Fatal(err)
				}
				if err := snap.Persist(&sink); err != nil {
					b.Fatal(err)
				}
				snap.Release()
			}
			b.SetBytes(sink.n)
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "znodes/s")
		})
	}
}

// BenchmarkSnapshotRestore: Restore of a 100,000-znode snapshot.
func BenchmarkSnapshotRestore(b *testing.B) {
	const n = 100_000
	var buf bytes.Buffer
	if err := benchTree(b, n).current().writeTo(&buf); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := New().Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "znodes/s")
}

// BenchmarkApplyAfter: single-op sets of 100 bytes over 16 nodes, timed
// after the FSM has already applied 10 k, 100 k or 1 M of them, so the
// change history is filling, just full, or has wrapped many times. The
// per-apply cost should not depend on how much was applied before.
func BenchmarkApplyAfter(b *testing.B) {
	const keys = 16
	for _, applied := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("applied=%d", applied), func(b *testing.B) {
			bf := newBenchFSM()
			w := &Write{Time: 1}
			for k := 0; k < keys; k++ {
				w.Ops = append(w.Ops, Op{Kind: OpCreate, Path: fmt.Sprintf("/k%02d", k), Data: benchData})
			}
			bf.apply(b, CmdWrite, w)
			set := func(i int) []byte {
				return mustEncode(b, CmdWrite, &Write{Time: int64(i), Ops: []Op{{
					Kind: OpSet, Path: fmt.Sprintf("/k%02d", i%keys), Data: benchData, Version: AnyVersion,
				}}})
			}
			for i := 0; i < applied; i++ {
				bf.applyEntry(b, set(i))
			}
			entries := make([][]byte, b.N)
			for i := range entries {
				entries[i] = set(applied + i)
			}
			runtime.GC()
			runEntries(b, bf, entries, 1)
		})
	}
}
