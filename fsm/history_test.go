package fsm

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func next(t *testing.T, s *Subscription) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	ev, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("next: %v", err)
	}
	return ev
}

func TestSubscribeStartsWithStateThenChanges(t *testing.T) {
	a := newApplier(t)
	a.write(0, Op{Kind: OpCreate, Path: "/cfg", Data: []byte("v0")})
	a.write(0, Op{Kind: OpCreate, Path: "/cfg/a", Data: []byte("a0")})
	s, err := a.f.Subscribe("/cfg", ScopeSubtree, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, want := range []string{"/cfg", "/cfg/a"} {
		if ev := next(t, s); ev.Type != EventResync || ev.Path != want {
			t.Fatalf("want resync of %s, got %+v", want, ev)
		}
	}
	if ev := next(t, s); ev.Type != EventSynced {
		t.Fatalf("want synced, got %+v", ev)
	}
	a.write(0, Op{Kind: OpSet, Path: "/cfg/a", Data: []byte("a1"), Version: AnyVersion})
	a.write(0, Op{Kind: OpCreate, Path: "/other"})
	a.write(0, Op{Kind: OpDelete, Path: "/cfg/a", Version: AnyVersion})
	if ev := next(t, s); ev.Type != EventDataChanged || string(ev.Data) != "a1" || ev.Stat.Version != 1 {
		t.Fatalf("want data change to a1, got %+v", ev)
	}
	if ev := next(t, s); ev.Type != EventDeleted || ev.Path != "/cfg/a" {
		t.Fatalf("want delete, got %+v", ev)
	}
}

func TestSubscribeResumesFromZxid(t *testing.T) {
	a := newApplier(t)
	a.write(0, Op{Kind: OpCreate, Path: "/k"})
	var zxids []uint64
	for i := 0; i < 10; i++ {
		r := a.write(0, Op{Kind: OpSet, Path: "/k", Data: []byte(fmt.Sprint(i)), Version: AnyVersion})
		zxids = append(zxids, r.Zxid)
	}
	s, _ := a.f.Subscribe("/k", ScopeNode, zxids[4])
	defer s.Close()
	for i := 5; i < 10; i++ {
		ev := next(t, s)
		if ev.Zxid != zxids[i] || string(ev.Data) != fmt.Sprint(i) {
			t.Fatalf("resume: want update %d at %d, got %+v", i, zxids[i], ev)
		}
	}
}

func TestSubscribeResyncsWhenHistoryIsGone(t *testing.T) {
	a := newApplier(t)
	a.f.hist.maxChanges = 4
	a.write(0, Op{Kind: OpCreate, Path: "/k", Data: []byte("first")})
	old := a.f.Index()
	for i := 0; i < 10; i++ {
		a.write(0, Op{Kind: OpSet, Path: "/k", Data: []byte(fmt.Sprint(i)), Version: AnyVersion})
	}
	s, _ := a.f.Subscribe("/k", ScopeNode, old)
	defer s.Close()
	if ev := next(t, s); ev.Type != EventResync || string(ev.Data) != "9" {
		t.Fatalf("want resync with the current value, got %+v", ev)
	}
	if ev := next(t, s); ev.Type != EventSynced {
		t.Fatalf("want synced, got %+v", ev)
	}
	// A subscriber that falls behind while subscribed resyncs too.
	for i := 10; i < 20; i++ {
		a.write(0, Op{Kind: OpSet, Path: "/k", Data: []byte(fmt.Sprint(i)), Version: AnyVersion})
	}
	if ev := next(t, s); ev.Type != EventResync || string(ev.Data) != "19" {
		t.Fatalf("want resync after falling behind, got %+v", ev)
	}
}

func TestSubscribeChildrenScope(t *testing.T) {
	a := newApplier(t)
	a.write(0, Op{Kind: OpCreate, Path: "/g"})
	s, _ := a.f.Subscribe("/g", ScopeChildren, a.f.Index())
	defer s.Close()
	a.write(0, Op{Kind: OpCreate, Path: "/g/m1"}, Op{Kind: OpCreate, Path: "/g/m1/deep"}, Op{Kind: OpCreate, Path: "/g/m2"})
	if ev := next(t, s); ev.Path != "/g/m1" || ev.Type != EventCreated {
		t.Fatalf("got %+v", ev)
	}
	if ev := next(t, s); ev.Path != "/g/m2" {
		t.Fatalf("grandchild leaked or child missed: %+v", ev)
	}
}

// TestSubscribeResumePastThisReplica: a subscriber resuming after a zxid
// this replica has not applied yet (it reconnected through an agent that is
// behind) gets nothing at or below that zxid, even as the replica catches up.
func TestSubscribeResumePastThisReplica(t *testing.T) {
	a := newApplier(t)
	a.write(0, Op{Kind: OpCreate, Path: "/k"})
	from := a.f.Index() + 2
	s, _ := a.f.Subscribe("/k", ScopeNode, from)
	defer s.Close()
	for i := 0; i < 4; i++ {
		a.write(0, Op{Kind: OpSet, Path: "/k", Data: []byte(fmt.Sprint(i)), Version: AnyVersion})
	}
	for _, want := range []string{"2", "3"} {
		ev := next(t, s)
		if ev.Zxid <= from || string(ev.Data) != want {
			t.Fatalf("want update %s after zxid %d, got %+v", want, from, ev)
		}
	}
}
