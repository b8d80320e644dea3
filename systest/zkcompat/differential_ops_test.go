package zkcompat

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// runSessionOps is the second half of the script: the operations
// go-zookeeper does not send (create2, check outside a multi, multiRead,
// getEphemerals, getAllChildrenNumber, checkWatches, ping, setWatches
// and setWatches2 on a reconnect, closeSession, reconfig, an unknown
// opcode, invalid paths and arguments) through raw sessions, session
// ends and reconnects (a wrong password, a closed session), and multis
// that fail in the middle. A is a go-zookeeper session, rc the raw
// session R, both from runScript. Where Warden differs on purpose, the
// result goes to tr.uncompared with the name of the difference in
// docs/zookeeper.md.
func runSessionOps(t *testing.T, tr *transcript, hosts string, A *session, rc *rawConn) {
	addr := strings.Split(hosts, ",")[0]
	fatal := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\nafter:\n%s", fmt.Sprintf(format, args...), strings.Join(tr.lines[max(0, len(tr.lines)-12):], "\n"))
	}
	rec := func(name string, c *rawConn) func(what string, code int32, err error, extra string) {
		return func(what string, code int32, err error, extra string) {
			if err != nil {
				fatal("raw %s %s: %v", name, what, err)
			}
			tr.add("%s %s -> %s%s", name, what, codeName(code), extra)
			for _, ev := range c.takeEvents() {
				tr.add("  %s event: %s %s", name, eventName(ev.Type), ev.Path)
			}
		}
	}
	raw := rec("R", rc)
	statOf := func(st *zk.Stat) string {
		if st == nil {
			return ""
		}
		return " " + tr.stat(st)
	}
	rawCreate := func(name string, c *rawConn, path string, flags int32) {
		code, p, err := c.create(rawOpCreate, path, nil, true, flags, 0)
		rec(name, c)(fmt.Sprintf("create %s flags=%d", path, flags), code, err, " "+p)
	}
	sync := func(name string, c *rawConn) {
		code, err := c.sync("/zkc")
		rec(name, c)("sync /zkc", code, err, "")
	}
	setData := func(name string, c *rawConn, path, data string) {
		code, _, err := c.call(5, func(b *jute) { b.str(path); b.buf([]byte(data)); b.i32(-1) })
		rec(name, c)(fmt.Sprintf("setData %s", path), code, err, "")
	}
	del := func(name string, c *rawConn, path string) {
		code, _, err := c.call(2, func(b *jute) { b.str(path); b.i32(-1) })
		rec(name, c)(fmt.Sprintf("delete %s", path), code, err, "")
	}
	watchOn := func(name string, c *rawConn, op int32, what, path string) {
		code, _, err := c.pathWatch(op, path, true)
		rec(name, c)(fmt.Sprintf("%sW %s", what, path), code, err, "")
	}
	aExists := func(path string) {
		ok, st, err := A.c.Exists(path)
		if ok {
			tr.add("A exists %s -> %s true %s", path, errName(err), tr.stat(st))
		} else {
			tr.add("A exists %s -> %s false", path, errName(err))
		}
	}
	aSync := func() {
		_, err := A.c.Sync("/zkc")
		tr.add("A sync /zkc -> %s", errName(err))
	}
	multi := func(what string, ops ...any) {
		res, err := A.c.Multi(ops...)
		tr.add("A multi(%s) -> %s", what, errName(err))
		for i, r := range res {
			line := fmt.Sprintf("  op%d %s", i, errName(r.Error))
			if r.String != "" {
				line += " " + r.String
			}
			if r.Stat != nil && r.Error == nil {
				line += " " + tr.stat(r.Stat)
			}
			tr.lines = append(tr.lines, line)
		}
	}

	tr.add("# create2 (path and Stat), check outside a multi, getChildren2 with a watch")
	code, p, st, err := rc.create2("/zkc/c2", []byte("c2"), 0)
	raw("create2 /zkc/c2", code, err, " "+p+statOf(st))
	code, p, st, err = rc.create2("/zkc/c2", nil, 0)
	raw("create2 /zkc/c2", code, err, " "+p+statOf(st))
	code, p, st, err = rc.create2("/zkc/c2-", nil, zk.FlagEphemeralSequential)
	raw("create2 /zkc/c2- ephemeral sequential", code, err, " "+p+statOf(st))
	// ZooKeeper's suffix counts /zkc's child creates, Warden's its
	// cversion, deletes too (docs/zookeeper.md, "What differs":
	// "Sequence numbers"): the transcript shows only that it is ten
	// digits above the earlier ones.
	if n, ok := strings.CutPrefix(p, "/zkc/c2-"); ok && len(n) == 10 && n > "0000000017" {
		tr.aliasAtEnd("c2-"+n, "c2-(ten digits, above earlier sequence numbers)")
	}
	code, p, st, err = rc.create2("/zkc/nope/c2", nil, 0)
	raw("create2 /zkc/nope/c2", code, err, " "+p+statOf(st))
	// Only checks that fail: ZooKeeper 3.8 never answers a check outside
	// a multi that passes, and in an ensemble its followers then fail on
	// the transaction ("Unsupported Txn with type=13") and leave the
	// quorum. Warden answers it with the node's Stat (docs/zookeeper.md,
	// "What differs": "check outside a multi"; zkapi's protocol test).
	for _, c := range []struct {
		path    string
		version int32
	}{{"/zkc/c2", 7}, {"/zkc/c2", 1}, {"/zkc/missing", -1}, {"/zkc/missing", 0}} {
		code, st, n, err := rc.check(c.path, c.version)
		raw(fmt.Sprintf("check %s v=%d", c.path, c.version), code, err, fmt.Sprintf(" body=%dB%s", n, statOf(st)))
	}
	code, names, st, err := rc.children2("/zkc/c2", true)
	raw("getChildren2W /zkc/c2", code, err, fmt.Sprintf(" %v%s", names, statOf(st)))
	code, names, st, err = rc.children2("/zkc/missing", true)
	raw("getChildren2W /zkc/missing", code, err, fmt.Sprintf(" %v%s", names, statOf(st)))
	p, err = A.c.Create("/zkc/c2/k", nil, 0, world)
	tr.add("A create /zkc/c2/k -> %s %s", errName(err), p)
	sync("R", rc)
	code, names, st, err = rc.children2("/zkc/c2", false)
	raw("getChildren2 /zkc/c2", code, err, fmt.Sprintf(" %v%s", names, statOf(st)))

	tr.add("# ping: the reply has xid -2")
	code, err = rc.ping()
	raw("ping (xid -2)", code, err, " xid=-2")

	tr.add("# checkWatches and removeWatches: NOWATCHER without a watch of that type")
	watchOn("R", rc, rawOpGetData, "getData", "/zkc/c2")
	for _, c := range []struct {
		op   int32
		path string
		typ  int32
	}{
		{rawOpCheckWatches, "/zkc/c2", watcherTypeData},
		{rawOpCheckWatches, "/zkc/c2", watcherTypeAny},
		{rawOpCheckWatches, "/zkc/c2", watcherTypeChildren},
		{rawOpCheckWatches, "/zkc/never", watcherTypeAny},
		{rawOpRemoveWatches, "/zkc/c2", watcherTypeChildren},
		{rawOpRemoveWatches, "/zkc/c2", watcherTypeData},
		{rawOpCheckWatches, "/zkc/c2", watcherTypeData},
		{rawOpCheckWatches, "/zkc/c2", watcherTypeAny},
	} {
		name := map[int32]string{rawOpCheckWatches: "checkWatches", rawOpRemoveWatches: "removeWatches"}[c.op]
		typ := map[int32]string{watcherTypeChildren: "children", watcherTypeData: "data", watcherTypeAny: "any"}[c.typ]
		code, _, err := rc.call(c.op, func(b *jute) { b.str(c.path); b.i32(c.typ) })
		raw(fmt.Sprintf("%s %s %s", name, c.path, typ), code, err, "")
	}

	tr.add("# getEphemerals (the session's own, by path prefix), getAllChildrenNumber")
	rawCreate("R", rc, "/zkc/reph-a", zk.FlagEphemeral)
	rawCreate("R", rc, "/zkc/reph-b", zk.FlagEphemeral)
	rawCreate("R", rc, "/zkc/rdir", zk.FlagPersistent)
	rawCreate("R", rc, "/zkc/rdir/e", zk.FlagEphemeral)
	rawCreate("R", rc, "/zkc/rdir/f", zk.FlagPersistent)
	rawCreate("R", rc, "/zkc/rdir/f/g", zk.FlagPersistent)
	for _, prefix := range []string{"/", "", "/zkc/reph", "/zkc/rdir", "/zkc/rdir/", "/zkc/nothing"} {
		code, names, err := rc.ephemerals(prefix)
		raw(fmt.Sprintf("getEphemerals %q", prefix), code, err, fmt.Sprintf(" %v", names))
	}
	sync("R", rc)
	for _, path := range []string{"/zkc/rdir", "/zkc/rdir/f", "/zkc/rdir/e", "/zkc", "/zkc/missing"} {
		code, n, err := rc.allChildrenNumber(path)
		raw("getAllChildrenNumber "+path, code, err, fmt.Sprintf(" %d", n))
	}

	tr.add("# multiRead: each op's own result, a NONODE among them")
	code, lines, err := rc.multiRead([]readOp{
		{rawOpGetData, "/zkc/c2"}, {rawOpGetChildren, "/zkc/rdir"}, {rawOpGetData, "/zkc/missing"},
		{rawOpGetChildren, "/zkc/missing"}, {rawOpGetData, "/zkc/reph-a"}, {rawOpGetChildren, "/zkc/c2"},
	}, tr.stat)
	raw("multiRead(getData c2, getChildren rdir, getData missing, getChildren missing, getData reph-a, getChildren c2)", code, err, "")
	for i, l := range lines {
		tr.lines = append(tr.lines, fmt.Sprintf("  op%d %s", i, l))
	}
	code, lines, err = rc.multiRead(nil, tr.stat)
	raw("multiRead()", code, err, fmt.Sprintf(" %d results", len(lines)))
	// An exists in a multiRead is not a read op ZooKeeper takes there:
	// on a connection of its own, since the server may close it.
	if pc, err := dialRaw(addr, 30*time.Second); err != nil {
		fatal("raw session P: %v", err)
	} else {
		code, lines, err := pc.multiRead([]readOp{{rawOpGetData, "/zkc/c2"}, {rawOpExists, "/zkc/c2"}}, tr.stat)
		if err != nil {
			tr.add("P multiRead(getData c2, exists c2) -> no reply (%s)", pc.closedAfter(time.Second))
		} else {
			tr.add("P multiRead(getData c2, exists c2) -> %s %v", codeName(code), lines)
		}
		pc.close()
	}

	tr.add("# multi: a failure in the middle; nothing before or after it applies")
	multi("create mx, set p, delete m1, check p v=99, create my, delete empty",
		&zk.CreateRequest{Path: "/zkc/mx", Data: []byte("x"), Acl: world},
		&zk.SetDataRequest{Path: "/zkc/p", Data: []byte("never"), Version: -1},
		&zk.DeleteRequest{Path: "/zkc/m1", Version: -1},
		&zk.CheckVersionRequest{Path: "/zkc/p", Version: 99},
		&zk.CreateRequest{Path: "/zkc/my", Acl: world},
		&zk.DeleteRequest{Path: "/zkc/empty", Version: -1})
	aExists("/zkc/mx")
	aExists("/zkc/my")
	aExists("/zkc/m1")
	aExists("/zkc/empty")
	d, st, err := A.c.Get("/zkc/p")
	tr.add("A get /zkc/p -> %s %q%s", errName(err), d, statOf(st))
	multi("create mz, create eph/child",
		&zk.CreateRequest{Path: "/zkc/mz", Acl: world},
		&zk.CreateRequest{Path: "/zkc/eph/child", Acl: world})
	multi("set p v=99, create mz",
		&zk.SetDataRequest{Path: "/zkc/p", Data: []byte("never"), Version: 99},
		&zk.CreateRequest{Path: "/zkc/mz", Acl: world})
	multi("delete missing, create mz",
		&zk.DeleteRequest{Path: "/zkc/missing", Version: -1},
		&zk.CreateRequest{Path: "/zkc/mz", Acl: world})
	multi("create mz, delete mz, create mz, set mz v=0, check mz v=1",
		&zk.CreateRequest{Path: "/zkc/mz", Acl: world},
		&zk.DeleteRequest{Path: "/zkc/mz", Version: 0},
		&zk.CreateRequest{Path: "/zkc/mz", Data: []byte("z"), Acl: world},
		&zk.SetDataRequest{Path: "/zkc/mz", Data: []byte("z2"), Version: 0},
		&zk.CheckVersionRequest{Path: "/zkc/mz", Version: 1})
	aExists("/zkc/mz")

	tr.add("# bad arguments, reconfig, an unknown opcode, addAuth (each on a connection of its own)")
	for _, c := range []struct {
		what string
		xid  int32
		op   int32
		body func(*jute)
		// diff names the documented difference (docs/zookeeper.md,
		// "What differs") that leaves the result out of the transcript;
		// afterDiff, the one that leaves out whether the connection
		// stays open.
		diff, afterDiff string
	}{
		{"removeWatches /zkc type=9", 0, rawOpRemoveWatches, func(b *jute) { b.str("/zkc"); b.i32(9) }, "", ""},
		{"checkWatches /zkc type=0", 0, rawOpCheckWatches, func(b *jute) { b.str("/zkc"); b.i32(0) }, "", ""},
		{"addWatch /zkc mode=7", 0, rawOpAddWatch, func(b *jute) { b.str("/zkc"); b.i32(7) }, "", ""},
		{"getChildren zkc (no slash)", 0, rawOpGetChildren, func(b *jute) { b.str("zkc"); b.boolean(false) }, "", ""},
		{"getChildren2 /zkc/", 0, rawOpGetChildren2, func(b *jute) { b.str("/zkc/"); b.boolean(false) }, "", ""},
		{"exists zkc", 0, rawOpExists, func(b *jute) { b.str("zkc"); b.boolean(false) }, "", ""},
		{"existsW /zkc//p", 0, rawOpExists, func(b *jute) { b.str("/zkc//p"); b.boolean(true) }, "", ""},
		{"getData /zkc/", 0, rawOpGetData, func(b *jute) { b.str("/zkc/"); b.boolean(false) }, "", ""},
		{"getACL zkc", 0, 6, func(b *jute) { b.str("zkc") }, "", ""},
		{"setData zkc", 0, 5, func(b *jute) { b.str("zkc"); b.buf(nil); b.i32(-1) }, "", ""},
		{"setData /zkc/", 0, 5, func(b *jute) { b.str("/zkc/"); b.buf(nil); b.i32(-1) }, "", ""},
		{"delete /zkc/", 0, 2, func(b *jute) { b.str("/zkc/"); b.i32(-1) }, "", ""},
		{"delete zkc", 0, 2, func(b *jute) { b.str("zkc"); b.i32(-1) }, "", ""},
		{"delete /zkc//p", 0, 2, func(b *jute) { b.str("/zkc//p"); b.i32(-1) }, "", ""},
		{"setACL zkc", 0, 7, func(b *jute) {
			b.str("zkc")
			b.i32(1)
			b.i32(31)
			b.str("world")
			b.str("anyone")
			b.i32(-1)
		}, "", ""},
		{"multiRead(getData zkc, getChildren /zkc/)", 0, rawOpMultiRead, func(b *jute) {
			b.i32(rawOpGetData)
			b.boolean(false)
			b.i32(-1)
			b.str("zkc")
			b.boolean(false)
			b.i32(rawOpGetChildren)
			b.boolean(false)
			b.i32(-1)
			b.str("/zkc/")
			b.boolean(false)
			b.i32(-1)
			b.boolean(true)
			b.i32(-1)
		}, "", ""},
		{"sync zkc", 0, rawOpSync, func(b *jute) { b.str("zkc") }, "", ""},
		{"getAllChildrenNumber zkc", 0, rawOpGetAllChildrenNumber, func(b *jute) { b.str("zkc") }, "", ""},
		{"check zkc v=-1", 0, rawOpCheck, func(b *jute) { b.str("zkc"); b.i32(-1) }, "", ""},
		{"addWatch zkc persistent", 0, rawOpAddWatch, func(b *jute) { b.str("zkc"); b.i32(0) }, "Watches on an invalid path", ""},
		{"removeWatches zkc any", 0, rawOpRemoveWatches, func(b *jute) { b.str("zkc"); b.i32(3) }, "", ""},
		{"reconfig", 0, 16, func(b *jute) { b.str(""); b.str(""); b.str(""); b.i64(-1) }, "", ""},
		{"opcode 4242", 0, 4242, func(b *jute) { b.str("/zkc") }, "", "An unknown opcode"},
		{"addAuth digest (xid -4)", -4, 100, func(b *jute) { b.i32(0); b.str("digest"); b.buf([]byte("u:p")) }, "", ""},
		{"addAuth scheme foo (xid -4)", -4, 100, func(b *jute) { b.i32(0); b.str("foo"); b.buf([]byte("x")) }, "ACLs", ""},
	} {
		pc, err := dialRaw(addr, 30*time.Second)
		if err != nil {
			fatal("raw session P: %v", err)
		}
		pc.wait = 2 * time.Second
		xid := c.xid
		if xid == 0 {
			xid = 1
		}
		code, _, err := pc.callXid(xid, c.op, c.body)
		switch {
		case err != nil:
			tr.add("P %s -> no reply (%v)", c.what, pc.closedAfter(time.Second))
		case c.diff != "":
			tr.uncompared(c.diff, "P %s -> %s; then %s", c.what, codeName(code), pc.closedAfter(200*time.Millisecond))
		case c.afterDiff != "":
			tr.add("P %s -> %s", c.what, codeName(code))
			tr.uncompared(c.afterDiff, "  P %s: then %s", c.what, pc.closedAfter(200*time.Millisecond))
		default:
			tr.add("P %s -> %s; then %s", c.what, codeName(code), pc.closedAfter(200*time.Millisecond))
		}
		pc.drop()
	}

	tr.add("# setWatches2 and setWatches on a reconnect: what changed while away fires")
	S, err := dialRaw(addr, 30*time.Second)
	if err != nil {
		fatal("raw session S: %v", err)
	}
	tr.sessions[S.session] = "S"
	tr.add("S connect -> session S")
	rawCreate("R", rc, "/zkc/sw", zk.FlagPersistent)
	rawCreate("R", rc, "/zkc/swsame", zk.FlagPersistent)
	rawCreate("R", rc, "/zkc/swgone", zk.FlagPersistent)
	rawCreate("R", rc, "/zkc/swp", zk.FlagPersistent)
	sync("S", S)
	watchOn("S", S, rawOpGetData, "getData", "/zkc/sw")
	watchOn("S", S, rawOpGetData, "getData", "/zkc/swsame")
	watchOn("S", S, rawOpGetData, "getData", "/zkc/swgone")
	watchOn("S", S, rawOpExists, "exists", "/zkc/swnew")
	watchOn("S", S, rawOpGetChildren, "getChildren", "/zkc/sw")
	code, err = S.addWatch("/zkc/swp", addWatchPersistent)
	rec("S", S)("addWatch /zkc/swp persistent", code, err, "")
	S.drop()
	tr.add("S drops its connection (the session stays)")
	setData("R", rc, "/zkc/sw", "away")
	rawCreate("R", rc, "/zkc/swnew", zk.FlagPersistent)
	rawCreate("R", rc, "/zkc/sw/k", zk.FlagPersistent)
	del("R", rc, "/zkc/swgone")
	S2, to, err := connectRaw(addr, 30*time.Second, S.session, S.passwd, S.lastZxid)
	if err != nil {
		fatal("S reconnect: %v", err)
	}
	tr.add("S reconnect (its password, last zxid seen) -> timeout>0=%v same session=%v", to > 0, S2.session == S.session)
	code, err = S2.setWatches(true, S.lastZxid, []string{"/zkc/sw", "/zkc/swsame", "/zkc/swgone"},
		[]string{"/zkc/swnew"}, []string{"/zkc/sw"}, []string{"/zkc/swp"}, nil)
	rec("S", S2)("setWatches2 (xid -8) data=[sw swsame swgone] exist=[swnew] child=[sw] persistent=[swp]", code, err, "")
	setData("R", rc, "/zkc/swsame", "now")
	setData("R", rc, "/zkc/swp", "now")
	sync("S", S2)
	// setWatches (the original, without persistent watches), after
	// another drop.
	lastSeen := S2.lastZxid
	S2.drop()
	tr.add("S drops its connection again")
	setData("R", rc, "/zkc/sw", "away2")
	del("R", rc, "/zkc/swnew")
	S3, to, err := connectRaw(addr, 30*time.Second, S.session, S.passwd, lastSeen)
	if err != nil {
		fatal("S reconnect: %v", err)
	}
	tr.add("S reconnect -> timeout>0=%v same session=%v", to > 0, S3.session == S.session)
	code, err = S3.setWatches(false, lastSeen, []string{"/zkc/sw"}, []string{"/zkc/swnew"}, []string{"/zkc/sw"}, nil, nil)
	rec("S", S3)("setWatches (xid -8) data=[sw] exist=[swnew] child=[sw]", code, err, "")
	rawCreate("R", rc, "/zkc/swnew", zk.FlagPersistent)
	sync("S", S3)
	S3.close()

	tr.add("# closeSession: its ephemerals go; the session cannot be resumed")
	C, err := dialRaw(addr, 30*time.Second)
	if err != nil {
		fatal("raw session C: %v", err)
	}
	tr.sessions[C.session] = "C"
	tr.add("C connect -> session C")
	rawCreate("C", C, "/zkc/ceph", zk.FlagEphemeral)
	aSync()
	aExists("/zkc/ceph")
	code, _, err = C.call(rawOpClose, nil)
	rec("C", C)("closeSession", code, err, "")
	tr.add("  C connection after closeSession: %s", C.closedAfter(2*time.Second))
	C.drop()
	aSync()
	aExists("/zkc/ceph")
	C2, to, err := connectRaw(addr, 30*time.Second, C.session, C.passwd, C.lastZxid)
	if err != nil {
		fatal("C reconnect: %v", err)
	}
	tr.add("C reconnect (closed session, its password) -> timeout=%d session=%d; then %s", to, C2.session, C2.closedAfter(2*time.Second))
	C2.drop()

	tr.add("# a wrong password for a live session")
	V, err := dialRaw(addr, 30*time.Second)
	if err != nil {
		fatal("raw session V: %v", err)
	}
	tr.sessions[V.session] = "V"
	tr.add("V connect -> session V")
	rawCreate("V", V, "/zkc/veph", zk.FlagEphemeral)
	bad := append([]byte(nil), V.passwd...)
	bad[0] ^= 0xff
	W, to, err := connectRaw(addr, 30*time.Second, V.session, bad, V.lastZxid)
	if err != nil {
		fatal("wrong-password connect: %v", err)
	}
	tr.add("W connect (session V, wrong password) -> timeout=%d session=%d; then %s", to, W.session, W.closedAfter(2*time.Second))
	W.drop()
	// ZooKeeper closes the session's live connection before it checks
	// the password; Warden leaves it open (docs/zookeeper.md, "What
	// differs": "A wrong password").
	tr.uncompared("A wrong password", "  V connection after W: %s", V.closedAfter(500*time.Millisecond))
	V.drop()
	V2, to, err := connectRaw(addr, 30*time.Second, V.session, V.passwd, V.lastZxid)
	if err != nil {
		fatal("V reconnect: %v", err)
	}
	tr.add("V reconnect (its password) -> timeout>0=%v same session=%v", to > 0, V2.session == V.session)
	code, names, err = V2.ephemerals("/zkc")
	rec("V", V2)(`getEphemerals "/zkc"`, code, err, fmt.Sprintf(" %v", names))
	V2.close()
	aSync()
	aExists("/zkc/veph")
}
