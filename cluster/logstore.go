package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	gometrics "github.com/hashicorp/go-metrics/compat"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	walfs "github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/segment"
	"github.com/hashicorp/raft-wal/types"
	"go.etcd.io/bbolt"
)

// The Raft log and the stable store (this server's term and vote) live in
// one of two stores in the data dir:
//
//   - wal/ (LogStoreWAL, hashicorp/raft-wal): segment files, appended to
//     with one fsync per batch of entries. New data dirs get it.
//   - raft.db (LogStoreBolt, raft-boltdb): one bolt file; every append is
//     a bolt transaction, which fsyncs twice (its pages, then its meta
//     page). Data dirs made before wal/ existed keep it unless told.
//
// Config.LogStore picks one. A data dir holding the other is migrated when
// the agent starts, before Raft runs: the entries and the term and vote
// are copied into a new store built beside the old one (NAME.migrating),
// which is renamed into place only once complete and synced; the old store
// is then moved aside (NAME.migrated-UNIXTIME) for the operator to remove.
// A crash during the copy leaves the old store in use and a partial new
// one, which the next start deletes; a crash after the rename leaves two
// complete copies of one log, and the next start moves aside the one not
// chosen.

// The log stores Config.LogStore names.
const (
	LogStoreWAL  = "wal"
	LogStoreBolt = "bolt"
)

// walSegmentSize is the size of a wal/ segment file, allocated when it is
// created. An entry larger than what is left of a segment still goes in
// it; the next starts a new one.
const walSegmentSize = 16 << 20

// logStore is a Raft log and stable store.
type logStore interface {
	raft.LogStore
	raft.StableStore
	Close() error
}

// logStorePath is where the store named kind lives in dir.
func logStorePath(dir, kind string) string {
	if kind == LogStoreBolt {
		return filepath.Join(dir, "raft.db")
	}
	return filepath.Join(dir, "wal")
}

// logStoreMeta is the bolt file of the store of kind in dir: raft.db
// itself, or wal/'s metadata file.
func logStoreMeta(dir, kind string) string {
	if kind == LogStoreWAL {
		return filepath.Join(logStorePath(dir, kind), "wal-meta.db")
	}
	return logStorePath(dir, kind)
}

// fileSize is path's size, -1 when it cannot be read.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

// holdsLogStore says whether dir holds a store of kind with something in
// it: a non-empty raft.db, or a wal/ with a non-empty metadata file.
func holdsLogStore(dir, kind string) bool { return fileSize(logStoreMeta(dir, kind)) > 0 }

// otherLogStore is the kind that is not kind.
func otherLogStore(kind string) string {
	if kind == LogStoreBolt {
		return LogStoreWAL
	}
	return LogStoreBolt
}

// openLogStore opens the log store Config.LogStore asks for (or, when it
// asks for none, the one the data dir holds; wal/ in a new one), migrating
// the data dir's other store into it. It refuses a missing or damaged
// store beside snapshots, as prepareDataDir says.
func (n *Node) openLogStore() (logStore, string, error) {
	dir := n.cfg.DataDir
	// Before anything is moved or removed: is another agent using them?
	for _, kind := range []string{LogStoreWAL, LogStoreBolt} {
		if m := logStoreMeta(dir, kind); fileSize(m) > 0 && errors.Is(checkBolt(m), bbolt.ErrTimeout) {
			return nil, "", fmt.Errorf("open raft store: %s is in use by another agent", logStorePath(dir, kind))
		}
	}
	for _, kind := range []string{LogStoreWAL, LogStoreBolt} {
		// A migration cut short.
		if err := os.RemoveAll(logStorePath(dir, kind) + ".migrating"); err != nil {
			return nil, "", fmt.Errorf("remove an unfinished log store migration: %w", err)
		}
	}
	want := n.cfg.LogStore
	if want == "" {
		want = LogStoreWAL
		if holdsLogStore(dir, LogStoreBolt) && !holdsLogStore(dir, LogStoreWAL) {
			want = LogStoreBolt
		}
	}
	other := otherLogStore(want)
	if holdsLogStore(dir, want) && holdsLogStore(dir, other) {
		// A migration into want was complete but the old store stayed.
		if err := n.moveAside(logStorePath(dir, other), "migrated"); err != nil {
			return nil, "", err
		}
	}
	from := want
	if !holdsLogStore(dir, want) && holdsLogStore(dir, other) {
		from = other
	}
	if !holdsLogStore(dir, from) {
		if snaps := snapshotsIn(dir); snaps > 0 {
			p := logStorePath(dir, from)
			what := "is missing"
			if _, err := os.Stat(p); err == nil {
				what = "is empty"
			}
			if err := n.damaged("%s %s but %s holds %d snapshots: the writes after the last snapshot, and this server's Raft term and vote, would be lost", p, what, filepath.Join(dir, "snapshots"), snaps); err != nil {
				return nil, "", err
			}
		}
	}
	src, err := n.openStore(from, logStorePath(dir, from))
	if err != nil || from == want {
		return src, logStorePath(dir, from), err
	}
	if err := n.migrateLogStore(src, from, want); err != nil {
		return nil, "", err
	}
	dst, err := n.openStore(want, logStorePath(dir, want))
	return dst, logStorePath(dir, want), err
}

