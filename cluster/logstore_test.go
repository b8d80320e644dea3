package cluster

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// TestCopyLogStore: a copy from bolt into wal/ and back keeps the term,
// the vote and every entry; a bolt log with a gap (left by a restore)
// is copied from the gap's end, as wal/ must be contiguous, when a
// snapshot covers the gap, and refused when none does.
func TestCopyLogStore(t *testing.T) {
	n := &Node{cfg: &Config{Logger: hclog.NewNullLogger()}}
	dir := t.TempDir()
	open := func(kind, name string) logStore {
		s, err := openStoreAt(kind, filepath.Join(dir, name), n)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	src := open(LogStoreBolt, "src.db")
	if err := src.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if err := src.SetUint64([]byte("LastVoteTerm"), 6); err != nil {
		t.Fatal(err)
	}
	if err := src.Set([]byte("LastVoteCand"), []byte("server2")); err != nil {
		t.Fatal(err)
	}
	var logs []*raft.Log
	for _, i := range []uint64{1, 2, 3, 10, 11, 12, 13} { // a gap after 3
		logs = append(logs, &raft.Log{Index: i, Term: 5, Type: raft.LogCommand, Data: []byte{byte(i)}})
	}
	if err := src.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if _, err := copyLogStore(open(LogStoreWAL, "uncovered"), src, 8); err == nil {
		t.Fatal("copied a log whose gap (4 to 9) the newest snapshot (8) does not cover")
	}
	wal := open(LogStoreWAL, "wal")
	if got, err := copyLogStore(wal, src, 9); err != nil || got != 4 {
		t.Fatalf("copied %d entries (%v), want 4: 10 to 13", got, err)
	}
	back := open(LogStoreBolt, "back.db")
	if _, err := copyLogStore(back, wal, 0); err != nil {
		t.Fatal(err)
	}
	for _, s := range []logStore{wal, back} {
		if v, err := s.GetUint64([]byte("CurrentTerm")); v != 7 || err != nil {
			t.Errorf("CurrentTerm %d %v", v, err)
		}
		if v, err := s.GetUint64([]byte("LastVoteTerm")); v != 6 || err != nil {
			t.Errorf("LastVoteTerm %d %v", v, err)
		}
		if v, err := s.Get([]byte("LastVoteCand")); string(v) != "server2" || err != nil {
			t.Errorf("LastVoteCand %q %v", v, err)
		}
		first, _ := s.FirstIndex()
		last, _ := s.LastIndex()
		if first != 10 || last != 13 {
			t.Errorf("holds %d to %d, want 10 to 13", first, last)
		}
		for i := first; i <= last; i++ {
			var l raft.Log
			if err := s.GetLog(i, &l); err != nil || l.Term != 5 || !bytes.Equal(l.Data, []byte{byte(i)}) {
				t.Errorf("entry %d: %+v %v", i, l, err)
			}
		}
	}
}
