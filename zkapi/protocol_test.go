package zkapi_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

func TestRawOpsAndTheirErrorCodes(t *testing.T) {
	a := startAgent(t)
	c := dialRaw(t, a.ZKAddr(), 5000, 0, nil)
	must := func(op int32, body []byte) *jr {
		t.Helper()
		code, r := c.call(op, body)
		if code != 0 {
			t.Fatalf("op %d: error %d", op, code)
		}
		return r
	}
	code := func(op int32, body []byte, want int32) {
		t.Helper()
		if got, _ := c.call(op, body); got != want {
			t.Fatalf("op %d: error %d; want %d", op, got, want)
		}
	}
	r := must(opCreate2, createReq("/a", []byte("hi"), 0))
	if p, st := r.str(), r.stat(); p != "/a" || st.DataLength != 2 || st.Czxid == 0 || st.Czxid != st.Mzxid || st.Czxid != st.Pzxid {
		t.Fatalf("create2: %q %+v", p, st)
	}
	if c.Zxid == 0 {
		t.Fatal("a write's reply header carries zxid 0")
	}
	must(opCreate, createReq("/a/b", nil, 0))
	must(opCreate, createReq("/a/b/c", nil, 1)) // ephemeral
	code(opCreate, createReq("a", nil, 0), errBadArguments)
	code(opCreate, createReq("/x", nil, 7), errBadArguments) // unknown flags
	code(opCreate, createReq("/x", nil, 4), errBadArguments) // container needs createContainer
	code(opCreateContainer, createReq("/x", nil, 0), errBadArguments)
	code(opCreate, (&jw{}).str("/x").buf(nil).i32(0).i32(0).b, errInvalidACL)                    // empty ACL
	code(opCreateTTL, (&jw{}).str("/x").buf(nil).openACL().i32(0).i64(1000).b, errBadArguments)  // not a TTL mode
	code(opCreateTTL, (&jw{}).str("/x").buf(nil).openACL().i32(5).i64(0).b, errBadArguments)     // no TTL
	code(opCreateTTL, (&jw{}).str("/x").buf(nil).openACL().i32(5).i64(1<<40).b, errBadArguments) // beyond ZooKeeper's bound
	code(opCreate, (&jw{}).str("/x").buf(nil).openACL().i32(5).b, errBadArguments)               // TTL mode without createTTL
	r = must(opCreateTTL, (&jw{}).str("/ttl").buf(nil).openACL().i32(5).i64(3600000).b)
	// ZooKeeper's servers send a TTL node's ephemeralOwner as 0.
	if p, st := r.str(), r.stat(); p != "/ttl" || st.EphemeralOwner != 0 {
		t.Fatalf("createTTL: %q, ephemeralOwner %#x", p, uint64(st.EphemeralOwner))
	}
	code(opReconfig, (&jw{}).str("").str("").str("").i64(-1).b, errReconfigDisabled)
	if r := must(opCheck, (&jw{}).str("/a").i32(0).b); r.stat().Version != 0 {
		t.Fatal("check: no Stat in the reply")
	}
	code(opCheck, (&jw{}).str("/a").i32(4).b, errBadVersion)
	code(opCheck, (&jw{}).str("/zz").i32(-1).b, errNoNode)
	code(opSetACL, (&jw{}).str("/a").openACL().i32(3).b, errBadVersion)
	code(opSetACL, (&jw{}).str("/a").i32(1).i32(31).str("ip").str("10.0.0.1").i32(-1).b, errInvalidACL)
	r = must(opGetACL, (&jw{}).str("/a").b)
	if n, perms, scheme, id := r.i32(), r.i32(), r.str(), r.str(); n != 1 || perms != 31 || scheme != "world" || id != "anyone" {
		t.Fatalf("getACL: %d entries, %d %s:%s", n, perms, scheme, id)
	}
	r = must(opSync, (&jw{}).str("/a").b)
	if p := r.str(); p != "/a" {
		t.Fatalf("sync: %q", p)
	}
	r = must(opGetEphemerals, (&jw{}).str("/a").b)
	if got := r.strs(); !reflect.DeepEqual(got, []string{"/a/b/c"}) {
		t.Fatalf("getEphemerals: %v", got)
	}
	r = must(opGetAllChildrenNumber, (&jw{}).str("/a").b)
	if n := r.i32(); n != 2 {
		t.Fatalf("getAllChildrenNumber(/a) = %d; want 2", n)
	}
	code(opGetAllChildrenNumber, (&jw{}).str("/zz").b, errNoNode)
	r = must(opGetChildren2, pathWatch("/a", false))
	if kids, st := r.strs(), r.stat(); !reflect.DeepEqual(kids, []string{"b"}) || st.NumChildren != 1 || st.Cversion != 1 {
		t.Fatalf("getChildren2: %v %+v", kids, st)
	}
	// multiRead: each op on its own.
	mr := (&jw{}).i32(opGetData).bl(false).i32(-1).str("/a").bl(false).
		i32(opGetChildren).bl(false).i32(-1).str("/zz").bl(false).
		i32(opGetChildren).bl(false).i32(-1).str("/a").bl(false).
		i32(-1).bl(true).i32(-1)
	r = must(opMultiRead, mr.b)
	if typ, _, _ := r.i32(), r.bl(), r.i32(); typ != opGetData || string(r.buf()) != "hi" {
		t.Fatalf("multiRead getData result of type %d", typ)
	}
	r.stat()
	if typ, _, e := r.i32(), r.bl(), r.i32(); typ != -1 || e != errNoNode || r.i32() != errNoNode {
		t.Fatalf("multiRead of a missing node: type %d err %d", typ, e)
	}
	if typ, _, _ := r.i32(), r.bl(), r.i32(); typ != opGetChildren || !reflect.DeepEqual(r.strs(), []string{"b"}) {
		t.Fatalf("multiRead getChildren result of type %d", typ)
	}
	if typ, done, _ := r.i32(), r.bl(), r.i32(); typ != -1 || !done {
		t.Fatal("multiRead: no closing header")
	}
	// A failed multi: code 0 before the refused op, its code, then
	// RUNTIMEINCONSISTENCY; nothing applied.
	m := (&jw{}).i32(opCreate).bl(false).i32(-1).str("/m").buf(nil).openACL().i32(0).
		i32(opSetData).bl(false).i32(-1).str("/a").buf(nil).i32(9).
		i32(opDelete).bl(false).i32(-1).str("/a/b").i32(-1).
		i32(-1).bl(true).i32(-1)
	r = must(opMulti, m.b)
	for i, want := range []int32{0, errBadVersion, errRuntimeInconsistency} {
		if typ, _, e := r.i32(), r.bl(), r.i32(); typ != -1 || e != want || r.i32() != want {
			t.Fatalf("failed multi, result %d: type %d err %d; want error %d", i, typ, e, want)
		}
	}
	code(opExists, pathWatch("/m", false), errNoNode)
	// Watches: checkWatches and removeWatches.
	code(opCheckWatches, (&jw{}).str("/a").i32(2).b, errNoWatcher)
	must(opGetData, pathWatch("/a", true))
	code(opCheckWatches, (&jw{}).str("/a").i32(2).b, 0)
	code(opCheckWatches, (&jw{}).str("/a").i32(1).b, errNoWatcher)
	code(opRemoveWatches, (&jw{}).str("/a").i32(3).b, 0)
	code(opRemoveWatches, (&jw{}).str("/a").i32(3).b, errNoWatcher)
	code(opCheckWatches, (&jw{}).str("/a").i32(9).b, errMarshallingError) // as ZooKeeper's servers
	code(opRemoveWatches, (&jw{}).str("/a").i32(0).b, errMarshallingError)
	code(opAddWatch, (&jw{}).str("/a").i32(7).b, errMarshallingError)
	// An invalid path names no node: reads and delete are NONODE, as on
	// ZooKeeper's servers; writes that check the path, BADARGUMENTS.
	for _, p := range []string{"a", "/a/", "/a//b"} {
		code(opExists, pathWatch(p, true), errNoNode)
		code(opGetData, pathWatch(p, false), errNoNode)
		code(opGetChildren, pathWatch(p, false), errNoNode)
		code(opGetChildren2, pathWatch(p, false), errNoNode)
		code(opGetACL, (&jw{}).str(p).b, errNoNode)
		code(opGetAllChildrenNumber, (&jw{}).str(p).b, errNoNode)
		code(opSetData, (&jw{}).str(p).buf(nil).i32(-1).b, errBadArguments)
		code(opCheck, (&jw{}).str(p).i32(-1).b, errBadArguments)
	}
	code(opDelete, (&jw{}).str("a").i32(-1).b, errBadArguments)
	code(opDelete, (&jw{}).str("/a/").i32(-1).b, errNoNode)
	code(opDelete, (&jw{}).str("/a//b").i32(-1).b, errNoNode)
	if r := must(opMultiRead, (&jw{}).i32(opGetData).bl(false).i32(-1).str("/a/").bl(false).
		i32(-1).bl(true).i32(-1).b); r.i32() != -1 || r.bl() || r.i32() != errNoNode {
		t.Fatal("multiRead of an invalid path: not a NONODE result")
	}
	must(opSetData, (&jw{}).str("/a").buf([]byte("x")).i32(-1).b)
	must(opExists, pathWatch("/a", false))
	if len(c.Events) != 0 {
		t.Fatalf("a removed watch fired: %+v", c.Events)
	}
	// An unknown opcode is unimplemented; the connection goes on.
	code(999, nil, errUnimplemented)
	must(opExists, pathWatch("/a", false))
}

