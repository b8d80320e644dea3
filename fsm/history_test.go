package fsm

import (
	"context"
	"fmt"
	"math/rand/v2"
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

// TestHistoryWrapAround drives the change ring through many wraps with
// small limits and random writes of one to three ops, and checks after
// every write that a live subscriber saw every change in order, that a
// subscription resuming from any zxid the history still covers gets
// exactly the changes after it, that one resuming from before that
// resyncs, and that the ring stays bounded.
func TestHistoryWrapAround(t *testing.T) {
	for _, limits := range []struct{ changes, bytes int }{{7, 1 << 20}, {1 << 20, 9 * (eventSize + 12)}} {
		t.Run(fmt.Sprintf("changes=%d,bytes=%d", limits.changes, limits.bytes), func(t *testing.T) {
			a := newApplier(t)
			a.f.hist.maxChanges, a.f.hist.maxBytes = limits.changes, limits.bytes
			rng := rand.New(rand.NewPCG(1, 2))
			a.write(0, Op{Kind: OpCreate, Path: "/k"})
			var log []Event // every change under /k, as applied
			a.f.OnApply = func(_ uint64, events []Event) {
				for _, ev := range events {
					if ev.Type != EventChildrenChanged && ev.Path != "/k" {
						log = append(log, ev)
					}
				}
			}
			live, _ := a.f.Subscribe("/k", ScopeSubtree, a.f.Index())
			defer live.Close()
			seen := 0
			for i := 0; i < 2000; i++ {
				var ops []Op
				for j := rng.IntN(3); j >= 0; j-- {
					p := fmt.Sprintf("/k/n%d", rng.IntN(4))
					if _, _, _, err := a.f.Get(p, false); err != nil {
						ops = append(ops, Op{Kind: OpCreate, Path: p, Data: []byte("0123456789")})
					} else if rng.IntN(3) == 0 {
						ops = append(ops, Op{Kind: OpDelete, Path: p, Version: AnyVersion})
					} else {
						ops = append(ops, Op{Kind: OpSet, Path: p, Data: []byte(fmt.Sprintf("v%08d", i)), Version: AnyVersion})
					}
				}
				a.write(0, ops...) // a failed multi (two ops on one path) adds nothing
				for ; seen < len(log); seen++ {
					if ev := next(t, live); ev.Zxid != log[seen].Zxid || ev.Path != log[seen].Path || ev.Type != log[seen].Type {
						t.Fatalf("write %d: live subscriber got %+v, want %+v", i, ev, log[seen])
					}
				}
				h := a.f.hist
				if h.n > limits.changes+3 || h.bytes > limits.bytes+3*(eventSize+12) || len(h.ring) > 2*(limits.changes+3) {
					t.Fatalf("write %d: history over its bounds: %d changes, %d bytes, ring of %d", i, h.n, h.bytes, len(h.ring))
				}
				if i%37 == 0 && len(log) > 0 {
					checkResumes(t, a.f, log)
				}
			}
		})
	}
}

// checkResumes subscribes from each of the last few zxids in log (and
// from before them) and checks what each subscription delivers first.
func checkResumes(t *testing.T, f *FSM, log []Event) {
	t.Helper()
	for back := 1; back <= 12 && back <= len(log); back++ {
		from := log[len(log)-back].Zxid - 1
		s, err := f.Subscribe("/k", ScopeSubtree, from)
		if err != nil {
			t.Fatal(err)
		}
		first := next(t, s)
		if from < f.hist.complete {
			if first.Type != EventResync {
				t.Fatalf("resume from %d, history complete above %d: want a resync, got %+v", from, f.hist.complete, first)
			}
			s.Close()
			continue
		}
		var want []Event
		for _, ev := range log {
			if ev.Zxid > from {
				want = append(want, ev)
			}
		}
		got := first
		for i, w := range want {
			if i > 0 {
				got = next(t, s)
			}
			if got.Zxid != w.Zxid || got.Path != w.Path || got.Type != w.Type || string(got.Data) != string(w.Data) {
				t.Fatalf("resume from %d: change %d is %+v, want %+v", from, i, got, w)
			}
		}
		s.Close()
	}
}
