package warden

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/localapi/wire"
)

// fakeConfigSubscription is a ConfigSubscription fed by hand, as if the
// agent had sent the events.
func fakeConfigSubscription(t *testing.T, root string, tree bool, from uint64) (*ConfigSubscription, func(typ, path string, zxid uint64, version int32)) {
	s := newStream(nil, 1)
	push := func(typ, path string, zxid uint64, version int32) {
		b, err := msgpack.Marshal(&wire.ChangeEvent{Type: typ, Path: path, Zxid: zxid, Data: []byte(path), Stat: wire.Stat{Version: version}})
		if err != nil {
			t.Fatal(err)
		}
		s.push(&wire.Message{Event: wire.EventChange, Sub: 1, Body: b})
	}
	return &ConfigSubscription{sub: &Subscription{s}, root: root, tree: tree, from: from, last: from, known: map[string]int32{}}, push
}

func wantUpdates(t *testing.T, s *ConfigSubscription, want ...ConfigUpdate) {
	t.Helper()
	for i, w := range want {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		u, err := s.Next(ctx)
		cancel()
		if err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		u.Value = nil
		if !reflect.DeepEqual(u, w) {
			t.Fatalf("update %d: want %+v, got %+v", i, w, u)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if u, err := s.Next(ctx); err == nil {
		t.Fatalf("an extra update: %+v", u)
	}
}

// TestConfigTreeResyncReportsWhatWentAway: a resync in the middle of a
// tree subscription (its history was gone) names the nodes that exist,
// then reports as deleted, children first, the ones it had reported that
// no longer exist; the last update of each resync is marked Synced.
func TestConfigTreeResyncReportsWhatWentAway(t *testing.T) {
	s, push := fakeConfigSubscription(t, "/t", true, 0)
	push(wire.ChangeResync, "/t", 10, 0)
	push(wire.ChangeResync, "/t/a", 10, 1)
	push(wire.ChangeResync, "/t/a/x", 10, 2)
	push(wire.ChangeSynced, "/t", 10, 0)
	push(wire.ChangeCreated, "/t/b", 11, 0)
	push(wire.ChangeDataChanged, "/t/a", 12, 2)
	wantUpdates(t, s,
		ConfigUpdate{Path: "/t", Zxid: 10, Resync: true},
		ConfigUpdate{Path: "/t/a", Version: 1, Zxid: 10, Resync: true},
		ConfigUpdate{Path: "/t/a/x", Version: 2, Zxid: 10, Resync: true, Synced: true},
		ConfigUpdate{Path: "/t/b", Zxid: 11},
		ConfigUpdate{Path: "/t/a", Version: 2, Zxid: 12},
	)
	// /t/a and /t/a/x went while the history was lost.
	push(wire.ChangeResync, "/t", 20, 0)
	push(wire.ChangeResync, "/t/b", 20, 3)
	push(wire.ChangeSynced, "/t", 20, 0)
	wantUpdates(t, s,
		ConfigUpdate{Path: "/t", Zxid: 20, Resync: true},
		ConfigUpdate{Path: "/t/b", Version: 3, Zxid: 20, Resync: true},
		ConfigUpdate{Path: "/t/a/x", Version: 2, Zxid: 20, Deleted: true, Resync: true},
		ConfigUpdate{Path: "/t/a", Version: 2, Zxid: 20, Deleted: true, Resync: true, Synced: true},
	)
	if s.Last() != 20 {
		t.Fatalf("Last() = %d, want 20", s.Last())
	}
	// Then the whole tree went.
	push(wire.ChangeSynced, "/t", 30, 0)
	wantUpdates(t, s,
		ConfigUpdate{Path: "/t/b", Version: 3, Zxid: 30, Deleted: true, Resync: true},
		ConfigUpdate{Path: "/t", Zxid: 30, Deleted: true, Resync: true, Synced: true},
	)
	// A resync of nothing, knowing nothing: the root does not exist.
	push(wire.ChangeSynced, "/t", 31, 0)
	wantUpdates(t, s, ConfigUpdate{Path: "/t", Zxid: 31, Deleted: true, Resync: true, Synced: true})
}

// TestConfigResumeSkipsHandledChanges: changes at or below the resume
// point (which an agent that had not yet applied it sends) are dropped.
func TestConfigResumeSkipsHandledChanges(t *testing.T) {
	s, push := fakeConfigSubscription(t, "/k", false, 11)
	push(wire.ChangeDataChanged, "/k", 10, 4)
	push(wire.ChangeDataChanged, "/k", 11, 5)
	push(wire.ChangeDataChanged, "/k", 12, 6)
	push(wire.ChangeDeleted, "/k", 13, 6)
	wantUpdates(t, s,
		ConfigUpdate{Path: "/k", Version: 6, Zxid: 12},
		ConfigUpdate{Path: "/k", Version: 6, Zxid: 13, Deleted: true},
	)
}
