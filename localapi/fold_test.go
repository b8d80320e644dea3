package localapi_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/localapi/wire"
)

// The fold tests subscribe with fold through a raw connection to a real
// agent process and check the events byte-level fields: resyncs come as
// the nodes that exist, then a deleted resync event for each known path
// that is gone, the last marked synced, and never a synced event.

// foldEvent is a change event as the app sees it, and which keys its body had.
type foldEvent struct {
	wire.ChangeEvent
	keys map[string]bool
}

func (e foldEvent) String() string {
	return fmt.Sprintf("%s %s@%d deleted=%v synced=%v", e.Type, e.Path, e.Zxid, e.Deleted, e.Synced)
}

// nextChange reads the next change event of sub, skipping session events.
func nextChange(t *testing.T, c *procConn, sub uint64) foldEvent {
	t.Helper()
	for {
		m := c.read(t)
		if m.Event == wire.EventSession {
			continue
		}
		if m.Event != wire.EventChange || m.Sub != sub {
			t.Fatalf("want a change event of stream %d, got %+v", sub, m)
		}
		var ev foldEvent
		if err := msgpack.Unmarshal(m.Body, &ev.ChangeEvent); err != nil {
			t.Fatal(err)
		}
		var raw map[string]any
		if err := msgpack.Unmarshal(m.Body, &raw); err != nil {
			t.Fatal(err)
		}
		ev.keys = map[string]bool{}
		for k := range raw {
			ev.keys[k] = true
		}
		return ev
	}
}

// foldSubscribe sends a subscribe with id and returns its stream's id.
func foldSubscribe(t *testing.T, c *procConn, id uint64, r req) uint64 {
	t.Helper()
	r["id"], r["op"] = id, "subscribe"
	c.write(t, r)
	c.flush(t)
	var res wire.SubscribeResult
	decodeResult(t, replyOf(t, c), &res)
	return res.Sub
}

// wantResync reads a folded resync: one event per entry of want (a path,
// or "-path" for a deleted one), all at one zxid, only the last synced.
func wantResync(t *testing.T, c *procConn, sub uint64, want ...string) uint64 {
	t.Helper()
	var zxid uint64
	for i, w := range want {
		ev := nextChange(t, c, sub)
		deleted := w[0] == '-'
		path := w
		if deleted {
			path = w[1:]
		}
		last := i == len(want)-1
		if ev.Type != wire.ChangeResync || ev.Path != path || ev.Deleted != deleted || ev.Synced != last {
			t.Fatalf("resync event %d: want %s (deleted=%v synced=%v), got %v", i, path, deleted, last, ev)
		}
		if i == 0 {
			zxid = ev.Zxid
		} else if ev.Zxid != zxid {
			t.Fatalf("resync event %d at zxid %d, the first at %d", i, ev.Zxid, zxid)
		}
		if deleted && (ev.keys["stat"] || ev.keys["data"]) {
			t.Fatalf("a deleted resync event has data or stat: %v", ev.keys)
		}
		if !deleted && !ev.keys["stat"] {
			t.Fatalf("resync of %s without a stat", path)
		}
		if ev.keys["synced"] != last || ev.keys["deleted"] != deleted {
			t.Fatalf("resync event %d: body keys %v", i, ev.keys)
		}
	}
	return zxid
}

func wantChange(t *testing.T, c *procConn, sub uint64, typ, path string) foldEvent {
	t.Helper()
	ev := nextChange(t, c, sub)
	if ev.Type != typ || ev.Path != path || ev.keys["deleted"] || ev.keys["synced"] {
		t.Fatalf("want %s %s, got %v (keys %v)", typ, path, ev, ev.keys)
	}
	return ev
}

