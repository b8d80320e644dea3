package fsm

// A model-based test: random command sequences are applied both to the FSM
// and to a small reference model written for clarity rather than speed
// (maps, linear scans, a full copy of the tree per write). After every
// command the results (code, failing op, created paths, Stats) and the node
// counts must agree; every few commands, the whole state: each node's data,
// Stat and children, the sessions, the ephemeral index and the dedup cache.
// Snapshots are taken at random points and restored into a replica, which
// must equal the model at once and then receives the same commands.

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/raft"
)

// ---------------------------------------------------------------------------
// The reference model.

// modelNode is one znode of the model.
type modelNode struct {
	data      []byte
	container bool
	stat      Stat
}

// modelSession is an open session and its dedup cache (seq -> first outcome).
type modelSession struct {
	info    Session
	results map[uint64]outcome
}

// model is the reference: every rule of apply.go and fsm.go restated as
// plainly as possible.
type model struct {
	nodes    map[string]modelNode // by path; the root is "/"
	sessions map[uint64]*modelSession
	zxid     uint64 // index of the last command; every command takes one
}

func newModel() *model {
	return &model{
		nodes:    map[string]modelNode{"/": {}},
		sessions: map[uint64]*modelSession{},
	}
}

// clone is a deep copy (node data is never mutated, so it is shared).
func (m *model) clone() *model {
	c := &model{nodes: cloneTree(m.nodes), sessions: map[uint64]*modelSession{}, zxid: m.zxid}
	for id, s := range m.sessions {
		cs := &modelSession{info: s.info, results: map[uint64]outcome{}}
		for seq, o := range s.results {
			cs.results[seq] = o
		}
		c.sessions[id] = cs
	}
	return c
}

func cloneTree(t map[string]modelNode) map[string]modelNode {
	c := make(map[string]modelNode, len(t))
	for p, n := range t {
		c[p] = n
	}
	return c
}

// outcome is the comparable part of a *Result.
type outcome struct {
	Code    Code
	Failed  int
	Ops     []OpResult
	Session uint64
	Zxid    uint64
}

func (o outcome) equal(p outcome) bool {
	return o.Code == p.Code && o.Failed == p.Failed && o.Session == p.Session &&
		o.Zxid == p.Zxid && slices.Equal(o.Ops, p.Ops)
}

// String prints an outcome with long paths shortened.
func (o outcome) String() string {
	var ops strings.Builder
	for _, r := range o.Ops {
		fmt.Fprintf(&ops, " {path %.60q stat %+v}", r.Path, r.Stat)
	}
	return fmt.Sprintf("{code %d failed %d session %d zxid %d ops [%s ]}", o.Code, o.Failed, o.Session, o.Zxid, ops.String())
}

func outcomeOf(r *Result) outcome {
	if r == nil {
		return outcome{Code: 0xff, Failed: -1} // never what the model says
	}
	o := outcome{Code: CodeOf(r.Error()), Failed: r.Failed, Session: r.Session, Zxid: r.Zxid}
	if len(r.Ops) > 0 {
		o.Ops = r.Ops
	}
	return o
}

// modelValidPath: absolute, no empty / "." / ".." segment, valid UTF-8, no
// forbidden character, at most MaxPathLength bytes. The root is valid. A
// sequential path may end in "/" (the suffix becomes the last segment), so
// "/" and "/a/" are valid sequential prefixes, and must leave room for its
// 10-digit suffix.
func modelValidPath(p string, sequential bool) bool {
	if p == "" || p[0] != '/' || len(p) > MaxPathLength || !utf8.ValidString(p) {
		return false
	}
	if sequential && len(p)+10 > MaxPathLength {
		return false
	}
	if p == "/" {
		return true
	}
	segs := strings.Split(p[1:], "/")
	if sequential && segs[len(segs)-1] == "" {
		segs = segs[:len(segs)-1]
	}
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return false
		}
	}
	for _, r := range p {
		// ZooKeeper's forbidden ranges, bounds included.
		if r <= 0x1f || (r >= 0x7f && r <= 0x9f) ||
			(r >= 0xd800 && r <= 0xf8ff) || (r >= 0xfff0 && r <= 0xffff) {
			return false
		}
	}
	return true
}

