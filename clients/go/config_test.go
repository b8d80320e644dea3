package warden_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

func TestConfigGetSet(t *testing.T) {
	c := dial(t, agenttest.Start(t))
	ctx := testCtx(t, 10*time.Second)
	cfg := c.Config("/cfgs/app/db")
	if _, _, err := cfg.Get(ctx); !errors.Is(err, warden.ErrNoNode) {
		t.Fatalf("get of a config never set: %v, want ErrNoNode", err)
	}
	if _, err := cfg.Set(ctx, []byte("x"), 0); !errors.Is(err, warden.ErrNoNode) {
		t.Fatalf("compare-and-set of a config never set: %v, want ErrNoNode", err)
	}
	// AnyVersion creates the node and its parents.
	if v, err := cfg.Set(ctx, []byte("v0"), warden.AnyVersion); err != nil || v != 0 {
		t.Fatalf("first set: version %d, %v", v, err)
	}
	if _, err := cfg.Set(ctx, []byte("again"), warden.ConfigAbsent); !errors.Is(err, warden.ErrNodeExists) {
		t.Fatalf("set expecting absent: %v, want ErrNodeExists", err)
	}
	if v, err := cfg.Set(ctx, []byte("v1"), 0); err != nil || v != 1 {
		t.Fatalf("compare-and-set at 0: version %d, %v", v, err)
	}
	if _, err := cfg.Set(ctx, []byte("stale"), 0); !errors.Is(err, warden.ErrBadVersion) {
		t.Fatalf("compare-and-set at a stale version: %v, want ErrBadVersion", err)
	}
	if v, err := cfg.Set(ctx, []byte("v2"), warden.AnyVersion); err != nil || v != 2 {
		t.Fatalf("set: version %d, %v", v, err)
	}
	if val, v, err := cfg.Get(ctx); err != nil || string(val) != "v2" || v != 2 {
		t.Fatalf("get: %q version %d, %v", val, v, err)
	}
	if v, err := c.Config("/cfgs/other").Set(ctx, []byte("o"), warden.ConfigAbsent); err != nil || v != 0 {
		t.Fatalf("set expecting absent: version %d, %v", v, err)
	}
}

// next returns the next update within a few seconds.
func nextUpdate(t *testing.T, s *warden.ConfigSubscription) warden.ConfigUpdate {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("next update: %v", err)
	}
	return u
}

func TestConfigSubscribe(t *testing.T) {
	c := dial(t, agenttest.Start(t))
	ctx := testCtx(t, 10*time.Second)
	cfg := c.Config("/cfg")

	// A config never set: its current state is "deleted".
	sub, err := cfg.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if u := nextUpdate(t, sub); !u.Resync || !u.Synced || !u.Deleted || u.Path != "/cfg" {
		t.Fatalf("current state of a config never set: %+v", u)
	}
	for v := int32(0); v < 3; v++ {
		if _, err := cfg.Set(ctx, []byte{'a' + byte(v)}, warden.AnyVersion); err != nil {
			t.Fatal(err)
		}
	}
	var zxids []uint64
	for v := int32(0); v < 3; v++ {
		u := nextUpdate(t, sub)
		if u.Resync || u.Deleted || u.Version != v || string(u.Value) != string([]byte{'a' + byte(v)}) {
			t.Fatalf("update %d: %+v", v, u)
		}
		if sub.Last() != u.Zxid {
			t.Fatalf("Last() = %d after an update at %d", sub.Last(), u.Zxid)
		}
		zxids = append(zxids, u.Zxid)
	}
	if err := sub.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// From 0: the current value once, then changes.
	sub, err = cfg.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if u := nextUpdate(t, sub); !u.Resync || !u.Synced || u.Deleted || u.Version != 2 || string(u.Value) != "c" || u.Zxid < zxids[2] {
		t.Fatalf("current value: %+v", u)
	}

	// Resuming after the first update: exactly the two after it.
	resumed, err := cfg.Subscribe(ctx, zxids[0])
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 3; i++ {
		if u := nextUpdate(t, resumed); u.Resync || u.Zxid != zxids[i] || u.Version != int32(i) {
			t.Fatalf("resumed update %d: %+v", i, u)
		}
	}
	if err := c.Delete(ctx, "/cfg", warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*warden.ConfigSubscription{sub, resumed} {
		if u := nextUpdate(t, s); !u.Deleted || u.Resync || u.Version != 2 || u.Value != nil {
			t.Fatalf("delete: %+v", u)
		}
	}
}

func TestConfigSubscribeTree(t *testing.T) {
	c := dial(t, agenttest.Start(t))
	ctx := testCtx(t, 10*time.Second)
	for _, p := range []string{"/app", "/app/db", "/app/db/url", "/apple"} {
		if _, err := c.Config(p).Set(ctx, []byte(p), warden.AnyVersion); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := c.Config("/app").SubscribeTree(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"/app", "/app/db", "/app/db/url"} {
		u := nextUpdate(t, sub)
		if !u.Resync || u.Path != want || string(u.Value) != want || u.Synced != (i == 2) {
			t.Fatalf("resync %d: want %s, got %+v", i, want, u)
		}
	}
	if _, err := c.Config("/app/db/user").Set(ctx, []byte("u"), warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Config("/apple").Set(ctx, []byte("not under /app"), warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Config("/app/db/url").Set(ctx, []byte("u2"), 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "/app/db/user", warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	for _, want := range []warden.ConfigUpdate{
		{Path: "/app/db/user", Value: []byte("u")},
		{Path: "/app/db/url", Value: []byte("u2"), Version: 1},
		{Path: "/app/db/user", Deleted: true},
	} {
		u := nextUpdate(t, sub)
		if u.Path != want.Path || string(u.Value) != string(want.Value) || u.Version != want.Version || u.Deleted != want.Deleted || u.Resync {
			t.Fatalf("want %+v, got %+v", want, u)
		}
	}
}
