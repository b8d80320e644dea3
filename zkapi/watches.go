package zkapi

import (
	"context"
	"sort"

	"github.com/warden-dev/warden/fsm"
)

// Watches of one connection, as ZooKeeper keeps them per client.
//
// One-shot watches (getData, exists, getChildren with watch set) are the
// tree's own (fsm.Watch): registered atomically with the read, fired as
// the change is published. Persistent watches (addWatch) are
// subscriptions to the change stream. The worker polls both before every
// reply: a change a reply may have read was published before the read,
// so its one-shot watches have fired and its events are in the stream by
// then. A change is notified once per connection however many of its
// watches it fires (ZooKeeper's servers do the same; the client hands the
// one notification to each of its watchers of that path).

// watchClass: ZooKeeper keeps data and exists watches in one table and
// child watches in another.
type watchClass uint8

const (
	classData watchClass = iota + 1
	classChild
)

type watchKey struct {
	path  string
	class watchClass
}

// oneShot is a one-shot watch a request set.
type oneShot struct {
	key watchKey
	w   *fsm.Watch
}

// persistentWatch is a watch addWatch set: on its path (its data, its
// existence and its children) or, recursive, on every node of its
// subtree.
type persistentWatch struct {
	path      string
	recursive bool
	sub       *fsm.Subscription
}

// note is one notification.
type note struct {
	typ  int32
	path string
	zxid uint64
}

type watchSet struct {
	oneShots   map[watchKey][]*fsm.Watch
	persistent map[watchKey]*persistentWatch // class data: recursive; child: not
	// sent remembers notifications already written whose zxid is above
	// the index the last poll started at: a later poll may see the same
	// change again through another watch.
	sent   map[note]struct{}
	polled uint64 // the index the last poll started at
	dirty  bool   // watches were added since
	// held are fired notifications of changes after the state the reply
	// they were polled with shows: they go out after it, with the next
	// poll.
	held []note
}

func newWatchSet() *watchSet {
	return &watchSet{oneShots: make(map[watchKey][]*fsm.Watch), persistent: make(map[watchKey]*persistentWatch), sent: make(map[note]struct{})}
}

// done is an ended context: Next with it returns only what is ready.
var done = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

func persistentKey(path string, recursive bool) watchKey {
	if recursive {
		return watchKey{path, classData}
	}
	return watchKey{path, classChild}
}

// add registers watches a request set. A one-shot watch beside one of the
// same path and table that has not fired is redundant (both would fire
// on the same change) and is dropped, so a client that reads the same
// node with a watch again and again does not pile them up.
func (ws *watchSet) add(b Backend, ones []oneShot, pers []*persistentWatch) {
	for _, o := range ones {
		redundant := false
		for _, w := range ws.oneShots[o.key] {
			if len(w.C()) == 0 {
				redundant = true
				break
			}
		}
		if redundant {
			b.StopWatch(o.w)
			continue
		}
		ws.oneShots[o.key] = append(ws.oneShots[o.key], o.w)
	}
	for _, p := range pers {
		k := persistentKey(p.path, p.recursive)
		if old := ws.persistent[k]; old != nil {
			old.sub.Close()
		}
		ws.persistent[k] = p
	}
	ws.dirty = true
}

// holding reports whether notifications wait for a later poll.
func (ws *watchSet) holding() bool { return len(ws.held) > 0 }

// empty reports whether the connection has no watches left.
func (ws *watchSet) empty() bool { return len(ws.oneShots) == 0 && len(ws.persistent) == 0 }

