package warden_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/localapi/wire"
)

// The golden frames of protocol v1 (testdata/protocol/v1.json), replayed
// through this client: a peer on a real Unix socket reads what each client
// call writes and compares it with the golden request byte for byte (the
// request id aside: the client numbers its own), then answers with the
// golden reply or event, which the call must decode into what the frame
// holds. The Python and TypeScript clients replay the same file.

type goldenFrame struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Frame string `json:"frame"`
}

func loadGolden(t *testing.T) map[string][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash("../../testdata/protocol/v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var gs []goldenFrame
	if err := json.Unmarshal(b, &gs); err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte, len(gs))
	for _, g := range gs {
		f, err := hex.DecodeString(g.Frame)
		if err != nil {
			t.Fatalf("%s: %v", g.Name, err)
		}
		out[g.Name] = f
	}
	return out
}

// goldenResult is the result map of the golden reply called name.
func goldenResult(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash("../../testdata/protocol/v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var gs []struct {
		Name string `json:"name"`
		Body struct {
			Result map[string]any `json:"result"`
		} `json:"body"`
	}
	if err := json.Unmarshal(b, &gs); err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		if g.Name == name {
			return g.Body.Result
		}
	}
	t.Fatalf("no golden frame %q", name)
	return nil
}

// splitID cuts a frame into its map header, its id (the first key) and the
// rest of its body.
func splitID(t *testing.T, frame []byte) (header byte, id uint64, rest []byte) {
	t.Helper()
	body := frame[4:]
	if body[0]&0xf0 != 0x80 || !bytes.HasPrefix(body[1:], []byte("\xa2id")) {
		t.Fatalf("frame %x does not start with the id", frame)
	}
	d := msgpack.NewDecoder(bytes.NewReader(body[4:]))
	id, err := d.DecodeUint64()
	if err != nil {
		t.Fatal(err)
	}
	n := len(body[4:]) - d.Buffered().(*bytes.Reader).Len()
	return body[0], id, body[4+n:]
}