func TestPingsAndPipelinedRepliesInOrder(t *testing.T) {
	a := startAgent(t)
	c := dialRaw(t, a.ZKAddr(), 5000, 0, nil)
	// Many requests at once, writes and reads mixed: the replies come
	// back in order (raw.reply fails on any other), and each read sees
	// the writes sent before it.
	var xids []int32
	for i := 0; i < 50; i++ {
		xids = append(xids, c.send(opCreate, createReq("/p-", []byte{byte(i)}, 2)))
		xids = append(xids, c.send(opGetChildren, pathWatch("/", false)))
	}
	if _, err := c.nc.Write(frame((&jw{}).i32(-2).i32(opPing).b)); err != nil {
		t.Fatal(err)
	}
	pings := c.Pings
	for i, x := range xids {
		code, r := c.reply(x)
		if code != 0 {
			t.Fatalf("request %d: error %d", i, code)
		}
		if i%2 == 1 {
			if kids := r.strs(); len(kids) != i/2+1 {
				t.Fatalf("read %d saw %d children; want the %d created before it", i/2, len(kids), i/2+1)
			}
		}
	}
	if c.Pings == pings { // not answered among the replies: it comes next
		if code, _ := c.reply(-2); code != 0 {
			t.Fatalf("ping: error %d", code)
		}
	}
	if c.Pings != pings+1 {
		t.Fatalf("%d ping replies; want 1", c.Pings-pings)
	}
}

