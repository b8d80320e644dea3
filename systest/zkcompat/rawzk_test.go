package zkcompat

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sort"
	"time"

	"github.com/go-zookeeper/zk"
)

// rawConn is a minimal synchronous client of ZooKeeper's jute protocol,
// for what go-zookeeper cannot send: addWatch, removeWatches, the
// original getChildren, and requests with paths or flags that
// go-zookeeper rejects before sending them (to see the server's error
// codes). One request at a time; notifications that arrive before a
// reply are kept, in order, in events.
type rawConn struct {
	c       net.Conn
	xid     int32
	session int64
	passwd  []byte
	// lastZxid is the highest zxid a reply has carried: what a client
	// reconnecting sends as the last zxid it saw.
	lastZxid int64
	events   []rawEvent
	// wait bounds the wait for each frame (0: 10 s).
	wait time.Duration
}

// rawEvent is a WatcherEvent notification.
type rawEvent struct {
	Type, State int32
	Path        string
}

// Opcodes and watch modes of ZooKeeper's protocol used here.
const (
	rawOpCreate               = 1
	rawOpExists               = 3
	rawOpGetData              = 4
	rawOpGetChildren          = 8
	rawOpSync                 = 9
	rawOpPing                 = 11
	rawOpGetChildren2         = 12
	rawOpCheck                = 13
	rawOpCreate2              = 15
	rawOpCheckWatches         = 17
	rawOpRemoveWatches        = 18
	rawOpMultiRead            = 22
	rawOpSetWatches           = 101
	rawOpGetEphemerals        = 103
	rawOpGetAllChildrenNumber = 104
	rawOpSetWatches2          = 105
	rawOpAddWatch             = 106
	rawOpClose                = -11

	// Reserved xids: a ping's, and setWatches' (as ZooKeeper's own
	// client sends them).
	xidPing       = -2
	xidSetWatches = -8

	addWatchPersistent          = 0
	addWatchPersistentRecursive = 1
	watcherTypeChildren         = 1
	watcherTypeData             = 2
	watcherTypeAny              = 3
)

type jute struct{ bytes.Buffer }

func (b *jute) i32(v int32)  { _ = binary.Write(b, binary.BigEndian, v) }
func (b *jute) i64(v int64)  { _ = binary.Write(b, binary.BigEndian, v) }
func (b *jute) str(s string) { b.i32(int32(len(s))); b.WriteString(s) }
func (b *jute) buf(p []byte) {
	if p == nil {
		b.i32(-1)
		return
	}
	b.i32(int32(len(p)))
	b.Write(p)
}
func (b *jute) boolean(v bool) {
	if v {
		b.WriteByte(1)
	} else {
		b.WriteByte(0)
	}
}

type juteReader struct {
	r   *bytes.Reader
	err error
}

func (r *juteReader) i32() int32 {
	var v int32
	if r.err == nil {
		r.err = binary.Read(r.r, binary.BigEndian, &v)
	}
	return v
}
func (r *juteReader) i64() int64 {
	var v int64
	if r.err == nil {
		r.err = binary.Read(r.r, binary.BigEndian, &v)
	}
	return v
}
func (r *juteReader) str() string {
	n := r.i32()
	if r.err != nil || n < 0 {
		return ""
	}
	if int(n) > r.r.Len() {
		r.err = fmt.Errorf("string of %d bytes, %d left", n, r.r.Len())
		return ""
	}
	p := make([]byte, n)
	_, r.err = io.ReadFull(r.r, p)
	return string(p)
}

func (r *juteReader) buffer() []byte {
	n := r.i32()
	if r.err != nil || n < 0 {
		return nil
	}
	if int(n) > r.r.Len() {
		r.err = fmt.Errorf("buffer of %d bytes, %d left", n, r.r.Len())
		return nil
	}
	p := make([]byte, n)
	_, r.err = io.ReadFull(r.r, p)
	return p
}

