package zkapi

import (
	"github.com/warden-dev/warden/fsm"
)

// A multi is a sequence of (MultiHeader{type, done, err}, op record)
// closed by MultiHeader{-1, true, -1}; its response is likewise a
// sequence of (MultiHeader, result record). A multi applies all-or-
// nothing: when an op is refused every result is an error result, the
// ops before it with code 0, it with its code, the ops after it with
// RUNTIMEINCONSISTENCY, and the reply header's code is 0.

// multiOp is one op of a multi: its type and what it becomes.
type multiOp struct {
	typ  int32
	op   fsm.Op
	code int32 // refused before it reached the tree
}

// maxMultiOps bounds the ops of one multi (the frame bounds it already;
// this keeps a frame of empty ops from costing more than its size).
const maxMultiOps = 1 << 16

// multiHeader reads one header; ok is false at the closing one.
func (d *decoder) multiHeader() (typ int32, ok bool) {
	typ, isDone, _ := d.int(), d.bool(), d.int()
	return typ, !isDone && d.err == nil
}

func (c *conn) multi(d *decoder) reply {
	var ops []multiOp
	for len(ops) <= maxMultiOps {
		typ, ok := d.multiHeader()
		if !ok {
			break
		}
		m := multiOp{typ: typ}
		switch typ {
		case opCreate, opCreate2, opCreateContainer, opCreateTTL:
			path, data, acls, flags := d.string(), d.buffer(), d.acls(), d.int()
			var ttl int64 = -1
			if typ == opCreateTTL {
				ttl = d.long()
			}
			m.op, m.code = createOp(typ, path, data, acls, flags, ttl)
		case opDelete:
			m.op = fsm.Op{Kind: fsm.OpDelete, Path: d.string(), Version: d.int()}
		case opSetData:
			m.op = fsm.Op{Kind: fsm.OpSet, Path: d.string(), Data: d.buffer(), Version: d.int()}
		case opCheck:
			m.op = fsm.Op{Kind: fsm.OpCheck, Path: d.string(), Version: d.int()}
		default:
			return undecodable // ZooKeeper: "invalid type of op", a marshalling error
		}
		ops = append(ops, m)
	}
	if d.err != nil || len(ops) > maxMultiOps {
		return undecodable
	}
	var rep reply
	if len(ops) == 0 {
		rep.body.int(-1)
		rep.body.bool(true)
		rep.body.int(-1)
		return rep
	}
	for i, m := range ops {
		if m.code != errOK {
			rep.body = multiFailure(len(ops), i, m.code)
			return rep
		}
	}
	fops := make([]fsm.Op, len(ops))
	for i, m := range ops {
		fops[i] = m.op
	}
	res, drop := c.apply(fops)
	if res == nil {
		return drop
	}
	rep.zxid = res.Zxid
	if err := res.Error(); fsm.CodeOf(err) == fsm.CodeSessionExpired {
		return reply{err: errSessionExpired, zxid: res.Zxid}
	} else if err != nil {
		rep.body = multiFailure(len(ops), res.Failed, codeOf(err))
		return rep
	}
	e := &rep.body
	for i, m := range ops {
		r := res.Ops[i]
		switch m.typ {
		case opCreate:
			multiResult(e, opCreate, errOK)
			e.string(r.Path)
		case opCreate2, opCreateContainer, opCreateTTL:
			multiResult(e, opCreate2, errOK)
			e.string(r.Path)
			e.stat(r.Stat)
		case opSetData:
			multiResult(e, opSetData, errOK)
			e.stat(r.Stat)
		default: // delete, check
			multiResult(e, m.typ, errOK)
		}
	}
	multiResult(e, -1, -1)
	return rep
}

// multiResult writes a result's header; the closing one is (-1, -1).
func multiResult(e *encoder, typ, code int32) {
	e.int(typ)
	e.bool(typ == -1 && code == -1)
	e.int(code)
}

// multiFailure encodes the results of a multi refused at op failed.
func multiFailure(n, failed int, code int32) encoder {
	var e encoder
	for i := 0; i < n; i++ {
		c := errOK
		switch {
		case i == failed:
			c = code
		case i > failed:
			c = errRuntimeInconsistency
		}
		multiResult(&e, opError, c)
		e.int(c) // ErrorResponse
	}
	multiResult(&e, -1, -1)
	return e
}

// multiRead runs getData and getChildren ops against the replica, each
// on its own: one failing does not fail the others.
func (c *conn) multiRead(d *decoder) reply {
	type readOp struct {
		typ  int32
		path string
	}
	var ops []readOp
	for len(ops) <= maxMultiOps {
		typ, ok := d.multiHeader()
		if !ok {
			break
		}
		if typ != opGetData && typ != opGetChildren {
			return undecodable
		}
		path, _ := d.string(), d.bool() // multiRead sets no watches
		ops = append(ops, readOp{typ, path})
	}
	if d.err != nil || len(ops) > maxMultiOps {
		return undecodable
	}
	var rep reply
	e := &rep.body
	for _, op := range ops {
		if len(e.b) > c.s.cfg.MaxFrameSize {
			// A reply no client could take (ZooKeeper's clients refuse
			// a packet over jute.maxbuffer), and a bound on what one
			// request may make the agent build.
			c.s.cfg.Logger.Info("zk multiRead reply over the frame limit; dropping the connection",
				"session", c.sid, "ops", len(ops), "limit", c.s.cfg.MaxFrameSize)
			return reply{drop: true}
		}
		if malformed(op.path) {
			multiResult(e, opError, errNoNode)
			e.int(errNoNode)
			continue
		}
		if op.typ == opGetData {
			data, st, _, err := c.s.backend.Get(op.path, false)
			if err != nil {
				multiResult(e, opError, codeOf(err))
				e.int(codeOf(err))
				continue
			}
			multiResult(e, opGetData, errOK)
			e.buffer(data)
			e.stat(st)
			continue
		}
		kids, _, _, err := c.s.backend.Children(op.path, false)
		if err != nil {
			multiResult(e, opError, codeOf(err))
			e.int(codeOf(err))
			continue
		}
		multiResult(e, opGetChildren, errOK)
		e.strings(kids)
	}
	multiResult(e, -1, -1)
	return rep
}