// modelParent is the parent of a path, of a sequential prefix ("/a/s-" and
// "/a/" both have parent "/a") and of the root's sequential prefix "/".
func modelParent(p string) string {
	i := strings.LastIndex(p, "/")
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// children maps every path to the names of its children in byte order.
func (m *model) children() map[string][]string {
	out := make(map[string][]string, len(m.nodes))
	for q := range m.nodes {
		if q != "/" {
			p := modelParent(q)
			out[p] = append(out[p], q[strings.LastIndex(q, "/")+1:])
		}
	}
	for _, names := range out {
		sort.Strings(names)
	}
	return out
}

// apply runs one encoded-to-be command against the model.
func (m *model) apply(ct CommandType, body any) outcome {
	m.zxid++
	switch ct {
	case CmdOpenSession:
		return m.open(body.(*OpenSession))
	case CmdCloseSession:
		return m.close(body.(*CloseSession))
	case CmdWrite:
		return m.write(body.(*Write))
	}
	panic("model: unknown command")
}

// open: a positive timeout is required; the id is the zxid, Created the
// command's time, and the ack floor starts at 0.
func (m *model) open(o *OpenSession) outcome {
	if o.Session.TimeoutMs <= 0 {
		return outcome{Code: CodeBadArguments, Zxid: m.zxid}
	}
	s := o.Session
	s.ID, s.Created, s.AckFloor = m.zxid, o.Time, 0
	m.sessions[m.zxid] = &modelSession{info: s, results: map[uint64]outcome{}}
	return outcome{Session: m.zxid, Zxid: m.zxid}
}

// close: an unknown session is "expired"; otherwise every ephemeral it owns
// is removed (as by delete, cascading containers), then the session and its
// cached results go. The reason makes no difference to the tree.
func (m *model) close(c *CloseSession) outcome {
	if m.sessions[c.Session] == nil {
		return outcome{Code: CodeSessionExpired, Zxid: m.zxid}
	}
	for _, p := range m.ephemeralsOf(c.Session) {
		if _, ok := m.nodes[p]; ok {
			m.remove(m.nodes, p)
		}
	}
	delete(m.sessions, c.Session)
	return outcome{Session: c.Session, Zxid: m.zxid}
}

// write: a write naming an unknown session fails whole. With a session and
// a seq: below the ack floor is stale; a seq seen before returns its first
// outcome without applying anything. The ops apply all-or-nothing; with a
// session and a seq the outcome is cached, and MinUnacked raises the floor,
// dropping cached outcomes below it.
func (m *model) write(w *Write) outcome {
	var s *modelSession
	if w.Session != 0 {
		if s = m.sessions[w.Session]; s == nil {
			return outcome{Code: CodeSessionExpired, Zxid: m.zxid}
		}
		if w.Seq != 0 {
			if w.Seq < s.info.AckFloor {
				return outcome{Code: CodeStaleRequest, Zxid: m.zxid}
			}
			if o, ok := s.results[w.Seq]; ok {
				return o
			}
		}
	}
	o := m.applyOps(w)
	if s != nil && w.Seq != 0 {
		s.results[w.Seq] = o
		if w.MinUnacked > s.info.AckFloor {
			s.info.AckFloor = w.MinUnacked
			for seq := range s.results {
				if seq < s.info.AckFloor {
					delete(s.results, seq)
				}
			}
		}
	}
	return o
}

// applyOps applies the ops to a copy of the tree and keeps the copy only if
// every op succeeded; otherwise it reports the first failing op's index.
func (m *model) applyOps(w *Write) outcome {
	if len(w.Ops) == 0 {
		return outcome{Code: CodeBadArguments, Zxid: m.zxid}
	}
	work := cloneTree(m.nodes)
	var res []OpResult
	for i := range w.Ops {
		r, code := m.applyOp(work, w.Session, w.Time, &w.Ops[i])
		if code != CodeOK {
			return outcome{Code: code, Failed: i, Zxid: m.zxid}
		}
		res = append(res, r)
	}
	m.nodes = work
	return outcome{Ops: res, Zxid: m.zxid}
}

// modelGuarded: a guarded set or delete may not touch an ephemeral node
// of another session.
func modelGuarded(t map[string]modelNode, sid uint64, op *Op) bool {
	n, ok := t[op.Path]
	return op.Guarded && ok && n.stat.EphemeralOwner != 0 && n.stat.EphemeralOwner != sid
}

func (m *model) applyOp(t map[string]modelNode, sid uint64, now int64, op *Op) (OpResult, Code) {
	z := m.zxid
	switch op.Kind {
	case OpCreate:
		// Checks in this order: path, root, size, flags, session, parent,
		// existence. A sequential name is the prefix plus the parent's
		// cversion as ten digits.
		switch {
		case !modelValidPath(op.Path, op.Sequential):
			return OpResult{}, CodeBadArguments
		case op.Path == "/" && !op.Sequential:
			return OpResult{}, CodeNodeExists
		case len(op.Data) > MaxDataSize:
			return OpResult{}, CodeTooLarge
		case op.Ephemeral && op.Container:
			return OpResult{}, CodeBadArguments
		case op.Ephemeral && m.sessions[sid] == nil:
			return OpResult{}, CodeSessionExpired
		}
		parentPath := modelParent(op.Path)
		parent, ok := t[parentPath]
		if !ok {
			return OpResult{}, CodeNoNode
		}
		if parent.stat.EphemeralOwner != 0 {
			return OpResult{}, CodeNoChildrenForEphemerals
		}
		path := op.Path
		if op.Sequential {
			path += fmt.Sprintf("%010d", parent.stat.Cversion)
		}
		if _, ok := t[path]; ok {
			return OpResult{}, CodeNodeExists
		}
		n := modelNode{data: op.Data, container: op.Container, stat: Stat{
			Czxid: z, Mzxid: z, Pzxid: z, Ctime: now, Mtime: now,
			DataLength: int32(len(op.Data)),
		}}
		if op.Ephemeral {
			n.stat.EphemeralOwner = sid
		}
		t[path] = n
		parent.stat.Cversion++
		parent.stat.NumChildren++
		parent.stat.Pzxid = z
		t[parentPath] = parent
		return OpResult{Path: path, Stat: n.stat}, CodeOK

	case OpDelete:
		// The root is never deleted; version -1 matches any; a node with
		// children is not deleted.
		if modelGuarded(t, sid, op) {
			return OpResult{}, CodePermissionDenied
		}
		if !modelValidPath(op.Path, false) || op.Path == "/" {
			return OpResult{}, CodeBadArguments
		}
		n, ok := t[op.Path]
		switch {
		case !ok:
			return OpResult{}, CodeNoNode
		case op.Version != AnyVersion && op.Version != n.stat.Version:
			return OpResult{}, CodeBadVersion
		case n.stat.NumChildren > 0:
			return OpResult{}, CodeNotEmpty
		}
		m.remove(t, op.Path)
		return OpResult{}, CodeOK

	case OpSet:
		if modelGuarded(t, sid, op) {
			return OpResult{}, CodePermissionDenied
		}
		if !modelValidPath(op.Path, false) {
			return OpResult{}, CodeBadArguments
		}
		if len(op.Data) > MaxDataSize {
			return OpResult{}, CodeTooLarge
		}
		n, ok := t[op.Path]
		switch {
		case !ok:
			return OpResult{}, CodeNoNode
		case op.Version != AnyVersion && op.Version != n.stat.Version:
			return OpResult{}, CodeBadVersion
		}
		n.data = op.Data
		n.stat.Version++
		n.stat.Mzxid, n.stat.Mtime = z, now
		n.stat.DataLength = int32(len(op.Data))
		t[op.Path] = n
		return OpResult{Stat: n.stat}, CodeOK

	case OpCheck:
		if !modelValidPath(op.Path, false) {
			return OpResult{}, CodeBadArguments
		}
		n, ok := t[op.Path]
		switch {
		case !ok:
			return OpResult{}, CodeNoNode
		case op.Version != AnyVersion && op.Version != n.stat.Version:
			return OpResult{}, CodeBadVersion
		}
		return OpResult{Stat: n.stat}, CodeOK

	case OpSetACL:
		if !modelValidPath(op.Path, false) {
			return OpResult{}, CodeBadArguments
		}
		n, ok := t[op.Path]
		switch {
		case !ok:
			return OpResult{}, CodeNoNode
		case op.Version != AnyVersion && op.Version != n.stat.Aversion:
			return OpResult{}, CodeBadVersion
		}
		n.stat.Aversion++
		t[op.Path] = n
		return OpResult{Stat: n.stat}, CodeOK
	}
	return OpResult{}, CodeBadArguments
}

// remove deletes a childless node, counts the removal on its parent, and
// removes the parent too when it is a container left with no children.
func (m *model) remove(t map[string]modelNode, p string) {
	delete(t, p)
	pp := modelParent(p)
	parent := t[pp]
	parent.stat.Cversion++
	parent.stat.NumChildren--
	parent.stat.Pzxid = m.zxid
	t[pp] = parent
	if pp != "/" && parent.container && parent.stat.NumChildren == 0 {
		m.remove(t, pp)
	}
}

// ephemeralsOf lists the paths a session owns, sorted.
func (m *model) ephemeralsOf(sid uint64) []string {
	return m.ephemerals()[sid]
}

// ephemerals maps every owning session to the paths it owns, sorted.
func (m *model) ephemerals() map[uint64][]string {
	out := map[uint64][]string{}
	for p, n := range m.nodes {
		if owner := n.stat.EphemeralOwner; owner != 0 {
			out[owner] = append(out[owner], p)
		}
	}
	for _, paths := range out {
		sort.Strings(paths)
	}
	return out
}

func (m *model) paths() []string {
	out := make([]string, 0, len(m.nodes))
	for p := range m.nodes {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func (m *model) sessionIDs() []uint64 {
	out := make([]uint64, 0, len(m.sessions))
	for id := range m.sessions {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// ---------------------------------------------------------------------------
// Comparing an FSM with the model.

// diffFSM returns the first difference between f and m, or "".
func diffFSM(f *FSM, m *model) string {
	if f.Index() != m.zxid {
		return fmt.Sprintf("index %d, model %d", f.Index(), m.zxid)
	}
	if f.NodeCount() != len(m.nodes) {
		return fmt.Sprintf("%d nodes, model %d: fsm has %q", f.NodeCount(), len(m.nodes), fsmPaths(f))
	}
	children := m.children()
	for _, p := range m.paths() {
		want := m.nodes[p]
		data, st, _, err := f.Get(p, false)
		if err != nil {
			return fmt.Sprintf("get %q: %v", p, err)
		}
		if !bytes.Equal(data, want.data) {
			return fmt.Sprintf("data of %q: %.40q, model %.40q", p, data, want.data)
		}
		if st != want.stat {
			return fmt.Sprintf("stat of %q:\n fsm   %+v\n model %+v", p, st, want.stat)
		}
		kids, _, _, err := f.Children(p, false)
		wantKids := children[p]
		if err != nil || !slices.Equal(kids, wantKids) {
			return fmt.Sprintf("children of %q: %q (%v), model %q", p, kids, err, wantKids)
		}
		if int(want.stat.NumChildren) != len(wantKids) {
			return fmt.Sprintf("model broken: %q numChildren %d, children %q", p, want.stat.NumChildren, wantKids)
		}
		if n, _ := f.current().node(p); n.Container != want.container {
			return fmt.Sprintf("container flag of %q: %v, model %v", p, n.Container, want.container)
		}
	}

	var wantSessions []Session
	for _, id := range m.sessionIDs() {
		wantSessions = append(wantSessions, m.sessions[id].info)
	}
	if got := f.Sessions(); !(len(got) == 0 && len(wantSessions) == 0) && !reflect.DeepEqual(got, wantSessions) {
		return fmt.Sprintf("sessions:\n fsm   %+v\n model %+v", got, wantSessions)
	}

	// Internal indexes: the ephemeral index and the dedup cache.
	st := f.current()
	nEph, eph := 0, m.ephemerals()
	for _, id := range m.sessionIDs() {
		got, want := st.ephemeralsOf(id), eph[id]
		nEph += len(want)
		if !slices.Equal(got, want) {
			return fmt.Sprintf("ephemerals of session %d: %q, model %q", id, got, want)
		}
	}
	if st.ephemerals.Len() != nEph {
		return fmt.Sprintf("ephemeral index holds %d entries, model %d", st.ephemerals.Len(), nEph)
	}
	nRes, diff := 0, ""
	st.results.Ascend(func(it resultItem) bool {
		nRes++
		s := m.sessions[it.sid]
		if s == nil {
			diff = fmt.Sprintf("cached result for closed session %d seq %d", it.sid, it.seq)
			return false
		}
		want, ok := s.results[it.seq]
		if got := outcomeOf(it.res); !ok || !got.equal(want) {
			diff = fmt.Sprintf("cached result %d/%d: %+v, model %+v (present %v)", it.sid, it.seq, got, want, ok)
			return false
		}
		return true
	})
	if diff != "" {
		return diff
	}
	wantRes := 0
	for _, s := range m.sessions {
		wantRes += len(s.results)
	}
	if nRes != wantRes {
		return fmt.Sprintf("dedup cache holds %d results, model %d", nRes, wantRes)
	}
	return ""
}

// fsmPaths lists every path in f by walking Children from the root.
func fsmPaths(f *FSM) []string {
	var out []string
	var walk func(p string)
	walk = func(p string) {
		out = append(out, p)
		kids, _, _, _ := f.Children(p, false)
		for _, k := range kids {
			if p == "/" {
				walk("/" + k)
			} else {
				walk(p + "/" + k)
			}
		}
	}
	walk("/")
	return out
}

// snapshotBytes encodes f's current version.
func snapshotBytes(t testing.TB, f *FSM) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f.current().writeTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// memSink is a raft.SnapshotSink that keeps the snapshot in memory.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

// persist takes a snapshot of f through the raft.FSM interface.
func persist(t testing.TB, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	var sink memSink
	if err := snap.Persist(&sink); err != nil || !sink.closed || sink.cancelled {
		t.Fatalf("persist: %v (closed %v, cancelled %v)", err, sink.closed, sink.cancelled)
	}
	return sink.Bytes()
}

// ---------------------------------------------------------------------------
// The random driver.

// Paths the generator draws from: few, so that creates collide, parents are
// missing, deletes find children and versions go stale.
var (
	modelUniverse = []string{
		"/", "/a", "/b", "/c",
		"/a/x", "/a/y", "/a/z", "/b/x", "/b/y", "/c/x",
		"/a/x/1", "/a/x/2", "/b/x/1", "/c/x/1",
		"/a/s-0000000002",                   // collides with a sequential create under /a
		"/a b", "/a\u00a0", "/é", "/\uf900", // unusual but valid
	}
	modelSeqPrefixes  = []string{"/a/s-", "/a/", "/", "/b/x/q-", "/c/x/", "/a/x/1/"}
	modelLongPrefixes = []string{
		"/" + strings.Repeat("q", MaxPathLength-11), // the longest valid prefix
		"/" + strings.Repeat("q", MaxPathLength-10), // one byte too long
	}
	modelInvalid = []string{
		"", "a", "/a/", "//", "/a//x", "/.", "/a/..", "/a/./x",
		"/a\x00", "/a\x01b", "/a\x1f", "/a\x7f", "/a\u009f", "/\xff", "/a\u0085", "/\ue000", "/\uf8ff", "/\ufff5",
		strings.Repeat("/a", 2500),
	}
	modelTooLarge = make([]byte, MaxDataSize+1)
)

// harness drives one FSM (and the replicas restored from its snapshots)
// alongside the model.
type harness struct {
	t    testing.TB
	rng  *rand.Rand
	m    *model
	fsms []*applier // fsms[0] is the primary, fsms[1] a replica restored from its snapshot

	replicaUntil uint64 // the zxid at which the replica is dropped

	nextSeq map[uint64]uint64  // per session: the last request seq sent
	sent    map[[2]uint64][]Op // ops sent as (session, seq), for retries
	closed  []uint64           // ids of sessions that were closed
	trace   []string           // the last commands, for failure messages
	stats   map[string]int     // what happened, to check coverage
	codes   map[Code]int       // result codes seen
	paths   []string           // h.m.paths() at zxid pathsAt
	pathsAt uint64
}

func newHarness(t testing.TB, seed int64) *harness {
	return &harness{
		t:       t,
		rng:     rand.New(rand.NewSource(seed)),
		m:       newModel(),
		fsms:    []*applier{newApplier(t)},
		nextSeq: map[uint64]uint64{},
		sent:    map[[2]uint64][]Op{},
		stats:   map[string]int{},
		codes:   map[Code]int{},
	}
}

// do applies one command to the model and to every FSM and compares.
func (h *harness) do(ct CommandType, body any) outcome {
	h.t.Helper()
	h.trace = append(h.trace, describe(ct, body))
	if len(h.trace) > 25 {
		h.trace = h.trace[1:]
	}
	want := h.m.apply(ct, body)
	entry, err := Encode(ct, body)
	if err != nil {
		h.t.Fatal(err)
	}
	for i, a := range h.fsms {
		a.index++
		r, _ := a.f.Apply(&raft.Log{Index: a.index, Type: raft.LogCommand, Data: entry}).(*Result)
		got := outcomeOf(r)
		if !got.equal(want) || a.f.NodeCount() != len(h.m.nodes) {
			h.t.Fatalf("fsm %d, command at zxid %d: result\n fsm   %+v\n model %+v\n%d nodes, model %d\nrecent commands:\n%s",
				i, h.m.zxid, got, want, a.f.NodeCount(), len(h.m.nodes), strings.Join(h.trace, "\n"))
		}
	}
	h.codes[want.Code]++
	return want
}

// verify compares every FSM's whole state with the model.
func (h *harness) verify() {
	h.t.Helper()
	for i, a := range h.fsms {
		if d := diffFSM(a.f, h.m); d != "" {
			h.t.Fatalf("fsm %d after zxid %d: %s\nrecent commands:\n%s", i, h.m.zxid, d, strings.Join(h.trace, "\n"))
		}
	}
}

// step generates and applies one random command, or sometimes takes a
// snapshot and restores it into a replica.
func (h *harness) step() {
	h.t.Helper()
	if h.m.zxid >= h.replicaUntil {
		h.dropReplica()
	}
	r := h.rng.Intn(1000)
	switch {
	case r < 5:
		h.snapshotRestore()
	case r < 80 || (len(h.m.sessions) == 0 && r < 200):
		h.do(CmdOpenSession, h.genOpen())
	case r < 130:
		h.do(CmdCloseSession, h.genClose())
	default:
		w := h.genWrite()
		o := h.do(CmdWrite, w)
		if len(w.Ops) > 1 {
			switch {
			case o.Code == CodeOK:
				h.stats["multi ok"]++
			case o.Failed > 0:
				h.stats["multi failed after op 0"]++
			}
		}
	}
}

func (h *harness) genOpen() *OpenSession {
	o := &OpenSession{Time: int64(h.m.zxid) * 10, Session: Session{
		TimeoutMs: int64(1000 + h.rng.Intn(5000)),
		Owner:     fmt.Sprintf("agent-%d", h.rng.Intn(3)),
		Resumable: h.rng.Intn(2) == 0,
		Heartbeat: h.rng.Intn(2) == 0,
		Pid:       int32(h.rng.Intn(1000)),
		Client:    "go",
		AckFloor:  uint64(h.rng.Intn(3)), // ignored: a new session starts at 0
		ID:        uint64(h.rng.Intn(3)), // ignored: the id is the zxid
	}}
	if h.rng.Intn(2) == 0 {
		o.Session.Secret = []byte(fmt.Sprintf("secret-%d", h.rng.Intn(100)))
	}
	if h.rng.Intn(30) == 0 {
		o.Session.TimeoutMs = int64(-h.rng.Intn(2)) // refused
	}
	return o
}

func (h *harness) genClose() *CloseSession {
	c := &CloseSession{Time: int64(h.m.zxid) * 10, Reason: CloseClean, Session: h.pickSession()}
	if h.rng.Intn(2) == 0 {
		c.Reason = CloseExpired
	}
	if h.m.sessions[c.Session] != nil {
		h.closed = append(h.closed, c.Session)
		if len(h.m.ephemeralsOf(c.Session)) > 0 {
			h.stats["close with ephemerals"]++
		}
	}
	return c
}

// pickSession returns mostly an open session, sometimes 0 (no session) or
// one that is closed or never existed.
func (h *harness) pickSession() uint64 {
	ids := h.m.sessionIDs()
	switch r := h.rng.Intn(100); {
	case r < 75 && len(ids) > 0:
		return ids[h.rng.Intn(len(ids))]
	case r < 88:
		return 0
	case r < 96 && len(h.closed) > 0:
		return h.closed[h.rng.Intn(len(h.closed))]
	default:
		return 1 << 40
	}
}

func (h *harness) genWrite() *Write {
	w := &Write{Session: h.pickSession(), Time: int64(h.m.zxid)*10 + int64(h.rng.Intn(10))}
	n := 1
	switch r := h.rng.Intn(100); {
	case r < 1:
		n = 0 // refused: a write needs an op
	case r < 30:
		n = 2 + h.rng.Intn(3)
	}
	for i := 0; i < n; i++ {
		w.Ops = append(w.Ops, h.genOp())
	}
	if w.Session == 0 || h.rng.Intn(100) < 35 {
		return w // no deduplication
	}
	sid := w.Session
	if r := h.rng.Intn(100); r < 80 || h.nextSeq[sid] == 0 {
		h.nextSeq[sid]++
		w.Seq = h.nextSeq[sid]
		h.sent[[2]uint64{sid, w.Seq}] = w.Ops
	} else {
		// A retry of an earlier request: the same ops again.
		w.Seq = 1 + uint64(h.rng.Int63n(int64(h.nextSeq[sid])))
		w.Ops = h.sent[[2]uint64{sid, w.Seq}]
		h.stats["retry"]++
	}
	if h.rng.Intn(3) == 0 {
		w.MinUnacked = uint64(h.rng.Int63n(int64(h.nextSeq[sid]) + 2))
	}
	return w
}

func (h *harness) genOp() Op {
	switch r := h.rng.Intn(100); {
	case r < 40:
		op := Op{Kind: OpCreate, Data: h.genData()}
		switch mode := h.rng.Intn(40); {
		case mode < 12: // persistent
		case mode < 20:
			op.Ephemeral = true
		case mode < 25:
			op.Sequential = true
		case mode < 29:
			op.Ephemeral, op.Sequential = true, true
		case mode < 38:
			op.Container = true
		case mode < 39:
			op.Container, op.Sequential = true, true
		default:
			op.Container, op.Ephemeral = true, true // refused
		}
		switch r := h.rng.Intn(100); {
		case op.Sequential && r < 2:
			op.Path = modelLongPrefixes[h.rng.Intn(len(modelLongPrefixes))]
		case op.Sequential && r < 70:
			op.Path = modelSeqPrefixes[h.rng.Intn(len(modelSeqPrefixes))]
		default:
			op.Path = h.pickPath()
		}
		return op
	case r < 60:
		p := h.pickPath()
		return Op{Kind: OpDelete, Path: p, Version: h.pickVersion(p), Guarded: h.rng.Intn(2) == 0}
	case r < 80:
		p := h.pickPath()
		return Op{Kind: OpSet, Path: p, Data: h.genData(), Version: h.pickVersion(p), Guarded: h.rng.Intn(2) == 0}
	case r < 96:
		p := h.pickPath()
		return Op{Kind: OpCheck, Path: p, Version: h.pickVersion(p)}
	case r < 99:
		p := h.pickPath()
		return Op{Kind: OpSetACL, Path: p, Version: int32(h.rng.Intn(3)) - 1}
	default:
		return Op{Kind: OpKind(6 + h.rng.Intn(3)), Path: h.pickPath()} // unknown kind
	}
}

// pickPath returns an existing node (sequential names included), a path of
// the universe, or now and then an invalid path.
func (h *harness) pickPath() string {
	switch r := h.rng.Intn(100); {
	case r < 35:
		if h.pathsAt != h.m.zxid || h.paths == nil {
			h.paths, h.pathsAt = h.m.paths(), h.m.zxid
		}
		return h.paths[h.rng.Intn(len(h.paths))]
	case r < 96:
		return modelUniverse[h.rng.Intn(len(modelUniverse))]
	default:
		return modelInvalid[h.rng.Intn(len(modelInvalid))]
	}
}

func (h *harness) pickVersion(p string) int32 {
	switch r := h.rng.Intn(10); {
	case r < 4:
		return AnyVersion
	case r < 8:
		return h.m.nodes[p].stat.Version // the current one (0 if missing)
	default:
		return int32(h.rng.Intn(4))
	}
}

func (h *harness) genData() []byte {
	// Values of MaxDataSize bytes are costly under -race: TestModelRules
	// covers the limit itself, so here they are rare.
	switch r := h.rng.Intn(4000); {
	case r < 1200:
		return nil
	case r < 3999:
		return []byte(fmt.Sprintf("v%d", h.rng.Intn(1000)))
	default:
		return modelTooLarge
	}
}

// snapshotRestore persists the primary and restores it into a replica,
// which must equal the model at once and from then on receives every
// command too. Half the time the replica is not empty, so Restore must
// replace its state rather than merge into it.
func (h *harness) snapshotRestore() {
	h.t.Helper()
	h.stats["snapshot"]++
	data := persist(h.t, h.fsms[0].f)
	replica := newApplier(h.t)
	if h.rng.Intn(2) == 0 {
		sid := replica.open()
		replica.write(sid, Op{Kind: OpCreate, Path: "/junk"}, Op{Kind: OpCreate, Path: "/a", Ephemeral: true})
		replica.write(0, Op{Kind: OpCreate, Path: "/", Sequential: true})
	}
	if err := replica.f.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		h.t.Fatal(err)
	}
	replica.index = h.fsms[0].index
	if d := diffFSM(replica.f, h.m); d != "" {
		h.t.Fatalf("restored at zxid %d: %s", h.m.zxid, d)
	}
	if got := snapshotBytes(h.t, replica.f); !bytes.Equal(got, data) {
		h.t.Fatalf("restored state encodes differently at zxid %d", h.m.zxid)
	}
	// The replica now receives every command with the primary, for a while.
	h.dropReplica()
	h.fsms = append(h.fsms, replica)
	h.replicaUntil = h.m.zxid + replicaCommands
}

// replicaCommands is how many commands a restored replica receives before
// it is compared byte for byte with the primary and dropped.
const replicaCommands = 300

// dropReplica checks that the replica, if any, ends exactly where the
// primary is, and stops feeding it.
func (h *harness) dropReplica() {
	h.t.Helper()
	if len(h.fsms) < 2 {
		return
	}
	if !bytes.Equal(snapshotBytes(h.t, h.fsms[1].f), snapshotBytes(h.t, h.fsms[0].f)) {
		h.t.Fatalf("replica diverged from the primary by zxid %d", h.m.zxid)
	}
	h.fsms = h.fsms[:1]
}

func describe(ct CommandType, body any) string {
	switch b := body.(type) {
	case *OpenSession:
		return fmt.Sprintf("open timeout=%d", b.Session.TimeoutMs)
	case *CloseSession:
		return fmt.Sprintf("close sid=%d reason=%d", b.Session, b.Reason)
	case *Write:
		var sb strings.Builder
		fmt.Fprintf(&sb, "write sid=%d seq=%d min=%d t=%d", b.Session, b.Seq, b.MinUnacked, b.Time)
		for _, op := range b.Ops {
			fmt.Fprintf(&sb, " [%s %.40q v=%d len=%d", op.Kind, op.Path, op.Version, len(op.Data))
			if op.Ephemeral {
				sb.WriteString(" eph")
			}
			if op.Sequential {
				sb.WriteString(" seq")
			}
			if op.Container {
				sb.WriteString(" cont")
			}
			sb.WriteString("]")
		}
		return sb.String()
	}
	return fmt.Sprintf("command %d", ct)
}

// ---------------------------------------------------------------------------
// Tests.

func TestModel(t *testing.T) {
	// Results and node counts are compared after every command, the whole
	// state every verifyEvery commands and after every restore.
	seeds, steps, verifyEvery := 20, 1500, 25
	if testing.Short() {
		seeds = 4
	}
	var mu sync.Mutex
	codes := map[Code]int{}
	stats := map[string]int{}
	t.Run("seeds", func(t *testing.T) {
		for seed := int64(1); seed <= int64(seeds); seed++ {
			t.Run(fmt.Sprint(seed), func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, seed)
				for i := 1; i <= steps; i++ {
					h.step()
					if i%verifyEvery == 0 {
						h.verify()
					}
				}
				h.verify()
				h.dropReplica()
				mu.Lock()
				defer mu.Unlock()
				for c, n := range h.codes {
					codes[c] += n
				}
				for k, n := range h.stats {
					stats[k] += n
				}
				stats["max nodes"] = max(stats["max nodes"], len(h.m.nodes))
			})
		}
	})
	if t.Failed() || testing.Short() {
		return
	}
	t.Logf("codes: %v", codes)
	t.Logf("stats: %v", stats)
	// The generator must keep reaching every rule, or this test proves little.
	for c := CodeOK; c <= CodePermissionDenied; c++ {
		if codes[c] == 0 {
			t.Errorf("no command ended with code %d", c)
		}
	}
	for _, k := range []string{"multi ok", "multi failed after op 0", "retry", "snapshot", "close with ephemerals"} {
		if stats[k] == 0 {
			t.Errorf("never happened: %s", k)
		}
	}
}

// TestModelRules pins a few rules the random test relies on the model for,
// so a wrong model cannot silently agree with a wrong FSM.
func TestModelRules(t *testing.T) {
	h := newHarness(t, 0)
	sid := h.do(CmdOpenSession, &OpenSession{Session: Session{TimeoutMs: 1}}).Session
	w := func(ops ...Op) outcome { return h.do(CmdWrite, &Write{Session: sid, Ops: ops}) }

	w(Op{Kind: OpCreate, Path: "/p", Container: true})
	w(Op{Kind: OpCreate, Path: "/p/q", Container: true})
	o := w(Op{Kind: OpCreate, Path: "/p/q/s-", Sequential: true, Ephemeral: true})
	if o.Ops[0].Path != "/p/q/s-0000000000" {
		t.Fatalf("sequential name %q", o.Ops[0].Path)
	}
	if o := w(Op{Kind: OpCreate, Path: o.Ops[0].Path + "/c"}); o.Code != CodeNoChildrenForEphemerals {
		t.Fatalf("child of an ephemeral: %+v", o)
	}
	if o := w(Op{Kind: OpCheck, Path: "/p", Version: 0}, Op{Kind: OpDelete, Path: "/p", Version: 5}); o.Code != CodeBadVersion || o.Failed != 1 {
		t.Fatalf("multi failing at its second op: %+v", o)
	}
	// Closing the session removes the ephemeral, which empties /p/q, whose
	// removal empties /p: both containers go.
	h.do(CmdCloseSession, &CloseSession{Session: sid, Reason: CloseExpired})
	h.verify()
	if len(h.m.nodes) != 1 {
		t.Fatalf("containers survived: %v", h.m.paths())
	}
	if st := h.m.nodes["/"].stat; st.Cversion != 2 || st.NumChildren != 0 {
		t.Fatalf("root stat %+v", st)
	}
	if o := h.do(CmdWrite, &Write{Session: sid, Ops: []Op{{Kind: OpCheck, Path: "/"}}}); o.Code != CodeSessionExpired {
		t.Fatalf("write from a closed session: %+v", o)
	}

	// The data limit is inclusive, for create and set alike.
	maxData := bytes.Repeat([]byte{'m'}, MaxDataSize)
	tooLarge := append(maxData, 'm')
	if o := h.do(CmdWrite, &Write{Ops: []Op{{Kind: OpCreate, Path: "/big", Data: maxData}}}); o.Code != CodeOK {
		t.Fatalf("create with MaxDataSize bytes: %+v", o)
	}
	if o := h.do(CmdWrite, &Write{Ops: []Op{{Kind: OpCreate, Path: "/big2", Data: tooLarge}}}); o.Code != CodeTooLarge {
		t.Fatalf("create with MaxDataSize+1 bytes: %+v", o)
	}
	if o := h.do(CmdWrite, &Write{Ops: []Op{{Kind: OpSet, Path: "/big", Data: tooLarge, Version: AnyVersion}}}); o.Code != CodeTooLarge {
		t.Fatalf("set with MaxDataSize+1 bytes: %+v", o)
	}
	if o := h.do(CmdWrite, &Write{Ops: []Op{{Kind: OpSet, Path: "/big", Data: maxData[1:], Version: 0}}}); o.Code != CodeOK {
		t.Fatalf("set: %+v", o)
	}
	h.snapshotRestore()
	h.verify()

	// A sequential prefix leaves room for its suffix, so every node created
	// can be read and deleted by its path.
	long := "/" + strings.Repeat("q", MaxPathLength-11)
	o = h.do(CmdWrite, &Write{Ops: []Op{{Kind: OpCreate, Path: long, Sequential: true}}})
	if o.Code != CodeOK || len(o.Ops[0].Path) != MaxPathLength {
		t.Fatalf("sequential create with the longest prefix: %+v", o)
	}
	if o := h.do(CmdWrite, &Write{Ops: []Op{{Kind: OpDelete, Path: o.Ops[0].Path, Version: AnyVersion}}}); o.Code != CodeOK {
		t.Fatalf("delete of a sequential node with the longest path: %+v", o)
	}
	if o := h.do(CmdWrite, &Write{Ops: []Op{{Kind: OpCreate, Path: long + "q", Sequential: true}}}); o.Code != CodeBadArguments {
		t.Fatalf("sequential create with a prefix one byte too long: %+v", o)
	}
	h.verify()
}

// TestSnapshotPersistWhileApplying checks that a snapshot writes the
// version it was taken at while applies continue: Persist is stopped
// half-way through its walk, entries that delete, change and add nodes are
// applied, then Persist resumes. Readers run throughout, under -race.
func TestSnapshotPersistWhileApplying(t *testing.T) {
	h := newHarness(t, 99)
	f := h.fsms[0].f
	const bigNodes = 400
	data := bytes.Repeat([]byte{'d'}, 400)
	h.do(CmdWrite, &Write{Ops: []Op{{Kind: OpCreate, Path: "/big"}}})
	for i := 0; i < bigNodes; i++ { // 160 KB: Persist writes before its walk ends
		h.do(CmdWrite, &Write{Ops: []Op{{Kind: OpCreate, Path: fmt.Sprintf("/big/n%04d", i), Data: data}}})
	}
	for i := 0; i < 300; i++ {
		h.step()
	}
	h.verify()

	stop := make(chan struct{})
	var readers sync.WaitGroup
	for r := 0; r < 2; r++ {
		readers.Add(1)
		go func(r int) {
			defer readers.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := fmt.Sprintf("/big/n%04d", (i*7+r)%(bigNodes+bigNodes/4))
				_, _, _, _ = f.Get(p, false)
				_, _, _, _ = f.Children("/big", false)
				_ = f.Sessions()
				runtime.Gosched()
			}
		}(r)
	}
	defer func() { close(stop); readers.Wait() }()

	first, err := f.Snapshot() // persisted only at the end, after every round
	if err != nil {
		t.Fatal(err)
	}
	firstModel, firstBytes := h.m.clone(), snapshotBytes(t, f)

	for round := 0; round < 3; round++ {
		snap, err := f.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		want, wantBytes := h.m.clone(), snapshotBytes(t, f)
		if len(wantBytes) < 2*64<<10 {
			t.Fatalf("snapshot of %d bytes: too small for Persist to write before its walk ends", len(wantBytes))
		}
		sink := &gateSink{started: make(chan struct{}), release: make(chan struct{})}
		done := make(chan error, 1)
		go func() { done <- snap.Persist(sink) }()
		<-sink.started // Persist is now stopped in the middle of its walk

		for i := 0; i < 300; i++ {
			p := fmt.Sprintf("/big/n%04d", h.rng.Intn(bigNodes+bigNodes/4))
			switch i % 3 {
			case 0:
				h.do(CmdWrite, &Write{Ops: []Op{{Kind: OpDelete, Path: p, Version: AnyVersion}}})
			case 1:
				h.do(CmdWrite, &Write{Ops: []Op{{Kind: OpSet, Path: p, Data: []byte{byte(i)}, Version: AnyVersion}}})
			default:
				h.do(CmdWrite, &Write{Ops: []Op{{Kind: OpCreate, Path: p, Data: data}}})
			}
			h.step()
		}
		close(sink.release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		snap.Release()
		h.verify()
		if !bytes.Equal(sink.Bytes(), wantBytes) {
			t.Fatalf("round %d: persisted snapshot is not the version it was taken at", round)
		}
		restored := New()
		if err := restored.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
			t.Fatal(err)
		}
		if d := diffFSM(restored, want); d != "" {
			t.Fatalf("round %d: restored snapshot: %s", round, d)
		}
	}

	var sink memSink
	if err := first.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sink.Bytes(), firstBytes) {
		t.Fatal("a snapshot persisted after 1800 more applies is not the version it was taken at")
	}
	restored := New()
	if err := restored.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}
	if d := diffFSM(restored, firstModel); d != "" {
		t.Fatalf("restored first snapshot: %s", d)
	}
}

// gateSink is a memSink whose first Write waits for release, so the
// snapshot walk pauses half-way through.
type gateSink struct {
	memSink
	started, release chan struct{}
	once             sync.Once
}

func (s *gateSink) Write(p []byte) (int, error) {
	s.once.Do(func() {
		close(s.started)
		<-s.release
	})
	return s.memSink.Write(p)
}
