package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/fsm"
)

// Backup and restore (warden snapshot). A save is served by any agent: it
// first applies everything the leader had committed when the save arrived
// (Sync), then captures its tree, which is consistent at a known zxid. A
// restore is uploaded in chunks through any agent to the leader, which
// spools it to its data dir, verifies it whole and hands it to Raft's user
// restore, which installs it on every server.

// Restore errors, as a caller sees them (through the RPC too).
var (
	// ErrNotEmpty: the cluster's tree holds nodes besides the root, and
	// the restore was not forced.
	ErrNotEmpty = errors.New("the cluster's tree already holds data")
)

// restoreTimeout bounds the leader's part of a restore once the whole
// file is there: verifying it and Raft installing it.
const restoreTimeout = 2 * time.Minute

// restoreIndexGap is how far above the cluster's last Raft index a
// restore lands (see restoreFile): zxids jump by about this much at a
// restore.
const restoreIndexGap = 1 << 20

// MaxRestoreChunk bounds one chunk of a restore upload.
const MaxRestoreChunk = 4 << 20

// SaveSnapshot returns the tree as of a point no earlier than the call:
// this agent first applies every write the leader had committed then.
func (n *Node) SaveSnapshot(ctx context.Context) (*fsm.Backup, error) {
	if _, err := n.Sync(ctx); err != nil {
		return nil, err
	}
	return n.fsm.Backup(), nil
}

// RestoreChunk is one piece of a restore upload: the bytes of a backup file
// (header included) at Offset. Upload names the upload; a chunk at offset 0
// starts a new one, abandoning any other. Final ends it: the leader then
// verifies the file and restores it.
type RestoreChunk struct {
	Upload string `msgpack:"upload"`
	Offset uint64 `msgpack:"offset"`
	Data   []byte `msgpack:"data"`
	Final  bool   `msgpack:"final"`
	Force  bool   `msgpack:"force"`
}

// RestoreResult says what a finished upload restored: the snapshot's zxid
// and nodes (after its sessions' ephemeral nodes went), and the Raft index
// the cluster went on from (above the zxid).
type RestoreResult struct {
	Done  bool   `msgpack:"done"` // the upload was final and is restored
	Zxid  uint64 `msgpack:"zxid"` // the snapshot's
	Nodes uint64 `msgpack:"nodes"`
	// Sessions are the snapshot's sessions the restore ended.
	Sessions int `msgpack:"sessions"`
	// Index is where the restore landed: the restored tree's index, the
	// zxid every later write is above.
	Index uint64 `msgpack:"index"`
}

