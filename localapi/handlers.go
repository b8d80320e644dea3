package localapi

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/warden-dev/warden/fsm"
	"github.com/warden-dev/warden/localapi/wire"
	"github.com/warden-dev/warden/recipes"
)

// handler runs one request to completion and returns its result.
type handler func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error)

// handlers maps op names to their handlers; each file registers its ops.
var handlers = map[string]handler{}

func register(op string, h handler) {
	if _, dup := handlers[op]; dup {
		panic("localapi: op registered twice: " + op)
	}
	handlers[op] = h
}

// handle runs one request to completion and returns its result.
func (c *conn) handle(ctx context.Context, req *wire.Request) (any, *wire.Error) {
	if req.Op == "" {
		return nil, wire.Errorf(wire.CodeBadArguments, "request has no op")
	}
	h, ok := handlers[req.Op]
	if !ok {
		return nil, wire.Errorf(wire.CodeUnknownOp, "unknown op "+fsm.QuoteName(req.Op))
	}
	if werr := c.authorize(req); werr != nil {
		return nil, werr
	}
	return h(c, ctx, req)
}

func init() {
	register(wire.OpPing, func(*conn, context.Context, *wire.Request) (any, *wire.Error) {
		return &wire.Empty{}, nil
	})
	register(wire.OpHello, func(*conn, context.Context, *wire.Request) (any, *wire.Error) {
		return nil, wire.Errorf(wire.CodeBadArguments, "this connection already has a session")
	})
	register(wire.OpCreate, writeOne)
	register(wire.OpDelete, writeOne)
	register(wire.OpSet, writeOne)
	register(wire.OpMulti, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		return c.multi(ctx, req.Ops)
	})
	register(wire.OpGet, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		data, st, w, err := c.s.backend.Get(req.Path, req.Watch)
		if err != nil {
			return nil, toWire(err)
		}
		return &wire.GetResult{Data: data, Stat: toStat(st), Watch: c.watch(ctx, w)}, nil
	})
	register(wire.OpExists, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		st, ok, w, err := c.s.backend.Exists(req.Path, req.Watch)
		if err != nil {
			return nil, toWire(err)
		}
		return &wire.ExistsResult{Exists: ok, Stat: toStat(st), Watch: c.watch(ctx, w)}, nil
	})
	register(wire.OpChildren, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		kids, st, w, err := c.s.backend.Children(req.Path, req.Watch)
		if err != nil {
			return nil, toWire(err)
		}
		if kids == nil {
			kids = []string{}
		}
		return &wire.ChildrenResult{Children: kids, Stat: toStat(st), Watch: c.watch(ctx, w)}, nil
	})
	register(wire.OpSync, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		zxid, err := c.s.backend.Sync(ctx)
		if err != nil {
			return nil, toWire(err)
		}
		return &wire.SyncResult{Zxid: zxid}, nil
	})
	register(wire.OpStatus, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		st := c.s.backend.Status()
		return &st, nil
	})
	register(wire.OpMembers, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		return &wire.MembersResult{Members: c.s.backend.Members()}, nil
	})
	register(wire.OpSessions, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		ss := c.s.backend.Sessions()
		for i := range ss {
			hs, err := recipes.Holdings(c.s.backend, c.s.backend.Ephemerals(ss[i].ID))
			if err != nil {
				return nil, toWire(err)
			}
			for _, h := range hs {
				ss[i].Holds = append(ss[i].Holds, wire.Hold{Kind: h.Kind, Path: h.Path, Key: h.Key, State: h.State})
			}
		}
		return &wire.SessionsResult{Sessions: ss}, nil
	})
}

// writeOne handles create, delete and set.
func writeOne(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
	op, werr := toOp(req.Op, req.Path, req.Data, req.Version, req.Ephemeral, req.Sequential, req.Container, req.TTLMs)
	if werr != nil {
		return nil, werr
	}
	if werr := c.guard(&op); werr != nil {
		return nil, werr
	}
	res, werr := c.write(ctx, []fsm.Op{op}, false)
	if werr != nil {
		return nil, werr
	}
	switch req.Op {
	case wire.OpCreate:
		return &wire.CreateResult{Path: res.Ops[0].Path, Stat: toStat(res.Ops[0].Stat)}, nil
	case wire.OpSet:
		return &wire.StatResult{Stat: toStat(res.Ops[0].Stat)}, nil
	}
	return &wire.Empty{}, nil
}

// session is the connection's session, as the recipes act for it.
func (c *conn) session() recipes.Session {
	return recipes.Session{Store: c.s.backend, ID: c.sid}
}

// vouch is the last step of every grant (lock, read and write lock,
// semaphore, campaign): the grant goes to the app only if the agent can
// still vouch for its session. An agent paused or cut off past the
// session's timeout may apply a grant the leader made before it expired
// the session, while another app already holds what was granted; the app
// is told its session is lost instead.
func (c *conn) vouch() *wire.Error {
	if c.s.backend.SessionCurrent(c.sid) {
		return nil
	}
	return &wire.Error{Code: wire.CodeSessionExpired,
		Message: "granted, but the session expired first: the agent could not renew it within its timeout"}
}

// waitFor turns a request's wait_ms into a recipe's wait: absent or
// negative waits until granted, 0 tries once.
func waitFor(req *wire.Request) time.Duration {
	if req.WaitMs != nil && *req.WaitMs >= 0 {
		return time.Duration(*req.WaitMs) * time.Millisecond
	}
	return -1
}

