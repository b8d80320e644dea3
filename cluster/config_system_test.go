package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/localapi/wire"
)

// configValue is the value the writer sets at version v.
func configValue(v int32) string { return fmt.Sprintf("value-%04d", v) }

// TestConfigSubscriberSeesEveryUpdateAcrossRestart: a writer on a server
// sets /config/app 1,000 times, as fast as it can (each Set compares the
// version it expects); a subscriber on a replica sees versions 1..1000
// each exactly once and in order, with increasing zxids. The replica is
// SIGKILLed once the subscriber has handled 500 updates (and more have
// reached its connection), while the writer keeps writing; the
// subscriber handles what it had already received,
// the agent is restarted on its data dir, and a new subscription from the
// zxid of the last update handled continues with the next version: no
// gap, no duplicate, and no resync (the agent still holds that history).
func TestConfigSubscriberSeesEveryUpdateAcrossRestart(t *testing.T) {
	const updates = 1000
	const killAfter = 500
	c := agenttest.StartCluster(t, 3, 1)
	srv, rep := c.Servers[0], c.Replicas[0]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	w := srv.Dial(t, warden.Options{Name: "config-writer"})
	wcfg := w.Config("/config/app")
	if v, err := wcfg.Set(ctx, []byte(configValue(0)), warden.ConfigAbsent); err != nil || v != 0 {
		t.Fatalf("create the config: version %d, %v", v, err)
	}

	r := rep.Dial(t, warden.Options{Name: "config-subscriber"})
	if _, err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	sub, err := r.Config("/config/app").Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	u, err := sub.Next(ctx)
	if err != nil || !u.Resync || !u.Synced || u.Deleted || u.Version != 0 || string(u.Value) != configValue(0) {
		t.Fatalf("first update: want the current value (version 0), got %+v, %v", u, err)
	}

	writerDone := make(chan error, 1)
	var writeTime time.Duration // written before writerDone is sent on
	var written atomic.Int32    // the last version the writer set
	go func() {
		start := time.Now()
		for v := int32(1); v <= updates; v++ {
			got, err := wcfg.Set(ctx, []byte(configValue(v)), v-1)
			if err == nil && got != v {
				err = fmt.Errorf("returned version %d", got)
			}
			if err != nil {
				writerDone <- fmt.Errorf("set version %d: %w", v, err)
				return
			}
			written.Store(v)
		}
		writeTime = time.Since(start)
		writerDone <- nil
	}()

	// check takes the next update and checks it is version want, after
	// the zxid last.
	want, last := int32(1), u.Zxid
	check := func(u warden.ConfigUpdate) {
		t.Helper()
		if u.Resync || u.Deleted || u.Path != "/config/app" || u.Version != want ||
			string(u.Value) != configValue(want) || u.Zxid <= last {
			t.Fatalf("after version %d at zxid %d: want version %d, got %+v", want-1, last, want, u)
		}
		want, last = want+1, u.Zxid
	}

	for want <= killAfter {
		u, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for version %d: %v", want, err)
		}
		check(u)
	}
	// Let some updates reach the subscriber's connection unhandled.
	agenttest.Eventually(t, 30*time.Second, "the writer 20 versions ahead", func() bool { return written.Load() >= killAfter+20 })
	killedAt, wroteAtKill := time.Now(), written.Load()
	rep.Kill()
	// The app handles what reached it before its agent died.
	for {
		u, err := sub.Next(ctx)
		if errors.Is(err, warden.ErrClosed) {
			break
		}
		if err != nil {
			t.Fatalf("after the kill: %v, want ErrClosed", err)
		}
		check(u)
	}
	handled := want - 1
	rep.Restart()
	t.Logf("%s killed with the writer at version %d; the subscriber had handled %d when its connection closed; restarted in %v",
		rep.Name, wroteAtKill, handled, time.Since(killedAt).Round(time.Millisecond))

	r2 := rep.Dial(t, warden.Options{Name: "config-subscriber-2"})
	sub2, err := r2.Config("/config/app").Subscribe(ctx, last)
	if err != nil {
		t.Fatal(err)
	}
	for want <= updates {
		u, err := sub2.Next(ctx)
		if err != nil {
			t.Fatalf("resumed after zxid %d, waiting for version %d: %v", last, want, err)
		}
		check(u)
	}
	if sub2.Last() != last {
		t.Errorf("Last() = %d, want %d", sub2.Last(), last)
	}
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	t.Logf("writer: %d sets in %v (%.0f/s)", updates, writeTime.Round(time.Millisecond), updates/writeTime.Seconds())
	// Nothing more: every version came exactly once.
	qctx, qcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer qcancel()
	if u, err := sub2.Next(qctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an update after the last version: %+v, %v", u, err)
	}
}

