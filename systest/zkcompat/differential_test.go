package zkcompat

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

var update = flag.Bool("update", false, "rewrite testdata/zookeeper.transcript from a real ZooKeeper's run")

const golden = "testdata/zookeeper.transcript"

// TestDifferential runs one script of sessions through every operation
// and the error codes each can give, against each target of ZK_TARGET,
// and compares the normalized transcripts: with each other under
// ZK_TARGET=both, and with the golden transcript that a real ZooKeeper
// (standalone, 3.8, TTL nodes on) wrote (go test -update with
// ZK_TARGET=zookeeper rewrites it), so that Warden can be compared
// without ZooKeeper installed.
func TestDifferential(t *testing.T) {
	kinds := Kinds(t)
	want, err := os.ReadFile(golden)
	if err != nil && !*update {
		t.Fatalf("golden transcript: %v", err)
	}
	got := map[string]string{}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			// ZK_DIFF_SERVERS=3 runs a real ZooKeeper as an ensemble,
			// which shows whether the script leans on one server's
			// order (a read of another session's write without a sync).
			servers := 1
			if os.Getenv("ZK_DIFF_SERVERS") == "3" {
				servers = 3
			}
			tg := Start(t, kind, servers)
			start := time.Now()
			tr := runScript(t, tg.Hosts())
			t.Logf("%s: script ran in %v, %d lines", kind, time.Since(start).Round(time.Millisecond), len(tr.lines))
			got[kind] = tr.String()
			for _, l := range tr.left {
				t.Logf("%s: %s", kind, l)
			}
			out := filepath.Join(t.TempDir(), kind+".transcript")
			_ = os.WriteFile(out, []byte(got[kind]), 0o644)
			if kind == "zookeeper" && *update {
				if err := os.WriteFile(golden, []byte(got[kind]), 0o644); err != nil {
					t.Fatal(err)
				}
				want = []byte(got[kind])
				return
			}
			if d := diffText(t, "golden "+golden, string(want), kind, got[kind]); d != "" {
				t.Errorf("%s's transcript differs from real ZooKeeper's (golden):\n%s", kind, d)
			}
		})
	}
	if zkT, ok := got["zookeeper"]; ok {
		if wT, ok := got["warden"]; ok {
			if d := diffText(t, "zookeeper", zkT, "warden", wT); d != "" {
				t.Errorf("warden's transcript differs from zookeeper's:\n%s", d)
			}
		}
	}
}

// diffText is diff -u of a and b ("" when equal).
func diffText(t *testing.T, aName, a, bName, b string) string {
	if a == b {
		return ""
	}
	dir := t.TempDir()
	fa, fb := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	_ = os.WriteFile(fa, []byte(a), 0o644)
	_ = os.WriteFile(fb, []byte(b), 0o644)
	out, _ := exec.Command("diff", "-u", "--label", aName, "--label", bName, fa, fb).CombinedOutput()
	return string(out)
}

// session is one go-zookeeper client of the script.
type session struct {
	name string
	c    *zk.Conn
	w    *watches
}

var world = zk.WorldACL(zk.PermAll)

func dialSession(t *testing.T, tr *transcript, name, hosts string) *session {
	t.Helper()
	c, ev, err := zk.Connect(strings.Split(hosts, ","), 10*time.Second,
		zk.WithLogger(log.New(io.Discard, "", 0)))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range ev {
		}
	}()
	t.Cleanup(c.Close)
	// The first request waits for the session.
	if _, err := c.Sync("/"); err != nil {
		t.Fatalf("session %s: %v", name, err)
	}
	tr.sessions[c.SessionID()] = name
	tr.add("%s connect -> session %s", name, name)
	return &session{name: name, c: c, w: &watches{tr: tr, session: name, pending: map[string]<-chan zk.Event{}, awaited: map[string]<-chan zk.Event{}}}
}

