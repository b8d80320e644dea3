package fsm

import (
	"fmt"
	"time"
)

// EventType is the kind of change a watch hears about.
type EventType uint8

// Event types. EventResync means "the whole tree was replaced (a snapshot
// was restored): read again".
const (
	EventCreated EventType = iota + 1
	EventDeleted
	EventDataChanged
	EventChildrenChanged
	EventResync
)

func (t EventType) String() string {
	switch t {
	case EventCreated:
		return "created"
	case EventDeleted:
		return "deleted"
	case EventDataChanged:
		return "data_changed"
	case EventChildrenChanged:
		return "children_changed"
	case EventResync:
		return "resync"
	}
	return fmt.Sprintf("event(%d)", uint8(t))
}

// Event is one change to the tree, in zxid order. For created and
// data-changed events Data and Stat are the node's after the change; for
// deleted, Stat is the node's last.
type Event struct {
	Type EventType
	Path string
	Zxid uint64
	Data []byte
	Stat Stat
}

// change accumulates the effects of one log entry on a working state.
type change struct {
	st     *state
	zxid   uint64
	time   int64
	events []Event
	delays []LockDelay // lock-delays this entry starts
}

func (c *change) emit(t EventType, path string) {
	c.events = append(c.events, Event{Type: t, Path: path, Zxid: c.zxid})
}

func (c *change) emitNode(t EventType, path string, n *Node) {
	c.events = append(c.events, Event{Type: t, Path: path, Zxid: c.zxid, Data: n.Data, Stat: n.Stat})
}

// applyOps applies a write's ops in order. It stops at the first refusal and
// returns its index; the caller then discards the working state.
func (c *change) applyOps(sid uint64, ops []Op) ([]OpResult, int, *Error) {
	if len(ops) == 0 {
		return nil, 0, &Error{Code: CodeBadArguments, Msg: "a write needs at least one op"}
	}
	results := make([]OpResult, 0, len(ops))
	for i := range ops {
		r, err := c.applyOp(sid, &ops[i])
		if err != nil {
			return nil, i, err
		}
		results = append(results, r)
	}
	return results, 0, nil
}

func (c *change) applyOp(sid uint64, op *Op) (OpResult, *Error) {
	if op.TTL != 0 && op.Kind != OpCreate {
		return OpResult{}, &Error{Code: CodeBadArguments, Msg: "only a create may set a TTL"}
	}
	switch op.Kind {
	case OpCreate:
		return c.create(sid, op)
	case OpDelete:
		if err := c.guard(sid, op); err != nil {
			return OpResult{}, err
		}
		return OpResult{}, c.delete(op.Path, op.Version)
	case OpSet:
		if err := c.guard(sid, op); err != nil {
			return OpResult{}, err
		}
		return c.set(op.Path, op.Data, op.Version)
	case OpCheck:
		return c.check(op.Path, op.Version)
	case OpSetACL:
		return c.setACL(op.Path, op.Version)
	}
	return OpResult{}, &Error{Code: CodeBadArguments, Msg: fmt.Sprintf("unknown op %d", op.Kind)}
}

// guard refuses a guarded op on another session's ephemeral node. A node
// that does not exist passes: the op itself then says so.
func (c *change) guard(sid uint64, op *Op) *Error {
	if !op.Guarded || ValidatePath(op.Path) != nil {
		return nil // a bad path is the op's own refusal
	}
	if n, ok := c.st.node(op.Path); ok && n.Stat.EphemeralOwner != 0 && n.Stat.EphemeralOwner != sid {
		return errorf(CodePermissionDenied, op.Path)
	}
	return nil
}

func (c *change) create(sid uint64, op *Op) (OpResult, *Error) {
	if err := validatePath(op.Path, op.Sequential); err != nil {
		return OpResult{}, err.(*Error)
	}
	if op.Path == "/" && !op.Sequential {
		return OpResult{}, errorf(CodeNodeExists, "/")
	}
	if len(op.Data) > MaxDataSize {
		return OpResult{}, errorf(CodeTooLarge, op.Path)
	}
	if op.Ephemeral && op.Container {
		return OpResult{}, &Error{Code: CodeBadArguments, Msg: "a node cannot be both ephemeral and a container"}
	}
	if err := checkTTL(op); err != nil {
		return OpResult{}, err
	}
	if op.IfMissing && op.Sequential {
		return OpResult{}, &Error{Code: CodeBadArguments, Msg: "a sequential create always makes a new node"}
	}
	if op.Ephemeral {
		if _, ok := c.st.session(sid); !ok {
			return OpResult{}, ErrSessionExpired
		}
	}
	path := op.Path
	parentPath, _ := splitPath(path) // (path may end in "/" when sequential)
	parent, ok := c.st.node(parentPath)
	if !ok {
		return OpResult{}, errorf(CodeNoNode, parentPath)
	}
	if parent.Stat.EphemeralOwner != 0 {
		return OpResult{}, errorf(CodeNoChildrenForEphemerals, parentPath)
	}
	if op.Sequential {
		path = fmt.Sprintf("%s%010d", path, uint32(parent.Stat.Cversion))
	}
	if n, exists := c.st.node(path); exists {
		if op.IfMissing {
			return OpResult{Path: path, Stat: n.Stat}, nil
		}
		return OpResult{}, errorf(CodeNodeExists, path)
	}
	var owner uint64
	if op.Ephemeral {
		owner = sid
		c.st.ephemerals.ReplaceOrInsert(ephemeralKey(sid, path))
	}
	n := &Node{
		Data:      op.Data,
		Container: op.Container,
		Stat: Stat{
			Czxid: c.zxid, Mzxid: c.zxid, Pzxid: c.zxid,
			Ctime: c.time, Mtime: c.time,
			EphemeralOwner: owner,
			DataLength:     int32(len(op.Data)),
			TTL:            op.TTL,
		},
	}
	c.st.putNode(path, n)
	c.childrenChanged(parentPath, parent, +1)
	c.emitNode(EventCreated, path, n)
	return OpResult{Path: path, Stat: n.Stat}, nil
}