// write applies ops for this connection's session. For a multi, a refusal
// names the failing op in Index, even when the multi has a single op.
func (c *conn) write(ctx context.Context, ops []fsm.Op, multi bool) (*fsm.Result, *wire.Error) {
	res, err := c.s.backend.Write(ctx, c.sid, ops)
	if err != nil {
		return nil, toWire(err)
	}
	if res.Err != nil {
		werr := toWire(res.Err)
		if multi {
			i := res.Failed
			werr.Index = &i
		}
		return nil, werr
	}
	return res, nil
}

func (c *conn) multi(ctx context.Context, in wire.OpList) (any, *wire.Error) {
	if len(in) == 0 {
		return nil, wire.Errorf(wire.CodeBadArguments, "multi needs at least one op")
	}
	ops := make([]fsm.Op, len(in))
	for i, o := range in {
		op, werr := toOp(o.Op, o.Path, o.Data, o.Version, o.Ephemeral, o.Sequential, o.Container, o.TTLMs)
		if werr == nil {
			werr = c.guard(&op)
		}
		if werr != nil {
			werr.Index = &i
			return nil, werr
		}
		ops[i] = op
	}
	res, werr := c.write(ctx, ops, true)
	if werr != nil {
		return nil, werr
	}
	out := &wire.MultiResult{Results: make([]wire.OpResult, len(res.Ops))}
	for i, r := range res.Ops {
		out.Results[i] = wire.OpResult{Path: r.Path, Stat: toStat(r.Stat)}
	}
	return out, nil
}

func toOp(name, path string, data []byte, version *int64, eph, seq, container bool, ttlMs int64) (fsm.Op, *wire.Error) {
	op := fsm.Op{Path: path, Data: data, Version: fsm.AnyVersion, Ephemeral: eph, Sequential: seq, Container: container, TTL: ttlMs}
	if version != nil {
		if *version < int64(fsm.AnyVersion) || *version > math.MaxInt32 {
			return op, wire.Errorf(wire.CodeBadArguments, "version must be -1 (any) or between 0 and 2147483647")
		}
		op.Version = int32(*version)
	}
	switch name {
	case wire.OpCreate:
		op.Kind = fsm.OpCreate
		if version != nil {
			return op, wire.Errorf(wire.CodeBadArguments, "create takes no version")
		}
	case wire.OpDelete:
		op.Kind = fsm.OpDelete
	case wire.OpSet:
		op.Kind = fsm.OpSet
	case wire.OpCheck:
		op.Kind = fsm.OpCheck
	default:
		return op, wire.Errorf(wire.CodeBadArguments, "multi op must be create, delete, set or check, not "+fsm.QuoteName(name))
	}
	if name != wire.OpCreate && (eph || seq || container || ttlMs != 0) {
		return op, wire.Errorf(wire.CodeBadArguments, name+" takes no create flags")
	}
	return op, nil
}

// codes maps the tree's refusals onto the wire's codes.
var codes = map[fsm.Code]wire.Code{
	fsm.CodeNoNode:                  wire.CodeNoNode,
	fsm.CodeNodeExists:              wire.CodeNodeExists,
	fsm.CodeBadVersion:              wire.CodeBadVersion,
	fsm.CodeNotEmpty:                wire.CodeNotEmpty,
	fsm.CodeNoChildrenForEphemerals: wire.CodeNoChildrenForEphemerals,
	fsm.CodeBadArguments:            wire.CodeBadArguments,
	fsm.CodeSessionExpired:          wire.CodeSessionExpired,
	fsm.CodeTooLarge:                wire.CodeTooLarge,
	fsm.CodeStaleRequest:            wire.CodeInternal,
	fsm.CodePermissionDenied:        wire.CodePermissionDenied,
}

// toWire translates an error from the tree, the recipes or the backend
// into a wire error with a stable code.
func toWire(err error) *wire.Error {
	var fe *fsm.Error
	switch {
	case errors.As(err, &fe):
		return wire.Errorf(codes[fe.Code], fe.Msg)
	case errors.Is(err, recipes.ErrNotAcquired), errors.Is(err, context.DeadlineExceeded):
		return wire.Errorf(wire.CodeTimeout, err.Error())
	case errors.Is(err, recipes.ErrNotHeld):
		return wire.Errorf(wire.CodeNotHeld, err.Error())
	case errors.Is(err, context.Canceled):
		return wire.Errorf(wire.CodeCanceled, "request canceled")
	}
	return wire.Errorf(wire.CodeUnavailable, err.Error())
}

func toStat(s fsm.Stat) wire.Stat {
	return wire.Stat{
		Czxid: s.Czxid, Mzxid: s.Mzxid, Pzxid: s.Pzxid, Ctime: s.Ctime, Mtime: s.Mtime,
		Version: s.Version, Cversion: s.Cversion, Aversion: s.Aversion,
		EphemeralOwner: s.EphemeralOwner, DataLength: s.DataLength, NumChildren: s.NumChildren, TTL: s.TTL,
	}
}

// sessionless lists the ops a connection opened without a session may
// use: reads, which every agent serves from its own replica.
var sessionless = map[string]bool{
	wire.OpPing: true, wire.OpGet: true, wire.OpExists: true, wire.OpChildren: true,
	wire.OpSync: true, wire.OpStatus: true, wire.OpMembers: true, wire.OpLockCheck: true,
	wire.OpSubscribe: true, wire.OpUnsubscribe: true, wire.OpLeader: true, wire.OpObserve: true,
	wire.OpProgressGet: true, wire.OpProgressWatch: true, wire.OpMembersOf: true,
	wire.OpGroupWatch: true, wire.OpCounterGet: true, wire.OpSessions: true,
}