// poll returns extra (in its own order, as setWatches fires them, which
// is ZooKeeper's: data watches, then exist, then child), then the
// notifications of what fired since the last poll in zxid order, without
// repeats, up to the change upTo: later ones are held for a later poll.
// A reply goes out after the notifications polled with it, so upTo is the
// state it shows: a client must not hear of a change (a delete, say)
// before a reply that does not show it yet, or it would take that reply
// for news (as CuratorCache would, putting the deleted node back).
func (ws *watchSet) poll(b Backend, extra []note, upTo uint64) []note {
	idx := b.Index()
	if idx == ws.polled && !ws.dirty && len(extra) == 0 && len(ws.held) == 0 {
		return nil
	}
	ws.dirty = false
	out := extra
	for k, list := range ws.oneShots {
		kept := list[:0]
		for _, w := range list {
			select {
			case ev := <-w.C():
				out = append(out, oneShotNote(k, ev))
			default:
				kept = append(kept, w)
			}
		}
		if len(kept) == 0 {
			delete(ws.oneShots, k)
		} else {
			ws.oneShots[k] = kept
		}
	}
	for _, p := range ws.persistent {
		for {
			ev, err := p.sub.Next(done)
			if err != nil {
				break
			}
			if n, ok := p.note(ev); ok {
				out = append(out, n)
			}
		}
	}
	fired := append(ws.held, out[len(extra):]...)
	ws.held = nil
	sort.SliceStable(fired, func(i, j int) bool { return fired[i].zxid < fired[j].zxid })
	now := out[:len(extra):len(extra)]
	for _, n := range fired {
		if n.zxid > upTo {
			ws.held = append(ws.held, n)
		} else {
			now = append(now, n)
		}
	}
	uniq := now[:0]
	for _, n := range now {
		if _, dup := ws.sent[n]; dup {
			continue
		}
		ws.sent[n] = struct{}{}
		uniq = append(uniq, n)
	}
	// Every change up to idx was visible to this poll through all its
	// watches: none can come back.
	for n := range ws.sent {
		if n.zxid <= idx {
			delete(ws.sent, n)
		}
	}
	ws.polled = idx
	return uniq
}

func oneShotNote(k watchKey, ev fsm.Event) note {
	n := note{path: k.path, zxid: ev.Zxid}
	switch ev.Type {
	case fsm.EventCreated:
		n.typ = eventNodeCreated
	case fsm.EventDeleted:
		n.typ = eventNodeDeleted
	case fsm.EventDataChanged:
		n.typ = eventNodeDataChanged
	case fsm.EventChildrenChanged:
		n.typ = eventNodeChildrenChanged
	default:
		// The tree was replaced by a snapshot restore: whatever the
		// client read may have changed.
		n.typ = eventNodeDataChanged
		if k.class == classChild {
			n.typ = eventNodeChildrenChanged
		}
	}
	return n
}

// note maps a change of the stream to the notification the watch sends,
// if any.
func (p *persistentWatch) note(ev fsm.Event) (note, bool) {
	var typ int32
	switch ev.Type {
	case fsm.EventCreated:
		typ = eventNodeCreated
	case fsm.EventDeleted:
		typ = eventNodeDeleted
	case fsm.EventDataChanged:
		typ = eventNodeDataChanged
	default:
		// Resync events (a restore, or a stream that fell behind its
		// history) have no ZooKeeper counterpart; see docs/zookeeper.md.
		return note{}, false
	}
	switch {
	case p.recursive || ev.Path == p.path:
		return note{typ, ev.Path, ev.Zxid}, true
	case typ != eventNodeDataChanged && fsm.Parent(ev.Path) == p.path:
		return note{eventNodeChildrenChanged, p.path, ev.Zxid}, true
	}
	return note{}, false
}

// matches reports which of the connection's watches a checkWatches or
// removeWatches of type typ on path names: the one-shot keys and the
// persistent keys.
func (ws *watchSet) matches(path string, typ int32) (ones, pers []watchKey) {
	one := func(class watchClass) {
		k := watchKey{path, class}
		for _, w := range ws.oneShots[k] {
			if len(w.C()) == 0 {
				ones = append(ones, k)
				return
			}
		}
	}
	switch typ {
	case watcherChildren:
		one(classChild)
	case watcherData:
		one(classData)
	case watcherAny: // every kind, persistent ones too (as ZooKeeper 3.6+)
		one(classChild)
		one(classData)
		for _, rec := range []bool{false, true} {
			if k := persistentKey(path, rec); ws.persistent[k] != nil {
				pers = append(pers, k)
			}
		}
	case watcherPersistent, watcherPersistentRecursive:
		if k := persistentKey(path, typ == watcherPersistentRecursive); ws.persistent[k] != nil {
			pers = append(pers, k)
		}
	}
	return ones, pers
}

// remove drops the watches matches names and reports whether there were
// any.
func (ws *watchSet) remove(b Backend, path string, typ int32) bool {
	ones, pers := ws.matches(path, typ)
	for _, k := range ones {
		for _, w := range ws.oneShots[k] {
			b.StopWatch(w)
		}
		delete(ws.oneShots, k)
	}
	for _, k := range pers {
		ws.persistent[k].sub.Close()
		delete(ws.persistent, k)
	}
	return len(ones)+len(pers) > 0
}

// close drops every watch (the connection ended).
func (ws *watchSet) close(b Backend) {
	for k, list := range ws.oneShots {
		for _, w := range list {
			b.StopWatch(w)
		}
		delete(ws.oneShots, k)
	}
	for k, p := range ws.persistent {
		p.sub.Close()
		delete(ws.persistent, k)
	}
}