// Restore sends one chunk of a restore upload to the leader.
func (n *Node) Restore(ctx context.Context, c *RestoreChunk) (*RestoreResult, error) {
	if len(c.Data) > MaxRestoreChunk {
		return nil, fmt.Errorf("%w: restore chunk of %d bytes (at most %d)", ErrBadRequest, len(c.Data), MaxRestoreChunk)
	}
	if n.IsLeader() {
		return n.restores.chunk(ctx, n, c)
	}
	addr, _ := n.raft.LeaderWithID()
	if addr == "" {
		return nil, ErrUnavailable
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, restoreTimeout+10*time.Second)
		defer cancel()
	}
	body, err := msgpack.Marshal(c)
	if err != nil {
		return nil, err
	}
	var res RestoreResult
	if err := n.rpc.call(ctx, string(addr), rpcRestore, body, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// restoreIdle is how long the leader keeps a restore upload that gets no
// chunk (its sender gave up, or this node lost the leadership meanwhile)
// before it drops it and its file.
const restoreIdle = 2 * time.Minute

// restores is the leader's one restore upload in progress.
type restores struct {
	mu     sync.Mutex
	upload string
	f      *os.File
	size   uint64
	limit  uint64      // the file's size, as its header says (0: header not yet seen)
	idle   *time.Timer // drops the upload after restoreIdle without a chunk
}

// chunk takes one chunk; with the final one it restores the file.
func (r *restores) chunk(ctx context.Context, n *Node, c *RestoreChunk) (*RestoreResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.Offset == 0 {
		r.drop()
		f, err := os.CreateTemp(n.cfg.DataDir, "restore-*.tmp")
		if err != nil {
			return nil, err
		}
		r.upload, r.f, r.size = c.Upload, f, 0
		upload := c.Upload
		r.idle = time.AfterFunc(restoreIdle, func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.upload == upload {
				n.cfg.Logger.Warn("dropped a restore upload that got no chunk for a while", "upload", upload, "idle", restoreIdle.String())
				r.drop()
			}
		})
	}
	if r.f == nil || r.upload != c.Upload || r.size != c.Offset {
		return nil, fmt.Errorf("%w: restore upload %q at offset %d is not the one this leader is taking (start again)", ErrRefused, c.Upload, c.Offset)
	}
	r.idle.Reset(restoreIdle)
	if r.limit == 0 && r.size+uint64(len(c.Data)) >= fsm.BackupHeaderSize {
		// The header names the data's length: nothing past it is taken,
		// so an upload cannot fill the leader's disk.
		h, err := fsm.ReadBackupHeader(io.MultiReader(io.NewSectionReader(r.f, 0, int64(r.size)), bytes.NewReader(c.Data)))
		if err != nil {
			r.drop()
			return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
		r.limit = fsm.BackupHeaderSize + h.Length
	}
	if r.limit != 0 && r.size+uint64(len(c.Data)) > r.limit {
		r.drop()
		return nil, fmt.Errorf("%w: the restore upload is longer than the %d bytes its header declares", ErrBadRequest, r.limit)
	}
	if _, err := r.f.Write(c.Data); err != nil {
		r.drop()
		return nil, err
	}
	r.size += uint64(len(c.Data))
	if !c.Final {
		return &RestoreResult{}, nil
	}
	defer r.drop()
	return n.restoreFile(ctx, r.f, c.Force)
}

// drop abandons the upload in progress, if any.
func (r *restores) drop() {
	if r.idle != nil {
		r.idle.Stop()
	}
	if r.f != nil {
		r.f.Close()
		os.Remove(r.f.Name())
	}
	r.upload, r.f, r.size, r.limit, r.idle = "", nil, 0, 0, nil
}

// restoreFile verifies the backup file f and, on the leader, makes it the
// cluster's state through Raft's user restore. The snapshot keeps its zxid
// as meta.Index, so Raft continues above it and every later write's zxid
// is greater than every zxid in the snapshot.
func (n *Node) restoreFile(ctx context.Context, f *os.File, force bool) (*RestoreResult, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	// Verify before Raft sees it: Raft panics on a snapshot its FSM
	// cannot restore.
	h, err := fsm.VerifyBackup(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if !force {
		// Sync first: the count must cover every committed write.
		if err := await(ctx, n.raft.Barrier(n.timeout(ctx))); err != nil {
			return nil, translate(err)
		}
		if c := n.fsm.NodeCount(); c > 1 {
			return nil, fmt.Errorf("%w: %d znodes besides the root; restoring would replace them (use --force to do it anyway)", ErrNotEmpty, c-1)
		}
	}
	if _, err := f.Seek(fsm.BackupHeaderSize, io.SeekStart); err != nil {
		return nil, err
	}
	// Where the restore lands. Raft stores a user snapshot at
	// max(meta.Index, its last index) + 1; the tree must carry that index
	// too, or this cluster's zxids would go back (its agents hold trees up
	// to the last index, and subscriptions resuming from a zxid above the
	// tree's would miss the restore). The tree is encoded before Raft
	// runs the restore, so meta.Index is set restoreIndexGap above the
	// last index: the restore lands exactly at meta.Index+1 unless that
	// many entries are appended meanwhile.
	at := max(h.Zxid, n.raft.LastIndex()) + restoreIndexGap
	// The snapshot's sessions end here, as expired: see fsm.ForRestore.
	b, ended, err := fsm.ForRestore(f, at+1, now(), n.cfg.LockDelay.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	data, err := os.CreateTemp(n.cfg.DataDir, "restore-*.tmp")
	if err != nil {
		return nil, err
	}
	defer func() {
		data.Close()
		os.Remove(data.Name())
	}()
	if err := b.Encode(data); err != nil {
		return nil, err
	}
	size, err := data.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	if _, err := data.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: at, Size: size}
	if err := n.raft.Restore(meta, data, restoreTimeout); err != nil {
		return nil, translate(err)
	}
	if si, _ := strconv.ParseUint(n.raft.Stats()["last_snapshot_index"], 10, 64); si > b.Zxid {
		// More than restoreIndexGap entries were appended while the tree
		// was encoded (or Raft snapshotted since): the tree's index may
		// be below entries the agents had applied.
		n.cfg.Logger.Error("the restored tree's index is below Raft's snapshot index", "tree", b.Zxid, "raft_snapshot", si)
	}
	n.cfg.Logger.Info("restored a snapshot", "zxid", h.Zxid, "nodes", b.Nodes, "sessions_ended", ended, "index", b.Zxid)
	return &RestoreResult{Done: true, Zxid: h.Zxid, Nodes: b.Nodes, Sessions: ended, Index: b.Zxid}, nil
}

// restoreRPC answers rpcRestore on the leader.
func (n *Node) restoreRPC(ctx context.Context, body []byte) (any, error) {
	var c RestoreChunk
	if err := msgpack.NewDecoder(bytes.NewReader(body)).Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: restore: %v", ErrBadRequest, err)
	}
	ctx, cancel := context.WithTimeout(ctx, restoreTimeout)
	defer cancel()
	return n.restores.chunk(ctx, n, &c)
}

// cleanRestores removes upload files a previous run left in the data dir.
func cleanRestores(dir string) {
	old, _ := filepath.Glob(filepath.Join(dir, "restore-*.tmp"))
	for _, p := range old {
		os.Remove(p)
	}
}
