package zkapi

import (
	"errors"
	"fmt"

	"github.com/warden-dev/warden/fsm"
)

// Opcodes (ZooDefs.OpCode).
const (
	opNotification         int32 = 0
	opCreate               int32 = 1
	opDelete               int32 = 2
	opExists               int32 = 3
	opGetData              int32 = 4
	opSetData              int32 = 5
	opGetACL               int32 = 6
	opSetACL               int32 = 7
	opGetChildren          int32 = 8
	opSync                 int32 = 9
	opPing                 int32 = 11
	opGetChildren2         int32 = 12
	opCheck                int32 = 13
	opMulti                int32 = 14
	opCreate2              int32 = 15
	opReconfig             int32 = 16
	opCheckWatches         int32 = 17
	opRemoveWatches        int32 = 18
	opCreateContainer      int32 = 19
	opDeleteContainer      int32 = 20
	opCreateTTL            int32 = 21
	opMultiRead            int32 = 22
	opAuth                 int32 = 100
	opSetWatches           int32 = 101
	opSASL                 int32 = 102
	opGetEphemerals        int32 = 103
	opGetAllChildrenNumber int32 = 104
	opSetWatches2          int32 = 105
	opAddWatch             int32 = 106
	opWhoAmI               int32 = 107
	opCloseSession         int32 = -11
	opError                int32 = -1
)

// Special xids.
const (
	xidNotification int32 = -1
	xidPing         int32 = -2
	xidAuth         int32 = -4
)

// Error codes (KeeperException.Code), exactly as ZooKeeper's.
const (
	errOK                      int32 = 0
	errSystemError             int32 = -1
	errRuntimeInconsistency    int32 = -2
	errMarshallingError        int32 = -5
	errUnimplemented           int32 = -6
	errBadArguments            int32 = -8
	errNoNode                  int32 = -101
	errNoAuth                  int32 = -102
	errBadVersion              int32 = -103
	errNoChildrenForEphemerals int32 = -108
	errNodeExists              int32 = -110
	errNotEmpty                int32 = -111
	errSessionExpired          int32 = -112
	errInvalidACL              int32 = -114
	errAuthFailed              int32 = -115
	errSessionMoved            int32 = -118
	errNoWatcher               int32 = -121
	errReconfigDisabled        int32 = -123
)

// opNames name the opcodes for metrics; any other is "other".
var opNames = map[int32]string{
	opCreate: "create", opDelete: "delete", opExists: "exists", opGetData: "getData", opSetData: "setData",
	opGetACL: "getACL", opSetACL: "setACL", opGetChildren: "getChildren", opSync: "sync", opPing: "ping",
	opGetChildren2: "getChildren2", opCheck: "check", opMulti: "multi", opCreate2: "create2", opReconfig: "reconfig",
	opCheckWatches: "checkWatches", opRemoveWatches: "removeWatches", opCreateContainer: "createContainer",
	opCreateTTL: "createTTL", opMultiRead: "multiRead", opAuth: "auth", opSetWatches: "setWatches",
	opGetEphemerals: "getEphemerals", opGetAllChildrenNumber: "getAllChildrenNumber", opSetWatches2: "setWatches2",
	opAddWatch: "addWatch", opCloseSession: "closeSession",
}

// OpName is the name of a ZooKeeper opcode, as metrics label it.
func OpName(op int32) string {
	if n, ok := opNames[op]; ok {
		return n
	}
	return "other"
}

// codeNames are ZooKeeper's names of the codes this server sends.
var codeNames = map[int32]string{
	errOK: "OK", errSystemError: "SYSTEMERROR", errRuntimeInconsistency: "RUNTIMEINCONSISTENCY",
	errMarshallingError: "MARSHALLINGERROR", errUnimplemented: "UNIMPLEMENTED", errBadArguments: "BADARGUMENTS",
	errNoNode: "NONODE", errNoAuth: "NOAUTH", errBadVersion: "BADVERSION",
	errNoChildrenForEphemerals: "NOCHILDRENFOREPHEMERALS", errNodeExists: "NODEEXISTS", errNotEmpty: "NOTEMPTY",
	errSessionExpired: "SESSIONEXPIRED", errInvalidACL: "INVALIDACL", errNoWatcher: "NOWATCHER",
	errSessionMoved: "SESSIONMOVED",
}

// CodeName is ZooKeeper's name of an error code ("OK" for 0).
func CodeName(code int32) string {
	if n, ok := codeNames[code]; ok {
		return n
	}
	return fmt.Sprint(code)
}

// codeOf maps a refusal of the tree to ZooKeeper's code. Warden's
// too-large (a value over 1 MiB) has no ZooKeeper code (ZooKeeper drops
// the connection on an oversized packet) and is bad arguments here; a
// guarded write refused is ZooKeeper's no-auth.
func codeOf(err error) int32 {
	var fe *fsm.Error
	if !errors.As(err, &fe) {
		return errSystemError
	}
	switch fe.Code {
	case fsm.CodeOK:
		return errOK
	case fsm.CodeNoNode:
		return errNoNode
	case fsm.CodeNodeExists:
		return errNodeExists
	case fsm.CodeBadVersion:
		return errBadVersion
	case fsm.CodeNotEmpty:
		return errNotEmpty
	case fsm.CodeNoChildrenForEphemerals:
		return errNoChildrenForEphemerals
	case fsm.CodeBadArguments, fsm.CodeTooLarge:
		return errBadArguments
	case fsm.CodeSessionExpired:
		return errSessionExpired
	case fsm.CodePermissionDenied:
		return errNoAuth
	case fsm.CodeStaleRequest:
		// A write this agent numbered before the session was resumed
		// through another agent.
		return errSessionMoved
	}
	return errSystemError
}

