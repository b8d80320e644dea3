package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"
)

// The data dir holds the Raft log, term and vote (wal/ or raft.db, see
// logstore.go), snapshots/ (the tree at some index, two kept) and Serf's
// files. It is private to the agent: 0700, every file 0600. An agent
// refuses to start on a data dir that would make it lose acknowledged
// writes or forget its term and vote without saying so; --recover accepts
// that loss.

// ErrDamagedDataDir is wrapped by every refusal to start on a damaged data
// dir; the message names the file and what is wrong with it.
var ErrDamagedDataDir = errors.New("damaged data dir")

// prepareDataDir creates dir and makes it and everything in it private.
// openLogStore then checks the log store against the snapshots before Raft
// opens them.
func (n *Node) prepareDataDir() error {
	dir := n.cfg.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o600)
		if d.IsDir() {
			mode = 0o700
		} else if !d.Type().IsRegular() {
			return nil
		}
		if err := os.Chmod(p, mode); errors.Is(err, fs.ErrPermission) {
			// Not ours to change (a volume owned by another user, say):
			// say so, and go on.
			n.cfg.Logger.Warn("cannot make a data dir file private", "path", p, "error", err)
			return nil
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("make the data dir private: %w", err)
	}
	return nil
}

// checkState compares the opened log and stable store with the snapshots:
// a stable store that forgot the term beside snapshots, or a log that was
// compacted with no snapshot left to start from, is damage.
func (n *Node) checkState(logs raft.LogStore, stable raft.StableStore) error {
	dir := n.cfg.DataDir
	snaps := snapshotsIn(dir)
	term, _ := stable.GetUint64([]byte("CurrentTerm"))
	if snaps > 0 && term == 0 {
		if err := n.damaged("%s holds no Raft term but %s holds %d snapshots: it was replaced or emptied", n.storePath, filepath.Join(dir, "snapshots"), snaps); err != nil {
			return err
		}
	}
	first, err := logs.FirstIndex()
	if err != nil {
		return fmt.Errorf("read the raft log: %w", err)
	}
	if first > 1 && snaps == 0 {
		return n.damaged("the log in %s starts at index %d but %s holds no snapshot of what came before", n.storePath, first, filepath.Join(dir, "snapshots"))
	}
	return nil
}

// damaged refuses to start with a message naming what is wrong, unless
// the operator passed --recover, in which case it logs the loss and goes
// on.
func (n *Node) damaged(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if n.cfg.Recover {
		n.cfg.Logger.Error("starting on a damaged data dir because of --recover: "+msg, "data_dir", n.cfg.DataDir)
		return nil
	}
	return fmt.Errorf("%w: %s; restore the data dir from a backup, or start with --recover to accept the loss", ErrDamagedDataDir, msg)
}

// snapshotsIn counts the snapshots in dir/snapshots that have metadata.
func snapshotsIn(dir string) int {
	metas, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*", "meta.json"))
	return len(metas)
}

// checkBolt checks a bolt file: that it is as long as its metadata says
// (bolt maps the file and would fault on a page past its end), then that
// bolt opens it read-only. (Bolt's full page check runs in a goroutine of
// its own, whose panics on a damaged page could not be caught here.)
func checkBolt(path string) (err error) {
	if err := checkBoltLength(path); err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return err
	}
	return db.Close()
}

// boltMagic marks a bolt meta page.
const boltMagic = 0xED0CDAED

// checkBoltLength reads bolt's two meta pages (at the start of the first
// two pages: a 16-byte page header, then magic, version, page size, flags,
// root bucket, free list, high-water page id, txid, checksum; little-endian
// on the platforms we build for) and checks that the file holds every page
// up to the high-water mark of the newest valid one.
func checkBoltLength(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	var need int64
	for page := int64(0); page < 2; page++ {
		buf := make([]byte, 16+64)
		// The first meta page tells the page size; both are read at it.
		off := page * int64(boltPageSize(f))
		if _, err := f.ReadAt(buf, off); err != nil {
			continue
		}
		m := buf[16:]
		if binary.LittleEndian.Uint32(m[0:]) != boltMagic {
			continue
		}
		h := fnv.New64a()
		h.Write(m[:56])
		if h.Sum64() != binary.LittleEndian.Uint64(m[56:]) {
			continue
		}
		psize := int64(binary.LittleEndian.Uint32(m[8:]))
		need = max(need, int64(binary.LittleEndian.Uint64(m[40:]))*psize)
	}
	if need == 0 {
		return errors.New("no valid bolt metadata")
	}
	if fi.Size() < need {
		return fmt.Errorf("cut off: its metadata needs %d bytes, the file has %d", need, fi.Size())
	}
	return nil
}

// boltPageSize reads the page size from the first meta page, or assumes
// the OS page size.
func boltPageSize(f *os.File) int {
	buf := make([]byte, 16+12)
	if _, err := f.ReadAt(buf, 0); err == nil && binary.LittleEndian.Uint32(buf[16:]) == boltMagic {
		if ps := int(binary.LittleEndian.Uint32(buf[24:])); ps >= 512 && ps <= 1<<20 {
			return ps
		}
	}
	return os.Getpagesize()
}