// childrenChanged records a child added (+1) or removed (-1) under parent.
func (c *change) childrenChanged(path string, parent *Node, delta int32) {
	p := *parent
	p.Stat.Cversion++
	p.Stat.NumChildren += delta
	p.Stat.Pzxid = c.zxid
	c.st.putNode(path, &p)
	c.emit(EventChildrenChanged, path)
}

func (c *change) delete(path string, version int32) *Error {
	if err := ValidatePath(path); err != nil {
		return err.(*Error)
	}
	if path == "/" {
		return &Error{Code: CodeBadArguments, Msg: "the root cannot be deleted"}
	}
	n, ok := c.st.node(path)
	if !ok {
		return errorf(CodeNoNode, path)
	}
	if version != AnyVersion && version != n.Stat.Version {
		return errorf(CodeBadVersion, path)
	}
	if n.Stat.NumChildren > 0 {
		return errorf(CodeNotEmpty, path)
	}
	c.remove(path, n)
	return nil
}

// remove deletes a childless node, then any container parent it leaves
// empty.
func (c *change) remove(path string, n *Node) {
	c.st.deleteNode(path)
	if n.Stat.EphemeralOwner != 0 {
		c.st.ephemerals.Delete(ephemeralKey(n.Stat.EphemeralOwner, path))
	}
	c.emitNode(EventDeleted, path, n)
	parentPath, _ := splitPath(path)
	parent, _ := c.st.node(parentPath)
	c.childrenChanged(parentPath, parent, -1)
	if parentPath != "/" {
		if p, _ := c.st.node(parentPath); p.Container && p.Stat.NumChildren == 0 {
			c.remove(parentPath, p)
		}
	}
}

func (c *change) set(path string, data []byte, version int32) (OpResult, *Error) {
	if ValidatePath(path) == nil && len(data) > MaxDataSize {
		return OpResult{}, errorf(CodeTooLarge, path)
	}
	n, err := c.versioned(path, version, false)
	if err != nil {
		return OpResult{}, err
	}
	m := *n
	m.Data = data
	m.Stat.Version++
	m.Stat.Mzxid = c.zxid
	m.Stat.Mtime = c.time
	m.Stat.DataLength = int32(len(data))
	c.st.putNode(path, &m)
	c.emitNode(EventDataChanged, path, &m)
	return OpResult{Stat: m.Stat}, nil
}

func (c *change) check(path string, version int32) (OpResult, *Error) {
	n, err := c.versioned(path, version, false)
	if err != nil {
		return OpResult{}, err
	}
	return OpResult{Stat: n.Stat}, nil
}

// setACL counts an ACL change: the node's Aversion goes up by one. Nothing
// else changes and no watch fires, as in ZooKeeper.
func (c *change) setACL(path string, version int32) (OpResult, *Error) {
	n, err := c.versioned(path, version, true)
	if err != nil {
		return OpResult{}, err
	}
	m := *n
	m.Stat.Aversion++
	c.st.putNode(path, &m)
	return OpResult{Stat: m.Stat}, nil
}

// versioned returns the node at path if version (unless AnyVersion) is its
// data version, or with acl its ACL version.
func (c *change) versioned(path string, version int32, acl bool) (*Node, *Error) {
	if err := ValidatePath(path); err != nil {
		return nil, err.(*Error)
	}
	n, ok := c.st.node(path)
	if !ok {
		return nil, errorf(CodeNoNode, path)
	}
	have := n.Stat.Version
	if acl {
		have = n.Stat.Aversion
	}
	if version != AnyVersion && version != have {
		return nil, errorf(CodeBadVersion, path)
	}
	return n, nil
}

// closeSession deletes a session's ephemeral nodes, its cached results and
// the session itself. With a lock-delay, the parent of each deleted node
// is held back until c.time+delayMs.
func (c *change) closeSession(sid uint64, delayMs int64) {
	c.pruneDelays()
	for _, p := range c.st.ephemeralsOf(sid) {
		if n, ok := c.st.node(p); ok {
			c.remove(p, n)
			if delayMs > 0 {
				parent, _ := splitPath(p)
				c.st.delays.ReplaceOrInsert(delayItem{path: parent, until: c.time + delayMs, delayMs: delayMs})
				c.delays = append(c.delays, LockDelay{Path: parent, Delay: time.Duration(delayMs) * time.Millisecond})
			}
		}
	}
	c.dropResults(resultItem{sid: sid}, resultItem{sid: sid + 1})
	c.st.sessions.Delete(sessionItem{id: sid})
}

// pruneDelays forgets lock-delays that have passed by the proposer's wall
// clock, with an hour to spare. Only a snapshot restore reads them: the
// agents that applied a close time its delay themselves.
func (c *change) pruneDelays() {
	var done []delayItem
	c.st.delays.Ascend(func(d delayItem) bool {
		if d.until+time.Hour.Milliseconds() <= c.time {
			done = append(done, d)
		}
		return true
	})
	for _, d := range done {
		c.st.delays.Delete(d)
	}
}

// dropResults deletes the cached results in [from, to).
func (c *change) dropResults(from, to resultItem) {
	var stale []resultItem
	c.st.results.AscendRange(from, to, func(it resultItem) bool {
		stale = append(stale, it)
		return true
	})
	for _, it := range stale {
		c.st.results.Delete(it)
	}
}
