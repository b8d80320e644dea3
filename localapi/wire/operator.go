package wire

// Operator ops for backups and membership (warden snapshot, warden operator
// remove-peer, warden force-leave). The agent allows them on a connection
// without a session, and only to a peer with admin on the whole tree ("/").
//
// snapshot_save is pulled in chunks: the request with offset 0 starts a
// save (the agent catches up with the leader, then captures its tree at a
// zxid) and answers the first chunk; each next request names the offset
// after the bytes received so far, and is answered the next chunk, until
// one says done (with the size and SHA-256 of all the data). The data is
// the tree as the agent's FSM encodes it; warden snapshot save puts a
// header before it (docs/operations.md).
//
// snapshot_restore pushes a snapshot file (header included) in chunks:
// offset 0 starts an upload, each chunk follows the last, and the one with
// final set has the leader verify the whole file and restore it. Without
// force, a cluster whose tree holds nodes besides the root refuses with
// not_empty.
const (
	OpSnapshotSave    = "snapshot_save"    // offset -> SnapshotChunk
	OpSnapshotRestore = "snapshot_restore" // data, offset, final, force -> RestoreResult
	OpRemovePeer      = "remove_peer"      // node -> PeerResult
	OpForceLeave      = "force_leave"      // node -> PeerResult
)

// MaxSnapshotChunk bounds the data of one snapshot_save answer and of one
// snapshot_restore request (well under MaxFrameSize).
const MaxSnapshotChunk = 1 << 20

// SnapshotChunk answers snapshot_save: the snapshot's zxid and node count
// (in every answer), Data at Offset, and with Done the whole data's size
// and SHA-256.
type SnapshotChunk struct {
	Zxid   uint64 `msgpack:"zxid" json:"zxid"`
	Nodes  uint64 `msgpack:"nodes" json:"nodes"`
	Offset uint64 `msgpack:"offset" json:"offset"`
	Data   []byte `msgpack:"data" json:"data"`
	Done   bool   `msgpack:"done" json:"done"`
	Size   uint64 `msgpack:"size,omitempty" json:"size"`
	SHA256 []byte `msgpack:"sha256,omitempty" json:"sha256"`
}

// RestoreResult answers snapshot_restore: with Done, the restored
// snapshot's zxid and node count (without the ephemeral nodes of the
// sessions it ended), and the Raft index the cluster goes on
// from (every later write's zxid is above it).
type RestoreResult struct {
	Done  bool   `msgpack:"done" json:"done"`
	Zxid  uint64 `msgpack:"zxid,omitempty" json:"zxid"`
	Nodes uint64 `msgpack:"nodes,omitempty" json:"nodes"`
	// SessionsEnded are the snapshot's sessions the restore ended (and
	// with them their ephemeral nodes): they belonged to the agents of
	// the cluster it was taken from.
	SessionsEnded int    `msgpack:"sessions_ended,omitempty" json:"sessions_ended"`
	Index         uint64 `msgpack:"index,omitempty" json:"index"`
}

// PeerResult answers remove_peer and force_leave: whether the agent left
// the Raft configuration and (force_leave) Serf, and the voters that remain.
type PeerResult struct {
	Node            string `msgpack:"node" json:"node"`
	RemovedFromRaft bool   `msgpack:"removed_from_raft" json:"removed_from_raft"`
	LeftSerf        bool   `msgpack:"left_serf" json:"left_serf"`
	Voters          int    `msgpack:"voters" json:"voters"`
}
