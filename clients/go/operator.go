package warden

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/warden-dev/warden/localapi/wire"
)

// The operator calls back up and restore the cluster's tree and change its
// membership (warden snapshot, warden operator remove-peer, warden
// force-leave). They work on a connection without a session, and need
// admin on "/" (the agent's own user and root have it).

// SnapshotInfo describes a saved snapshot: the zxid it was taken at (every
// write with a zxid up to it is in it, none after), its znodes (root
// included), and the size and SHA-256 of its data.
type SnapshotInfo struct {
	Zxid   uint64
	Nodes  uint64
	Size   uint64
	SHA256 [sha256.Size]byte
}

// RestoreResult says what a restore restored, and the Raft index the
// cluster went on from: every later write's zxid is above it.
type RestoreResult = wire.RestoreResult

// PeerResult says what RemovePeer or ForceLeave did.
type PeerResult = wire.PeerResult

// SaveSnapshot writes the tree's data, as the agent's FSM encodes it, to w:
// a consistent snapshot taken once the agent has applied every write the
// leader had committed when the call arrived. The data is checked against
// the size and checksum the agent computed. warden snapshot save puts a
// header before it (fsm.BackupHeader).
func (c *Client) SaveSnapshot(ctx context.Context, w io.Writer) (*SnapshotInfo, error) {
	sum := sha256.New()
	var info SnapshotInfo
	var offset uint64
	for {
		var ch wire.SnapshotChunk
		if err := c.call(ctx, &wire.Request{Op: wire.OpSnapshotSave, Offset: offset}, &ch); err != nil {
			return nil, err
		}
		if ch.Offset != offset {
			return nil, fmt.Errorf("snapshot_save answered offset %d, asked for %d", ch.Offset, offset)
		}
		if offset == 0 {
			info.Zxid, info.Nodes = ch.Zxid, ch.Nodes
		}
		if _, err := w.Write(ch.Data); err != nil {
			return nil, err
		}
		sum.Write(ch.Data)
		offset += uint64(len(ch.Data))
		if ch.Done {
			copy(info.SHA256[:], sum.Sum(nil))
			info.Size = offset
			if ch.Size != offset || !bytes.Equal(ch.SHA256, info.SHA256[:]) {
				return nil, fmt.Errorf("snapshot data received (%d bytes) does not match what the agent sent (%d bytes, checksum %x)", offset, ch.Size, ch.SHA256)
			}
			return &info, nil
		}
		if len(ch.Data) == 0 {
			return nil, fmt.Errorf("snapshot_save answered an empty chunk at offset %d", offset)
		}
	}
}

// RestoreSnapshot uploads a snapshot file (header and data, as warden
// snapshot save writes it) through the agent to the leader, which verifies
// it and makes it the cluster's tree. Without force, a cluster whose tree
// holds nodes besides the root refuses it (CodeNotEmpty).
func (c *Client) RestoreSnapshot(ctx context.Context, r io.Reader, force bool) (*RestoreResult, error) {
	buf := make([]byte, wire.MaxSnapshotChunk)
	next := make([]byte, wire.MaxSnapshotChunk)
	n, err := io.ReadFull(r, buf)
	var offset uint64
	for {
		final := false
		var m int
		switch err {
		case io.EOF, io.ErrUnexpectedEOF:
			final = true
		case nil:
			// Read ahead: a file of a whole number of chunks ends with
			// an empty read.
			m, err = io.ReadFull(r, next)
			if m == 0 && (err == io.EOF || err == io.ErrUnexpectedEOF) {
				final = true
			} else if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
				return nil, err
			}
		default:
			return nil, err
		}
		var res wire.RestoreResult
		req := &wire.Request{Op: wire.OpSnapshotRestore, Data: buf[:n], Offset: offset, Final: final, Force: force && final}
		if err := c.call(ctx, req, &res); err != nil {
			return nil, err
		}
		if final {
			return &res, nil
		}
		offset += uint64(n)
		buf, next, n = next, buf, m
	}
}

// RemovePeer removes the server name, which must not be alive, from the
// Raft configuration at once, rather than when Serf reaps it.
func (c *Client) RemovePeer(ctx context.Context, name string) (*PeerResult, error) {
	var res wire.PeerResult
	if err := c.call(ctx, &wire.Request{Op: wire.OpRemovePeer, Node: name}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// ForceLeave marks the failed agent name as left in Serf, and removes it
// from the Raft configuration if it is there.
func (c *Client) ForceLeave(ctx context.Context, name string) (*PeerResult, error) {
	var res wire.PeerResult
	if err := c.call(ctx, &wire.Request{Op: wire.OpForceLeave, Node: name}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
