package zkapi_test

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// A minimal ZooKeeper client over the raw protocol, written from
// zookeeper.jute independently of the server's codec, for the ops
// go-zookeeper does not speak (addWatch, multiRead, removeWatches, ...)
// and for what a well-behaved client never sends.

// jw writes jute.
type jw struct{ b []byte }

func (w *jw) i32(v int32) *jw { w.b = binary.BigEndian.AppendUint32(w.b, uint32(v)); return w }
func (w *jw) i64(v int64) *jw { w.b = binary.BigEndian.AppendUint64(w.b, uint64(v)); return w }
func (w *jw) bl(v bool) *jw {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
	return w
}
func (w *jw) buf(b []byte) *jw { w.i32(int32(len(b))); w.b = append(w.b, b...); return w }
func (w *jw) str(s string) *jw { return w.buf([]byte(s)) }
func (w *jw) openACL() *jw     { return w.i32(1).i32(31).str("world").str("anyone") }

// jr reads jute; a short record fails the test.
type jr struct {
	t testing.TB
	b []byte
}

func (r *jr) take(n int) []byte {
	r.t.Helper()
	if n > len(r.b) {
		r.t.Fatalf("record truncated: want %d bytes, have %d", n, len(r.b))
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}
func (r *jr) i32() int32 { return int32(binary.BigEndian.Uint32(r.take(4))) }
func (r *jr) i64() int64 { return int64(binary.BigEndian.Uint64(r.take(8))) }
func (r *jr) bl() bool   { return r.take(1)[0] != 0 }
func (r *jr) buf() []byte {
	n := r.i32()
	if n < 0 {
		return nil
	}
	return r.take(int(n))
}
func (r *jr) str() string { return string(r.buf()) }
func (r *jr) strs() []string {
	n := r.i32()
	var out []string
	for i := int32(0); i < n; i++ {
		out = append(out, r.str())
	}
	return out
}

// stat is jute's Stat.
type stat struct {
	Czxid, Mzxid, Ctime, Mtime  int64
	Version, Cversion, Aversion int32
	EphemeralOwner              int64
	DataLength, NumChildren     int32
	Pzxid                       int64
}

func (r *jr) stat() stat {
	return stat{r.i64(), r.i64(), r.i64(), r.i64(), r.i32(), r.i32(), r.i32(), r.i64(), r.i32(), r.i32(), r.i64()}
}

type event struct {
	Type, State int32
	Path        string
	Zxid        int64
}

// raw is one connection.
type raw struct {
	t       testing.TB
	nc      net.Conn
	Session int64
	Passwd  []byte
	Timeout int32
	xid     int32
	Events  []event // notifications read so far
	Zxid    int64   // the last reply's zxid
	Pings   int     // ping replies read so far
}

func frame(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// dialRaw connects and sends a ConnectRequest; the reply's timeout is 0
// when the session expired.
func dialRaw(t testing.TB, addr string, timeoutMs int32, session int64, passwd []byte) *raw {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if passwd == nil {
		passwd = make([]byte, 16)
	}
	w := (&jw{}).i32(0).i64(0).i32(timeoutMs).i64(session).buf(passwd).bl(false)
	if _, err := nc.Write(frame(w.b)); err != nil {
		t.Fatal(err)
	}
	c := &raw{t: t, nc: nc}
	r := c.frame()
	if r == nil {
		t.Fatal("connection closed before the connect response")
	}
	_ = r.i32()
	c.Timeout, c.Session, c.Passwd = r.i32(), r.i64(), r.buf()
	if len(r.b) > 0 {
		_ = r.bl()
	}
	return c
}

// frame reads one frame, or returns nil when the connection ends.
func (c *raw) frame() *jr {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var n [4]byte
	if _, err := io.ReadFull(c.nc, n[:]); err != nil {
		return nil
	}
	b := make([]byte, binary.BigEndian.Uint32(n[:]))
	if _, err := io.ReadFull(c.nc, b); err != nil {
		return nil
	}
	return &jr{t: c.t, b: b}
}

// send sends a request and returns its xid.
func (c *raw) send(op int32, body []byte) int32 {
	c.t.Helper()
	c.xid++
	h := (&jw{}).i32(c.xid).i32(op)
	if _, err := c.nc.Write(frame(append(h.b, body...))); err != nil {
		c.t.Fatal(err)
	}
	return c.xid
}

// reply reads until the reply to xid, keeping notifications, and returns
// its error code and body.
func (c *raw) reply(xid int32) (int32, *jr) {
	c.t.Helper()
	for {
		r := c.frame()
		if r == nil {
			c.t.Fatalf("connection closed waiting for the reply to xid %d", xid)
		}
		x, zxid, code := r.i32(), r.i64(), r.i32()
		if x == -1 {
			c.Events = append(c.Events, event{Type: r.i32(), State: r.i32(), Path: r.str(), Zxid: zxid})
			continue
		}
		if x == -2 {
			c.Pings++
			if xid == -2 {
				return code, r
			}
			continue
		}
		if x != xid {
			c.t.Fatalf("reply to xid %d while waiting for %d: replies out of order", x, xid)
		}
		c.Zxid = zxid
		return code, r
	}
}

// call sends a request and waits for its reply.
func (c *raw) call(op int32, body []byte) (int32, *jr) {
	c.t.Helper()
	return c.reply(c.send(op, body))
}

// event waits for the next notification.
func (c *raw) event() event {
	c.t.Helper()
	for len(c.Events) == 0 {
		r := c.frame()
		if r == nil {
			c.t.Fatal("connection closed waiting for a notification")
		}
		x, zxid, _ := r.i32(), r.i64(), r.i32()
		if x == -1 {
			c.Events = append(c.Events, event{Type: r.i32(), State: r.i32(), Path: r.str(), Zxid: zxid})
		}
	}
	ev := c.Events[0]
	c.Events = c.Events[1:]
	return ev
}

// closed reports whether the server closed the connection (reading
// until it does, within a few seconds).
func (c *raw) closed() bool {
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, c.nc)
	return err == nil // EOF: closed by the server
}

// Opcodes and codes the tests use.
const (
	opCreate               = 1
	opDelete               = 2
	opExists               = 3
	opGetData              = 4
	opSetData              = 5
	opGetACL               = 6
	opSetACL               = 7
	opGetChildren          = 8
	opSync                 = 9
	opPing                 = 11
	opGetChildren2         = 12
	opCheck                = 13
	opMulti                = 14
	opCreate2              = 15
	opReconfig             = 16
	opCheckWatches         = 17
	opRemoveWatches        = 18
	opCreateContainer      = 19
	opCreateTTL            = 21
	opMultiRead            = 22
	opSetWatches2          = 105
	opGetEphemerals        = 103
	opGetAllChildrenNumber = 104
	opAddWatch             = 106
	opCloseSession         = -11

	errRuntimeInconsistency = -2
	errUnimplemented        = -6
	errBadArguments         = -8
	errNoNode               = -101
	errBadVersion           = -103
	errNodeExists           = -110
	errInvalidACL           = -114
	errNoWatcher            = -121
	errReconfigDisabled     = -123
	errMarshallingError     = -5

	evCreated         = 1
	evDeleted         = 2
	evDataChanged     = 3
	evChildrenChanged = 4
)

func createReq(path string, data []byte, flags int32) []byte {
	return (&jw{}).str(path).buf(data).openACL().i32(flags).b
}

func pathWatch(path string, watch bool) []byte { return (&jw{}).str(path).bl(watch).b }
