package wire

import (
	"bytes"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// ProtocolVersion is the version of the protocol this package speaks.
const ProtocolVersion = 1

// MaxMultiOps bounds the ops of one multi.
const MaxMultiOps = 1000

// Op names.
const (
	OpHello     = "hello"
	OpPing      = "ping"
	OpCreate    = "create"
	OpDelete    = "delete"
	OpSet       = "set"
	OpGet       = "get"
	OpExists    = "exists"
	OpChildren  = "children"
	OpMulti     = "multi"
	OpSync      = "sync"
	OpLock      = "lock"
	OpUnlock    = "unlock"
	OpLockCheck = "lock_check"
	OpCancel    = "cancel"
	OpCheck     = "check" // only inside a multi
	OpStatus    = "status"
	OpMembers   = "members"
	OpSessions  = "sessions"
)

// Request is every request; each op reads the fields it needs and ignores
// the rest. Optional numbers are pointers so that "absent" differs from 0.
type Request struct {
	ID   uint64 `msgpack:"id"`
	Op   string `msgpack:"op"`
	Path string `msgpack:"path,omitempty"`
	Data []byte `msgpack:"data,omitempty"`
	// Version: absent or -1 matches any version (delete, set). It is
	// decoded wide so that a value outside int32 is refused, not truncated.
	Version *int64 `msgpack:"version,omitempty"`
	// Create flags.
	Ephemeral  bool `msgpack:"ephemeral,omitempty"`
	Sequential bool `msgpack:"sequential,omitempty"`
	Container  bool `msgpack:"container,omitempty"`
	// TTLMs makes a create's node a TTL node: it is deleted once this many
	// milliseconds have passed since its last change and it has no
	// children. Only for a persistent node (not ephemeral, not a
	// container); absent or 0: no TTL.
	TTLMs int64 `msgpack:"ttl_ms,omitempty"`
	// Multi.
	Ops OpList `msgpack:"ops,omitempty"`
	// Hello.
	Protocol         int    `msgpack:"protocol,omitempty"`
	SessionTimeoutMs int64  `msgpack:"session_timeout_ms,omitempty"`
	Client           string `msgpack:"client,omitempty"`
	Resumable        bool   `msgpack:"resumable,omitempty"`  // the session may outlive the connection
	Heartbeat        bool   `msgpack:"heartbeat,omitempty"`  // the app must send a request within every timeout
	SessionID        uint64 `msgpack:"session_id,omitempty"` // resume this session...
	Secret           []byte `msgpack:"secret,omitempty"`     // ...proving it with its secret
	// Reclaim, on a resume, has the agent delete every place in line the
	// session holds (a lock, read-write lock, semaphore or election
	// contender) that is not in Holds: what requests in flight when the
	// connection dropped left queued, and grants whose reply never
	// arrived. Holds lists the keys the app holds (its leases' keys).
	Reclaim bool     `msgpack:"reclaim,omitempty"`
	Holds   []string `msgpack:"holds,omitempty"`
	// NoSession opens the connection without a session, for operators
	// and read-only tools: it works without a leader, and only the ops
	// that need no session (reads, streams, status, members, sessions,
	// the keyring ops) are allowed on it.
	NoSession bool `msgpack:"no_session,omitempty"`
	// Lock: WaitMs absent or negative waits until acquired; 0 tries once.
	WaitMs *int64 `msgpack:"wait_ms,omitempty"`
	Key    string `msgpack:"key,omitempty"`   // unlock: the lease's key
	Token  uint64 `msgpack:"token,omitempty"` // lock_check
	// Cancel: the id of the request to cancel.
	Target uint64 `msgpack:"target,omitempty"`
	// TimeoutMs, on any request but one that opens a stream, is how long
	// the app will wait for the reply: the agent gives up a little before
	// and answers why (timeout, or unavailable naming how long the cluster
	// has had no leader), so the app learns the cause instead of only
	// that its deadline passed. Absent or 0: the agent's own bounds.
	TimeoutMs int64 `msgpack:"timeout_ms,omitempty"`

	// Watches and subscriptions (see recipes.go).
	Watch    bool   `msgpack:"watch,omitempty"`     // get, exists, children: also set a one-shot watch
	Scope    string `msgpack:"scope,omitempty"`     // subscribe: node, children or subtree
	FromZxid uint64 `msgpack:"from_zxid,omitempty"` // subscribe: resume after this zxid
	// Fold (subscribe) has the agent fold every resync for the app: the
	// nodes that exist, then a deleted resync event for each path the app
	// knows that no longer exists, the last event marked synced (see
	// ChangeEvent). Known lists the paths the app knows to exist when it
	// subscribes (resuming with FromZxid); the agent keeps the set up to
	// date from the events it sends.
	Fold  bool     `msgpack:"fold,omitempty"`
	Known []string `msgpack:"known,omitempty"`
	Sub   uint64   `msgpack:"sub,omitempty"` // unsubscribe: the subscription

	// Recipes (see recipes.go).
	Job     string  `msgpack:"job,omitempty"`
	Task    string  `msgpack:"task,omitempty"`
	State   string  `msgpack:"state,omitempty"`
	Percent float64 `msgpack:"percent,omitempty"`
	Message string  `msgpack:"message,omitempty"`
	Group   string  `msgpack:"group,omitempty"`
	Member  string  `msgpack:"member,omitempty"`
	Count   int64   `msgpack:"count,omitempty"`  // semaphore leases, double-barrier size
	Delta   int64   `msgpack:"delta,omitempty"`  // counter_add
	Expect  *int64  `msgpack:"expect,omitempty"` // counter_cas
	Value   *int64  `msgpack:"value,omitempty"`  // counter_cas, counter_set

	// Operator ops (see operator.go).
	Offset uint64 `msgpack:"offset,omitempty"` // snapshot_save, snapshot_restore: where the chunk starts
	Final  bool   `msgpack:"final,omitempty"`  // snapshot_restore: the last chunk; restore now
	Force  bool   `msgpack:"force,omitempty"`  // snapshot_restore: even over a tree that holds data
	Node   string `msgpack:"node,omitempty"`   // remove_peer, force_leave: the agent's name
}

// Op is one op of a multi: create, delete, set or check.
type Op struct {
	Op         string `msgpack:"op"`
	Path       string `msgpack:"path"`
	Data       []byte `msgpack:"data,omitempty"`
	Version    *int64 `msgpack:"version,omitempty"`
	Ephemeral  bool   `msgpack:"ephemeral,omitempty"`
	Sequential bool   `msgpack:"sequential,omitempty"`
	Container  bool   `msgpack:"container,omitempty"`
	TTLMs      int64  `msgpack:"ttl_ms,omitempty"` // as Request's
}

// OpList is a multi's ops. Decoding checks the count before allocating.
type OpList []Op

// DecodeMsgpack implements msgpack.CustomDecoder.
func (l *OpList) DecodeMsgpack(d *msgpack.Decoder) error {
	n, err := d.DecodeArrayLen()
	if err != nil {
		return err
	}
	if n < 0 {
		*l = nil
		return nil
	}
	if n > MaxMultiOps {
		return fmt.Errorf("multi has %d ops, more than the limit of %d", n, MaxMultiOps)
	}
	ops := make([]Op, n)
	for i := range ops {
		if err := d.Decode(&ops[i]); err != nil {
			return fmt.Errorf("op %d: %w", i, err)
		}
	}
	*l = ops
	return nil
}

// Message is every frame the agent sends: a reply (ID set, with Result or
// Error) or an event (ID 0, Event set, with Body).
type Message struct {
	ID     uint64             `msgpack:"id"`
	Result msgpack.RawMessage `msgpack:"result,omitempty"`
	Error  *Error             `msgpack:"error,omitempty"`
	Event  string             `msgpack:"event,omitempty"`
	Sub    uint64             `msgpack:"sub,omitempty"` // the watch or subscription an event belongs to
	Body   msgpack.RawMessage `msgpack:"body,omitempty"`
}

// Event names.
const (
	// EventSession reports the session's state; Body is a SessionEvent.
	EventSession = "session"
)

// Session states.
const (
	SessionConnected = "connected"
	SessionSuspended = "suspended"
	SessionLost      = "lost"
)

// SessionEvent is the body of a session event.
type SessionEvent struct {
	State     string `msgpack:"state"`
	SessionID uint64 `msgpack:"session_id"`
}

// Stat is a znode's metadata. Zxids are the cluster's log positions; times
// are milliseconds since the Unix epoch.
type Stat struct {
	Czxid          uint64 `msgpack:"czxid" json:"czxid"`
	Mzxid          uint64 `msgpack:"mzxid" json:"mzxid"`
	Pzxid          uint64 `msgpack:"pzxid" json:"pzxid"`
	Ctime          int64  `msgpack:"ctime" json:"ctime"`
	Mtime          int64  `msgpack:"mtime" json:"mtime"`
	Version        int32  `msgpack:"version" json:"version"`
	Cversion       int32  `msgpack:"cversion" json:"cversion"`
	Aversion       int32  `msgpack:"aversion" json:"aversion"`
	EphemeralOwner uint64 `msgpack:"ephemeral_owner" json:"ephemeral_owner"`
	DataLength     int32  `msgpack:"data_length" json:"data_length"`
	NumChildren    int32  `msgpack:"num_children" json:"num_children"`
	// TTL is a TTL node's time to live in milliseconds; absent for any
	// other node.
	TTL int64 `msgpack:"ttl,omitempty" json:"ttl,omitempty"`
}

// EncodeMsgpack writes s as the reflective encoder does under Marshal
// (the same keys in the same order, integers in their smallest form),
// by hand: most replies carry a Stat, and the reflective path filters
// its fields for the omitempty ttl on every one. TestStatEncoding holds
// the two to the same bytes. Integers are written in their smallest form
// whatever the encoder's settings, as the protocol has them.
func (s Stat) EncodeMsgpack(enc *msgpack.Encoder) error {
	n := 11
	if s.TTL != 0 {
		n++
	}
	w := compactWriter{enc: enc}
	if w.err = enc.EncodeMapLen(n); w.err != nil {
		return w.err
	}
	w.uint("czxid", s.Czxid)
	w.uint("mzxid", s.Mzxid)
	w.uint("pzxid", s.Pzxid)
	w.int("ctime", s.Ctime)
	w.int("mtime", s.Mtime)
	w.int("version", int64(s.Version))
	w.int("cversion", int64(s.Cversion))
	w.int("aversion", int64(s.Aversion))
	w.uint("ephemeral_owner", s.EphemeralOwner)
	w.int("data_length", int64(s.DataLength))
	w.int("num_children", int64(s.NumChildren))
	if s.TTL != 0 {
		w.int("ttl", s.TTL)
	}
	return w.err
}

// compactWriter writes key and integer pairs, integers in their smallest
// form, keeping the first error.
type compactWriter struct {
	enc *msgpack.Encoder
	err error
}

func (w *compactWriter) uint(key string, v uint64) {
	if w.err == nil {
		w.err = w.enc.EncodeString(key)
	}
	if w.err == nil {
		w.err = w.enc.EncodeUint(v)
	}
}

func (w *compactWriter) int(key string, v int64) {
	if w.err == nil {
		w.err = w.enc.EncodeString(key)
	}
	if w.err == nil {
		w.err = w.enc.EncodeInt(v)
	}
}

// HelloResult answers hello.
type HelloResult struct {
	Protocol         int    `msgpack:"protocol"`
	SessionID        uint64 `msgpack:"session_id"`
	SessionTimeoutMs int64  `msgpack:"session_timeout_ms"`
	Agent            string `msgpack:"agent"`
	Secret           []byte `msgpack:"secret,omitempty"`    // a resumable session's secret
	Resumed          bool   `msgpack:"resumed,omitempty"`   // the hello took up an existing session
	Reclaimed        int    `msgpack:"reclaimed,omitempty"` // places in line a reclaiming resume deleted
}

// StatusResult answers status: the agent's view of the cluster.
type StatusResult struct {
	Node         string `msgpack:"node" json:"node"`
	Role         string `msgpack:"role" json:"role"`
	State        string `msgpack:"state" json:"state"` // Raft: Leader, Follower, Candidate
	Leader       string `msgpack:"leader" json:"leader"`
	Term         uint64 `msgpack:"term" json:"term"`
	CommitIndex  uint64 `msgpack:"commit_index" json:"commit_index"`
	AppliedIndex uint64 `msgpack:"applied_index" json:"applied_index"`
	Sessions     int    `msgpack:"sessions" json:"sessions"`
	Znodes       int    `msgpack:"znodes" json:"znodes"`
	// NoLeaderMs is how long this agent has had no leader: absent while
	// it has one.
	NoLeaderMs int64 `msgpack:"no_leader_ms,omitempty" json:"no_leader_ms,omitempty"`
}

// Member is one agent, as members lists them.
type Member struct {
	Name     string `msgpack:"name" json:"name"`
	Addr     string `msgpack:"addr" json:"addr"`
	RPCAddr  string `msgpack:"rpc_addr" json:"rpc_addr"`
	Role     string `msgpack:"role" json:"role"`
	Status   string `msgpack:"status" json:"status"`
	Suffrage string `msgpack:"suffrage" json:"suffrage"`
	Version  string `msgpack:"version" json:"version"`
}

// SessionInfo is one open session, as sessions lists them: who opened it
// (the app's process, as the kernel reported it to its agent) and how.
type SessionInfo struct {
	ID        uint64 `msgpack:"id" json:"id"`
	Agent     string `msgpack:"agent" json:"agent"` // the agent keeping it alive
	Pid       int32  `msgpack:"pid" json:"pid"`
	Uid       int32  `msgpack:"uid" json:"uid"`
	Gid       int32  `msgpack:"gid" json:"gid"`
	Client    string `msgpack:"client" json:"client"`
	TimeoutMs int64  `msgpack:"timeout_ms" json:"timeout_ms"`
	Resumable bool   `msgpack:"resumable" json:"resumable"`
	Heartbeat bool   `msgpack:"heartbeat" json:"heartbeat"`
	Created   int64  `msgpack:"created" json:"created"` // ms since the epoch
	// Holds are the session's ephemeral nodes, each read as the recipe
	// whose layout it follows (a lock, a lease, a candidacy...), from the
	// answering agent's replica. An addition to protocol 1: agents that
	// predate it leave it out.
	Holds []Hold `msgpack:"holds,omitempty" json:"holds"`
}

// Hold is one of a session's ephemeral nodes, as sessions reads it.
type Hold struct {
	// Kind: lock, read_lock, semaphore, queue_take, election, group,
	// task, or ephemeral (a node no recipe's layout explains).
	Kind string `msgpack:"kind" json:"kind"`
	// Path is the recipe's path (the lock, the semaphore, the queue, the
	// election, the group's or the job's node); for an ephemeral, the node.
	Path string `msgpack:"path" json:"path"`
	// Key is the session's node.
	Key string `msgpack:"key" json:"key"`
	// State: held or waiting (locks, semaphores, queue takers; groups and
	// tasks are held), leader or candidate (elections); empty for an
	// ephemeral.
	State string `msgpack:"state,omitempty" json:"state,omitempty"`
}

// SessionsResult answers sessions: every open session of the cluster.
type SessionsResult struct {
	Sessions []SessionInfo `msgpack:"sessions" json:"sessions"`
}

// MembersResult answers members.
type MembersResult struct {
	Members []Member `msgpack:"members" json:"members"`
}

// CreateResult answers create: the path created (with any sequence suffix).
type CreateResult struct {
	Path string `msgpack:"path"`
	Stat Stat   `msgpack:"stat"`
}

// StatResult answers set.
type StatResult struct {
	Stat Stat `msgpack:"stat"`
}

// GetResult answers get. Watch is the one-shot watch's id, when asked for.
type GetResult struct {
	Data  []byte `msgpack:"data"`
	Stat  Stat   `msgpack:"stat"`
	Watch uint64 `msgpack:"watch,omitempty"`
}

// ExistsResult answers exists; Stat is meaningful only when Exists.
type ExistsResult struct {
	Exists bool   `msgpack:"exists"`
	Stat   Stat   `msgpack:"stat"`
	Watch  uint64 `msgpack:"watch,omitempty"`
}

// ChildrenResult answers children: names in byte order, and the parent's Stat.
type ChildrenResult struct {
	Children []string `msgpack:"children"`
	Stat     Stat     `msgpack:"stat"`
	Watch    uint64   `msgpack:"watch,omitempty"`
}

// OpResult is one op's outcome in a MultiResult. Path is set for create.
type OpResult struct {
	Path string `msgpack:"path,omitempty"`
	Stat Stat   `msgpack:"stat"`
}

// MultiResult answers multi, one result per op in order.
type MultiResult struct {
	Results []OpResult `msgpack:"results"`
}

// SyncResult answers sync with the zxid reads are now current to.
type SyncResult struct {
	Zxid uint64 `msgpack:"zxid"`
}

// LockResult answers lock: the lease's key (its node) and fencing token.
type LockResult struct {
	Key   string `msgpack:"key"`
	Token uint64 `msgpack:"token"`
}

// LockCheckResult answers lock_check.
type LockCheckResult struct {
	Held bool `msgpack:"held"`
}

// Empty answers ops that return nothing (delete, unlock, cancel, ping).
type Empty struct{}

// DecodeRequest decodes a request frame's body. A body that is not a
// msgpack map returns a CodeBadFrame error. A map with fields of the wrong
// type returns a CodeBadArguments error, and the request with as much as
// could be read (its ID when the ID itself was readable), so the error can
// be sent as the reply to that request.
func DecodeRequest(b []byte) (*Request, *Error) {
	// msgpack decodes nil and arrays into a struct without complaint, so
	// the body's first byte must itself say "map".
	if len(b) == 0 || !isMapCode(b[0]) {
		return nil, Errorf(CodeBadFrame, "frame is not a msgpack map")
	}
	if err := scan(b); err != nil {
		return nil, Errorf(CodeBadFrame, "frame is not a msgpack map: "+err.Error())
	}
	var req Request
	if err := msgpack.Unmarshal(b, &req); err == nil {
		return &req, nil
	} else {
		id, idOK, ferr := findID(b)
		if ferr != nil {
			return nil, Errorf(CodeBadFrame, "frame is not a msgpack map")
		}
		if !idOK {
			return &Request{}, Errorf(CodeBadArguments, "request id is not an unsigned integer")
		}
		return &Request{ID: id}, Errorf(CodeBadArguments, "malformed request: "+err.Error())
	}
}

// isMapCode reports whether c starts a msgpack map: fixmap, map 16 or map 32.
func isMapCode(c byte) bool { return c&0xf0 == 0x80 || c == 0xde || c == 0xdf }

// findID walks a map with string keys for its "id" (the last, if repeated)
// without building the map: a header may claim far more entries than the
// frame holds. idOK is false when the id is there but not an unsigned
// integer; err is set when b is not such a map.
func findID(b []byte) (id uint64, idOK bool, err error) {
	d := msgpack.NewDecoder(bytes.NewReader(b))
	n, err := d.DecodeMapLen()
	if err != nil {
		return 0, false, err
	}
	idOK = true
	for i := 0; i < n; i++ {
		key, err := d.DecodeString()
		if err != nil {
			return 0, false, err
		}
		if key != "id" {
			if err := d.Skip(); err != nil {
				return 0, false, err
			}
			continue
		}
		raw, err := d.DecodeRaw()
		if err != nil {
			return 0, false, err
		}
		id, idOK = 0, false
		var v uint64
		if msgpack.Unmarshal(raw, &v) == nil {
			id, idOK = v, true
		}
	}
	return id, idOK, nil
}
