package zkapi

import (
	"errors"
	"strings"

	"github.com/warden-dev/warden/fsm"
)

// reply is what a request's handler decided.
type reply struct {
	err        int32
	zxid       uint64 // 0: the index applied here when the reply goes out
	body       encoder
	watches    []oneShot          // registered after the reply
	persistent []*persistentWatch // likewise
	notes      []note             // notifications to send before the reply
	drop       bool               // close the connection without a reply
	closeAfter bool               // close the connection after the reply
}

func failed(code int32) reply { return reply{err: code} }

// undecodable: a request whose record does not deserialize gets
// MARSHALLINGERROR, as from ZooKeeper's servers; the connection goes on.
// Bytes after the record are ignored, as ZooKeeper's servers ignore them.
var undecodable = reply{err: errMarshallingError}

// dispatch runs one request.
func (c *conn) dispatch(r request) reply {
	d := newDecoder(r.body)
	switch r.op {
	case opCreate, opCreate2, opCreateContainer, opCreateTTL:
		return c.create(d, r.op)
	case opDelete:
		path, version := d.string(), d.int()
		if d.err != nil {
			return undecodable
		}
		if malformed(path) {
			// ZooKeeper's servers refuse only a path without a slash
			// or with a NUL; any other is looked up, and is not there.
			if !strings.Contains(path, "/") || strings.ContainsRune(path, 0) {
				return failed(errBadArguments)
			}
			return failed(errNoNode)
		}
		return c.write(fsm.Op{Kind: fsm.OpDelete, Path: path, Version: version}, func(*encoder, fsm.OpResult) {})
	case opSetData:
		path, data, version := d.string(), d.buffer(), d.int()
		if d.err != nil {
			return undecodable
		}
		return c.write(fsm.Op{Kind: fsm.OpSet, Path: path, Data: data, Version: version},
			func(e *encoder, r fsm.OpResult) { e.stat(r.Stat) })
	case opExists:
		return c.exists(d)
	case opGetData:
		return c.getData(d)
	case opGetChildren, opGetChildren2:
		return c.getChildren(d, r.op == opGetChildren2)
	case opGetACL:
		path := d.string()
		if d.err != nil {
			return undecodable
		}
		if malformed(path) {
			return failed(errNoNode)
		}
		st, ok, _, err := c.s.backend.Exists(path, false)
		if rep, bad := readFailed(err, ok); bad {
			return rep
		}
		var rep reply
		rep.body.openACL()
		rep.body.stat(st)
		return rep
	case opSetACL:
		return c.setACL(d)
	case opCheck:
		return c.check(d)
	case opSync:
		return c.sync(d)
	case opMulti:
		return c.multi(d)
	case opMultiRead:
		return c.multiRead(d)
	case opCloseSession:
		return c.closeSession()
	case opSetWatches, opSetWatches2:
		return c.setWatches(d, r.op == opSetWatches2)
	case opAddWatch:
		return c.addWatch(d)
	case opCheckWatches, opRemoveWatches:
		path, typ := d.string(), d.int()
		if d.err != nil {
			return undecodable
		}
		if typ < watcherChildren || typ > watcherPersistentRecursive {
			// ZooKeeper's servers fail to read the record: MARSHALLINGERROR.
			return undecodable
		}
		found := false
		if r.op == opRemoveWatches {
			found = c.watches.remove(c.s.backend, path, typ)
			c.watchesChanged()
		} else {
			ones, pers := c.watches.matches(path, typ)
			found = len(ones)+len(pers) > 0
		}
		if !found {
			return failed(errNoWatcher)
		}
		return reply{}
	case opGetEphemerals:
		prefix := d.string()
		if d.err != nil {
			return undecodable
		}
		var out []string
		for _, p := range c.s.backend.Ephemerals(c.sid) {
			if strings.HasPrefix(p, prefix) {
				out = append(out, p)
			}
		}
		var rep reply
		rep.body.strings(out)
		return rep
	case opGetAllChildrenNumber:
		return c.allChildrenNumber(d)
	case opAuth:
		// Warden keeps no ACLs (docs/zookeeper.md): an auth is accepted
		// and changes nothing.
		return reply{}
	case opReconfig:
		// Warden's membership is Serf's and Raft's; ZooKeeper's servers
		// give this answer while reconfig is off, as it is by default.
		return failed(errReconfigDisabled)
	}
	// SASL, whoAmI and any opcode this server does not know.
	return failed(errUnimplemented)
}

