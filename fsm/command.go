package fsm

import (
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// CommandType is the first byte of a log entry; the msgpack body follows.
type CommandType uint8

// Command types. Numbers are part of the log format and never change.
const (
	CmdOpenSession  CommandType = 1
	CmdCloseSession CommandType = 2
	CmdWrite        CommandType = 3
	CmdResume       CommandType = 4
	// CmdExpireTTL deletes TTL nodes whose time has come. Only the leader
	// proposes it (ActorOf marks it LeaderOnly); it is not optional, so it
	// does not carry IgnoreUnknownFlag.
	CmdExpireTTL CommandType = 5

	// IgnoreUnknownFlag marks a command that an agent which does not know
	// its type may skip instead of failing. Only optional commands set it.
	IgnoreUnknownFlag CommandType = 0x80
)

// OpKind is one write operation in a transaction.
type OpKind uint8

// Write operations.
const (
	OpCreate OpKind = 1
	OpDelete OpKind = 2
	OpSet    OpKind = 3
	OpCheck  OpKind = 4
	// OpSetACL counts an ACL change on the node: Version, when not
	// AnyVersion, must be its Aversion, which goes up by one. Warden keeps
	// no ACLs (the ZooKeeper port accepts only world:anyone); the count
	// is kept so that ZooKeeper clients see the Stat ZooKeeper shows.
	OpSetACL OpKind = 5
)

func (k OpKind) String() string {
	switch k {
	case OpCreate:
		return "create"
	case OpDelete:
		return "delete"
	case OpSet:
		return "set"
	case OpCheck:
		return "check"
	case OpSetACL:
		return "setACL"
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// AnyVersion matches every version in delete, set and check.
const AnyVersion int32 = -1

// Op is one operation of a write. Version is AnyVersion or the version the
// node must have.
type Op struct {
	Kind       OpKind `msgpack:"k"`
	Path       string `msgpack:"p"`
	Data       []byte `msgpack:"d,omitempty"`
	Version    int32  `msgpack:"v"`
	Ephemeral  bool   `msgpack:"e,omitempty"`
	Sequential bool   `msgpack:"s,omitempty"`
	Container  bool   `msgpack:"c,omitempty"`
	// IfMissing makes a create of an existing node succeed without
	// changing it (its result is the node as it is). Recipes create the
	// containers their nodes live in with it, so a container created or
	// removed by another client meanwhile cannot fail their write.
	IfMissing bool `msgpack:"m,omitempty"`
	// Guarded makes a set or delete of another session's ephemeral node
	// fail with CodePermissionDenied. The agent guards an app's raw writes
	// unless its access policy grants admin on the path: one app must not
	// delete or rewrite what another live app holds (its lock contender,
	// its group membership). Recipes write without it: a task report may
	// update a task another session created, by design.
	Guarded bool `msgpack:"g,omitempty"`
	// TTL, in milliseconds, makes a create's node a TTL node: once TTL has
	// passed since its last modification (Mtime) and it has no children,
	// the leader deletes it (CmdExpireTTL). Only a create of a persistent
	// node (sequential or not; not ephemeral, not a container) may carry
	// one, between 1 and MaxTTL.
	TTL int64 `msgpack:"ttl,omitempty"`
}

// Write applies Ops all-or-nothing on behalf of Session. (Session, Seq)
// identifies the request: a retry with the same pair returns the first
// outcome instead of applying twice. Seq 0 disables deduplication.
// MinUnacked tells the FSM that the caller holds the outcome of every
// request below it, so their cached results can go.
type Write struct {
	Session    uint64 `msgpack:"sid"`
	Seq        uint64 `msgpack:"seq"`
	MinUnacked uint64 `msgpack:"min"`
	Time       int64  `msgpack:"t"` // ms since the epoch, stamped by the proposer
	Ops        []Op   `msgpack:"ops"`
}

// OpenSession starts a session; its id is the entry's index.
type OpenSession struct {
	Time    int64   `msgpack:"t"`
	Session Session `msgpack:"s"`
}

// CloseReason says why a session ended.
type CloseReason uint8

// Close reasons.
const (
	CloseClean   CloseReason = 1 // the app closed it or its process exited
	CloseExpired CloseReason = 2 // no keepalive within its timeout
)

// CloseSession ends a session and deletes its ephemeral nodes. When the
// session expired, LockDelayMs holds back the locks it held: the parent of
// each deleted ephemeral node records a lock-delay until Time+LockDelayMs.
type CloseSession struct {
	Time        int64       `msgpack:"t"`
	Session     uint64      `msgpack:"sid"`
	Reason      CloseReason `msgpack:"r"`
	LockDelayMs int64       `msgpack:"delay,omitempty"`
}

// Resume hands a resumable session to Owner, an agent the app reconnected
// through. Secret, the SHA-256 of the secret the app gave, must match the
// session's.
type Resume struct {
	Time    int64  `msgpack:"t"`
	Session uint64 `msgpack:"sid"`
	Secret  []byte `msgpack:"secret"`
	Owner   string `msgpack:"owner"`
}

// OpResult is the outcome of one op of a write.
type OpResult struct {
	Path string `msgpack:"p,omitempty"` // the created path (with its sequence suffix)
	Stat Stat   `msgpack:"s"`
}

// Result is the outcome of a command. When Err is set, Failed is the index
// of the op that was refused and nothing was applied.
type Result struct {
	Err     *Error     `msgpack:"err,omitempty"`
	Failed  int        `msgpack:"failed,omitempty"`
	Ops     []OpResult `msgpack:"ops,omitempty"`
	Session uint64     `msgpack:"sid,omitempty"`
	Zxid    uint64     `msgpack:"zxid"`
	// MaxSeq answers Resume: the new owner numbers its writes after it.
	// It starts a fresh epoch above every sequence the old owner used
	// (whose writes still in flight are then refused as stale).
	MaxSeq uint64 `msgpack:"maxseq,omitempty"`
}

// Error returns the refusal as an error, or nil.
func (r *Result) Error() error {
	if r == nil || r.Err == nil {
		return nil
	}
	return r.Err
}

// Encode turns a command into a log entry.
func Encode(t CommandType, body any) ([]byte, error) {
	b, err := msgpack.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %d command: %w", t, err)
	}
	out := make([]byte, 0, len(b)+1)
	out = append(out, byte(t))
	return append(out, b...), nil
}

// Check reports whether entry is a log entry this FSM can apply: a known
// command type (or one marked safe to ignore) with a body that decodes.
// Entries are checked before they are proposed, because Apply treats an
// undecodable entry as a corrupt log.
func Check(entry []byte) error {
	_, err := decode(entry)
	return err
}

// decode returns entry's body, decoded (nil for an unknown command that
// may be ignored).
func decode(entry []byte) (any, error) {
	if len(entry) == 0 {
		return nil, errors.New("empty log entry")
	}
	t := CommandType(entry[0])
	c, ok := commands[t]
	if !ok {
		if t&IgnoreUnknownFlag != 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("unknown command type %d", t)
	}
	body := c.body()
	if err := msgpack.Unmarshal(entry[1:], body); err != nil {
		return nil, fmt.Errorf("command %d does not decode: %w", t, err)
	}
	return body, nil
}

// Actor says on whose behalf a log entry acts, so that the leader can hold
// a forwarding agent to acting as itself.
type Actor struct {
	// Session is the session the entry writes as, closes or takes up (0
	// for none).
	Session uint64
	// Owner is the agent the entry names as a session's owner: the one
	// opening it, or the one taking it up (TakesOver).
	Owner     string
	TakesOver bool
	// LeaderOnly: only the leader may propose the entry (a TTL expiry);
	// one forwarded by another agent must be refused.
	LeaderOnly bool
}

// ActorOf decodes entry far enough to say on whose behalf it acts.
func ActorOf(entry []byte) (Actor, error) {
	body, err := decode(entry)
	if err != nil {
		return Actor{}, err
	}
	switch b := body.(type) {
	case *Write:
		return Actor{Session: b.Session}, nil
	case *OpenSession:
		return Actor{Owner: b.Session.Owner}, nil
	case *CloseSession:
		return Actor{Session: b.Session}, nil
	case *Resume:
		return Actor{Session: b.Session, Owner: b.Owner, TakesOver: true}, nil
	case *ExpireTTL:
		return Actor{LeaderOnly: true}, nil
	}
	return Actor{}, nil
}