func procClient(t *testing.T, sock string) *warden.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := warden.Dial(ctx, warden.Options{Socket: sock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustCreate(t *testing.T, c *warden.Client, paths ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, p := range paths {
		if _, err := c.Create(ctx, p, []byte(p), warden.Persistent); err != nil {
			t.Fatalf("create %s: %v", p, err)
		}
	}
}

// TestFoldInitialState: the initial state of a folded subscription is its
// nodes with the last one marked synced and no synced event; a node scope
// on a missing node is one deleted, synced event; a known path that does
// not exist comes as deleted; known without fold, or outside the scope, is
// refused.
func TestFoldInitialState(t *testing.T) {
	sock := agenttest.SocketDir(t) + "/w.sock"
	agenttest.StartProc(t, t.TempDir(), sock)
	w := procClient(t, sock)
	mustCreate(t, w, "/f", "/f/a", "/f/a/x")
	c := dialProc(t, sock)
	c.hello(t)

	sub := foldSubscribe(t, c, 2, req{"path": "/f", "scope": "subtree", "fold": true})
	wantResync(t, c, sub, "/f", "/f/a", "/f/a/x")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := w.Set(ctx, "/f/a", []byte("v2"), warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if ev := wantChange(t, c, sub, wire.ChangeDataChanged, "/f/a"); string(ev.Data) != "v2" {
		t.Fatalf("data_changed carries %q", ev.Data)
	}

	missing := foldSubscribe(t, c, 3, req{"path": "/nothing/here", "fold": true})
	wantResync(t, c, missing, "-/nothing/here")
	mustCreate(t, w, "/nothing")
	mustCreate(t, w, "/nothing/here")
	wantChange(t, c, missing, wire.ChangeCreated, "/nothing/here")

	// From the start, knowing a child that is gone and one that is not.
	known := foldSubscribe(t, c, 4, req{"path": "/f", "scope": "children", "fold": true, "known": []string{"/f/a", "/f/b"}})
	wantResync(t, c, known, "/f/a", "-/f/b")

	// Without fold, the stream is as it always was.
	plain := foldSubscribe(t, c, 5, req{"path": "/f/a/x"})
	if ev := nextChange(t, c, plain); ev.Type != wire.ChangeResync || ev.keys["synced"] || ev.keys["deleted"] {
		t.Fatalf("unfolded resync: %v %v", ev, ev.keys)
	}
	if ev := nextChange(t, c, plain); ev.Type != wire.ChangeSynced {
		t.Fatalf("unfolded stream: want synced, got %v", ev)
	}

	for _, bad := range []req{
		{"path": "/f", "scope": "subtree", "known": []string{"/f"}},                // known without fold
		{"path": "/f", "scope": "children", "fold": true, "known": []string{"/f"}}, // not covered
		{"path": "/f", "fold": true, "known": []string{"/f/a"}},                    // node scope
		{"path": "/f", "scope": "subtree", "fold": true, "known": []string{"f/a"}}, // malformed
	} {
		bad["id"], bad["op"] = 9, "subscribe"
		c.write(t, bad)
		c.flush(t)
		if m := replyOf(t, c); m.Error == nil || m.Error.Code != wire.CodeBadArguments {
			t.Fatalf("subscribe %v: want bad_arguments, got %+v", bad, m)
		}
	}
}

// TestFoldResyncAfterHistoryGone: resuming a folded subscription from a
// zxid the history no longer reaches (the agent keeps only 4 changes)
// sends the current state, then the known paths that are gone as deleted,
// the last synced; the stream then goes on with changes.
func TestFoldResyncAfterHistoryGone(t *testing.T) {
	sock := agenttest.SocketDir(t) + "/w.sock"
	agenttest.StartProc(t, t.TempDir(), sock, "--history-max-changes", "4")
	w := procClient(t, sock)
	mustCreate(t, w, "/h", "/h/a", "/h/b", "/h/b/deep")
	c := dialProc(t, sock)
	c.hello(t)
	sub := foldSubscribe(t, c, 2, req{"path": "/h", "scope": "subtree", "fold": true})
	last := wantResync(t, c, sub, "/h", "/h/a", "/h/b", "/h/b/deep")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Delete(ctx, "/h/b/deep", warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if err := w.Delete(ctx, "/h/b", warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, w, "/h/c")
	for i := 0; i < 6; i++ {
		if _, err := w.Set(ctx, "/h/a", []byte{byte(i)}, warden.AnyVersion); err != nil {
			t.Fatal(err)
		}
	}

	// A new connection resumes from the last zxid, knowing what it had.
	r := dialProc(t, sock)
	r.hello(t)
	resumed := foldSubscribe(t, r, 2, req{"path": "/h", "scope": "subtree", "from_zxid": last, "fold": true,
		"known": []string{"/h", "/h/a", "/h/b", "/h/b/deep"}})
	if zxid := wantResync(t, r, resumed, "/h", "/h/a", "/h/c", "-/h/b/deep", "-/h/b"); zxid <= last {
		t.Fatalf("resync at zxid %d, not after %d", zxid, last)
	}
	if err := w.Delete(ctx, "/h/c", warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	wantChange(t, r, resumed, wire.ChangeDeleted, "/h/c")

	// Resuming knowing nothing, when nothing it covers exists.
	gone := foldSubscribe(t, r, 3, req{"path": "/h/b", "scope": "subtree", "from_zxid": last, "fold": true})
	wantResync(t, r, gone, "-/h/b")
}

// TestFoldSubscriberFallsBehind: a folded subscriber that does not read
// while the history moves on past its stream gets the current state when
// it reads again: the nodes that exist, and as deleted every path it had
// been told of (by the initial state or by a change) that went meanwhile.
func TestFoldSubscriberFallsBehind(t *testing.T) {
	sock := agenttest.SocketDir(t) + "/w.sock"
	agenttest.StartProc(t, t.TempDir(), sock, "--history-max-changes", "4")
	w := procClient(t, sock)
	mustCreate(t, w, "/b", "/b/big", "/b/gone")
	c := dialProc(t, sock)
	c.hello(t)
	sub := foldSubscribe(t, c, 2, req{"path": "/b", "scope": "subtree", "fold": true})
	wantResync(t, c, sub, "/b", "/b/big", "/b/gone")
	mustCreate(t, w, "/b/live")
	wantChange(t, c, sub, wire.ChangeCreated, "/b/live")

	// The subscriber stops reading. A 1 MiB change fills its socket, so
	// the agent's stream is stuck writing it while the rest happens.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	big := bytes.Repeat([]byte{'x'}, 1<<20)
	if _, err := w.Set(ctx, "/b/big", big, warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	// Its first bytes arrive: the stream has taken the change, and is
	// writing it (the socket holds far less than 1 MiB).
	_ = c.nc.SetReadDeadline(time.Now().Add(replyTimeout))
	if _, err := c.r.Peek(4); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/b/gone", "/b/live"} {
		if err := w.Delete(ctx, p, warden.AnyVersion); err != nil {
			t.Fatal(err)
		}
	}
	mustCreate(t, w, "/b/new")
	for i := 0; i < 6; i++ {
		if _, err := w.Set(ctx, "/b", []byte{byte(i)}, warden.AnyVersion); err != nil {
			t.Fatal(err)
		}
	}

	// Reading again (well within the agent's 10 s write timeout): the big
	// change, then the state, with what went as deleted.
	if ev := wantChange(t, c, sub, wire.ChangeDataChanged, "/b/big"); len(ev.Data) != len(big) {
		t.Fatalf("big change carries %d bytes", len(ev.Data))
	}
	wantResync(t, c, sub, "/b", "/b/big", "/b/new", "-/b/live", "-/b/gone")
	if _, err := w.Set(ctx, "/b/new", []byte("n"), warden.AnyVersion); err != nil {
		t.Fatal(err)
	}
	wantChange(t, c, sub, wire.ChangeDataChanged, "/b/new")
}
