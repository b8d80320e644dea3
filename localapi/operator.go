package localapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/warden-dev/warden/fsm"
	"github.com/warden-dev/warden/localapi/wire"
)

// OperatorBackend is what a Backend also implements when it can back up,
// restore and change the cluster's membership (the agent's does). Without
// it the operator ops are unknown. Errors that are *wire.Error are sent as
// they are.
type OperatorBackend interface {
	// SaveSnapshot catches up with the leader, then captures the tree.
	SaveSnapshot(ctx context.Context) (*fsm.Backup, error)
	// RestoreSnapshot sends one chunk of a snapshot file upload to the
	// leader; the final one restores it.
	RestoreSnapshot(ctx context.Context, upload string, offset uint64, data []byte, final, force bool) (*wire.RestoreResult, error)
	// RemovePeer removes a server that is not alive from the Raft
	// configuration; with forceLeave it also marks a failed agent left in
	// Serf.
	RemovePeer(ctx context.Context, name string, forceLeave bool) (*wire.PeerResult, error)
}

func init() {
	for op, h := range map[string]handler{
		wire.OpSnapshotSave: snapshotSave, wire.OpSnapshotRestore: snapshotRestore,
		wire.OpRemovePeer: removePeer, wire.OpForceLeave: removePeer,
	} {
		register(op, h)
		sessionless[op] = true
	}
}

// operator returns the backend for an operator op, refusing a peer
// without admin on the whole tree: a snapshot holds every node, a restore
// replaces them, and a membership change can cost the cluster its quorum.
func (c *conn) operator(op string) (OperatorBackend, *wire.Error) {
	ob, ok := c.s.backend.(OperatorBackend)
	if !ok {
		return nil, wire.Errorf(wire.CodeUnknownOp, "this agent cannot run "+op)
	}
	if c.level("/") < LevelAdmin {
		return nil, wire.Errorf(wire.CodePermissionDenied, op+" needs admin on / (the agent's own user and root have it)")
	}
	return ob, nil
}

func operatorError(err error) *wire.Error {
	var werr *wire.Error
	if errors.As(err, &werr) {
		return werr
	}
	return toWire(err)
}

// saveIdle is how long a snapshot_save waits for the app to ask for its
// next chunk before it lets the tree's version go.
const saveIdle = 2 * time.Minute

// saving is a snapshot_save in progress on a connection: the tree's data
// comes out of a pipe its encoder writes. The encoder holds the tree's
// version until it has written it or the pipe is closed: when the save is
// done, when a new one starts, when the connection ends, or after saveIdle
// without a request for the next chunk.
type saving struct {
	mu          sync.Mutex
	zxid, nodes uint64
	r           *io.PipeReader
	idle        *time.Timer
	offset      uint64
	sum         hash.Hash
	done        bool
}

func (s *saving) close() {
	s.idle.Stop()
	s.r.Close()
}

func snapshotSave(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
	ob, werr := c.operator(req.Op)
	if werr != nil {
		return nil, werr
	}
	c.mu.Lock()
	s := c.saving
	c.mu.Unlock()
	if req.Offset == 0 {
		b, err := ob.SaveSnapshot(ctx)
		if err != nil {
			return nil, operatorError(err)
		}
		pr, pw := io.Pipe()
		s = &saving{zxid: b.Zxid, nodes: b.Nodes, r: pr, sum: sha256.New()}
		s.idle = time.AfterFunc(saveIdle, func() { pr.CloseWithError(errors.New("no request for the next chunk within " + saveIdle.String())) })
		// The encoder ends when the data is written, or when the reader
		// is closed (by a new save or by the connection's end).
		go func() { pw.CloseWithError(b.Encode(pw)) }()
		c.mu.Lock()
		old := c.saving
		c.saving = s
		c.mu.Unlock()
		if old != nil {
			old.close()
		}
	}
	if s == nil {
		return nil, wire.Errorf(wire.CodeBadArguments, "no snapshot_save in progress on this connection: start at offset 0")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done || req.Offset != s.offset {
		return nil, wire.Errorf(wire.CodeBadArguments, fmt.Sprintf("snapshot_save at offset %d, but the save in progress is at %d", req.Offset, s.offset))
	}
	s.idle.Reset(saveIdle)
	buf := make([]byte, wire.MaxSnapshotChunk)
	n, err := io.ReadFull(s.r, buf)
	out := &wire.SnapshotChunk{Zxid: s.zxid, Nodes: s.nodes, Offset: s.offset, Data: buf[:n]}
	s.sum.Write(buf[:n])
	s.offset += uint64(n)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		s.done = true
		s.idle.Stop()
		out.Done, out.Size, out.SHA256 = true, s.offset, s.sum.Sum(nil)
	case err != nil:
		s.done = true
		s.close()
		return nil, wire.Errorf(wire.CodeInternal, "encode snapshot: "+err.Error())
	}
	return out, nil
}

func snapshotRestore(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
	ob, werr := c.operator(req.Op)
	if werr != nil {
		return nil, werr
	}
	if len(req.Data) > wire.MaxSnapshotChunk {
		return nil, wire.Errorf(wire.CodeTooLarge, fmt.Sprintf("snapshot_restore chunk of %d bytes (at most %d)", len(req.Data), wire.MaxSnapshotChunk))
	}
	c.mu.Lock()
	if req.Offset == 0 {
		id := make([]byte, 8)
		_, _ = rand.Read(id)
		c.upload = hex.EncodeToString(id)
	}
	upload := c.upload
	c.mu.Unlock()
	if upload == "" {
		return nil, wire.Errorf(wire.CodeBadArguments, "no snapshot_restore in progress on this connection: start at offset 0")
	}
	res, err := ob.RestoreSnapshot(ctx, upload, req.Offset, req.Data, req.Final, req.Force)
	if err != nil {
		return nil, operatorError(err)
	}
	return res, nil
}

func removePeer(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
	ob, werr := c.operator(req.Op)
	if werr != nil {
		return nil, werr
	}
	if req.Node == "" {
		return nil, wire.Errorf(wire.CodeBadArguments, req.Op+" needs a node (the agent's name)")
	}
	res, err := ob.RemovePeer(ctx, req.Node, req.Op == wire.OpForceLeave)
	if err != nil {
		return nil, operatorError(err)
	}
	return res, nil
}
