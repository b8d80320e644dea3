package warden_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/localapi/wire"
)

func TestWatchesFireOnce(t *testing.T) {
	a := agenttest.Start(t)
	c := dial(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Create(ctx, "/w", []byte("1"), warden.Persistent); err != nil {
		t.Fatal(err)
	}
	_, _, dw, err := c.GetW(ctx, "/w")
	if err != nil {
		t.Fatal(err)
	}
	_, ok, ew, err := c.ExistsW(ctx, "/new")
	if err != nil || ok {
		t.Fatal(ok, err)
	}
	_, _, cw, err := c.ChildrenW(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Set(ctx, "/w", []byte("2"), warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if ev, err := dw.Wait(ctx); err != nil || ev.Type != wire.ChangeDataChanged || ev.Path != "/w" {
		t.Fatalf("data watch: %+v %v", ev, err)
	}
	if _, err := c.Create(ctx, "/new", nil, warden.Persistent); err != nil {
		t.Fatal(err)
	}
	if ev, err := ew.Wait(ctx); err != nil || ev.Type != wire.ChangeCreated || ev.Path != "/new" {
		t.Fatalf("exists watch: %+v %v", ev, err)
	}
	if ev, err := cw.Wait(ctx); err != nil || ev.Type != wire.ChangeChildrenChanged || ev.Path != "/" {
		t.Fatalf("child watch: %+v %v", ev, err)
	}
}

func TestSubscribeSeesEveryUpdateInOrder(t *testing.T) {
	a := agenttest.Start(t)
	w, r := dial(t, a), dial(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := w.Create(ctx, "/cfg", []byte("init"), warden.Persistent); err != nil {
		t.Fatal(err)
	}
	sub, err := r.Subscribe(ctx, "/cfg", warden.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := sub.Next(ctx); err != nil || ev.Type != wire.ChangeResync || string(ev.Data) != "init" {
		t.Fatalf("first event: %+v %v", ev, err)
	}
	if ev, err := sub.Next(ctx); err != nil || ev.Type != wire.ChangeSynced {
		t.Fatalf("second event: %+v %v", ev, err)
	}
	const n = 300
	go func() {
		for i := 0; i < n; i++ {
			if _, err := w.Set(ctx, "/cfg", []byte(fmt.Sprint(i)), warden.AnyVersion); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var last uint64
	for i := 0; i < n; i++ {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(ev.Data) != fmt.Sprint(i) || ev.Zxid <= last || int(ev.Stat.Version) != i+1 {
			t.Fatalf("update %d: got %q v%d at %d after %d", i, ev.Data, ev.Stat.Version, ev.Zxid, last)
		}
		last = ev.Zxid
	}
	if err := sub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Resume after the 100th update: exactly the rest follow.
	sub2, err := r.Subscribe(ctx, "/cfg", warden.SubscribeOptions{FromZxid: last - 1})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := sub2.Next(ctx); err != nil || ev.Zxid != last {
		t.Fatalf("resume: %+v %v", ev, err)
	}
	// A deletion carries the node's last Stat and no data.
	if err := w.Delete(ctx, "/cfg", warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if ev, err := sub2.Next(ctx); err != nil || ev.Type != wire.ChangeDeleted || ev.Data != nil || int(ev.Stat.Version) != n {
		t.Fatalf("deletion: %+v %v", ev, err)
	}
}