// openStore opens (or creates) the store of kind at path. A damaged one is
// refused, or with --recover moved aside and replaced by an empty one.
func (n *Node) openStore(kind, path string) (logStore, error) {
	check := logStoreMeta(filepath.Dir(path), kind)
	if kind == LogStoreWAL && fileSize(check) == 0 {
		// raft-wal would take it for a new file and fail on it.
		if err := n.damaged("%s is damaged (%s is empty)", path, check); err != nil {
			return nil, err
		}
		if err := n.moveAside(path, "damaged"); err != nil {
			return nil, err
		}
	}
	if fileSize(check) > 0 {
		err := checkBolt(check)
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("open raft store: %s is in use by another agent", path)
		}
		if err != nil {
			if err := n.damaged("%s is damaged (%v)", path, err); err != nil {
				return nil, err
			}
			if err := n.moveAside(path, "damaged"); err != nil {
				return nil, err
			}
		}
	}
	s, err := openStoreAt(kind, path, n)
	var pathErr *fs.PathError
	var errno syscall.Errno
	if err == nil || kind != LogStoreWAL || errors.As(err, &pathErr) || errors.As(err, &errno) {
		// Not damage: a file the system would not open, a full disk.
		return s, err
	}
	// The segments did not open.
	if err := n.damaged("%s is damaged (%v)", path, err); err != nil {
		return nil, err
	}
	if err := n.moveAside(path, "damaged"); err != nil {
		return nil, err
	}
	return openStoreAt(kind, path, n)
}

// openStoreAt opens the store of kind at path as it is, or creates it.
func openStoreAt(kind, path string, n *Node) (logStore, error) {
	_, err := os.Stat(path)
	created := errors.Is(err, fs.ErrNotExist)
	s, err := openOrCreate(kind, path, n)
	if err != nil {
		return nil, err
	}
	s = measuredStore{logStore: s, exact: kind == LogStoreWAL}
	if created {
		// The store's own fsyncs cover its files, not its name in
		// the data dir.
		if err = syncDir(filepath.Dir(path)); err != nil {
			s.Close()
			return nil, fmt.Errorf("open raft store: %w", err)
		}
	}
	return s, err
}

func openOrCreate(kind, path string, n *Node) (logStore, error) {
	if kind == LogStoreBolt {
		s, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: boltOptions()})
		if err != nil {
			return nil, fmt.Errorf("open raft store: %w", err)
		}
		return s, nil
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("open raft store: %w", err)
	}
	w, err := wal.Open(path,
		wal.WithSegmentFiler(segment.NewFiler(path, privateFiles{walfs.New()})),
		wal.WithSegmentSize(walSegmentSize),
		wal.WithLogger(n.cfg.Logger.Named("wal")))
	if err != nil {
		return nil, fmt.Errorf("open raft store %s: %w", path, err)
	}
	// The metadata file is made 0644; the data dir's files are 0600.
	if err := os.Chmod(filepath.Join(path, "wal-meta.db"), 0o600); err != nil {
		// Not ours to change, as in prepareDataDir: say so, and go on.
		n.cfg.Logger.Warn("cannot make a data dir file private", "path", filepath.Join(path, "wal-meta.db"), "error", err)
	}
	return w, nil
}

// measuredStore times every append (raft_logstore_store_logs, in
// milliseconds, whichever the store: the disk's share of a write), and
// makes raft-wal's compaction exact: raft-wal deletes whole segments, and
// still reads an entry below its first index while the entry's segment
// stays. Raft must not get it: a follower that far behind gets the
// snapshot, as with raft.db.
type measuredStore struct {
	logStore
	exact bool // hide entries below FirstIndex
}

var storeLogsKey = []string{"raft", "logstore", "store_logs"}

func (s measuredStore) StoreLogs(logs []*raft.Log) error {
	defer gometrics.MeasureSince(storeLogsKey, time.Now())
	return s.logStore.StoreLogs(logs)
}

