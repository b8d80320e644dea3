package fsm

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
)

// TestForRestoreEndsSessions: the tree a restore installs holds none of
// the snapshot's sessions, their ephemeral nodes or cached results;
// persistent nodes and the zxid are kept, and the ephemerals' parents
// record the deletion at the snapshot's zxid.
func TestForRestoreEndsSessions(t *testing.T) {
	a := newApplier(t)
	sid := a.open()
	a.write(0, Op{Kind: OpCreate, Path: "/p", Data: []byte("keep"), Version: AnyVersion})
	a.write(sid, Op{Kind: OpCreate, Path: "/p/e", Ephemeral: true, Version: AnyVersion})
	bk := a.f.Backup()
	var buf bytes.Buffer
	if err := bk.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	if bk.Nodes != 3 {
		t.Fatalf("backup has %d nodes, want 3", bk.Nodes)
	}
	data := buf.Bytes()
	if _, _, err := ForRestore(bytes.NewReader(data), bk.Zxid-1, 10, 0); err == nil {
		t.Fatal("ForRestore at an index below the snapshot's zxid: no error")
	}
	// The restore lands above the snapshot's zxid (the cluster's own
	// index was higher): the tree takes that index, and the sessions
	// end there.
	at := bk.Zxid + 100
	b, ended, err := ForRestore(bytes.NewReader(data), at, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ended != 1 || b.Nodes != 2 || b.Zxid != at {
		t.Fatalf("ForRestore: %d sessions ended, %d nodes, zxid %d; want 1, 2, %d", ended, b.Nodes, b.Zxid, at)
	}
	var out bytes.Buffer
	if err := b.Encode(&out); err != nil {
		t.Fatal(err)
	}
	g := New()
	if err := g.Restore(nopCloser{&out}); err != nil {
		t.Fatal(err)
	}
	if len(g.Sessions()) != 0 || g.Sizes().Results != 0 {
		t.Errorf("after restore: sessions %v, sizes %+v", g.Sessions(), g.Sizes())
	}
	if _, _, _, err := g.Get("/p/e", false); err == nil {
		t.Errorf("the ended session's ephemeral node survived")
	}
	pdata, st, _, err := g.Get("/p", false)
	if err != nil || string(pdata) != "keep" || st.NumChildren != 0 || st.Pzxid != at {
		t.Errorf("/p after restore: %q %+v %v; want no children, pzxid %d", pdata, st, err, at)
	}
	if g.Index() != at {
		t.Errorf("index after restore %d, want %d", g.Index(), at)
	}
}

// TestVerifyBackup: a file made of a header and Encode's data verifies;
// one byte changed anywhere in the data fails the checksum.
func TestVerifyBackup(t *testing.T) {
	a := newApplier(t)
	a.write(0, Op{Kind: OpCreate, Path: "/x", Data: []byte("1"), Version: AnyVersion})
	file := backupFile(t, a.f.Backup())
	h, err := VerifyBackup(bytes.NewReader(file))
	if err != nil || h.Nodes != 2 || h.Zxid != a.f.Index() {
		t.Fatalf("VerifyBackup: %+v %v", h, err)
	}
	for i := BackupHeaderSize; i < len(file); i++ {
		bad := bytes.Clone(file)
		bad[i] ^= 1
		if _, err := VerifyBackup(bytes.NewReader(bad)); !errors.Is(err, ErrBackupCorrupt) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	if _, err := VerifyBackup(bytes.NewReader(append(file, 0))); !errors.Is(err, ErrBackupCorrupt) {
		t.Errorf("trailing byte: %v", err)
	}
}

func backupFile(t *testing.T, b *Backup) []byte {
	t.Helper()
	var data bytes.Buffer
	if err := b.Encode(&data); err != nil {
		t.Fatal(err)
	}
	h := BackupHeader{Version: BackupVersion, Zxid: b.Zxid, Nodes: b.Nodes, Length: uint64(data.Len())}
	h.SHA256 = sha(data.Bytes())
	hdr, _ := h.MarshalBinary()
	return append(hdr, data.Bytes()...)
}

func sha(b []byte) [32]byte { return sha256.Sum256(b) }