func (r *juteReader) boolean() bool {
	var v byte
	if r.err == nil {
		v, r.err = r.r.ReadByte()
	}
	return v != 0
}

func (r *juteReader) strs() []string {
	n := r.i32()
	var out []string
	for i := int32(0); i < n && r.err == nil; i++ {
		out = append(out, r.str())
	}
	return out
}

// stat reads a Stat record.
func (r *juteReader) stat() *zk.Stat {
	s := &zk.Stat{Czxid: r.i64(), Mzxid: r.i64(), Ctime: r.i64(), Mtime: r.i64(),
		Version: r.i32(), Cversion: r.i32(), Aversion: r.i32(), EphemeralOwner: r.i64(),
		DataLength: r.i32(), NumChildren: r.i32(), Pzxid: r.i64()}
	if r.err != nil {
		return nil
	}
	return s
}

func dialRaw(addr string, timeout time.Duration) (*rawConn, error) {
	r, to, err := connectRaw(addr, timeout, 0, make([]byte, 16), 0)
	if err != nil {
		return nil, err
	}
	if to <= 0 {
		r.c.Close()
		return nil, fmt.Errorf("connect refused (timeout %d)", to)
	}
	return r, nil
}

// connectRaw sends a ConnectRequest for session (0: a new one) with its
// password and the last zxid the client saw, and returns the connection
// and the timeout the server answered (0: session expired or wrong
// password; the connection is then left open for the caller to see
// whether the server closes it).
func connectRaw(addr string, timeout time.Duration, session int64, passwd []byte, lastZxid int64) (*rawConn, int32, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, 0, err
	}
	r := &rawConn{c: c, lastZxid: lastZxid}
	var b jute
	b.i32(0) // protocol version
	b.i64(lastZxid)
	b.i32(int32(timeout / time.Millisecond))
	b.i64(session)
	b.buf(passwd)
	b.boolean(false) // read-only
	if err := r.write(b.Bytes()); err != nil {
		c.Close()
		return nil, 0, err
	}
	p, err := r.read()
	if err != nil {
		c.Close()
		return nil, 0, fmt.Errorf("connect: %w", err)
	}
	jr := &juteReader{r: bytes.NewReader(p)}
	jr.i32()
	to := jr.i32()
	r.session = jr.i64()
	r.passwd = jr.buffer()
	if jr.err != nil {
		c.Close()
		return nil, 0, fmt.Errorf("connect reply: %v", jr.err)
	}
	return r, to, nil
}

func (r *rawConn) write(p []byte) error {
	_ = r.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(p)))
	_, err := r.c.Write(append(hdr[:], p...))
	return err
}

