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
// agent had sent the (folded) events.
func fakeConfigSubscription(t *testing.T, from uint64) (*ConfigSubscription, func(ev wire.ChangeEvent)) {
	s := newStream(nil, nil)
	push := func(ev wire.ChangeEvent) {
		if !ev.Deleted {
			ev.Data = []byte(ev.Path)
		}
		b, err := msgpack.Marshal(&ev)
		if err != nil {
			t.Fatal(err)
		}
		s.push(&wire.Message{Event: wire.EventChange, Sub: 1, Body: b})
	}
	return &ConfigSubscription{sub: &Subscription{s}, from: from, last: from}, push
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
		if !u.Deleted && string(u.Value) != u.Path {
			t.Fatalf("update %d: value %q", i, u.Value)
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

// TestConfigMapsFoldedEventsOneToOne: the agent folds resyncs, so each
// event is one update: resync events (Deleted and Synced as the agent
// marks them) and changes alike, with nothing held back.
func TestConfigMapsFoldedEventsOneToOne(t *testing.T) {
	s, push := fakeConfigSubscription(t, 0)
	push(wire.ChangeEvent{Type: wire.ChangeResync, Path: "/t", Zxid: 10})
	push(wire.ChangeEvent{Type: wire.ChangeResync, Path: "/t/a", Zxid: 10, Stat: wire.Stat{Version: 1}, Synced: true})
	push(wire.ChangeEvent{Type: wire.ChangeCreated, Path: "/t/b", Zxid: 11})
	push(wire.ChangeEvent{Type: wire.ChangeDataChanged, Path: "/t/a", Zxid: 12, Stat: wire.Stat{Version: 2}})
	push(wire.ChangeEvent{Type: wire.ChangeDeleted, Path: "/t/b", Zxid: 13, Stat: wire.Stat{Version: 4}})
	push(wire.ChangeEvent{Type: wire.ChangeResync, Path: "/t", Zxid: 20})
	push(wire.ChangeEvent{Type: wire.ChangeResync, Path: "/t/a", Zxid: 20, Deleted: true, Synced: true})
	wantUpdates(t, s,
		ConfigUpdate{Path: "/t", Zxid: 10, Resync: true},
		ConfigUpdate{Path: "/t/a", Version: 1, Zxid: 10, Resync: true, Synced: true},
		ConfigUpdate{Path: "/t/b", Zxid: 11},
		ConfigUpdate{Path: "/t/a", Version: 2, Zxid: 12},
		ConfigUpdate{Path: "/t/b", Version: 4, Zxid: 13, Deleted: true},
		ConfigUpdate{Path: "/t", Zxid: 20, Resync: true},
		ConfigUpdate{Path: "/t/a", Zxid: 20, Resync: true, Deleted: true, Synced: true},
	)
	if s.Last() != 20 {
		t.Fatalf("Last() = %d, want 20", s.Last())
	}
}

// TestConfigResumeSkipsHandledChanges: changes at or below the resume
// point (which an agent that had not yet applied it sends) are dropped.
func TestConfigResumeSkipsHandledChanges(t *testing.T) {
	s, push := fakeConfigSubscription(t, 11)
	push(wire.ChangeEvent{Type: wire.ChangeDataChanged, Path: "/k", Zxid: 10, Stat: wire.Stat{Version: 4}})
	push(wire.ChangeEvent{Type: wire.ChangeDataChanged, Path: "/k", Zxid: 11, Stat: wire.Stat{Version: 5}})
	push(wire.ChangeEvent{Type: wire.ChangeDataChanged, Path: "/k", Zxid: 12, Stat: wire.Stat{Version: 6}})
	push(wire.ChangeEvent{Type: wire.ChangeDeleted, Path: "/k", Zxid: 13, Stat: wire.Stat{Version: 6}})
	wantUpdates(t, s,
		ConfigUpdate{Path: "/k", Version: 6, Zxid: 12},
		ConfigUpdate{Path: "/k", Version: 6, Zxid: 13, Deleted: true},
	)
}