// malformed reports whether no node can have path. ZooKeeper's servers
// check the path of a create, setData, setACL or check, but look up the
// path of a read or a delete as it is, which finds nothing: NONODE. No
// watch is set on such a path (no node could ever fire it).
func malformed(path string) bool { return fsm.ValidatePath(path) != nil }

// readFailed maps a read's outcome to an error reply, if it failed.
func readFailed(err error, exists bool) (reply, bool) {
	if err != nil {
		return failed(codeOf(err)), true
	}
	if !exists {
		return failed(errNoNode), true
	}
	return reply{}, false
}

// write applies one op for the session and encodes its result.
func (c *conn) write(op fsm.Op, encode func(*encoder, fsm.OpResult)) reply {
	res, rep := c.apply([]fsm.Op{op})
	if res == nil {
		return rep
	}
	if err := res.Error(); err != nil {
		return reply{err: codeOf(err), zxid: res.Zxid}
	}
	rep = reply{zxid: res.Zxid}
	encode(&rep.body, res.Ops[0])
	return rep
}

// apply writes ops for the session. When the write's outcome is unknown
// (no leader, a timeout) the connection is dropped without a reply, as a
// ZooKeeper server that lost its quorum drops its clients: they see
// ConnectionLoss and reconnect, through this agent or another.
func (c *conn) apply(ops []fsm.Op) (*fsm.Result, reply) {
	ctx, cancel := c.writeContext()
	defer cancel()
	res, err := c.s.backend.Write(ctx, c.sid, ops)
	if err != nil {
		c.s.cfg.Logger.Info("zk write outcome unknown; dropping the connection", "session", c.sid, "error", err)
		return nil, reply{drop: true}
	}
	return res, reply{}
}

func (c *conn) create(d *decoder, op int32) reply {
	path, data, acls, flags := d.string(), d.buffer(), d.acls(), d.int()
	var ttl int64 = -1
	if op == opCreateTTL {
		ttl = d.long()
	}
	if d.err != nil {
		return undecodable
	}
	fop, code := createOp(op, path, data, acls, flags, ttl)
	if (code == errOK || code == errInvalidACL) && c.parentMissing(fop.Path, fop.Sequential) {
		code = errNoNode
	}
	if code != errOK {
		return failed(code)
	}
	return c.write(fop, func(e *encoder, r fsm.OpResult) {
		e.string(r.Path)
		if op != opCreate {
			e.stat(r.Stat)
		}
	})
}

// parentMissing reports whether a malformed path's parent (everything
// before its last slash) is missing. ZooKeeper's servers look the parent
// up before they check the whole path, so a create of "/missing/" or
// "//x" is NONODE there, not BADARGUMENTS. They look on the leader: a
// parent this agent's replica has not seen yet is looked for again once
// it has caught up. A well-formed path is the tree's to judge.
func (c *conn) parentMissing(path string, sequential bool) bool {
	full := path
	if sequential {
		full += "0000000000"
	}
	if fsm.ValidatePath(full) == nil {
		return false
	}
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return false // no slash at all: bad arguments
	}
	parent := path[:i]
	if parent == "" {
		parent = "/"
	}
	if fsm.ValidatePath(parent) != nil {
		return true
	}
	_, ok, _, err := c.s.backend.Exists(parent, false)
	if err == nil && !ok {
		ctx, cancel := c.writeContext()
		defer cancel()
		if _, serr := c.s.backend.Sync(ctx); serr == nil {
			_, ok, _, err = c.s.backend.Exists(parent, false)
		}
	}
	return err == nil && !ok
}

// createOp checks a create as ZooKeeper's servers do and turns it into
// the tree's op.
func createOp(op int32, path string, data []byte, acls []acl, flags int32, ttl int64) (fsm.Op, int32) {
	mode, err := parseCreateMode(flags)
	switch {
	case err != nil:
		return fsm.Op{}, errBadArguments
	case (op == opCreateContainer) != mode.container:
		return fsm.Op{}, errBadArguments
	case mode.ttl && op != opCreateTTL, op == opCreateTTL && (!mode.ttl || ttl <= 0):
		return fsm.Op{}, errBadArguments
	case mode.ttl && ttl > fsm.MaxTTL:
		return fsm.Op{}, errBadArguments
	case !openACL(acls):
		return fsm.Op{}, errInvalidACL
	}
	out := fsm.Op{Kind: fsm.OpCreate, Path: path, Data: data, Version: fsm.AnyVersion,
		Ephemeral: mode.ephemeral, Sequential: mode.sequential, Container: mode.container}
	if mode.ttl {
		out.TTL = ttl
	}
	return out, errOK
}

