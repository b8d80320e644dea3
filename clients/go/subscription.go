package warden

import (
	"context"
	"sort"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/localapi/wire"
)

// Event is one change a Subscription delivers. Deleted and Synced are set
// only in a folded subscription, on resync events.
type Event = wire.ChangeEvent

// Subscription is an ordered stream of changes under a path: never
// reordered, never skipped. It starts with a resync (the current nodes,
// then a "synced" event) unless it resumes after a zxid the agent still
// has history for.
//
// When a resumable session is resumed after its connection dropped, the
// subscription goes on from the last change it received: no change is
// skipped or repeated, and any resync is as above. A resync the drop cut
// short starts over (a new resync has a zxid of its own: begin again when
// resync events change zxid); a folded one is then folded against every
// path the subscription was told of.
type Subscription struct{ s *stream }

// SubscribeOptions shape a subscription.
type SubscribeOptions struct {
	// Scope is wire.ScopeNode (default), ScopeChildren or ScopeSubtree.
	Scope string
	// FromZxid resumes after this zxid (the last event's Zxid you
	// handled); 0 starts with the current state.
	FromZxid uint64
	// Fold has the agent fold each resync (protocol 6.18): the nodes that
	// exist, then a resync event marked Deleted for each path this
	// subscription knew that no longer exists, the last event marked
	// Synced, and no "synced" event. Every event is then one update of
	// the subscriber's view.
	Fold bool
	// Known, with Fold, lists the paths the subscriber knows to exist
	// when it resumes with FromZxid, so that a resync reports those gone
	// as Deleted.
	Known []string
}

// Subscribe streams the changes under path.
func (c *Client) Subscribe(ctx context.Context, path string, o SubscribeOptions) (*Subscription, error) {
	s := newStream(c, &wire.Request{Op: wire.OpSubscribe, Path: path, Scope: o.Scope, FromZxid: o.FromZxid,
		Fold: o.Fold, Known: o.Known})
	p := &position{zxid: o.FromZxid, fold: o.Fold}
	if o.Fold {
		p.known = make(map[string]struct{}, len(o.Known))
		for _, k := range o.Known {
			p.known[k] = struct{}{}
		}
	}
	s.track, s.reopen = p.note, p.reopen
	if err := c.openStream(ctx, s); err != nil {
		return nil, err
	}
	return &Subscription{s}, nil
}

// Next waits for the next change.
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	var ev Event
	_, err := s.s.next(ctx, &ev)
	return ev, err
}

// Close ends the subscription.
func (s *Subscription) Close(ctx context.Context) error { return s.s.close(ctx) }

// position is where a subscription stands in the stream of changes, as
// a resume needs it: the zxid of the last change it received and how many
// changes of that zxid (one multi's changes share one), so that it goes
// on with no gap and no duplicate; whether a resync is under way; and,
// folded, the paths it has been told exist. Guarded by its stream's mu.
type position struct {
	zxid      uint64 // the last change received, or the state a resync showed
	count     int    // changes of zxid received
	skip      int    // changes of zxid to drop: received before a resume
	resyncing bool   // between a resync's first event and its end
	fold      bool
	known     map[string]struct{}
}

// note hears an event as it arrives; false drops a change received
// before the resume.
func (p *position) note(m *wire.Message) bool {
	var ev struct {
		Type    string `msgpack:"type"`
		Path    string `msgpack:"path"`
		Zxid    uint64 `msgpack:"zxid"`
		Deleted bool   `msgpack:"deleted"`
		Synced  bool   `msgpack:"synced"`
	}
	if msgpack.Unmarshal(m.Body, &ev) != nil {
		return true
	}
	switch ev.Type {
	case wire.ChangeResync, wire.ChangeSynced:
		if p.fold && ev.Type == wire.ChangeResync {
			p.knows(ev.Path, !ev.Deleted)
		}
		p.resyncing = true
		if ev.Type == wire.ChangeSynced || ev.Synced {
			// The state at zxid is whole: the new resume point.
			p.zxid, p.count, p.skip, p.resyncing = ev.Zxid, 0, 0, false
		}
		return true
	case wire.ChangeCreated, wire.ChangeDataChanged, wire.ChangeDeleted:
	default:
		return true
	}
	if ev.Zxid < p.zxid || (ev.Zxid == p.zxid && p.skip > 0) {
		p.skip = max(p.skip-1, 0)
		return false
	}
	if ev.Zxid == p.zxid {
		p.count++
	} else {
		p.zxid, p.count, p.skip = ev.Zxid, 1, 0
	}
	if p.fold {
		p.knows(ev.Path, ev.Type != wire.ChangeDeleted)
	}
	return true
}

func (p *position) knows(path string, exists bool) {
	if exists {
		p.known[path] = struct{}{}
	} else {
		delete(p.known, path)
	}
}

// reopen is the subscribe that goes on after a resume. After a change of
// a multi, that zxid is replayed and what was received of it skipped; a
// resync cut short starts over (from 0, folded against what is known).
func (p *position) reopen(s *stream) *wire.Request {
	req := s.req
	from := p.zxid
	p.skip = 0
	switch {
	case p.resyncing:
		from = 0
	case p.count > 0:
		p.skip = p.count
		from--
	}
	req.FromZxid = from
	req.Known = nil
	if p.fold && len(p.known) > 0 {
		req.Known = make([]string, 0, len(p.known))
		for k := range p.known {
			req.Known = append(req.Known, k)
		}
		sort.Strings(req.Known)
	}
	return &req
}