func (r *rawConn) read() ([]byte, error) {
	wait := r.wait
	if wait == 0 {
		wait = 10 * time.Second
	}
	_ = r.c.SetReadDeadline(time.Now().Add(wait))
	var hdr [4]byte
	if _, err := io.ReadFull(r.c, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > 1<<20 {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	p := make([]byte, n)
	_, err := io.ReadFull(r.c, p)
	return p, err
}

// call sends one request and returns the reply's error code and body,
// keeping the notifications that come first.
func (r *rawConn) call(op int32, body func(*jute)) (int32, *juteReader, error) {
	r.xid++
	return r.callXid(r.xid, op, body)
}

// callXid is call with the request's xid given (a reserved one).
func (r *rawConn) callXid(xid, op int32, body func(*jute)) (int32, *juteReader, error) {
	var b jute
	b.i32(xid)
	b.i32(op)
	if body != nil {
		body(&b)
	}
	if err := r.write(b.Bytes()); err != nil {
		return 0, nil, err
	}
	for {
		p, err := r.read()
		if err != nil {
			return 0, nil, err
		}
		jr := &juteReader{r: bytes.NewReader(p)}
		got := jr.i32()
		zxid := jr.i64()
		code := jr.i32()
		if jr.err != nil {
			return 0, nil, jr.err
		}
		switch {
		case got == -1:
			ev := rawEvent{Type: jr.i32(), State: jr.i32(), Path: jr.str()}
			if jr.err != nil {
				return 0, nil, jr.err
			}
			r.events = append(r.events, ev)
		case got == xid:
			if zxid > r.lastZxid {
				r.lastZxid = zxid
			}
			return code, jr, nil
		case got == xidPing: // a ping reply
		default:
			return 0, nil, fmt.Errorf("reply for xid %d, want %d", got, xid)
		}
	}
}

// closedAfter reports what the server does within d: "closed" (the
// connection ends), "open" (nothing comes), or "sent more".
func (r *rawConn) closedAfter(d time.Duration) string {
	_ = r.c.SetReadDeadline(time.Now().Add(d))
	var one [1]byte
	n, err := r.c.Read(one[:])
	switch {
	case n > 0:
		return "sent more"
	case err == io.EOF:
		return "closed"
	case err != nil && isTimeout(err):
		return "open"
	case err != nil:
		return "closed" // reset
	}
	return "open"
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// takeEvents returns the notifications received so far and forgets them.
func (r *rawConn) takeEvents() []rawEvent {
	ev := r.events
	r.events = nil
	return ev
}

func (r *rawConn) create(op int32, path string, data []byte, acl bool, flags int32, ttl int64) (int32, string, error) {
	code, jr, err := r.call(op, func(b *jute) {
		b.str(path)
		b.buf(data)
		if acl {
			b.i32(1)
			b.i32(0x1f)
			b.str("world")
			b.str("anyone")
		} else {
			b.i32(0)
		}
		b.i32(flags)
		if op == 21 {
			b.i64(ttl)
		}
	})
	if err != nil || code != 0 {
		return code, "", err
	}
	return code, jr.str(), jr.err
}

func (r *rawConn) pathWatch(op int32, path string, watch bool) (int32, *juteReader, error) {
	return r.call(op, func(b *jute) { b.str(path); b.boolean(watch) })
}

func (r *rawConn) children(path string) (int32, []string, error) {
	code, jr, err := r.pathWatch(rawOpGetChildren, path, false)
	if err != nil || code != 0 {
		return code, nil, err
	}
	n := jr.i32()
	var names []string
	for i := int32(0); i < n && jr.err == nil; i++ {
		names = append(names, jr.str())
	}
	return code, names, jr.err
}

func (r *rawConn) addWatch(path string, mode int32) (int32, error) {
	code, _, err := r.call(rawOpAddWatch, func(b *jute) { b.str(path); b.i32(mode) })
	return code, err
}

func (r *rawConn) removeWatches(path string, typ int32) (int32, error) {
	code, _, err := r.call(rawOpRemoveWatches, func(b *jute) { b.str(path); b.i32(typ) })
	return code, err
}

func (r *rawConn) sync(path string) (int32, error) {
	code, _, err := r.call(rawOpSync, func(b *jute) { b.str(path) })
	return code, err
}

func (r *rawConn) close() {
	_, _, _ = r.call(rawOpClose, nil)
	r.c.Close()
}

// create2 creates with op create2: the reply is the path and the Stat.
func (r *rawConn) create2(path string, data []byte, flags int32) (int32, string, *zk.Stat, error) {
	code, jr, err := r.call(rawOpCreate2, func(b *jute) {
		b.str(path)
		b.buf(data)
		b.i32(1)
		b.i32(0x1f)
		b.str("world")
		b.str("anyone")
		b.i32(flags)
	})
	if err != nil || code != 0 {
		return code, "", nil, err
	}
	p := jr.str()
	return code, p, jr.stat(), jr.err
}

// check is op check outside a multi. The reply body, if any, is a Stat;
// rest is how many bytes it had.
func (r *rawConn) check(path string, version int32) (code int32, st *zk.Stat, rest int, err error) {
	code, jr, err := r.call(rawOpCheck, func(b *jute) { b.str(path); b.i32(version) })
	if err != nil {
		return 0, nil, 0, err
	}
	rest = jr.r.Len()
	if rest > 0 {
		st = jr.stat()
	}
	return code, st, rest, jr.err
}

func (r *rawConn) children2(path string, watch bool) (int32, []string, *zk.Stat, error) {
	code, jr, err := r.pathWatch(rawOpGetChildren2, path, watch)
	if err != nil || code != 0 {
		return code, nil, nil, err
	}
	names := jr.strs()
	return code, names, jr.stat(), jr.err
}

// readOp is one op of a multiRead.
type readOp struct {
	op   int32
	path string
}

// multiRead sends ops as one multiRead and returns one line per result.
func (r *rawConn) multiRead(ops []readOp, stat func(*zk.Stat) string) (int32, []string, error) {
	code, jr, err := r.call(rawOpMultiRead, func(b *jute) {
		for _, o := range ops {
			b.i32(o.op)
			b.boolean(false)
			b.i32(-1)
			b.str(o.path)
			b.boolean(false) // watch
		}
		b.i32(-1)
		b.boolean(true)
		b.i32(-1)
	})
	if err != nil || code != 0 {
		return code, nil, err
	}
	var out []string
	for jr.err == nil {
		typ, done, c := jr.i32(), jr.boolean(), jr.i32()
		if done || jr.err != nil {
			break
		}
		switch typ {
		case rawOpGetData:
			d := jr.buffer()
			out = append(out, fmt.Sprintf("getData %s %q %s", codeName(c), d, stat(jr.stat())))
		case rawOpGetChildren:
			names := jr.strs()
			sort.Strings(names)
			out = append(out, fmt.Sprintf("getChildren %s %v", codeName(c), names))
		case -1:
			out = append(out, fmt.Sprintf("error %s (%s)", codeName(c), codeName(jr.i32())))
		default:
			out = append(out, fmt.Sprintf("type %d %s", typ, codeName(c)))
			return code, out, nil
		}
	}
	return code, out, jr.err
}

func (r *rawConn) ephemerals(prefix string) (int32, []string, error) {
	code, jr, err := r.call(rawOpGetEphemerals, func(b *jute) { b.str(prefix) })
	if err != nil || code != 0 {
		return code, nil, err
	}
	names := jr.strs()
	sort.Strings(names)
	return code, names, jr.err
}

func (r *rawConn) allChildrenNumber(path string) (int32, int32, error) {
	code, jr, err := r.call(rawOpGetAllChildrenNumber, func(b *jute) { b.str(path) })
	if err != nil || code != 0 {
		return code, 0, err
	}
	n := jr.i32()
	return code, n, jr.err
}

func (r *rawConn) checkWatches(path string, typ int32) (int32, error) {
	code, _, err := r.call(rawOpCheckWatches, func(b *jute) { b.str(path); b.i32(typ) })
	return code, err
}

// ping sends a ping (xid -2) and returns the reply's code.
func (r *rawConn) ping() (int32, error) {
	code, _, err := r.callXid(xidPing, rawOpPing, nil)
	return code, err
}

// setWatches sends setWatches (v2: setWatches2, with persistent and
// persistent-recursive watches) with xid -8, as a reconnecting client
// does, relative to rel, the last zxid it saw.
func (r *rawConn) setWatches(v2 bool, rel int64, data, exist, child, pers, recursive []string) (int32, error) {
	op := int32(rawOpSetWatches)
	if v2 {
		op = rawOpSetWatches2
	}
	code, _, err := r.callXid(xidSetWatches, op, func(b *jute) {
		b.i64(rel)
		lists := [][]string{data, exist, child}
		if v2 {
			lists = append(lists, pers, recursive)
		}
		for _, l := range lists {
			b.i32(int32(len(l)))
			for _, s := range l {
				b.str(s)
			}
		}
	})
	return code, err
}

// drop closes the TCP connection without closing the session.
func (r *rawConn) drop() { r.c.Close() }