// withID is frame with its id replaced.
func withID(t *testing.T, frame []byte, id uint64) []byte {
	t.Helper()
	header, _, rest := splitID(t, frame)
	idb, err := wire.Marshal(id)
	if err != nil {
		t.Fatal(err)
	}
	body := append(append(append([]byte{header}, "\xa2id"...), idb...), rest...)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

type goldenPeer struct {
	t      *testing.T
	golden map[string][]byte
	conn   net.Conn
}

// dialGolden connects a client (dial runs Dial on the socket) to a peer
// that expects the golden hello named hello and answers reply-hello.
func dialGolden(t *testing.T, golden map[string][]byte, hello string, opts warden.Options) (*warden.Client, *goldenPeer) {
	t.Helper()
	sock := filepath.Join(agenttest.SocketDir(t), "g.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	opts.Socket = sock
	type dialed struct {
		c   *warden.Client
		err error
	}
	done := make(chan dialed, 1)
	go func() {
		c, err := warden.Dial(context.Background(), opts)
		done <- dialed{c, err}
	}()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	p := &goldenPeer{t: t, golden: golden, conn: conn}
	reply := "reply-hello"
	if opts.Resumable || opts.Resume != nil {
		reply = "reply-hello-resumed"
	}
	p.send(reply, p.expect(hello))
	d := <-done
	if d.err != nil {
		t.Fatalf("dial: %v", d.err)
	}
	t.Cleanup(func() { d.c.Close() })
	return d.c, p
}

// expect reads the client's next frame and checks it is the golden request
// name; it returns the id the client gave it.
func (p *goldenPeer) expect(name string) uint64 {
	p.t.Helper()
	want, ok := p.golden[name]
	if !ok {
		p.t.Fatalf("no golden frame %q", name)
	}
	_ = p.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var n [4]byte
	if _, err := readFull(p.conn, n[:]); err != nil {
		p.t.Fatalf("%s: read: %v", name, err)
	}
	got := make([]byte, 4+binary.BigEndian.Uint32(n[:]))
	copy(got, n[:])
	if _, err := readFull(p.conn, got[4:]); err != nil {
		p.t.Fatalf("%s: read: %v", name, err)
	}
	gh, id, grest := splitID(p.t, got)
	wh, _, wrest := splitID(p.t, want)
	if gh != wh || !bytes.Equal(grest, wrest) {
		p.t.Errorf("%s: the client sends\n  %x\nthe golden frame is\n  %x", name, withID(p.t, got, 0), withID(p.t, want, 0))
	}
	return id
}

// send writes the golden frame name, as the reply to id (0 for an event).
func (p *goldenPeer) send(name string, id uint64) {
	p.t.Helper()
	f, ok := p.golden[name]
	if !ok {
		p.t.Fatalf("no golden frame %q", name)
	}
	if id != 0 {
		f = withID(p.t, f, id)
	}
	if _, err := p.conn.Write(f); err != nil {
		p.t.Fatal(err)
	}
}

// sendSub answers id with a stream's sub id (the golden events carry
// theirs).
func (p *goldenPeer) sendSub(id, sub uint64) {
	p.t.Helper()
	f, err := wire.AppendFrame(nil, &wire.Message{ID: id, Result: mustRaw(p.t, &wire.SubscribeResult{Sub: sub})})
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.Write(f); err != nil {
		p.t.Fatal(err)
	}
}

func mustRaw(t *testing.T, v any) msgpack.RawMessage {
	b, err := wire.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// async runs a client call while the test plays the peer.
func async[T any](f func() (T, error)) func(t *testing.T) T {
	type r struct {
		v   T
		err error
	}
	ch := make(chan r, 1)
	go func() { v, err := f(); ch <- r{v, err} }()
	return func(t *testing.T) T {
		t.Helper()
		select {
		case x := <-ch:
			if x.err != nil {
				t.Fatalf("call: %v", x.err)
			}
			return x.v
		case <-time.After(10 * time.Second):
			t.Fatal("the call did not return")
		}
		var zero T
		return zero
	}
}

func TestGoldenHellos(t *testing.T) {
	g := loadGolden(t)
	dialGolden(t, g, "hello", warden.Options{SessionTimeout: 10 * time.Second, Name: "app"})
	dialGolden(t, g, "hello-resumable", warden.Options{Resumable: true})
	c, _ := dialGolden(t, g, "hello-resume", warden.Options{Resume: &warden.ResumeToken{SessionID: 7, Secret: []byte{1, 2, 3, 4}}})
	if tok := c.ResumeToken(); tok == nil || tok.SessionID != 5 || len(tok.Secret) != 16 {
		t.Errorf("resume token after reply-hello-resumed: %+v", tok)
	}
	dialGolden(t, g, "hello-no-session", warden.Options{NoSession: true})
	c, _ = dialGolden(t, g, "hello-heartbeat", warden.Options{SessionTimeout: 3 * time.Second, Name: "worker", Heartbeat: true})
	if c.SessionID() != 5 || c.Agent() != "node-a" || c.SessionTimeout() != 10*time.Second {
		t.Errorf("hello result: session %d agent %q timeout %v", c.SessionID(), c.Agent(), c.SessionTimeout())
	}
}

func TestGoldenZnodeOps(t *testing.T) {
	g := loadGolden(t)
	c, p := dialGolden(t, g, "hello-no-session", warden.Options{NoSession: true})
	ctx := context.Background()
	wantStat := warden.Stat{Czxid: 12, Mzxid: 14, Pzxid: 12, Ctime: 1700000000000, Mtime: 1700000000500, Version: 1, DataLength: 5}

	ping := async(func() (struct{}, error) { return struct{}{}, c.Ping(ctx) })
	p.send("reply-empty", p.expect("ping"))
	ping(t)

	create := async(func() (string, error) { return c.Create(ctx, "/app/config", []byte("hello"), warden.Persistent) })
	p.send("reply-create", p.expect("create"))
	if got := create(t); got != "/app/config" {
		t.Errorf("create: %q", got)
	}
	create = async(func() (string, error) {
		return c.Create(ctx, "/jobs/job-", nil, warden.Ephemeral|warden.Sequential)
	})
	p.send("reply-create", p.expect("create-ephemeral-sequential"))
	create(t)
	create = async(func() (string, error) { return c.Create(ctx, "/jobs", nil, warden.Container) })
	p.send("reply-create", p.expect("create-container"))
	create(t)

	set := async(func() (warden.Stat, error) { return c.Set(ctx, "/app/config", []byte("world"), 0) })
	p.send("reply-set", p.expect("set"))
	if got := set(t); got != wantStat {
		t.Errorf("set: %+v", got)
	}
	set = async(func() (warden.Stat, error) { return c.Set(ctx, "/app/config", []byte("v"), -1) })
	p.send("reply-set", p.expect("set-any-version"))
	set(t)

	del := async(func() (struct{}, error) { return struct{}{}, c.Delete(ctx, "/app/config", -1) })
	p.send("reply-empty", p.expect("delete"))
	del(t)

	type getR struct {
		data []byte
		stat warden.Stat
	}
	get := async(func() (getR, error) { d, s, err := c.Get(ctx, "/app/config"); return getR{d, s}, err })
	p.send("reply-get", p.expect("get"))
	if r := get(t); string(r.data) != "hello" || r.stat != wantStat {
		t.Errorf("get: %q %+v", r.data, r.stat)
	}
	get = async(func() (getR, error) { d, s, err := c.Get(ctx, "/app/config"); return getR{d, s}, err })
	p.send("reply-get-empty", p.expect("get"))
	if r := get(t); len(r.data) != 0 {
		t.Errorf("get of an empty node: %q", r.data)
	}

	type existsR struct {
		stat warden.Stat
		ok   bool
	}
	exists := async(func() (existsR, error) { s, ok, err := c.Exists(ctx, "/app"); return existsR{s, ok}, err })
	p.send("reply-exists", p.expect("exists"))
	if r := exists(t); !r.ok || r.stat != wantStat {
		t.Errorf("exists: %+v", r)
	}
	exists = async(func() (existsR, error) { s, ok, err := c.Exists(ctx, "/app"); return existsR{s, ok}, err })
	p.send("reply-exists-not", p.expect("exists"))
	if r := exists(t); r.ok {
		t.Errorf("exists after reply-exists-not: %+v", r)
	}

	children := async(func() ([]string, error) { k, _, err := c.Children(ctx, "/"); return k, err })
	p.send("reply-children", p.expect("children"))
	if got := children(t); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("children: %q", got)
	}

	multi := async(func() ([]warden.OpResult, error) {
		return c.Multi(ctx, warden.CheckOp("/app", 0), warden.CreateOp("/app/a", []byte("x"), warden.Persistent),
			warden.SetOp("/app", []byte("y"), 0), warden.DeleteOp("/app/b", -1))
	})
	p.send("reply-multi", p.expect("multi"))
	if got := multi(t); len(got) != 4 || got[1].Path != "/app/a" || got[0].Stat != wantStat {
		t.Errorf("multi: %+v", got)
	}

	sync := async(func() (uint64, error) { return c.Sync(ctx) })
	p.send("reply-sync", p.expect("sync"))
	if got := sync(t); got != 77 {
		t.Errorf("sync: %d", got)
	}

	status := async(func() (warden.Status, error) { return c.Status(ctx) })
	p.send("reply-status", p.expect("status"))
	if got := status(t); got.Node != "node-a" || got.State != "Leader" || got.CommitIndex != 120 || got.Znodes != 17 {
		t.Errorf("status: %+v", got)
	}
	members := async(func() ([]warden.Member, error) { return c.Members(ctx) })
	p.send("reply-members", p.expect("members"))
	if got := members(t); len(got) != 2 || got[1].Role != "replica" || got[0].RPCAddr != "10.0.0.1:7300" {
		t.Errorf("members: %+v", got)
	}
}

// TestGoldenOperatorOps replays sessions and the keyring ops, which the
// Go client (and so the CLI) offers on a connection without a session.
func TestGoldenOperatorOps(t *testing.T) {
	g := loadGolden(t)
	c, p := dialGolden(t, g, "hello-no-session", warden.Options{NoSession: true})
	ctx := context.Background()

	sessions := async(func() ([]warden.SessionInfo, error) { return c.Sessions(ctx) })
	p.send("reply-sessions", p.expect("sessions"))
	want := []warden.SessionInfo{
		{ID: 5, Agent: "node-a", Pid: 4242, Uid: 1000, Gid: 1000, Client: "app", TimeoutMs: 10000, Created: 1700000000000},
		{ID: 90, Agent: "app-7", Pid: 77, Uid: 1001, Gid: 100, Client: "worker", TimeoutMs: 30000, Resumable: true, Heartbeat: true, Created: 1700000000900},
	}
	if got := sessions(t); !reflect.DeepEqual(got, want) {
		t.Errorf("sessions: %+v", got)
	}

	const key, oldKey = "qU9Z47mlbHZpjycK7Lw+/K5nJIXUDWq5nrg0TWMIBno=", "5K9OtfP7efFrNKe5WCQvXvnaXJ5cWP0qkbrHcfN3o8w="
	list := async(func() (*warden.KeyringResult, error) { return c.ListKeys(ctx) })
	p.send("reply-keyring-list", p.expect("keyring-list"))
	if got := list(t); !got.Complete() || len(got.Keys) != 2 || got.Keys[1] != (wire.GossipKey{Key: key, Agents: 3, Primary: 3}) {
		t.Errorf("keyring list: %+v", got)
	}
	install := async(func() (*warden.KeyringResult, error) { return c.InstallKey(ctx, key) })
	p.send("reply-keyring-failures", p.expect("keyring-install"))
	if got := install(t); got.Complete() || got.Answered != 2 || len(got.Failures) != 1 || got.Failures[0].Node != "app-7" {
		t.Errorf("keyring install: %+v", got)
	}
	use := async(func() (*warden.KeyringResult, error) { return c.UseKey(ctx, key) })
	p.send("reply-keyring-list", p.expect("keyring-use"))
	use(t)
	remove := async(func() (*warden.KeyringResult, error) { return c.RemoveKey(ctx, oldKey) })
	p.send("reply-keyring-list", p.expect("keyring-remove"))
	remove(t)
}

func TestGoldenLocksAndErrors(t *testing.T) {
	g := loadGolden(t)
	c, p := dialGolden(t, g, "hello", warden.Options{SessionTimeout: 10 * time.Second, Name: "app"})
	ctx := context.Background()

	lock := async(func() (*warden.Lease, error) { return c.Lock(ctx, "/locks/nightly") })
	p.send("reply-lock", p.expect("lock"))
	lease := lock(t)
	if lease.Key != goldenResult(t, "reply-lock")["key"] || lease.Token != 42 {
		t.Errorf("lock: %+v", lease)
	}
	unlock := async(func() (struct{}, error) { return struct{}{}, lease.Unlock(ctx) })
	p.send("reply-empty", p.expect("unlock"))
	unlock(t)

	try := async(func() (*warden.Lease, error) { return c.TryLock(ctx, "/locks/nightly") })
	p.send("reply-lock", p.expect("try-lock"))
	try(t)
	check := async(func() (bool, error) { return c.CheckToken(ctx, "/locks/nightly", 42) })
	p.send("reply-check-lock", p.expect("check-lock"))
	if !check(t) {
		t.Error("lock_check: held false")
	}

	// Every error code: the error reply becomes an error that matches its
	// code, with the agent's message.
	for name := range g {
		code, ok := bytes.CutPrefix([]byte(name), []byte("error-"))
		if !ok || string(code) == string(wire.CodeBadFrame) {
			continue // bad_frame is connection-level: it closes the connection
		}
		errc := make(chan error, 1)
		go func() { _, _, err := c.Get(ctx, "/app/config"); errc <- err }()
		p.send(name, p.expect("get"))
		err := <-errc
		if warden.CodeOf(err) != wire.Code(code) || !errors.Is(err, &wire.Error{Code: wire.Code(code)}) {
			t.Errorf("%s: the client returns %v (code %q)", name, err, warden.CodeOf(err))
		}
	}
}

func TestGoldenRecipes(t *testing.T) {
	g := loadGolden(t)
	c, p := dialGolden(t, g, "hello", warden.Options{SessionTimeout: 10 * time.Second, Name: "app"})
	ctx := context.Background()

	camp := async(func() (*warden.Leadership, error) { return c.Campaign(ctx, "/warden/elections/db", []byte("host-a")) })
	p.send("reply-lease", p.expect("campaign"))
	lead := camp(t)
	if lead.Token != 44 || lead.Key != goldenResult(t, "reply-lease")["key"] {
		t.Errorf("campaign: %+v", lead)
	}
	proclaim := async(func() (struct{}, error) { return struct{}{}, lead.Proclaim(ctx, []byte("host-b")) })
	p.send("reply-empty", p.expect("proclaim"))
	proclaim(t)
	resign := async(func() (struct{}, error) { return struct{}{}, lead.Resign(ctx) })
	p.send("reply-empty", p.expect("resign"))
	resign(t)
	leader := async(func() (*warden.Leader, error) { return c.Leader(ctx, "/warden/elections/db") })
	p.send("reply-leader", p.expect("leader"))
	if l := leader(t); l == nil || string(l.Value) != "host-a" || l.Token != 44 {
		t.Errorf("leader: %+v", l)
	}
	leader = async(func() (*warden.Leader, error) { return c.Leader(ctx, "/warden/elections/db") })
	p.send("reply-leader-none", p.expect("leader"))
	if l := leader(t); l != nil {
		t.Errorf("leader after reply-leader-none: %+v", l)
	}
	observe := async(func() (*warden.Observer, error) { return c.Observe(ctx, "/warden/elections/db") })
	p.sendSub(p.expect("observe"), 5)
	obs := observe(t)
	p.send("event-leader", 0)
	if l, err := obs.Next(ctx); err != nil || string(l.Value) != "host-a" || l.Token != 44 {
		t.Errorf("observe: %+v %v", l, err)
	}
	p.send("event-leader-none", 0)
	if l, err := obs.Next(ctx); err != nil || !l.None() {
		t.Errorf("observe, nobody leads: %+v %v", l, err)
	}

	sub := async(func() (*warden.Subscription, error) {
		return c.Subscribe(ctx, "/config", warden.SubscribeOptions{Scope: wire.ScopeSubtree, FromZxid: 40})
	})
	p.send("reply-subscribe", p.expect("subscribe"))
	s := sub(t)
	for _, name := range []string{"event-change-resync", "event-change-synced", "event-change", "event-change-deleted"} {
		p.send(name, 0)
	}
	for _, want := range []struct {
		typ  string
		zxid uint64
		data string
	}{{"resync", 40, "v1"}, {"synced", 40, ""}, {"data_changed", 42, "v2"}, {"deleted", 45, ""}} {
		ev, err := s.Next(ctx)
		if err != nil || ev.Type != want.typ || ev.Zxid != want.zxid || string(ev.Data) != want.data || ev.Path != "/config/app" {
			t.Errorf("subscription: %+v %v, want %+v", ev, err, want)
		}
	}
	unsub := async(func() (struct{}, error) { return struct{}{}, s.Close(ctx) })
	p.send("reply-empty", p.expect("unsubscribe"))
	unsub(t)

	folded := async(func() (*warden.Subscription, error) {
		return c.Subscribe(ctx, "/config", warden.SubscribeOptions{Scope: wire.ScopeSubtree, FromZxid: 40,
			Fold: true, Known: []string{"/config", "/config/app"}})
	})
	p.sendSub(p.expect("subscribe-fold"), 3)
	fs := folded(t)
	p.send("event-change-resync-synced", 0)
	p.send("event-change-resync-deleted", 0)
	for _, want := range []struct {
		path    string
		data    string
		deleted bool
	}{{"/config/app", "v1", false}, {"/config/old", "", true}} {
		ev, err := fs.Next(ctx)
		if err != nil || ev.Type != wire.ChangeResync || ev.Zxid != 40 || ev.Path != want.path || string(ev.Data) != want.data ||
			ev.Deleted != want.deleted || !ev.Synced || (ev.Stat.Version == 1) == want.deleted {
			t.Errorf("folded subscription: %+v %v, want %+v", ev, err, want)
		}
	}

	report := async(func() (struct{}, error) {
		return struct{}{}, c.Task("nightly", "t1").Report(ctx, 50, "half")
	})
	p.send("reply-empty", p.expect("report"))
	report(t)
	progress := async(func() ([]warden.TaskReport, error) { return c.Progress(ctx, "nightly") })
	p.send("reply-progress", p.expect("progress-get"))
	if ts := progress(t); len(ts) != 2 || ts[0].Percent != 50 || string(ts[1].Data) != "ok" {
		t.Errorf("progress: %+v", ts)
	}
	watch := async(func() (*warden.ProgressWatch, error) { return c.WatchProgress(ctx, "nightly") })
	p.sendSub(p.expect("progress-watch"), 7)
	w := watch(t)
	p.send("event-task", 0)
	p.send("event-task-removed", 0)
	for _, removed := range []bool{false, true} {
		if ev, err := w.Next(ctx); err != nil || ev.Task.Task != "t1" || ev.Task.Percent != 50 || ev.Removed != removed {
			t.Errorf("progress watch: %+v %v", ev, err)
		}
	}

	join := async(func() (*warden.Membership, error) { return c.Join(ctx, "workers", "w1", []byte("10.0.0.7")) })
	p.send("reply-lease", p.expect("join"))
	m := join(t)
	leave := async(func() (struct{}, error) { return struct{}{}, m.Leave(ctx) })
	p.send("reply-empty", p.expect("leave"))
	leave(t)
	membersOf := async(func() ([]warden.GroupMember, error) { return c.GroupMembers(ctx, "workers") })
	p.send("reply-group", p.expect("members-of"))
	if ms := membersOf(t); len(ms) != 2 || ms[0].Member != "w1" || string(ms[0].Data) != "10.0.0.7" {
		t.Errorf("members_of: %+v", ms)
	}
	gw := async(func() (*warden.GroupWatch, error) { return c.WatchGroup(ctx, "workers") })
	p.sendSub(p.expect("group-watch"), 8)
	gwatch := gw(t)
	p.send("event-member", 0)
	p.send("event-member-left", 0)
	for _, left := range []bool{false, true} {
		if ev, err := gwatch.Next(ctx); err != nil || ev.Member.Member != "w1" || ev.Left != left {
			t.Errorf("group watch: %+v %v", ev, err)
		}
	}

	rl := async(func() (*warden.Lease, error) { return c.ReadLock(ctx, "/locks/table") })
	p.send("reply-lease", p.expect("read-lock"))
	rl(t)
	sem := async(func() (*warden.SemaphoreLease, error) { return c.Semaphore("/sems/db", 3).Acquire(ctx) })
	p.send("reply-lease", p.expect("semaphore-acquire"))
	sem(t)

	bar := c.Barrier("/barriers/deploy")
	for _, step := range []struct {
		name string
		f    func(context.Context) error
	}{{"barrier-set", bar.Set}, {"barrier-remove", bar.Remove}, {"barrier-wait", bar.Wait}} {
		call := async(func() (struct{}, error) { return struct{}{}, step.f(ctx) })
		p.send("reply-empty", p.expect(step.name))
		call(t)
	}
	enter := async(func() (struct{}, error) {
		return struct{}{}, c.DoubleBarrier("/barriers/round", 4, "w1").Enter(ctx)
	})
	p.send("reply-empty", p.expect("barrier-enter"))
	enter(t)

	put := async(func() (string, error) { return c.Queue("/queues/jobs").Put(ctx, []byte("job-1")) })
	p.send("reply-lease", p.expect("queue-put"))
	put(t)
	take := async(func() (*warden.QueueItem, error) { return c.Queue("/queues/jobs").Take(ctx) })
	p.send("reply-queue-item", p.expect("queue-take"))
	if it := take(t); string(it.Data) != "job-1" || it.Key != "/queues/jobs/item-0000000001" {
		t.Errorf("queue take: %+v", it)
	}

	counter := c.Counter("/counters/c")
	add := async(func() (int64, error) { return counter.Add(ctx, 5) })
	p.send("reply-counter", p.expect("counter-add"))
	if v := add(t); v != -295 {
		t.Errorf("counter add: %d", v)
	}
	add = async(func() (int64, error) { return counter.Add(ctx, -300) })
	p.send("reply-counter", p.expect("counter-add-negative"))
	add(t)
	get := async(func() (int64, error) { return counter.Get(ctx) })
	p.send("reply-counter", p.expect("counter-get"))
	get(t)
	cas := async(func() (bool, error) { ok, _, err := counter.CompareAndSet(ctx, 0, 70000); return ok, err })
	p.send("reply-counter-cas", p.expect("counter-cas"))
	if !cas(t) {
		t.Error("counter cas: swapped false")
	}
}
