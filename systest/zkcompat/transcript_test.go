package zkcompat

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
)

// transcript records a scripted session's results in a form that two
// correct servers produce identically: zxids become z1, z2, ... in the
// order the transcript first shows them (so equal zxids stay equal and
// later writes get later labels), session ids the script's own names for
// its sessions, times their relation (mtime equal to ctime for an
// unchanged node, else not before it; ctime within minutes of the test's
// clock).
type transcript struct {
	lines []string
	// left are the lines left out of the comparison, each with the
	// documented difference (docs/zookeeper.md) that leaves it out.
	left     []string
	aliases  [][2]string
	zxids    map[int64]string
	sessions map[int64]string
	start    time.Time
}

func newTranscript() *transcript {
	return &transcript{zxids: map[int64]string{}, sessions: map[int64]string{}, start: time.Now()}
}

func (tr *transcript) add(format string, args ...any) {
	tr.lines = append(tr.lines, strings.TrimRight(fmt.Sprintf(format, args...), " "))
}

// uncompared records a line that is left out of the transcript, since
// Warden differs there from ZooKeeper as docs/zookeeper.md ("What
// differs from ZooKeeper") says under the heading named diff. The test
// logs it.
func (tr *transcript) uncompared(diff, format string, args ...any) {
	tr.left = append(tr.left, fmt.Sprintf(format, args...)+"   (not compared: "+diff+")")
}

// alias replaces s with name in every line recorded so far.
func (tr *transcript) alias(s, name string) {
	for i, l := range tr.lines {
		tr.lines[i] = strings.ReplaceAll(l, s, name)
	}
}

// aliasAtEnd replaces s with name in every line, those recorded later
// too, when the transcript is written out.
func (tr *transcript) aliasAtEnd(s, name string) {
	tr.aliases = append(tr.aliases, [2]string{s, name})
}

func (tr *transcript) String() string {
	for _, a := range tr.aliases {
		tr.alias(a[0], a[1])
	}
	return strings.Join(tr.lines, "\n") + "\n"
}

// zxid labels z by the order in which the transcript first shows it.
func (tr *transcript) zxid(z int64) string {
	if l, ok := tr.zxids[z]; ok {
		return l
	}
	l := fmt.Sprintf("z%d", len(tr.zxids)+1)
	tr.zxids[z] = l
	return l
}

// owner names an ephemeralOwner: "-" for none, a session's name, ttl(MS)
// for ZooKeeper's TTL-node encoding (0xFF in the top byte), else "other".
func (tr *transcript) owner(o int64) string {
	switch {
	case o == 0:
		return "-"
	case uint64(o)>>56 == 0xFF:
		return fmt.Sprintf("ttl(%d)", o&0x00FFFFFFFFFFFFFF)
	}
	if n, ok := tr.sessions[o]; ok {
		return n
	}
	return "other"
}

func (tr *transcript) stat(s *zk.Stat) string {
	if s == nil {
		return "stat(nil)"
	}
	// Times are in milliseconds: a write soon after the create may
	// share its millisecond, so only the order is kept.
	var mt string
	switch {
	case s.Mzxid == s.Czxid && s.Mtime == s.Ctime:
		mt = "mt=ct"
	case s.Mzxid == s.Czxid:
		mt = "mt!=ct!"
	case s.Mtime >= s.Ctime:
		mt = "mt>=ct"
	default:
		mt = "mt<ct!"
	}
	lo, hi := tr.start.Add(-5*time.Minute).UnixMilli(), time.Now().Add(5*time.Minute).UnixMilli()
	if s.Ctime < lo || s.Ctime > hi {
		mt += fmt.Sprintf(" ctime-off-clock!(%d)", s.Ctime)
	}
	return fmt.Sprintf("stat(c=%s m=%s p=%s v=%d cv=%d av=%d eph=%s len=%d nc=%d %s)",
		tr.zxid(s.Czxid), tr.zxid(s.Mzxid), tr.zxid(s.Pzxid), s.Version, s.Cversion, s.Aversion,
		tr.owner(s.EphemeralOwner), s.DataLength, s.NumChildren, mt)
}