func (s measuredStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

func (s measuredStore) GetLog(index uint64, l *raft.Log) error {
	if s.exact {
		if first, err := s.logStore.FirstIndex(); err == nil && index < first {
			return raft.ErrLogNotFound
		}
	}
	return s.logStore.GetLog(index, l)
}

// IsMonotonic passes on the store's: Raft (through its log cache) drops a
// monotonic store's entries after a snapshot is installed.
func (s measuredStore) IsMonotonic() bool {
	m, ok := s.logStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

// privateFiles makes raft-wal's segment files 0600 like the rest of the
// data dir (it creates them 0644).
type privateFiles struct{ *walfs.FS }

func (p privateFiles) Create(dir, name string, size uint64) (types.WritableFile, error) {
	f, err := p.FS.Create(dir, name, size)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(filepath.Join(dir, name), 0o600); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// migrateLogStore copies src, the data dir's store of kind from, into a
// new store of kind to, and closes src. See the comment at the top.
func (n *Node) migrateLogStore(src logStore, from, to string) error {
	dir := n.cfg.DataDir
	start := time.Now()
	final := logStorePath(dir, to)
	tmp := final + ".migrating"
	dst, err := openStoreAt(to, tmp, n)
	if err != nil {
		src.Close()
		return err
	}
	covered, err := newestSnapshot(dir, n)
	if err != nil {
		src.Close()
		dst.Close()
		return err
	}
	entries, err := copyLogStore(dst, src, covered)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if cerr := src.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("migrate the raft log from %s to %s: %w", from, to, err)
	}
	if err := n.moveAside(logStorePath(dir, from), "migrated"); err != nil {
		return err
	}
	n.cfg.Logger.Info("migrated the raft log store", "from", logStorePath(dir, from), "to", final,
		"entries", entries, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// The stable store's keys, as hashicorp/raft writes them.
var (
	uint64Keys = []string{"CurrentTerm", "LastVoteTerm"}
	bytesKeys  = []string{"LastVoteCand"}
)

// newestSnapshot is the index of the newest snapshot in dir, 0 without one.
func newestSnapshot(dir string, n *Node) (uint64, error) {
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, n.cfg.Logger.Named("snapshot"))
	if err != nil {
		return 0, err
	}
	metas, err := snaps.List()
	if err != nil || len(metas) == 0 {
		return 0, err
	}
	return metas[0].Index, nil
}

// copyLogStore copies the term, the vote and every entry of src into dst,
// and says how many entries it copied. covered is the newest snapshot's
// index: a gap in src must end at or before it.
func copyLogStore(dst, src logStore, covered uint64) (int, error) {
	for _, k := range uint64Keys {
		v, err := src.GetUint64([]byte(k))
		if err != nil && err.Error() != "not found" {
			return 0, err
		}
		if err == nil {
			if err := dst.SetUint64([]byte(k), v); err != nil {
				return 0, err
			}
		}
	}
	for _, k := range bytesKeys {
		v, err := src.Get([]byte(k))
		if err != nil && err.Error() != "not found" {
			return 0, err
		}
		if err == nil && len(v) > 0 {
			if err := dst.Set([]byte(k), v); err != nil {
				return 0, err
			}
		}
	}
	first, err := src.FirstIndex()
	if err != nil {
		return 0, err
	}
	last, err := src.LastIndex()
	if err != nil {
		return 0, err
	}
	if first == 0 {
		return 0, nil
	}
	// bolt may hold a gap: after a restore, Raft writes on past it and
	// leaves the older entries, which the snapshot covers. wal/ must be
	// contiguous: copy from the gap's end.
	start := last
	for start > first {
		if err := src.GetLog(start-1, new(raft.Log)); errors.Is(err, raft.ErrLogNotFound) {
			break
		} else if err != nil {
			return 0, fmt.Errorf("read entry %d: %w", start-1, err)
		}
		start--
	}
	if start > first && start-1 > covered {
		return 0, fmt.Errorf("the log lacks entry %d, which no snapshot covers (the newest is at %d)", start-1, covered)
	}
	const batch = 256
	copied := 0
	for i := start; i <= last; {
		logs := make([]*raft.Log, 0, batch)
		for ; i <= last && len(logs) < batch; i++ {
			l := new(raft.Log)
			if err := src.GetLog(i, l); err != nil {
				return copied, fmt.Errorf("read entry %d: %w", i, err)
			}
			logs = append(logs, l)
		}
		if err := dst.StoreLogs(logs); err != nil {
			return copied, err
		}
		copied += len(logs)
	}
	return copied, nil
}

// moveAside renames path to path.WHY-UNIXTIME.
func (n *Node) moveAside(path, why string) error {
	aside := fmt.Sprintf("%s.%s-%d", path, why, time.Now().Unix())
	if err := os.Rename(path, aside); err != nil {
		return fmt.Errorf("move %s aside: %w", path, err)
	}
	n.cfg.Logger.Warn("moved the raft log store aside", "path", aside, "why", why)
	return syncDir(filepath.Dir(path))
}

// syncDir makes renames and creations in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