// runScript plays the script against hosts and returns its transcript.
// Sessions A and B go through go-zookeeper; R is a raw protocol client
// (rawConn) for addWatch, removeWatches, getChildren and requests that
// go-zookeeper would refuse to send.
func runScript(t *testing.T, hosts string) *transcript {
	tr := newTranscript()
	A := dialSession(t, tr, "A", hosts)
	B := dialSession(t, tr, "B", hosts)
	rc, err := dialRaw(strings.Split(hosts, ",")[0], 30*time.Second)
	if err != nil {
		t.Fatalf("raw session: %v", err)
	}
	defer rc.close()
	tr.sessions[rc.session] = "R"
	tr.add("R connect -> session R")

	// Helpers that run one operation and record its result, then the
	// events of that session that came before the reply.
	create := func(s *session, path, data string, flags int32, acl []zk.ACL) string {
		p, err := s.c.Create(path, []byte(data), flags, acl)
		tr.add("%s create %s flags=%d -> %s %s", s.name, path, flags, errName(err), p)
		s.w.drain()
		return p
	}
	exists := func(s *session, path string) {
		ok, st, err := s.c.Exists(path)
		if ok {
			tr.add("%s exists %s -> %s true %s", s.name, path, errName(err), tr.stat(st))
		} else {
			tr.add("%s exists %s -> %s false", s.name, path, errName(err))
		}
		s.w.drain()
	}
	get := func(s *session, path string) {
		d, st, err := s.c.Get(path)
		if err != nil {
			tr.add("%s get %s -> %s", s.name, path, errName(err))
		} else {
			tr.add("%s get %s -> OK %q %s", s.name, path, d, tr.stat(st))
		}
		s.w.drain()
	}
	set := func(s *session, path, data string, version int32) {
		st, err := s.c.Set(path, []byte(data), version)
		if err != nil {
			tr.add("%s set %s v=%d -> %s", s.name, path, version, errName(err))
		} else {
			tr.add("%s set %s v=%d -> OK %s", s.name, path, version, tr.stat(st))
		}
		s.w.drain()
	}
	del := func(s *session, path string, version int32) {
		err := s.c.Delete(path, version)
		tr.add("%s delete %s v=%d -> %s", s.name, path, version, errName(err))
		s.w.drain()
	}
	children := func(s *session, path string) {
		ch, st, err := s.c.Children(path)
		sort.Strings(ch)
		if err != nil {
			tr.add("%s getChildren2 %s -> %s", s.name, path, errName(err))
		} else {
			tr.add("%s getChildren2 %s -> OK %v %s", s.name, path, ch, tr.stat(st))
		}
		s.w.drain()
	}
	syncRead := func(s *session, path string) {
		p, err := s.c.Sync(path)
		tr.add("%s sync %s -> %s %s", s.name, path, errName(err), p)
		s.w.drain()
	}
	multi := func(s *session, what string, ops ...any) {
		res, err := s.c.Multi(ops...)
		tr.add("%s multi(%s) -> %s", s.name, what, errName(err))
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
		s.w.drain()
	}
	raw := func(what string, code int32, err error, extra string) {
		if err != nil {
			t.Fatalf("raw %s: %v", what, err)
		}
		tr.add("R %s -> %s%s", what, codeName(code), extra)
		for _, ev := range rc.takeEvents() {
			tr.add("  R event: %s %s", eventName(ev.Type), ev.Path)
		}
	}
	rawSync := func() {
		code, err := rc.sync("/zkc")
		raw("sync /zkc", code, err, "")
	}

	tr.add("# create, exists, get, set, delete and their errors")
	create(A, "/zkc", "root", zk.FlagPersistent, world)
	create(A, "/zkc", "again", zk.FlagPersistent, world)
	exists(A, "/zkc")
	create(A, "/zkc/p", "data", zk.FlagPersistent, world)
	get(A, "/zkc/p")
	set(A, "/zkc/p", "d2", 0)
	set(A, "/zkc/p", "d3", 0)
	set(A, "/zkc/p", "d3", -1)
	get(A, "/zkc/p")
	get(A, "/zkc/missing")
	set(A, "/zkc/missing", "x", -1)
	del(A, "/zkc/missing", -1)
	exists(A, "/zkc/missing")
	create(A, "/zkc/nope/x", "", zk.FlagPersistent, world)
	create(A, "/zkc/empty", "", zk.FlagPersistent, world)
	get(A, "/zkc/empty")

	tr.add("# sequential and ephemeral nodes")
	create(A, "/zkc/seq-", "", zk.FlagSequence, world)
	create(A, "/zkc/seq-", "", zk.FlagSequence, world)
	create(A, "/zkc/eseq-", "", zk.FlagEphemeralSequential, world)
	create(B, "/zkc/eseq-", "", zk.FlagEphemeralSequential, world)
	create(A, "/zkc/eph", "e", zk.FlagEphemeral, world)
	exists(A, "/zkc/eph")
	create(A, "/zkc/eph/child", "", zk.FlagPersistent, world)
	create(A, "/zkc/eph/child", "", zk.FlagEphemeral, world)
	create(B, "/zkc/beph", "b", zk.FlagEphemeral, world)
	// Another session's writes are only sure to be seen after a sync:
	// a server may serve reads while behind the leader.
	syncRead(A, "/zkc")
	exists(A, "/zkc/beph")
	children(A, "/zkc")
	rawSync()
	code, names, err := rc.children("/zkc")
	sort.Strings(names)
	raw("getChildren /zkc", code, err, fmt.Sprintf(" %v", names))
	code, names, err = rc.children("/zkc/missing")
	raw("getChildren /zkc/missing", code, err, fmt.Sprintf(" %v", names))

	tr.add("# NOTEMPTY, BADVERSION on delete, cversion and pzxid")
	create(A, "/zkc/dir", "", zk.FlagPersistent, world)
	create(A, "/zkc/dir/c", "", zk.FlagPersistent, world)
	del(A, "/zkc/dir", -1)
	del(A, "/zkc/dir/c", 5)
	del(A, "/zkc/dir/c", 0)
	exists(A, "/zkc/dir")
	del(A, "/zkc/dir", 0)

	tr.add("# INVALIDACL and BADARGUMENTS")
	create(A, "/zkc/noacl", "", zk.FlagPersistent, nil)
	code, p, err := rc.create(rawOpCreate, "/zkc/bad/", nil, true, 0, 0)
	raw("create /zkc/bad/ persistent", code, err, " "+p)
	code, p, err = rc.create(rawOpCreate, "/zkc//x", nil, true, 0, 0)
	raw("create /zkc//x persistent", code, err, " "+p)
	code, p, err = rc.create(rawOpCreate, "/zkc/ttlmode", nil, true, 5, 0)
	raw("create(op create) /zkc/ttlmode flags=ttl", code, err, " "+p)
	create(A, "/zkc/sdir", "", zk.FlagPersistent, world)
	code, p, err = rc.create(rawOpCreate, "/zkc/sdir/", nil, true, 0, 0)
	raw("create /zkc/sdir/ persistent", code, err, " "+p)
	code, p, err = rc.create(rawOpCreate, "/zkc/sdir/", nil, true, zk.FlagSequence, 0)
	raw("create /zkc/sdir/ sequential", code, err, " "+p)
	_, err = A.c.CreateTTL("/zkc/ttl0", nil, zk.FlagTTL, world, 0)
	tr.add("A createTTL /zkc/ttl0 ttl=0 -> %s", errName(err))

	tr.add("# ACLs")
	acl, st, err := A.c.GetACL("/zkc/p")
	tr.add("A getACL /zkc/p -> %s %v %s", errName(err), acl, tr.stat(st))
	st, err = A.c.SetACL("/zkc/p", world, 0)
	tr.add("A setACL /zkc/p v=0 -> %s %s", errName(err), tr.stat(st))
	_, err = A.c.SetACL("/zkc/p", world, 0)
	tr.add("A setACL /zkc/p v=0 -> %s", errName(err))
	_, err = A.c.SetACL("/zkc/p", nil, -1)
	tr.add("A setACL /zkc/p acl=[] -> %s", errName(err))
	_, err = A.c.SetACL("/zkc/missing", world, -1)
	tr.add("A setACL /zkc/missing -> %s", errName(err))
	_, _, err = A.c.GetACL("/zkc/missing")
	tr.add("A getACL /zkc/missing -> %s", errName(err))

	tr.add("# multi: check, create, set, delete; all or nothing")
	multi(A, "create m1, set p, check p v=3, delete seq-0000000002",
		&zk.CreateRequest{Path: "/zkc/m1", Data: []byte("m"), Acl: world},
		&zk.SetDataRequest{Path: "/zkc/p", Data: []byte("d4"), Version: -1},
		&zk.CheckVersionRequest{Path: "/zkc/p", Version: 3},
		&zk.DeleteRequest{Path: "/zkc/seq-0000000002", Version: -1})
	multi(A, "create m2, check p v=99, delete m1",
		&zk.CreateRequest{Path: "/zkc/m2", Acl: world},
		&zk.CheckVersionRequest{Path: "/zkc/p", Version: 99},
		&zk.DeleteRequest{Path: "/zkc/m1", Version: -1})
	multi(A, "create m1 (exists), set missing",
		&zk.CreateRequest{Path: "/zkc/m1", Acl: world},
		&zk.SetDataRequest{Path: "/zkc/missing", Version: -1})
	multi(A, "check missing",
		&zk.CheckVersionRequest{Path: "/zkc/missing", Version: -1})
	multi(A, "delete dir with children (/zkc)",
		&zk.DeleteRequest{Path: "/zkc", Version: -1})
	exists(A, "/zkc/m1")
	exists(A, "/zkc/m2")
	get(A, "/zkc/p")
	syncRead(A, "/zkc")
	syncRead(A, "/zkc/missing")

	tr.add("# one-shot watches: own writes (event before the reply) and another session's")
	_, _, ch, err := A.c.GetW("/zkc/p")
	tr.add("A getW /zkc/p -> %s", errName(err))
	A.w.add("data(/zkc/p)", ch)
	set(A, "/zkc/p", "d5", -1)
	_, _, ch, err = A.c.ExistsW("/zkc/w")
	tr.add("A existsW /zkc/w -> %s", errName(err))
	A.w.add("exists(/zkc/w)", ch)
	create(B, "/zkc/w", "", zk.FlagPersistent, world)
	syncRead(A, "/zkc")
	_, _, ch, err = A.c.ChildrenW("/zkc/w")
	tr.add("A childrenW /zkc/w -> %s", errName(err))
	A.w.add("children(/zkc/w)", ch)
	create(B, "/zkc/w/c1", "", zk.FlagPersistent, world)
	syncRead(A, "/zkc")
	_, _, ch, err = A.c.ChildrenW("/zkc/w")
	tr.add("A childrenW /zkc/w -> %s", errName(err))
	A.w.add("children(/zkc/w)", ch)
	_, _, ch, err = A.c.GetW("/zkc/w/c1")
	tr.add("A getW /zkc/w/c1 -> %s", errName(err))
	A.w.add("data(/zkc/w/c1)", ch)
	_, _, ch, err = A.c.ExistsW("/zkc/w")
	tr.add("A existsW /zkc/w -> %s", errName(err))
	A.w.add("exists(/zkc/w)", ch)
	del(B, "/zkc/w/c1", -1)
	syncRead(A, "/zkc")
	set(B, "/zkc/w", "x", -1)
	syncRead(A, "/zkc")
	set(B, "/zkc/w", "y", -1)
	syncRead(A, "/zkc")

	tr.add("# an ephemeral goes with its session")
	_, _, ch, err = A.c.ExistsW("/zkc/beph")
	tr.add("A existsW /zkc/beph -> %s", errName(err))
	A.w.addAwaited("exists(/zkc/beph)", ch)
	B.c.Close()
	tr.add("B close")
	A.w.await("exists(/zkc/beph)", 15*time.Second)
	exists(A, "/zkc/beph")
	children(A, "/zkc")

	tr.add("# persistent and recursive watches (addWatch), removeWatches")
	code, err = rc.addWatch("/zkc/pw", addWatchPersistent)
	raw("addWatch /zkc/pw persistent", code, err, "")
	code, err = rc.addWatch("/zkc/rw", addWatchPersistentRecursive)
	raw("addWatch /zkc/rw persistent-recursive", code, err, "")
	create(A, "/zkc/pw", "", zk.FlagPersistent, world)
	set(A, "/zkc/pw", "1", -1)
	create(A, "/zkc/pw/c", "", zk.FlagPersistent, world)
	set(A, "/zkc/pw/c", "1", -1)
	del(A, "/zkc/pw/c", -1)
	create(A, "/zkc/rw", "", zk.FlagPersistent, world)
	create(A, "/zkc/rw/a", "", zk.FlagPersistent, world)
	create(A, "/zkc/rw/a/b", "", zk.FlagPersistent, world)
	set(A, "/zkc/rw/a/b", "1", -1)
	del(A, "/zkc/rw/a/b", -1)
	set(A, "/zkc/rw", "1", -1)
	rawSync()
	code, _, err = rc.pathWatch(rawOpExists, "/zkc/rmw", true)
	raw("existsW /zkc/rmw", code, err, "")
	code, err = rc.removeWatches("/zkc/rmw", watcherTypeData)
	raw("removeWatches /zkc/rmw data", code, err, "")
	code, err = rc.removeWatches("/zkc/rmw", watcherTypeData)
	raw("removeWatches /zkc/rmw data", code, err, "")
	code, err = rc.removeWatches("/zkc/pw", watcherTypeAny)
	raw("removeWatches /zkc/pw any", code, err, "")
	code, err = rc.removeWatches("/zkc/never", watcherTypeAny)
	raw("removeWatches /zkc/never any", code, err, "")
	create(A, "/zkc/rmw", "", zk.FlagPersistent, world)
	set(A, "/zkc/pw", "2", -1)
	set(A, "/zkc/rw/a", "2", -1)
	rawSync()

	tr.add("# container: deleted once its last child goes")
	p, err = A.c.CreateContainer("/zkc/cont", []byte("c"), zk.FlagContainer, world)
	tr.add("A createContainer /zkc/cont -> %s %s", errName(err), p)
	exists(A, "/zkc/cont")
	create(A, "/zkc/cont/c", "", zk.FlagPersistent, world)
	_, _, ch, err = A.c.ExistsW("/zkc/cont")
	tr.add("A existsW /zkc/cont -> %s", errName(err))
	A.w.addAwaited("exists(/zkc/cont)", ch)
	del(A, "/zkc/cont/c", -1)
	A.w.await("exists(/zkc/cont)", 15*time.Second)
	exists(A, "/zkc/cont")

	tr.add("# TTL nodes: deleted when unchanged and childless for the TTL")
	p, err = A.c.CreateTTL("/zkc/ttl", []byte("t"), zk.FlagTTL, world, 500*time.Millisecond)
	tr.add("A createTTL /zkc/ttl 500ms -> %s %s", errName(err), p)
	exists(A, "/zkc/ttl")
	p, err = A.c.CreateTTL("/zkc/ttlseq-", nil, zk.FlagPersistentSequentialWithTTL, world, 500*time.Millisecond)
	tr.add("A createTTL /zkc/ttlseq- sequential 500ms -> %s %s", errName(err), p)
	ttlSeq := p
	// ZooKeeper 3.8 numbers this node 17, by the count of /zkc's
	// child creates; Warden 22, by /zkc's cversion, which counts the
	// deletes too (docs/zookeeper.md, "What differs": "Sequence
	// numbers"). Clients may rely only on the suffix being ten digits
	// and above the earlier ones, so the transcript shows that.
	if n, ok := strings.CutPrefix(ttlSeq, "/zkc/ttlseq-"); ok {
		if v, err := strconv.Atoi(n); err == nil && len(n) == 10 && v > 5 {
			defer tr.alias(ttlSeq, "/zkc/ttlseq-(ten digits, above earlier sequence numbers)")
		}
	}
	_, _, ch, err = A.c.ExistsW("/zkc/ttl")
	tr.add("A existsW /zkc/ttl -> %s", errName(err))
	A.w.addAwaited("exists(/zkc/ttl)", ch)
	if ttlSeq != "" {
		_, _, ch, err = A.c.ExistsW(ttlSeq)
		tr.add("A existsW %s -> %s", ttlSeq, errName(err))
		A.w.addAwaited("exists(ttlseq)", ch)
	}
	A.w.await("exists(/zkc/ttl)", 15*time.Second)
	A.w.await("exists(ttlseq)", 15*time.Second)
	exists(A, "/zkc/ttl")

	runSessionOps(t, tr, hosts, A, rc)

	tr.add("# the end")
	children(A, "/zkc")
	return tr
}
