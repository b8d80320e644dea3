package fsm

import (
	"bytes"
	"testing"
)

// DataBytes follows creates, sets, deletes, a failed multi, a closed
// session's ephemerals and a snapshot's restore.
func TestSizesDataBytes(t *testing.T) {
	a := newApplier(t)
	want := func(n int64) {
		t.Helper()
		if got := a.f.Sizes().DataBytes; got != n {
			t.Fatalf("data bytes %d, want %d", got, n)
		}
	}
	sid := a.open()
	want(0)
	a.write(sid, Op{Kind: OpCreate, Path: "/a", Data: []byte("12345")})
	a.write(sid, Op{Kind: OpCreate, Path: "/a/e", Data: []byte("xyz"), Ephemeral: true})
	want(8)
	a.write(sid, Op{Kind: OpSet, Path: "/a", Data: []byte("1"), Version: AnyVersion})
	want(4)
	// A multi that fails changes nothing.
	if r := a.write(sid, Op{Kind: OpCreate, Path: "/b", Data: []byte("zzzz")}, Op{Kind: OpCheck, Path: "/a", Version: 9}); r.Err == nil {
		t.Fatal("multi with a bad check succeeded")
	}
	want(4)
	a.apply(CmdCloseSession, &CloseSession{Session: sid, Reason: CloseClean})
	want(1)
	sid = a.open()
	a.write(sid, Op{Kind: OpCreate, Path: "/c", Data: []byte("abcdef")})
	want(7)

	f2 := New()
	var buf bytes.Buffer
	if err := a.f.current().writeTo(&buf); err != nil {
		t.Fatal(err)
	}
	if err := f2.Restore(nopCloser{&buf}); err != nil {
		t.Fatal(err)
	}
	if got := f2.Sizes().DataBytes; got != 7 {
		t.Fatalf("restored data bytes %d, want 7", got)
	}
	a.write(sid, Op{Kind: OpDelete, Path: "/a", Version: AnyVersion})
	want(6)
}

func TestSnapshotStats(t *testing.T) {
	a := newApplier(t)
	if st := a.f.SnapshotStats(); st != (SnapshotStats{}) {
		t.Fatalf("stats before any snapshot: %+v", st)
	}
	sid := a.open()
	a.write(sid, Op{Kind: OpCreate, Path: "/a", Data: bytes.Repeat([]byte("x"), 1000)})
	for i := 1; i <= 2; i++ {
		snap, err := a.f.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var sink memSink
		if err := snap.Persist(&sink); err != nil || !sink.closed {
			t.Fatalf("persist: %v (closed %v)", err, sink.closed)
		}
		st := a.f.SnapshotStats()
		if st.Count != int64(i) || st.LastBytes != int64(sink.Len()) || st.LastBytes < 1000 || st.LastDuration <= 0 {
			t.Fatalf("after snapshot %d (%d bytes): %+v", i, sink.Len(), st)
		}
	}
}
