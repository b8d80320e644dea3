package localapi

import (
	"fmt"
	"sort"

	"github.com/warden-dev/warden/fsm"
	"github.com/warden-dev/warden/localapi/wire"
)

// folder folds the resyncs of a subscription that asked for it (protocol
// 6.18, fold): it keeps the set of paths the app knows to exist, and turns
// each resync (the current state, then synced) into the nodes that exist,
// then a deleted resync event for every known path that no longer does,
// the last event marked synced in place of a separate synced event.
//
// A folder belongs to one stream's goroutine; it is not safe for
// concurrent use.
type folder struct {
	root  string
	known map[string]struct{} // paths the app knows to exist
	seen  map[string]struct{} // the paths of the resync under way; nil outside one
	held  *wire.ChangeEvent   // the resync's latest node, sent once the next event shows it is not the last
}

// newFolder starts from the paths the app says it knows (checked by
// checkKnown).
func newFolder(root string, known []string) *folder {
	f := &folder{root: root, known: make(map[string]struct{}, len(known))}
	for _, p := range known {
		f.known[p] = struct{}{}
	}
	return f
}

// checkKnown refuses a known path that is malformed or that the
// subscription does not cover, and known without fold.
func checkKnown(req *wire.Request, scope fsm.Scope) *wire.Error {
	if len(req.Known) > 0 && !req.Fold {
		return wire.Errorf(wire.CodeBadArguments, "known is only for a folded subscription (fold: true)")
	}
	for _, p := range req.Known {
		if fsm.ValidatePath(p) != nil || !scope.Covers(req.Path, p) {
			return wire.Errorf(wire.CodeBadArguments, fmt.Sprintf("known path %q is not one this subscription covers", p))
		}
	}
	return nil
}

// fold takes the subscription's next event and returns what to send for
// it now, in order: nothing while a resync's node is held back, the whole
// rest of a resync at its synced.
func (f *folder) fold(ev fsm.Event) []*wire.ChangeEvent {
	switch ev.Type {
	case fsm.EventResync:
		if f.seen == nil {
			f.seen = make(map[string]struct{})
		}
		f.seen[ev.Path] = struct{}{}
		prev := f.held
		f.held = changeEvent(ev)
		if prev == nil {
			return nil
		}
		return []*wire.ChangeEvent{prev}
	case fsm.EventSynced:
		return f.synced(ev.Zxid)
	case fsm.EventCreated, fsm.EventDataChanged:
		f.known[ev.Path] = struct{}{}
	case fsm.EventDeleted:
		delete(f.known, ev.Path)
	}
	return []*wire.ChangeEvent{changeEvent(ev)}
}

// synced ends a resync at zxid: the held node, then the known paths it
// did not name (children before their parents), the last marked synced.
// A resync of nothing is one deleted event for the subscribed path.
func (f *folder) synced(zxid uint64) []*wire.ChangeEvent {
	var out []*wire.ChangeEvent
	if f.held != nil {
		out = append(out, f.held)
	}
	var gone []string
	for p := range f.known {
		if _, ok := f.seen[p]; !ok {
			gone = append(gone, p)
		}
	}
	// A child's path sorts after its parent's: reversed, children come first.
	sort.Sort(sort.Reverse(sort.StringSlice(gone)))
	for _, p := range gone {
		out = append(out, &wire.ChangeEvent{Type: wire.ChangeResync, Path: p, Zxid: zxid, Deleted: true})
	}
	if len(out) == 0 {
		out = append(out, &wire.ChangeEvent{Type: wire.ChangeResync, Path: f.root, Zxid: zxid, Deleted: true})
	}
	out[len(out)-1].Synced = true
	f.known, f.seen, f.held = f.seen, nil, nil
	if f.known == nil {
		f.known = make(map[string]struct{})
	}
	return out
}