func (c *conn) exists(d *decoder) reply {
	path, watch := d.string(), d.bool()
	if d.err != nil {
		return undecodable
	}
	if malformed(path) {
		return failed(errNoNode)
	}
	st, ok, w, err := c.s.backend.Exists(path, watch)
	if err != nil {
		return failed(codeOf(err))
	}
	rep := reply{}
	if w != nil {
		rep.watches = []oneShot{{watchKey{path, classData}, w}}
	}
	if !ok {
		rep.err = errNoNode
		return rep
	}
	rep.body.stat(st)
	return rep
}

func (c *conn) getData(d *decoder) reply {
	path, watch := d.string(), d.bool()
	if d.err != nil {
		return undecodable
	}
	if malformed(path) {
		return failed(errNoNode)
	}
	data, st, w, err := c.s.backend.Get(path, watch)
	if err != nil {
		return failed(codeOf(err))
	}
	rep := reply{}
	if w != nil {
		rep.watches = []oneShot{{watchKey{path, classData}, w}}
	}
	rep.body.buffer(data)
	rep.body.stat(st)
	return rep
}

func (c *conn) getChildren(d *decoder, withStat bool) reply {
	path, watch := d.string(), d.bool()
	if d.err != nil {
		return undecodable
	}
	if malformed(path) {
		return failed(errNoNode)
	}
	kids, st, w, err := c.s.backend.Children(path, watch)
	if err != nil {
		return failed(codeOf(err))
	}
	rep := reply{}
	if w != nil {
		rep.watches = []oneShot{{watchKey{path, classChild}, w}}
	}
	rep.body.strings(kids)
	if withStat {
		rep.body.stat(st)
	}
	return rep
}

// setACL accepts only the ACL Warden holds (world:anyone, all
// permissions). It changes no permission, but counts the change: the
// node's aversion goes up, checked against version, as in ZooKeeper.
func (c *conn) setACL(d *decoder) reply {
	path, acls, version := d.string(), d.acls(), d.int()
	if d.err != nil {
		return undecodable
	}
	if !openACL(acls) {
		return failed(errInvalidACL)
	}
	return c.write(fsm.Op{Kind: fsm.OpSetACL, Path: path, Version: version}, func(e *encoder, r fsm.OpResult) {
		e.stat(r.Stat)
	})
}

// check answers a check outside a multi from the replica, with the node's
// Stat (as ZooKeeper's servers answer it).
func (c *conn) check(d *decoder) reply {
	path, version := d.string(), d.int()
	if d.err != nil {
		return undecodable
	}
	st, ok, _, err := c.s.backend.Exists(path, false)
	if rep, bad := readFailed(err, ok); bad {
		return rep
	}
	if version != fsm.AnyVersion && version != st.Version {
		return failed(errBadVersion)
	}
	var rep reply
	rep.body.stat(st)
	return rep
}

func (c *conn) sync(d *decoder) reply {
	path := d.string()
	if d.err != nil {
		return undecodable
	}
	ctx, cancel := c.writeContext()
	defer cancel()
	zxid, err := c.s.backend.Sync(ctx)
	if err != nil {
		c.s.cfg.Logger.Info("zk sync failed; dropping the connection", "session", c.sid, "error", err)
		return reply{drop: true}
	}
	rep := reply{zxid: zxid}
	rep.body.string(path)
	return rep
}

// closeSession ends the session, replies, and closes the connection.
func (c *conn) closeSession() reply {
	ctx, cancel := c.writeContext()
	defer cancel()
	if err := c.s.backend.CloseSession(ctx, c.sid, fsm.CloseClean); err != nil {
		c.s.cfg.Logger.Info("zk closeSession failed; the session is left to expire", "session", c.sid, "error", err)
		return reply{drop: true}
	}
	c.closed = true
	return reply{closeAfter: true}
}

// addWatch sets a persistent watch. Its stream starts after the index
// applied now, so it notifies every change after the reply.
func (c *conn) addWatch(d *decoder) reply {
	path, mode := d.string(), d.int()
	if d.err != nil {
		return undecodable
	}
	if mode != addWatchPersistent && mode != addWatchPersistentRecursive {
		return undecodable // as from ZooKeeper's servers
	}
	p, err := c.subscribe(path, mode == addWatchPersistentRecursive, c.s.backend.Index())
	if err != nil {
		return failed(codeOf(err))
	}
	rep := reply{persistent: []*persistentWatch{p}}
	rep.body.int(errOK) // ZooKeeper answers addWatch with an ErrorResponse
	return rep
}

