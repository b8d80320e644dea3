package localapi

import (
	"context"
	"fmt"

	"github.com/warden-dev/warden/fsm"
	"github.com/warden-dev/warden/localapi/wire"
)

// Streams: one-shot watches, subscriptions and the recipes' watches. Each
// runs in its own goroutine, numbered by a sub id its events carry, until
// it ends, the app unsubscribes, or the connection closes. A stream's first
// event is sent only after the reply that started it.

// emitter sends one event of a stream; it reports false once the stream
// or the connection is gone.
type emitter func(event string, body any) bool

// repliedKey carries, in a request's context, a channel closed once the
// request's reply has been sent.
type repliedKey struct{}

// openStream starts a stream for the request whose context is reqCtx and
// returns its sub id. run begins only after that request's reply is sent,
// so an app always hears of a stream before its events; the stream ends
// when run returns.
func (c *conn) openStream(reqCtx context.Context, run func(ctx context.Context, emit emitter)) uint64 {
	ctx, cancel := context.WithCancel(c.ctx)
	c.mu.Lock()
	c.nextSub++
	sub := c.nextSub
	c.subs[sub] = cancel
	c.mu.Unlock()
	c.s.meters.streams.Add(1)
	emit := func(event string, body any) bool {
		if ctx.Err() != nil {
			return false
		}
		b, err := wire.Marshal(body)
		if err != nil {
			return false
		}
		c.send(&wire.Message{Event: event, Sub: sub, Body: b})
		return ctx.Err() == nil
	}
	replied, _ := reqCtx.Value(repliedKey{}).(chan struct{})
	c.handlers.Add(1)
	go func() {
		defer c.handlers.Done()
		defer c.closeStream(sub)
		if replied != nil {
			select {
			case <-replied:
			case <-ctx.Done():
				return
			}
		}
		run(ctx, emit)
	}()
	return sub
}

func (c *conn) closeStream(sub uint64) bool {
	c.mu.Lock()
	cancel, ok := c.subs[sub]
	delete(c.subs, sub)
	c.mu.Unlock()
	if ok {
		c.s.meters.streams.Add(-1)
		cancel()
	}
	return ok
}

// watch turns a one-shot watch into a stream of one event and returns its
// sub id (0 when no watch was set).
func (c *conn) watch(reqCtx context.Context, w *fsm.Watch) uint64 {
	if w == nil {
		return 0
	}
	return c.openStream(reqCtx, func(ctx context.Context, emit emitter) {
		select {
		case ev := <-w.C():
			emit(wire.EventWatch, &wire.WatchEvent{Type: changeType(ev.Type), Path: ev.Path, Zxid: ev.Zxid})
		case <-ctx.Done():
			c.s.backend.StopWatch(w)
		}
	})
}

var scopes = map[string]fsm.Scope{
	wire.ScopeNode: fsm.ScopeNode, wire.ScopeChildren: fsm.ScopeChildren, wire.ScopeSubtree: fsm.ScopeSubtree,
}

func init() {
	register(wire.OpSubscribe, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		scope := fsm.ScopeNode
		if req.Scope != "" {
			var ok bool
			if scope, ok = scopes[req.Scope]; !ok {
				return nil, wire.Errorf(wire.CodeBadArguments, fmt.Sprintf("scope must be node, children or subtree, not %q", req.Scope))
			}
		}
		if werr := c.checkResumePoint(ctx, req.FromZxid); werr != nil {
			return nil, werr
		}
		sub, err := c.s.backend.Subscribe(req.Path, scope, req.FromZxid)
		if err != nil {
			return nil, toWire(err)
		}
		if werr := checkKnown(req, scope); werr != nil {
			sub.Close()
			return nil, werr
		}
		var f *folder
		if req.Fold {
			f = newFolder(req.Path, req.Known)
		}
		return &wire.SubscribeResult{Sub: c.openStream(ctx, func(ctx context.Context, emit emitter) {
			defer sub.Close()
			for {
				ev, err := sub.Next(ctx)
				if err != nil {
					return
				}
				if f == nil {
					if !emit(wire.EventChange, changeEvent(ev)) {
						return
					}
					continue
				}
				for _, out := range f.fold(ev) {
					if !emit(wire.EventChange, out) {
						return
					}
				}
			}
		})}, nil
	})
	register(wire.OpUnsubscribe, func(c *conn, ctx context.Context, req *wire.Request) (any, *wire.Error) {
		if !c.closeStream(req.Sub) {
			return nil, wire.Errorf(wire.CodeBadArguments, fmt.Sprintf("no stream %d on this connection", req.Sub))
		}
		return &wire.Empty{}, nil
	})
}

// checkResumePoint refuses a from_zxid past every zxid the cluster has
// given out: such a subscription would wait, silently, for the cluster to
// catch up with a number that no event has yet carried. A from_zxid past
// this replica's own is normal when the replica lags (the subscriber read
// it from another agent), so before refusing the agent catches up with the
// leader; when it cannot (no leader), it cannot tell, and lets the
// subscription wait as before.
func (c *conn) checkResumePoint(ctx context.Context, from uint64) *wire.Error {
	if from == 0 || from <= c.s.backend.Status().AppliedIndex {
		return nil
	}
	zxid, err := c.s.backend.Sync(ctx)
	if err != nil || from <= zxid {
		return nil
	}
	return wire.Errorf(wire.CodeBadArguments, fmt.Sprintf(
		"from_zxid %d is beyond the current zxid %d: no change has that zxid yet (resume from the zxid of the last event you handled)", from, zxid))
}

func changeType(t fsm.EventType) string {
	switch t {
	case fsm.EventCreated:
		return wire.ChangeCreated
	case fsm.EventDeleted:
		return wire.ChangeDeleted
	case fsm.EventDataChanged:
		return wire.ChangeDataChanged
	case fsm.EventChildrenChanged:
		return wire.ChangeChildrenChanged
	case fsm.EventResync:
		return wire.ChangeResync
	case fsm.EventSynced:
		return wire.ChangeSynced
	}
	return t.String()
}

// changeEvent is a subscription's event; a deletion carries the node's
// last Stat but no data (protocol 6.18).
func changeEvent(ev fsm.Event) *wire.ChangeEvent {
	data := ev.Data
	if ev.Type == fsm.EventDeleted {
		data = nil
	}
	return &wire.ChangeEvent{Type: changeType(ev.Type), Path: ev.Path, Zxid: ev.Zxid, Data: data, Stat: toStat(ev.Stat)}
}
