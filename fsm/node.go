package fsm

// Stat is a znode's metadata, as in ZooKeeper. Zxids are Raft indexes;
// times are milliseconds since the Unix epoch, stamped by the leader.
type Stat struct {
	Czxid          uint64 `msgpack:"czxid"`           // zxid of the create
	Mzxid          uint64 `msgpack:"mzxid"`           // zxid of the last data change
	Pzxid          uint64 `msgpack:"pzxid"`           // zxid of the last child added or removed
	Ctime          int64  `msgpack:"ctime"`           // create time
	Mtime          int64  `msgpack:"mtime"`           // last data change time
	Version        int32  `msgpack:"version"`         // data changes
	Cversion       int32  `msgpack:"cversion"`        // child additions and removals
	Aversion       int32  `msgpack:"aversion"`        // ACL changes (OpSetACL)
	EphemeralOwner uint64 `msgpack:"ephemeral_owner"` // owning session, 0 when persistent
	DataLength     int32  `msgpack:"data_length"`
	NumChildren    int32  `msgpack:"num_children"`
	// TTL is the node's time to live in milliseconds (0: none). It is set
	// at create and never changes; the node goes once TTL has passed since
	// Mtime and it has no children.
	TTL int64 `msgpack:"ttl,omitempty"`
}

// Node is one znode as stored. Nodes are immutable once in the tree: a
// change stores a new Node.
type Node struct {
	Data      []byte `msgpack:"d"`
	Stat      Stat   `msgpack:"s"`
	Container bool   `msgpack:"k,omitempty"` // removed once its last child goes
}

// Session is an open session as replicated: who owns it and how it ends.
type Session struct {
	ID        uint64 `msgpack:"id"`                  // the Raft index of its open
	TimeoutMs int64  `msgpack:"timeout"`             // expiry after this long without keepalive
	Owner     string `msgpack:"owner"`               // the agent whose app opened it
	Resumable bool   `msgpack:"resumable"`           // may outlive its connection
	Secret    []byte `msgpack:"secret,omitempty"`    // the SHA-256 of the app's secret, never the secret
	Heartbeat bool   `msgpack:"heartbeat,omitempty"` // the app must ping
	Pid       int32  `msgpack:"pid,omitempty"`
	Uid       int32  `msgpack:"uid,omitempty"`
	Gid       int32  `msgpack:"gid,omitempty"`
	Client    string `msgpack:"client,omitempty"`
	Created   int64  `msgpack:"created"` // ms since the epoch
	// AckFloor: the session's writes below this sequence have all been
	// answered, so a request below it is a stale duplicate.
	AckFloor uint64 `msgpack:"floor,omitempty"`
}
