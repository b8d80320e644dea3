package recipes

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/warden-dev/warden/fsm"
)

// childView follows the direct children of a node (the tasks of a job, the
// members of a group) from the node's change stream, and turns the stream
// into plain changes: a child appeared or changed, or a child went.
//
// The stream may resync (at the start, and whenever the history it needs
// is gone): it then delivers the whole current state, and the view is
// replaced by it. Rather than pass the resync on, the view compares the
// new state with the one it knew and reports only the difference: each
// child that went as removed, each new or changed child once. So a
// consumer of the view never has to know a resync happened.
//
// A childView is not safe for concurrent use.
type childView struct {
	path    string
	sub     *fsm.Subscription
	known   map[string]childState // by name
	staged  map[string]childState // a resync's state, until it is complete
	syncing bool
	queue   []childChange
}

// childState is what the view knows of one child.
type childState struct {
	data []byte
	stat fsm.Stat
}

// childChange is one change the view reports. For a removed child, Data
// and Stat are the last the view knew.
type childChange struct {
	Name    string
	Data    []byte
	Stat    fsm.Stat
	Removed bool
}

func newChildView(st Store, path string) (*childView, error) {
	sub, err := st.Subscribe(path, fsm.ScopeChildren, 0)
	if err != nil {
		return nil, err
	}
	return &childView{path: path, sub: sub, known: map[string]childState{}}, nil
}

// next returns the next change, waiting for one until ctx ends or the view
// is closed. The first changes are the children that exist when the view
// starts, in name order.
func (v *childView) next(ctx context.Context) (childChange, error) {
	for len(v.queue) == 0 {
		ev, err := v.sub.Next(ctx)
		if err != nil {
			return childChange{}, err
		}
		v.apply(ev)
	}
	c := v.queue[0]
	v.queue = v.queue[1:]
	return c, nil
}

// apply folds one event of the stream into the view, queueing the changes
// it makes.
func (v *childView) apply(ev fsm.Event) {
	name := ""
	if len(ev.Path) > len(v.path)+1 {
		name = ev.Path[len(v.path)+1:]
	}
	if v.path == "/" {
		name = ev.Path[1:]
	}
	switch ev.Type {
	case fsm.EventResync:
		if !v.syncing {
			v.staged = map[string]childState{}
			v.syncing = true
		}
		if name != "" {
			v.staged[name] = childState{data: ev.Data, stat: ev.Stat}
		}
	case fsm.EventSynced:
		if !v.syncing {
			v.staged = map[string]childState{} // a resync of an empty state
		}
		v.syncing = false
		v.replace(v.staged)
		v.staged = nil
	case fsm.EventCreated, fsm.EventDataChanged:
		if name == "" {
			return
		}
		s := childState{data: ev.Data, stat: ev.Stat}
		v.known[name] = s
		v.queue = append(v.queue, childChange{Name: name, Data: s.data, Stat: s.stat})
	case fsm.EventDeleted:
		if old, ok := v.known[name]; ok {
			delete(v.known, name)
			v.queue = append(v.queue, childChange{Name: name, Data: old.data, Stat: old.stat, Removed: true})
		}
	}
}

// replace makes state the view, queueing what differs from the old one:
// removals first, then new and changed children, each in name order.
func (v *childView) replace(state map[string]childState) {
	var gone, changed []string
	for name := range v.known {
		if _, ok := state[name]; !ok {
			gone = append(gone, name)
		}
	}
	for name, s := range state {
		old, ok := v.known[name]
		if !ok || old.stat.Czxid != s.stat.Czxid || old.stat.Mzxid != s.stat.Mzxid {
			changed = append(changed, name)
		}
	}
	sort.Strings(gone)
	sort.Strings(changed)
	for _, name := range gone {
		old := v.known[name]
		v.queue = append(v.queue, childChange{Name: name, Data: old.data, Stat: old.stat, Removed: true})
	}
	for _, name := range changed {
		s := state[name]
		v.queue = append(v.queue, childChange{Name: name, Data: s.data, Stat: s.stat})
	}
	v.known = state
}

// close ends the view; a blocked next returns.
func (v *childView) close() { v.sub.Close() }

// readChildren reads every child of path from the local replica, in name
// order, skipping any that goes between the listing and its read. A
// missing path has no children.
func readChildren(st Store, path string) ([]childChange, error) {
	kids, _, _, err := st.Children(path, false)
	if isNoNode(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]childChange, 0, len(kids))
	for _, k := range kids {
		data, stat, _, err := st.Get(path+"/"+k, false)
		if isNoNode(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, childChange{Name: k, Data: data, Stat: stat})
	}
	return out, nil
}

func isNoNode(err error) bool { return errors.Is(err, fsm.ErrNoNode) }

// checkSegment refuses a name that is not one valid path segment: a job,
// task, group or member name becomes one segment of a node's path.
func checkSegment(name, what string) error {
	if name == "" {
		return badArgs(what + " is empty")
	}
	if strings.Contains(name, "/") {
		return badArgs(what + " " + fsm.QuoteName(name) + " must not contain /")
	}
	if err := fsm.ValidatePath("/" + name); err != nil {
		return badArgs(what + " " + fsm.QuoteName(name) + " is not a valid path segment")
	}
	return nil
}