func (c *conn) subscribe(path string, recursive bool, from uint64) (*persistentWatch, error) {
	sub, err := c.s.backend.Subscribe(path, fsm.ScopeSubtree, from)
	if err != nil {
		return nil, err
	}
	p := &persistentWatch{path: path, recursive: recursive, sub: sub}
	if from == 0 {
		// A stream from the start begins with the current state: skip it.
		for {
			ev, err := sub.Next(done)
			if err != nil || ev.Type == fsm.EventSynced {
				break
			}
		}
	}
	return p, nil
}

// setWatches sets again the watches a client held before it reconnected,
// as ZooKeeper's servers do: a watch whose node changed after relZxid
// (the last zxid the client saw) fires at once, the others are set.
func (c *conn) setWatches(d *decoder, v2 bool) reply {
	rel := uint64(max(d.long(), 0))
	data, exist, child := d.strings(), d.strings(), d.strings()
	var pers, recursive []string
	if v2 {
		pers, recursive = d.strings(), d.strings()
	}
	if d.err != nil {
		return undecodable
	}
	b := c.s.backend
	idx := b.Index()
	var rep reply
	// A notification carries the zxid of the change when the node
	// tells it (so a persistent watch's notification of the same change
	// is not sent twice), else the index applied now.
	fire := func(typ int32, path string, w *fsm.Watch, zxid uint64) {
		if w != nil {
			b.StopWatch(w)
		}
		rep.notes = append(rep.notes, note{typ, path, zxid})
	}
	keep := func(path string, class watchClass, w *fsm.Watch) {
		rep.watches = append(rep.watches, oneShot{watchKey{path, class}, w})
	}
	for _, p := range data {
		_, st, w, err := b.Get(p, true)
		switch {
		case errors.Is(err, fsm.ErrNoNode):
			fire(eventNodeDeleted, p, w, idx)
		case err != nil:
		case st.Mzxid > rel:
			fire(eventNodeDataChanged, p, w, st.Mzxid)
		default:
			keep(p, classData, w)
		}
	}
	for _, p := range exist {
		st, ok, w, err := b.Exists(p, true)
		switch {
		case err != nil:
		case ok:
			fire(eventNodeCreated, p, w, st.Czxid)
		default:
			keep(p, classData, w)
		}
	}
	for _, p := range child {
		_, st, w, err := b.Children(p, true)
		switch {
		case errors.Is(err, fsm.ErrNoNode):
			fire(eventNodeDeleted, p, w, idx)
		case err != nil:
		case st.Pzxid > rel:
			fire(eventNodeChildrenChanged, p, w, st.Pzxid)
		default:
			keep(p, classChild, w)
		}
	}
	// Persistent watches resume from the last zxid the client saw: the
	// changes it missed while away are notified too. (A client that saw
	// none starts from now, not from a replay of the whole subtree.)
	from := min(rel, idx)
	if from == 0 {
		from = idx
	}
	for i, list := range [][]string{pers, recursive} {
		for _, p := range list {
			if pw, err := c.subscribe(p, i == 1, from); err == nil {
				rep.persistent = append(rep.persistent, pw)
			}
		}
	}
	return rep
}

// allChildrenNumber counts every node below a path, from the replica.
func (c *conn) allChildrenNumber(d *decoder) reply {
	path := d.string()
	if d.err != nil {
		return undecodable
	}
	if malformed(path) {
		return failed(errNoNode)
	}
	b := c.s.backend
	var count func(p string) (int32, error)
	count = func(p string) (int32, error) {
		kids, _, _, err := b.Children(p, false)
		if err != nil {
			return 0, err
		}
		n := int32(len(kids))
		for _, k := range kids {
			child := p + "/" + k
			if p == "/" {
				child = "/" + k
			}
			m, err := count(child)
			if err != nil && !errors.Is(err, fsm.ErrNoNode) {
				return 0, err
			}
			n += m
		}
		return n, nil
	}
	n, err := count(path)
	if err != nil {
		return failed(codeOf(err))
	}
	var rep reply
	rep.body.int(n)
	return rep
}
