package fsm

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// A backup file (warden snapshot save) is a fixed-size header, then the
// tree exactly as Persist writes it for Raft:
//
//	magic    8 bytes  "WDNSNAP\x00"
//	version  4 bytes  big-endian, BackupVersion
//	zxid     8 bytes  the index of the last entry the tree holds
//	nodes    8 bytes  the znodes, the root included
//	length   8 bytes  the bytes of tree data that follow the header
//	sha256  32 bytes  of those bytes
//
// The header is fixed-size so that a writer can stream the data first and
// fill the header in last.

// BackupVersion is the backup header's format.
const BackupVersion = 1

// BackupHeaderSize is the header's length in bytes.
const BackupHeaderSize = 8 + 4 + 8 + 8 + 8 + sha256.Size

var backupMagic = [8]byte{'W', 'D', 'N', 'S', 'N', 'A', 'P', 0}

// Backup errors.
var (
	// ErrNotBackup: the file does not start with a backup header.
	ErrNotBackup = errors.New("not a warden snapshot file (bad magic)")
	// ErrBackupCorrupt: the data does not match the header's length or
	// checksum, or does not decode.
	ErrBackupCorrupt = errors.New("snapshot file is corrupt")
)

// BackupHeader describes a backup file.
type BackupHeader struct {
	Version uint32
	Zxid    uint64
	Nodes   uint64
	Length  uint64
	SHA256  [sha256.Size]byte
}

// MarshalBinary encodes the header (always BackupHeaderSize bytes).
func (h BackupHeader) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, BackupHeaderSize)
	b = append(b, backupMagic[:]...)
	b = binary.BigEndian.AppendUint32(b, h.Version)
	b = binary.BigEndian.AppendUint64(b, h.Zxid)
	b = binary.BigEndian.AppendUint64(b, h.Nodes)
	b = binary.BigEndian.AppendUint64(b, h.Length)
	return append(b, h.SHA256[:]...), nil
}

// ReadBackupHeader reads and checks a header: its magic and version.
func ReadBackupHeader(r io.Reader) (BackupHeader, error) {
	var b [BackupHeaderSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return BackupHeader{}, fmt.Errorf("%w: shorter than its %d-byte header", ErrNotBackup, BackupHeaderSize)
		}
		return BackupHeader{}, err
	}
	if !bytes.Equal(b[:8], backupMagic[:]) {
		return BackupHeader{}, ErrNotBackup
	}
	h := BackupHeader{
		Version: binary.BigEndian.Uint32(b[8:]),
		Zxid:    binary.BigEndian.Uint64(b[12:]),
		Nodes:   binary.BigEndian.Uint64(b[20:]),
		Length:  binary.BigEndian.Uint64(b[28:]),
	}
	copy(h.SHA256[:], b[36:])
	if h.Version != BackupVersion {
		return h, fmt.Errorf("snapshot file format %d is not supported (want %d)", h.Version, BackupVersion)
	}
	return h, nil
}

// VerifyBackup reads a whole backup file: the header, then the data,
// checking its length and checksum, and that it decodes to a tree at the
// header's zxid with the header's node count. A file that passes can be
// restored.
func VerifyBackup(r io.Reader) (BackupHeader, error) {
	h, err := ReadBackupHeader(r)
	if err != nil {
		return h, err
	}
	sum := sha256.New()
	cr := &countReader{r: io.TeeReader(io.LimitReader(r, int64(h.Length)), sum)}
	st, derr := readState(cr)
	// Hash what the decoder left unread too: the checksum covers every
	// byte the header counts.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return h, err
	}
	switch {
	case cr.n != h.Length:
		return h, fmt.Errorf("%w: the header says %d bytes of data, the file holds %d (truncated?)", ErrBackupCorrupt, h.Length, cr.n)
	case !bytes.Equal(sum.Sum(nil), h.SHA256[:]):
		return h, fmt.Errorf("%w: checksum mismatch (the data is not what was saved)", ErrBackupCorrupt)
	case derr != nil:
		return h, fmt.Errorf("%w: %v", ErrBackupCorrupt, derr)
	case st.index != h.Zxid || uint64(st.nodes.Len()) != h.Nodes:
		return h, fmt.Errorf("%w: the header says zxid %d and %d nodes, the data holds zxid %d and %d nodes",
			ErrBackupCorrupt, h.Zxid, h.Nodes, st.index, st.nodes.Len())
	}
	if n, _ := io.CopyN(io.Discard, r, 1); n > 0 {
		return h, fmt.Errorf("%w: trailing bytes after the data", ErrBackupCorrupt)
	}
	return h, nil
}

type countReader struct {
	r io.Reader
	n uint64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += uint64(n)
	return n, err
}

// Backup is one published version of the tree, for a backup file: its
// zxid and node count are known at once, and Encode writes its data (the
// same bytes Persist gives Raft) while applies go on.
type Backup struct {
	Zxid  uint64
	Nodes uint64
	st    *state
}

// Backup captures the current version in O(1).
func (f *FSM) Backup() *Backup {
	st := f.current()
	return &Backup{Zxid: st.index, Nodes: uint64(st.nodes.Len()), st: st}
}

// Encode writes the version's data to w.
func (b *Backup) Encode(w io.Writer) error { return b.st.writeTo(w) }

// ForRestore reads a backup's data (as Encode writes it) for a restore into
// a cluster whose Raft snapshot will sit at index, and ends every session
// it holds as an expiry would, at that index: their ephemeral nodes are
// deleted (their parents' cversion and pzxid move to it), their cached
// results dropped, and
// the locks they held are held back for lockDelayMs from now (the
// proposer's clock, now). Those sessions belong to agents of the cluster
// the snapshot was taken from: none of them keeps them alive in the new
// one, and a session of the new cluster with the same id must not take
// them over. It returns the tree to restore and the sessions it ended.
//
// The tree's index becomes index, not the snapshot's zxid: the cluster's
// zxids must never go back, and its agents hold trees at indexes up to
// the Raft index the restore lands at. index must be at least the
// snapshot's zxid.
func ForRestore(r io.Reader, index uint64, now, lockDelayMs int64) (*Backup, int, error) {
	st, err := readState(r)
	if err != nil {
		return nil, 0, err
	}
	if index < st.index {
		return nil, 0, fmt.Errorf("restore index %d is below the snapshot's zxid %d", index, st.index)
	}
	st.index = index
	c := &change{st: st, zxid: index, time: now}
	var ids []uint64
	st.sessions.Ascend(func(it sessionItem) bool {
		ids = append(ids, it.id)
		return true
	})
	for _, id := range ids {
		c.closeSession(id, lockDelayMs)
	}
	return &Backup{Zxid: c.st.index, Nodes: uint64(c.st.nodes.Len()), st: c.st}, len(ids), nil
}