// TestConfigWatchesAcrossAgents: one-shot watches set through a replica
// fire, once each, for writes made through a server: a data watch on a
// set, an exists watch on a create, a child watch on the new child, and
// an exists watch on a delete, each with the zxid of the write.
func TestConfigWatchesAcrossAgents(t *testing.T) {
	c := agenttest.StartCluster(t, 3, 1)
	srv, rep := c.Servers[0], c.Replicas[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := srv.Dial(t, warden.Options{Name: "writer"})
	r := rep.Dial(t, warden.Options{Name: "watcher", NoSession: true})

	if _, err := w.Config("/config/w").Set(ctx, []byte("one"), warden.ConfigAbsent); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	data, _, dataW, err := r.GetW(ctx, "/config/w")
	if err != nil || string(data) != "one" {
		t.Fatalf("get /config/w through the replica: %q, %v", data, err)
	}
	_, ok, existsW, err := r.ExistsW(ctx, "/config/new")
	if err != nil || ok {
		t.Fatalf("exists /config/new: %v, %v", ok, err)
	}
	_, _, childW, err := r.ChildrenW(ctx, "/config")
	if err != nil {
		t.Fatal(err)
	}

	wait := func(what string, wt *warden.Watch, typ, path string, zxid uint64) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		defer wcancel()
		ev, err := wt.Wait(wctx)
		if err != nil || ev.Type != typ || ev.Path != path || ev.Zxid != zxid {
			t.Fatalf("%s watch: got %+v, %v; want %s of %s at zxid %d", what, ev, err, typ, path, zxid)
		}
	}

	st, err := w.Set(ctx, "/config/w", []byte("two"), warden.AnyVersion)
	if err != nil {
		t.Fatal(err)
	}
	wait("data", dataW, wire.ChangeDataChanged, "/config/w", st.Mzxid)

	if _, err := w.Create(ctx, "/config/new", []byte("n"), warden.Persistent); err != nil {
		t.Fatal(err)
	}
	st, _, err = w.Exists(ctx, "/config/new")
	if err != nil {
		t.Fatal(err)
	}
	wait("exists", existsW, wire.ChangeCreated, "/config/new", st.Czxid)
	wait("child", childW, wire.ChangeChildrenChanged, "/config", st.Czxid)

	// The data watch fired once: a second set reaches a new watch only.
	_, _, dataW2, err := r.GetW(ctx, "/config/w")
	if err != nil {
		t.Fatal(err)
	}
	_, _, delW, err := r.GetW(ctx, "/config/new")
	if err != nil {
		t.Fatal(err)
	}
	st, err = w.Set(ctx, "/config/w", []byte("three"), warden.AnyVersion)
	if err != nil {
		t.Fatal(err)
	}
	wait("second data", dataW2, wire.ChangeDataChanged, "/config/w", st.Mzxid)
	if err := w.Delete(ctx, "/config/new", warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	parent, _, err := w.Exists(ctx, "/config")
	if err != nil {
		t.Fatal(err)
	}
	wait("delete", delW, wire.ChangeDeleted, "/config/new", parent.Pzxid)
	if _, err := dataW.Wait(ctx); !errors.Is(err, warden.ErrStreamClosed) {
		t.Fatalf("a fired watch waited again: %v, want ErrStreamClosed", err)
	}
}
