package fsm

import "sync"

// WatchKind selects which changes fire a one-shot watch, as in ZooKeeper.
type WatchKind uint8

// Watch kinds.
const (
	// WatchData fires when the node's data changes or the node is deleted.
	WatchData WatchKind = iota + 1
	// WatchExists fires when the node is created, changed or deleted.
	WatchExists
	// WatchChildren fires when a child is added or removed, or the node is
	// deleted.
	WatchChildren
)

// Watch is a one-shot watch: C receives exactly one event, then the watch
// is gone. A watch nobody needs any more is removed with FSM.StopWatch.
type Watch struct {
	path string
	kind WatchKind
	ch   chan Event
}

// C delivers the event that fired the watch.
func (w *Watch) C() <-chan Event { return w.ch }

// Path is the watched path.
func (w *Watch) Path() string { return w.path }

// watches indexes one-shot watches by path.
type watches struct {
	mu       sync.Mutex
	data     map[string]map[*Watch]struct{} // WatchData and WatchExists
	children map[string]map[*Watch]struct{}
}

func newWatches() *watches {
	return &watches{
		data:     make(map[string]map[*Watch]struct{}),
		children: make(map[string]map[*Watch]struct{}),
	}
}

func (ws *watches) add(path string, kind WatchKind) *Watch {
	w := &Watch{path: path, kind: kind, ch: make(chan Event, 1)}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	m := ws.index(kind)
	set := m[path]
	if set == nil {
		set = make(map[*Watch]struct{})
		m[path] = set
	}
	set[w] = struct{}{}
	return w
}

func (ws *watches) index(kind WatchKind) map[string]map[*Watch]struct{} {
	if kind == WatchChildren {
		return ws.children
	}
	return ws.data
}

func (ws *watches) remove(w *Watch) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	m := ws.index(w.kind)
	if set := m[w.path]; set != nil {
		delete(set, w)
		if len(set) == 0 {
			delete(m, w.path)
		}
	}
}

// fire delivers events to the watches they trigger and removes those
// watches. It never blocks: each watch's channel has room for its one event.
func (ws *watches) fire(events []Event) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, ev := range events {
		switch ev.Type {
		case EventCreated, EventDataChanged:
			ws.take(ws.data, ev.Path, ev)
		case EventDeleted:
			ws.take(ws.data, ev.Path, ev)
			ws.take(ws.children, ev.Path, ev)
		case EventChildrenChanged:
			ws.take(ws.children, ev.Path, ev)
		case EventResync:
			for p := range ws.data {
				ws.take(ws.data, p, Event{Type: EventResync, Path: p, Zxid: ev.Zxid})
			}
			for p := range ws.children {
				ws.take(ws.children, p, Event{Type: EventResync, Path: p, Zxid: ev.Zxid})
			}
		}
	}
}

func (ws *watches) take(m map[string]map[*Watch]struct{}, path string, ev Event) {
	for w := range m[path] {
		w.ch <- ev
	}
	delete(m, path)
}

// count returns how many watches are registered (for tests and metrics).
func (ws *watches) count() int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	n := 0
	for _, s := range ws.data {
		n += len(s)
	}
	for _, s := range ws.children {
		n += len(s)
	}
	return n
}
