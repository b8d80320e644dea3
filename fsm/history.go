package fsm

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"unsafe"
)

// History limits: the change stream keeps the most recent changes, up to
// this many or this many bytes (each change's path and data plus its fixed
// size), whichever is reached first.
const (
	historyMaxChanges = 100_000
	historyMaxBytes   = 64 << 20
)

// eventSize is what one held change costs beyond its path and data.
const eventSize = int(unsafe.Sizeof(Event{}))

// history is the recent change stream: every created, deleted and
// data-changed event, in zxid order, numbered by a sequence that never
// goes back. It holds all changes with a zxid above complete.
//
// The changes sit in a ring: appending and dropping the oldest are O(1)
// (amortized, as the ring doubles when full), so a full history costs an
// apply no more than an empty one.
type history struct {
	maxChanges, maxBytes int
	ring                 []Event // held changes start at ring[head], wrapping
	head, n              int     // position of the oldest change; how many are held
	base                 uint64  // sequence number of the oldest change
	bytes                int
	complete             uint64 // every change with a zxid above this is held
	notify               chan struct{}
}

func newHistory() *history {
	return &history{maxChanges: historyMaxChanges, maxBytes: historyMaxBytes, notify: make(chan struct{})}
}

func sizeOf(ev *Event) int { return eventSize + len(ev.Path) + len(ev.Data) }

// at returns the i-th oldest held change.
func (h *history) at(i int) *Event { return &h.ring[(h.head+i)%len(h.ring)] }

// end is the sequence number the next change will get.
func (h *history) end() uint64 { return h.base + uint64(h.n) }

// append adds an entry's events (all with one zxid) and wakes subscribers.
func (h *history) append(events []Event) {
	added := false
	for _, ev := range events {
		if ev.Type == EventChildrenChanged {
			continue // implied by the child's created or deleted event
		}
		if h.n == len(h.ring) {
			h.grow()
		}
		h.ring[(h.head+h.n)%len(h.ring)] = ev
		h.n++
		h.bytes += sizeOf(&ev)
		added = true
	}
	if !added {
		return
	}
	h.trim()
	close(h.notify)
	h.notify = make(chan struct{})
}

// grow doubles the ring, oldest change first.
func (h *history) grow() {
	ring := make([]Event, max(8, 2*len(h.ring)))
	for i := 0; i < h.n; i++ {
		ring[i] = *h.at(i)
	}
	h.ring, h.head = ring, 0
}

// trim drops the oldest changes, a whole zxid at a time, while over limits.
func (h *history) trim() {
	for h.n > h.maxChanges || h.bytes > h.maxBytes {
		z := h.at(0).Zxid
		for h.n > 0 && h.at(0).Zxid == z {
			old := h.at(0)
			h.bytes -= sizeOf(old)
			*old = Event{} // let go of its path and data
			h.head = (h.head + 1) % len(h.ring)
			h.n--
			h.base++
		}
		h.complete = z
	}
}

// reset forgets every change: the tree was replaced at index. The
// sequence skips one number, so that even a subscription that had read
// everything finds its cursor below base and resyncs.
func (h *history) reset(index uint64) {
	h.base += uint64(h.n) + 1
	h.ring, h.head, h.n, h.bytes, h.complete = nil, 0, 0, 0, index
	close(h.notify)
	h.notify = make(chan struct{})
}

// after returns the sequence number of the first change with a zxid above
// zxid, and whether the history still holds every such change.
func (h *history) after(zxid uint64) (uint64, bool) {
	if zxid < h.complete {
		return 0, false
	}
	i := sort.Search(h.n, func(i int) bool { return h.at(i).Zxid > zxid })
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

// Covers reports whether a subscription of scope s under root covers p.
func (s Scope) Covers(root, p string) bool {
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
	s.cursor = s.f.hist.end()
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
		for i := int(s.cursor - h.base); i < h.n; i++ {
			ev := h.at(i)
			if ev.Zxid > s.after && s.scope.Covers(s.root, ev.Path) {
				s.cursor = h.base + uint64(i) + 1
				s.f.mu.RUnlock()
				return *ev, nil
			}
		}
		s.cursor = h.end()
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
