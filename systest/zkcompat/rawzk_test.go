package zkcompat

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"
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
	events  []rawEvent
}

// rawEvent is a WatcherEvent notification.
type rawEvent struct {
	Type, State int32
	Path        string
}

// Opcodes and watch modes of ZooKeeper's protocol used here.
const (
	rawOpCreate        = 1
	rawOpExists        = 3
	rawOpGetChildren   = 8
	rawOpSync          = 9
	rawOpRemoveWatches = 18
	rawOpAddWatch      = 106
	rawOpClose         = -11

	addWatchPersistent          = 0
	addWatchPersistentRecursive = 1
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

func dialRaw(addr string, timeout time.Duration) (*rawConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	r := &rawConn{c: c}
	var b jute
	b.i32(0) // protocol version
	b.i64(0) // last zxid seen
	b.i32(int32(timeout / time.Millisecond))
	b.i64(0) // session id
	b.buf(make([]byte, 16))
	b.boolean(false) // read-only
	if err := r.write(b.Bytes()); err != nil {
		c.Close()
		return nil, err
	}
	p, err := r.read()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	jr := &juteReader{r: bytes.NewReader(p)}
	jr.i32()
	to := jr.i32()
	r.session = jr.i64()
	if jr.err != nil || to <= 0 {
		c.Close()
		return nil, fmt.Errorf("connect refused (timeout %d, %v)", to, jr.err)
	}
	return r, nil
}

func (r *rawConn) write(p []byte) error {
	_ = r.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(p)))
	_, err := r.c.Write(append(hdr[:], p...))
	return err
}

func (r *rawConn) read() ([]byte, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
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
	var b jute
	b.i32(r.xid)
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
		xid := jr.i32()
		jr.i64() // zxid
		code := jr.i32()
		if jr.err != nil {
			return 0, nil, jr.err
		}
		switch xid {
		case -1:
			ev := rawEvent{Type: jr.i32(), State: jr.i32(), Path: jr.str()}
			if jr.err != nil {
				return 0, nil, jr.err
			}
			r.events = append(r.events, ev)
		case -2: // ping reply
		case r.xid:
			return code, jr, nil
		default:
			return 0, nil, fmt.Errorf("reply for xid %d, want %d", xid, r.xid)
		}
	}
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