// Watcher event types (Watcher.Event.EventType) and the one state sent.
const (
	eventNodeCreated         int32 = 1
	eventNodeDeleted         int32 = 2
	eventNodeDataChanged     int32 = 3
	eventNodeChildrenChanged int32 = 4
	stateSyncConnected       int32 = 3
)

// Watcher types of checkWatches and removeWatches (Watcher.WatcherType).
const (
	watcherChildren            int32 = 1
	watcherData                int32 = 2
	watcherAny                 int32 = 3
	watcherPersistent          int32 = 4
	watcherPersistentRecursive int32 = 5
)

// addWatch modes (AddWatchMode).
const (
	addWatchPersistent          int32 = 0
	addWatchPersistentRecursive int32 = 1
)

// createMode is a create's flags (CreateMode), decoded.
type createMode struct {
	ephemeral, sequential, container, ttl bool
}

func parseCreateMode(flags int32) (createMode, error) {
	switch flags {
	case 0:
		return createMode{}, nil
	case 1:
		return createMode{ephemeral: true}, nil
	case 2:
		return createMode{sequential: true}, nil
	case 3:
		return createMode{ephemeral: true, sequential: true}, nil
	case 4:
		return createMode{container: true}, nil
	case 5:
		return createMode{ttl: true}, nil
	case 6:
		return createMode{sequential: true, ttl: true}, nil
	}
	return createMode{}, fmt.Errorf("unknown create flags %d", flags)
}

// Permissions: the only ACL Warden holds is world:anyone with all of them.
const permAll int32 = 31

// acl is one entry of an ACL vector.
type acl struct {
	perms      int32
	scheme, id string
}

func (d *decoder) acls() []acl {
	n := d.count(12)
	out := make([]acl, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, acl{perms: d.int(), scheme: d.string(), id: d.string()})
	}
	return out
}

// openACL reports whether v is ZooKeeper's OPEN_ACL_UNSAFE: one or more
// entries, each world:anyone with every permission. Warden keeps no ACLs,
// so it accepts only the one ACL it can honour.
func openACL(v []acl) bool {
	if len(v) == 0 {
		return false
	}
	for _, a := range v {
		if a.perms != permAll || a.scheme != "world" || a.id != "anyone" {
			return false
		}
	}
	return true
}

func (e *encoder) openACL() {
	e.int(1)
	e.int(permAll)
	e.string("world")
	e.string("anyone")
}

// stat writes a Stat in jute's field order. A TTL node's or a
// container's ephemeralOwner is 0, as ZooKeeper's servers show it to
// clients (they keep the node's type there, but never send it).
func (e *encoder) stat(s fsm.Stat) {
	owner := int64(s.EphemeralOwner)
	e.long(int64(s.Czxid))
	e.long(int64(s.Mzxid))
	e.long(s.Ctime)
	e.long(s.Mtime)
	e.int(s.Version)
	e.int(s.Cversion)
	e.int(s.Aversion)
	e.long(owner)
	e.int(s.DataLength)
	e.int(s.NumChildren)
	e.long(int64(s.Pzxid))
}

// connectRequest opens or resumes a session. ReadOnly is an optional
// trailing field (clients since 3.4 send it).
type connectRequest struct {
	ProtocolVersion int32
	LastZxidSeen    int64
	TimeOut         int32
	SessionID       int64
	Passwd          []byte
	ReadOnly        bool
}

func decodeConnect(b []byte) (*connectRequest, error) {
	d := newDecoder(b)
	r := &connectRequest{ProtocolVersion: d.int(), LastZxidSeen: d.long(), TimeOut: d.int(), SessionID: d.long(), Passwd: d.buffer()}
	if d.err == nil && d.off < len(d.b) {
		r.ReadOnly = d.bool()
	}
	if d.err != nil { // bytes after it are ignored, as ZooKeeper ignores them
		return nil, fmt.Errorf("connect request: %w", d.err)
	}
	return r, nil
}

// connectResponse is the handshake's reply; a timeout of 0 with session
// 0 tells the client its session expired.
func connectResponse(timeout int32, session int64, passwd []byte) []byte {
	var e encoder
	e.int(0) // protocol version
	e.int(timeout)
	e.long(session)
	if passwd == nil {
		passwd = make([]byte, 16)
	}
	e.buffer(passwd)
	e.bool(false) // not read-only
	return e.b
}

// replyHeader starts every reply and notification.
func replyHeader(xid int32, zxid uint64, err int32) encoder {
	var e encoder
	e.b = make([]byte, 0, 64)
	e.int(xid)
	e.long(int64(zxid))
	e.int(err)
	return e
}
