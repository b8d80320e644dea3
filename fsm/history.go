package fsm

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
)

// History limits: the change stream keeps the most recent changes, up to
// this many or this many bytes of data, whichever is reached first.
const (
	historyMaxChanges = 100_000
	historyMaxBytes   = 64 << 20
)

// history is the recent change stream: every created, deleted and
// data-changed event, in zxid order, numbered by a sequence that never
// goes back. It holds all changes with a zxid above complete.
type history struct {
	maxChanges, maxBytes int
	changes              []Event
	base                 uint64 // sequence number of changes[0]
	bytes                int
	complete             uint64 // every change with a zxid above this is held
	notify               chan struct{}
}

func newHistory() *history {
	return &history{maxChanges: historyMaxChanges, maxBytes: historyMaxBytes, notify: make(chan struct{})}
}

// append adds an entry's events (all with one zxid) and wakes subscribers.
func (h *history) append(events []Event) {
	added := false
	for _, ev := range events {
		if ev.Type == EventChildrenChanged {
			continue // implied by the child's created or deleted event
		}
		h.changes = append(h.changes, ev)
		h.bytes += len(ev.Data) + len(ev.Path)
		added = true
	}
	if !added {
		return
	}
	h.trim()
	close(h.notify)
	h.notify = make(chan struct{})
}

// trim drops the oldest changes, a whole zxid at a time, while over limits.
func (h *history) trim() {
	drop := 0
	for len(h.changes)-drop > h.maxChanges || h.bytes > h.maxBytes {
		z := h.changes[drop].Zxid
		for drop < len(h.changes) && h.changes[drop].Zxid == z {
			h.bytes -= len(h.changes[drop].Data) + len(h.changes[drop].Path)
			drop++
		}
		h.complete = z
	}
	if drop == 0 {
		return
	}
	h.base += uint64(drop)
	h.changes = append([]Event(nil), h.changes[drop:]...)
}

// reset forgets every change: the tree was replaced at index. The
// sequence skips one number, so that even a subscription that had read
// everything finds its cursor below base and resyncs.
func (h *history) reset(index uint64) {
	h.base += uint64(len(h.changes)) + 1
	h.changes, h.bytes, h.complete = nil, 0, index
	close(h.notify)
	h.notify = make(chan struct{})
}

// after returns the sequence number of the first change with a zxid above
// zxid, and whether the history still holds every such change.
func (h *history) after(zxid uint64) (uint64, bool) {
	if zxid < h.complete {
		return 0, false
	}
	i := sort.Search(len(h.changes), func(i int) bool { return h.changes[i].Zxid > zxid })
	return h.base + uint64(i), true
}

// Scope says which paths a subscription covers.
type Scope uint8

// Scopes.
const (
	// ScopeNode covers one path.
	ScopeNode Scope = iota + 1
	// ScopeChildren covers the path's direct children.
	ScopeChildren
	// ScopeSubtree covers the path and everything below it.
	ScopeSubtree
)

func (s Scope) covers(root, p string) bool {
	switch s {
	case ScopeNode:
		return p == root
	case ScopeChildren:
		parent, _ := splitPath(p)
		return p != "/" && parent == root
	case ScopeSubtree:
		return root == "/" || p == root || strings.HasPrefix(p, root+"/")
	}
	return false
}

// EventSynced marks the end of a resync: the events before it (each of type
// EventResync, with Data and Stat) were the whole current state of what the
// subscription covers; the events after it are changes.
const EventSynced EventType = 100

// ErrSubscriptionClosed is returned by Next after Close.
var ErrSubscriptionClosed = errors.New("subscription closed")

// Subscription is an ordered stream of the changes under a path. It never
// skips or reorders a change: when the changes it needs are no longer held,
// it delivers the current state instead (a resync) and continues from there.
type Subscription struct {
	f      *FSM
	root   string
	scope  Scope
	cursor uint64  // sequence number of the next change to look at
	after  uint64  // deliver only changes above this zxid (a resume point this replica may not have reached yet)
	queue  []Event // resync events still to deliver
	closed chan struct{}
	once   sync.Once
}

// Subscribe streams the changes covered by scope under root with a zxid
// above from. With from 0, or when the history no longer reaches back to
// from, the stream starts with a resync: the current state, then
// EventSynced, then the changes.
func (f *FSM) Subscribe(root string, scope Scope, from uint64) (*Subscription, error) {
	if err := ValidatePath(root); err != nil {
		return nil, err
	}
	s := &Subscription{f: f, root: root, scope: scope, after: from, closed: make(chan struct{})}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if cursor, ok := f.hist.after(from); ok && from > 0 {
		s.cursor = cursor
	} else {
		s.resync()
	}
	return s, nil
}

// resync queues the current state; f.mu must be held.
func (s *Subscription) resync() {
	st := s.f.st
	s.queue = s.queue[:0]
	visit := func(p string, n *Node) {
		s.queue = append(s.queue, Event{Type: EventResync, Path: p, Zxid: st.index, Data: n.Data, Stat: n.Stat})
	}
	switch s.scope {
	case ScopeNode:
		if n, ok := st.node(s.root); ok {
			visit(s.root, n)
		}
	case ScopeChildren:
		for _, name := range st.children(s.root) {
			p := join(s.root, name)
			if n, ok := st.node(p); ok {
				visit(p, n)
			}
		}
	case ScopeSubtree:
		st.walk(s.root, visit)
	}
	s.queue = append(s.queue, Event{Type: EventSynced, Path: s.root, Zxid: st.index})
	s.cursor = s.f.hist.base + uint64(len(s.f.hist.changes))
}

// Next returns the next event, waiting for one until ctx ends.
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	for {
		if len(s.queue) > 0 {
			ev := s.queue[0]
			s.queue = s.queue[1:]
			return ev, nil
		}
		s.f.mu.RLock()
		h := s.f.hist
		if s.cursor < h.base {
			s.resync() // the changes we needed are gone
			s.f.mu.RUnlock()
			continue
		}
		for i := s.cursor - h.base; i < uint64(len(h.changes)); i++ {
			ev := h.changes[i]
			if ev.Zxid > s.after && s.scope.covers(s.root, ev.Path) {
				s.cursor = h.base + i + 1
				s.f.mu.RUnlock()
				return ev, nil
			}
		}
		s.cursor = h.base + uint64(len(h.changes))
		wait := h.notify
		s.f.mu.RUnlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		case <-s.closed:
			return Event{}, ErrSubscriptionClosed
		}
	}
}

// Close ends the subscription; a blocked Next returns.
func (s *Subscription) Close() { s.once.Do(func() { close(s.closed) }) }

func join(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}

// walk visits root and every node below it, parents before children.
func (st *state) walk(root string, visit func(string, *Node)) {
	n, ok := st.node(root)
	if !ok {
		return
	}
	visit(root, n)
	for _, name := range st.children(root) {
		st.walk(join(root, name), visit)
	}
}
