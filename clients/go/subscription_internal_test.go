package warden

import (
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/localapi/wire"
)

func changeMsg(t *testing.T, ev wire.ChangeEvent) *wire.Message {
	t.Helper()
	b, err := msgpack.Marshal(&ev)
	if err != nil {
		t.Fatal(err)
	}
	return &wire.Message{Event: wire.EventChange, Sub: 1, Body: b}
}

// TestPositionResumesWithoutGapOrDuplicate: what a subscription sends to
// go on after a resume. After part of a multi's changes, the multi's zxid
// is replayed and what was received of it dropped; after a whole resync,
// it goes on from the resync's zxid; a resync cut short starts over;
// folded, it lists the paths it was told exist.
func TestPositionResumesWithoutGapOrDuplicate(t *testing.T) {
	s := newStream(nil, &wire.Request{Op: wire.OpSubscribe, Path: "/p", Scope: wire.ScopeSubtree, Fold: true, Known: []string{"/p/old"}})
	p := &position{zxid: 5, fold: true, known: map[string]struct{}{"/p/old": {}}}
	note := func(ev wire.ChangeEvent) bool { return p.note(changeMsg(t, ev)) }
	reopen := func(from uint64, known ...string) {
		t.Helper()
		req := p.reopen(s)
		if req.FromZxid != from || !reflect.DeepEqual(req.Known, known) || !req.Fold || req.Path != "/p" {
			t.Fatalf("reopen: from %d known %v, want from %d known %v", req.FromZxid, req.Known, from, known)
		}
	}

	if !note(wire.ChangeEvent{Type: wire.ChangeCreated, Path: "/p/a", Zxid: 7}) ||
		!note(wire.ChangeEvent{Type: wire.ChangeCreated, Path: "/p/b", Zxid: 8}) {
		t.Fatal("a change dropped")
	}
	// One of a multi's two changes arrived before the drop.
	note(wire.ChangeEvent{Type: wire.ChangeDeleted, Path: "/p/old", Zxid: 9})
	reopen(8, "/p/a", "/p/b")
	for i, c := range []struct {
		ev   wire.ChangeEvent
		keep bool
	}{
		{wire.ChangeEvent{Type: wire.ChangeDeleted, Path: "/p/old", Zxid: 9}, false}, // received already
		{wire.ChangeEvent{Type: wire.ChangeCreated, Path: "/p/c", Zxid: 9}, true},
		{wire.ChangeEvent{Type: wire.ChangeDataChanged, Path: "/p/a", Zxid: 10}, true},
	} {
		if note(c.ev) != c.keep {
			t.Fatalf("replayed change %d: kept %v, want %v", i, !c.keep, c.keep)
		}
	}
	reopen(9, "/p/a", "/p/b", "/p/c")

	// A resync cut short starts over, folded against what is known.
	note(wire.ChangeEvent{Type: wire.ChangeResync, Path: "/p", Zxid: 20})
	note(wire.ChangeEvent{Type: wire.ChangeResync, Path: "/p/a", Zxid: 20})
	reopen(0, "/p", "/p/a", "/p/b", "/p/c")
	note(wire.ChangeEvent{Type: wire.ChangeResync, Path: "/p", Zxid: 21})
	note(wire.ChangeEvent{Type: wire.ChangeResync, Path: "/p/b", Zxid: 21, Deleted: true})
	note(wire.ChangeEvent{Type: wire.ChangeResync, Path: "/p/a", Zxid: 21, Deleted: true, Synced: true})
	reopen(21, "/p", "/p/c")

	// Unfolded: a synced event ends the resync; no known paths are sent.
	u := &position{}
	u.note(changeMsg(t, wire.ChangeEvent{Type: wire.ChangeResync, Path: "/p", Zxid: 30}))
	u.note(changeMsg(t, wire.ChangeEvent{Type: wire.ChangeSynced, Path: "/p", Zxid: 30}))
	if req := u.reopen(s); req.FromZxid != 30 || req.Known != nil {
		t.Fatalf("unfolded reopen: from %d known %v", req.FromZxid, req.Known)
	}
}