func TestPersistentRecursiveWatchSeesTheSubtree(t *testing.T) {
	a := startAgent(t)
	w := dialRaw(t, a.ZKAddr(), 5000, 0, nil)
	c, _ := dialZK(t, a.ZKAddr(), 5*time.Second)
	if code, r := w.call(opAddWatch, (&jw{}).str("/r").i32(1).b); code != 0 || r.i32() != 0 {
		t.Fatalf("addWatch recursive: %d (the reply carries an ErrorResponse of 0)", code)
	}
	if code, _ := w.call(opAddWatch, (&jw{}).str("/p").i32(0).b); code != 0 {
		t.Fatalf("addWatch persistent: %d", code)
	}
	for _, p := range []string{"/r", "/r/a", "/r/a/b", "/p", "/p/k"} {
		if _, err := c.Create(p, nil, 0, open); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Set("/r/a/b", []byte("x"), -1); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("/r/a/b", -1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Set("/p/k", []byte("x"), -1); err != nil { // below the non-recursive watch: no event
		t.Fatal(err)
	}
	if _, err := c.Set("/p", []byte("x"), -1); err != nil {
		t.Fatal(err)
	}
	want := []event{
		{Type: evCreated, Path: "/r"}, {Type: evCreated, Path: "/r/a"}, {Type: evCreated, Path: "/r/a/b"},
		{Type: evCreated, Path: "/p"}, {Type: evChildrenChanged, Path: "/p"},
		{Type: evDataChanged, Path: "/r/a/b"}, {Type: evDeleted, Path: "/r/a/b"},
		{Type: evDataChanged, Path: "/p"},
	}
	var last int64
	for i, wv := range want {
		ev := w.event()
		if ev.Type != wv.Type || ev.Path != wv.Path || ev.State != 3 || ev.Zxid <= last {
			t.Fatalf("event %d: %+v; want %+v (state 3, zxid rising)", i, ev, wv)
		}
		last = ev.Zxid
	}
	// Persistent: still there; removeWatches takes it away.
	if code, _ := w.call(opCheckWatches, (&jw{}).str("/r").i32(5).b); code != 0 {
		t.Fatalf("checkWatches persistent recursive: %d", code)
	}
	if code, _ := w.call(opCheckWatches, (&jw{}).str("/r").i32(4).b); code != errNoWatcher {
		t.Fatalf("checkWatches persistent (not recursive) on a recursive watch's path: %d", code)
	}
	if code, _ := w.call(opRemoveWatches, (&jw{}).str("/r").i32(3).b); code != 0 { // Any: persistent ones too
		t.Fatalf("removeWatches: %d", code)
	}
	if _, err := c.Create("/r/z", nil, 0, open); err != nil {
		t.Fatal(err)
	}
	if code, _ := w.call(opSync, (&jw{}).str("/").b); code != 0 || len(w.Events) != 0 {
		t.Fatalf("after removeWatches: %d, events %+v", code, w.Events)
	}
}

func TestResumeOnTheSameAgentAndExpiredSessions(t *testing.T) {
	a := startAgent(t)
	c := dialRaw(t, a.ZKAddr(), 2000, 0, nil)
	if code, _ := c.call(opCreate, createReq("/held", nil, 1)); code != 0 {
		t.Fatalf("create ephemeral: %d", code)
	}
	zxid := c.Zxid
	// A wrong password is an expired session; the session lives on.
	bad := append([]byte(nil), c.Passwd...)
	bad[0] ^= 1
	if r := dialRaw(t, a.ZKAddr(), 2000, c.Session, bad); r.Timeout != 0 || r.Session != 0 || !r.closed() {
		t.Fatalf("wrong password: timeout %d session %#x; want 0, 0 and the connection closed", r.Timeout, r.Session)
	}
	// Reconnecting while the old connection is still open takes the
	// session over; the old connection is closed.
	r := dialRaw(t, a.ZKAddr(), 2000, c.Session, c.Passwd)
	if r.Session != c.Session || r.Timeout != 2000 || !bytes.Equal(r.Passwd, c.Passwd) {
		t.Fatalf("resume: session %#x timeout %d; want %#x, 2000", r.Session, r.Timeout, c.Session)
	}
	if !c.closed() {
		t.Fatal("the old connection of a resumed session stayed open")
	}
	code, jr := r.call(opExists, pathWatch("/held", false))
	if code != 0 || jr.stat().EphemeralOwner != c.Session || r.Zxid < zxid {
		t.Fatalf("ephemeral after resume: %d", code)
	}
	// A dropped connection detaches: the session outlives it and resumes.
	r.nc.Close()
	r2 := dialRaw(t, a.ZKAddr(), 2000, c.Session, c.Passwd)
	if r2.Session != c.Session {
		t.Fatalf("resume after a drop: session %#x", r2.Session)
	}
	if code, _ := r2.call(opCloseSession, nil); code != 0 || !r2.closed() {
		t.Fatalf("closeSession: %d", code)
	}
	if _, _, _, err := a.Node().Get("/held", false); err == nil {
		t.Fatal("the ephemeral outlived closeSession")
	}
	// A closed session cannot be resumed: go-zookeeper's client sees it
	// as expired.
	if r3 := dialRaw(t, a.ZKAddr(), 2000, c.Session, c.Passwd); r3.Timeout != 0 || r3.Session != 0 {
		t.Fatalf("resume of a closed session: timeout %d session %#x; want expired", r3.Timeout, r3.Session)
	}
}

func TestSetWatchesAfterReconnect(t *testing.T) {
	a := startAgent(t)
	c, _ := dialZK(t, a.ZKAddr(), 5*time.Second)
	for _, p := range []string{"/s", "/s/d", "/s/same"} {
		if _, err := c.Create(p, nil, 0, open); err != nil {
			t.Fatal(err)
		}
	}
	r := dialRaw(t, a.ZKAddr(), 5000, 0, nil)
	if code, _ := r.call(opSync, (&jw{}).str("/").b); code != 0 {
		t.Fatal(code)
	}
	seen := r.Zxid
	if _, err := c.Set("/s/d", []byte("changed"), -1); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("/s/same", -1); err != nil {
		t.Fatal(err)
	}
	// setWatches2: data watch on /s/d (changed since seen), data watch on
	// /s/same (gone), exist watch on /s/new (still missing: kept), child
	// watch on /s (changed), persistent recursive on /s.
	req := (&jw{}).i64(seen)
	req.i32(2).str("/s/d").str("/s/same")
	req.i32(1).str("/s/new")
	req.i32(1).str("/s")
	req.i32(0)
	req.i32(1).str("/s")
	if code, _ := r.call(opSetWatches2, req.b); code != 0 {
		t.Fatalf("setWatches2: %d", code)
	}
	got := map[event]bool{}
	for len(got) < 3 {
		ev := r.event()
		got[event{Type: ev.Type, Path: ev.Path}] = true
	}
	for _, w := range []event{{Type: evDataChanged, Path: "/s/d"}, {Type: evDeleted, Path: "/s/same"},
		{Type: evChildrenChanged, Path: "/s"}} {
		if !got[w] {
			t.Errorf("no %+v after setWatches2; got %v", w, got)
		}
	}
	if _, err := c.Create("/s/new", nil, 0, open); err != nil {
		t.Fatal(err)
	}
	for {
		ev := r.event()
		if ev.Type == evCreated && ev.Path == "/s/new" {
			break
		}
	}
}

// TestSetWatchesOrder: the watches setWatches fires at once are notified
// in ZooKeeper's order (data watches, then exist, then child, each list
// in its order), not by the zxids of the changes.
func TestSetWatchesOrder(t *testing.T) {
	a := startAgent(t)
	c, _ := dialZK(t, a.ZKAddr(), 5*time.Second)
	for _, p := range []string{"/o", "/o/a", "/o/gone"} {
		if _, err := c.Create(p, nil, 0, open); err != nil {
			t.Fatal(err)
		}
	}
	r := dialRaw(t, a.ZKAddr(), 5000, 0, nil)
	if code, _ := r.call(opSync, (&jw{}).str("/").b); code != 0 {
		t.Fatal(code)
	}
	seen := r.Zxid
	// The changes in the reverse of the lists' order.
	if _, err := c.Create("/o/new", nil, 0, open); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("/o/gone", -1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Set("/o/a", []byte("x"), -1); err != nil {
		t.Fatal(err)
	}
	if code, _ := r.call(opSync, (&jw{}).str("/").b); code != 0 {
		t.Fatal(code)
	}
	req := (&jw{}).i64(seen)
	req.i32(2).str("/o/a").str("/o/gone")
	req.i32(1).str("/o/new")
	req.i32(1).str("/o")
	req.i32(0).i32(0)
	if code, _ := r.call(opSetWatches2, req.b); code != 0 {
		t.Fatalf("setWatches2: %d", code)
	}
	want := []event{{Type: evDataChanged, Path: "/o/a"}, {Type: evDeleted, Path: "/o/gone"},
		{Type: evCreated, Path: "/o/new"}, {Type: evChildrenChanged, Path: "/o"}}
	var got []event
	for _, ev := range r.Events {
		got = append(got, event{Type: ev.Type, Path: ev.Path})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("notifications before the setWatches2 reply: %v; want %v", got, want)
	}
}

func TestFourLetterWords(t *testing.T) {
	a := startAgent(t)
	say := func(word string) string {
		nc, err := net.Dial("tcp", a.ZKAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if _, err := nc.Write([]byte(word)); err != nil {
			t.Fatal(err)
		}
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		out, err := io.ReadAll(nc)
		if err != nil {
			t.Fatalf("%s: %v", word, err)
		}
		return string(out)
	}
	if got := say("ruok"); got != "imok" {
		t.Fatalf("ruok = %q", got)
	}
	if got := say("envi"); !strings.Contains(got, "\nzookeeper.version=3.9.0-warden-") {
		t.Fatalf("envi = %q", got)
	}
	if got := say("isro"); got != "rw" {
		t.Fatalf("isro = %q", got)
	}
	if got := say("mntr"); !strings.Contains(got, "zk_server_state\tleader\n") || !strings.Contains(got, "zk_znode_count\t") {
		t.Fatalf("mntr = %q", got)
	}
	if got := say("stat"); !strings.Contains(got, "Clients:\n") || !strings.Contains(got, "Mode: leader\n") {
		t.Fatalf("stat = %q", got)
	}
	stats, ok := zk.FLWSrvr([]string{a.ZKAddr()}, 5*time.Second)
	if !ok || len(stats) != 1 || stats[0].Mode != zk.ModeLeader || stats[0].NodeCount < 1 {
		t.Fatalf("srvr, as go-zookeeper parses it: %+v (%v)", stats, stats[0].Error)
	}
}

func TestBadFramesCloseOnlyThatConnection(t *testing.T) {
	a := startAgent(t)
	keep := dialRaw(t, a.ZKAddr(), 5000, 0, nil)
	hello := (&jw{}).i32(0).i64(0).i32(5000).i64(0).buf(make([]byte, 16)).bl(false).b
	long := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	for name, input := range map[string][]byte{
		"oversized handshake":  long(64 << 20),
		"negative length":      long(0xfffffff0),
		"truncated connect":    frame(hello[:10]),
		"garbage":              []byte("\x00\x00\x00\x05hello"),
		"short request header": append(frame(hello), frame([]byte{0, 0, 0, 1})...),
		"oversized request":    append(frame(hello), long(64<<20)...),
		"truncated frame":      append(frame(hello), long(100)[0:4]...),
	} {
		nc, err := net.Dial("tcp", a.ZKAddr())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nc.Write(input); err != nil {
			t.Fatal(err)
		}
		if name == "truncated frame" {
			_ = nc.(*net.TCPConn).CloseWrite()
		}
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.Copy(io.Discard, nc) // a connect response may come first
		nc.Close()
		if err != nil {
			t.Fatalf("%s: the connection was not closed: %v", name, err)
		}
	}
	if code, _ := keep.call(opExists, pathWatch("/", false)); code != 0 {
		t.Fatalf("another connection after bad input: %d", code)
	}
}

// TestUndecodableRequestsGetAMarshallingError: a well-framed request whose
// record does not decode is answered MARSHALLINGERROR, as by ZooKeeper's
// servers, and the connection goes on; bytes after a record are ignored.
func TestUndecodableRequestsGetAMarshallingError(t *testing.T) {
	a := startAgent(t)
	c := dialRaw(t, a.ZKAddr(), 5000, 0, nil)
	for name, req := range map[string]struct {
		op   int32
		body []byte
	}{
		"string longer than the frame": {opCreate, (&jw{}).i32(1 << 30).b},
		"negative length":              {opGetData, (&jw{}).i32(-7).b},
		"empty body":                   {opSetData, nil},
		"bad multi op":                 {opMulti, (&jw{}).i32(77).bl(false).i32(-1).b},
		"multi without its end":        {opMulti, (&jw{}).i32(opCheck).bl(false).i32(-1).str("/").i32(-1).b},
		"huge vector":                  {opSetWatches2, (&jw{}).i64(0).i32(1 << 30).b},
		"huge ACL vector":              {opCreate, (&jw{}).str("/x").buf(nil).i32(1 << 28).b},
		"not UTF-8":                    {opExists, (&jw{}).buf([]byte{0xff, 0xfe}).bl(false).b},
	} {
		if code, _ := c.call(req.op, req.body); code != -5 {
			t.Errorf("%s: error %d; want MARSHALLINGERROR (-5)", name, code)
		}
	}
	if code, r := c.call(opExists, (&jw{}).str("/").bl(false).i32(5).b); code != 0 || r.stat().Czxid != 0 {
		t.Fatalf("a read with bytes after its record: %d", code)
	}
}

// TestMultiReadReplyIsBounded: a multiRead whose reply would pass the
// frame limit (here five reads of a 1 MiB node against a 4 MiB limit)
// closes its connection instead of building the reply, and the agent goes
// on answering others.
func TestMultiReadReplyIsBounded(t *testing.T) {
	a := startAgent(t)
	c := dialRaw(t, a.ZKAddr(), 5000, 0, nil)
	if code, _ := c.call(opCreate, createReq("/big", bytes.Repeat([]byte("x"), 1<<20), 0)); code != 0 {
		t.Fatalf("create: error %d", code)
	}
	mr := &jw{}
	for i := 0; i < 5; i++ {
		mr.i32(opGetData).bl(false).i32(-1).str("/big").bl(false)
	}
	mr.i32(-1).bl(true).i32(-1)
	c.send(opMultiRead, mr.b)
	if !c.closed() {
		t.Fatal("a multiRead reply over the frame limit was sent")
	}
	d := dialRaw(t, a.ZKAddr(), 5000, 0, nil)
	if code, r := d.call(opMultiRead, (&jw{}).i32(opGetData).bl(false).i32(-1).str("/big").bl(false).i32(-1).bl(true).i32(-1).b); code != 0 {
		t.Fatalf("a multiRead within the limit: error %d", code)
	} else if typ, _, _ := r.i32(), r.bl(), r.i32(); typ != opGetData || len(r.buf()) != 1<<20 {
		t.Fatalf("a multiRead within the limit: result of type %d", typ)
	}
}