// errName is a go-zookeeper error's ZooKeeper code name.
func errName(err error) string {
	if err == nil {
		return "OK"
	}
	for code, e := range map[string]error{
		"NONODE": zk.ErrNoNode, "NODEEXISTS": zk.ErrNodeExists, "BADVERSION": zk.ErrBadVersion,
		"NOTEMPTY": zk.ErrNotEmpty, "NOCHILDRENFOREPHEMERALS": zk.ErrNoChildrenForEphemerals,
		"BADARGUMENTS": zk.ErrBadArguments, "INVALIDACL": zk.ErrInvalidACL, "NOAUTH": zk.ErrNoAuth,
		"APIERROR": zk.ErrAPIError, "SESSIONEXPIRED": zk.ErrSessionExpired, "AUTHFAILED": zk.ErrAuthFailed,
		"SESSIONMOVED": zk.ErrSessionMoved, "UNKNOWN": zk.ErrUnknown, "INVALIDFLAGS(client)": zk.ErrInvalidFlags,
	} {
		if errors.Is(err, e) {
			return code
		}
	}
	var code int32
	if _, e := fmt.Sscanf(err.Error(), "unknown error: %d", &code); e == nil {
		return codeName(code)
	}
	return "error(" + err.Error() + ")"
}

// codeName is a raw ZooKeeper error code's name.
func codeName(c int32) string {
	names := map[int32]string{0: "OK", -1: "SYSTEMERROR", -2: "RUNTIMEINCONSISTENCY", -3: "DATAINCONSISTENCY",
		-4: "CONNECTIONLOSS", -5: "MARSHALLINGERROR", -6: "UNIMPLEMENTED", -7: "OPERATIONTIMEOUT",
		-8: "BADARGUMENTS", -100: "APIERROR", -101: "NONODE", -102: "NOAUTH", -103: "BADVERSION",
		-108: "NOCHILDRENFOREPHEMERALS", -110: "NODEEXISTS", -111: "NOTEMPTY", -112: "SESSIONEXPIRED",
		-113: "INVALIDCALLBACK", -114: "INVALIDACL", -115: "AUTHFAILED", -118: "SESSIONMOVED",
		-119: "NOTREADONLY", -120: "EPHEMERALONLOCALSESSION", -121: "NOWATCHER", -122: "REQUESTTIMEOUT",
		-123: "RECONFIGDISABLED", -125: "QUOTAEXCEEDED", -127: "THROTTLEDOP"}
	if n, ok := names[c]; ok {
		return n
	}
	return fmt.Sprintf("code(%d)", c)
}

func eventName(t int32) string {
	switch zk.EventType(t) {
	case zk.EventNodeCreated:
		return "NodeCreated"
	case zk.EventNodeDeleted:
		return "NodeDeleted"
	case zk.EventNodeDataChanged:
		return "NodeDataChanged"
	case zk.EventNodeChildrenChanged:
		return "NodeChildrenChanged"
	case zk.EventSession:
		return "Session"
	case zk.EventNotWatching:
		return "NotWatching"
	}
	return fmt.Sprintf("event(%d)", t)
}

// watches are a session's pending one-shot watches (go-zookeeper gives
// one channel per watch), named for the transcript.
type watches struct {
	tr      *transcript
	session string
	pending map[string]<-chan zk.Event
	// awaited are watches whose event comes on the server's schedule;
	// only await takes it.
	awaited map[string]<-chan zk.Event
}

func (w *watches) add(name string, ch <-chan zk.Event) {
	if ch != nil {
		w.pending[name] = ch
	}
}

// addAwaited adds a watch whose event only await records.
func (w *watches) addAwaited(name string, ch <-chan zk.Event) {
	if ch != nil {
		w.awaited[name] = ch
	}
}

// drain records, sorted, the events that have already arrived: called
// right after a reply, it shows which events came before that reply (a
// server queues a watch's event before the reply of the request that
// fired it, and before any later reply to the watching session). Events
// fired by one write have no order ZooKeeper promises, hence the sort.
func (w *watches) drain() {
	var got []string
	for name, ch := range w.pending {
		select {
		case ev := <-ch:
			got = append(got, fmt.Sprintf("  %s event %s: %s %s", w.session, name, eventName(int32(ev.Type)), ev.Path))
			delete(w.pending, name)
		default:
		}
	}
	sort.Strings(got)
	w.tr.lines = append(w.tr.lines, got...)
}

// await waits (bounded) for the named watch's event: for what happens
// on the server's own schedule (session close, TTL and container expiry).
func (w *watches) await(name string, timeout time.Duration) {
	ch, ok := w.awaited[name]
	if !ok {
		w.tr.add("  %s await %s: no such watch", w.session, name)
		return
	}
	select {
	case ev := <-ch:
		w.tr.add("  %s event %s: %s %s", w.session, name, eventName(int32(ev.Type)), ev.Path)
		delete(w.awaited, name)
	case <-time.After(timeout):
		w.tr.add("  %s await %s: no event within %v", w.session, name, timeout)
	}
}
