package localapi_test

// These tests speak raw bytes to a real in-process agent over its Unix
// socket, so that they can send what no well-behaved client would: frames
// that lie about their length, bodies that are not msgpack, fields of the
// wrong type. Each bad input runs beside a healthy connection, which must
// keep working: one app's garbage never costs another app its session.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/agent"
	"github.com/warden-dev/warden/agent/agenttest"
	"github.com/warden-dev/warden/localapi/wire"
)

// replyTimeout bounds the wait for any one message from the agent.
const replyTimeout = 10 * time.Second

// req is a request as raw fields, so tests can send any type for any field.
type req map[string]any

// rawConn is a connection that speaks the protocol by hand. Its methods
// take the test to fail, so one rawConn can outlive a single fuzz input.
type rawConn struct {
	nc     *net.UnixConn
	r      *bufio.Reader
	nextID atomic.Uint64
}

// dialRaw connects to the agent without saying hello. The connection is
// closed when the test ends.
func dialRaw(t testing.TB, a *agent.Agent) *rawConn {
	t.Helper()
	nc, err := net.Dial("unix", a.SocketPath())
	if err != nil {
		t.Fatalf("dial %s: %v", a.SocketPath(), err)
	}
	c := &rawConn{nc: nc.(*net.UnixConn), r: bufio.NewReader(nc)}
	t.Cleanup(func() { c.nc.Close() })
	return c
}

// dialHello connects and opens a session.
func dialHello(t testing.TB, a *agent.Agent) *rawConn {
	t.Helper()
	c := dialRaw(t, a)
	c.hello(t)
	return c
}

// id returns a fresh request id (hello takes 1).
func (c *rawConn) id() uint64 { return c.nextID.Add(1) }

// writeRaw writes bytes as they are.
func (c *rawConn) writeRaw(t testing.TB, b []byte) {
	t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(replyTimeout))
	if _, err := c.nc.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// frame returns body behind a length prefix that tells the truth.
func frame(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// header returns a bare length prefix claiming n bytes.
func header(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

// encode msgpack-encodes v.
func encode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatalf("encode %v: %v", v, err)
	}
	return b
}

// send writes v as one frame.
func (c *rawConn) send(t testing.TB, v any) {
	t.Helper()
	c.writeRaw(t, frame(encode(t, v)))
}

// next reads the next message, failing the test if none arrives in time or
// the connection ends.
func (c *rawConn) next(t testing.TB) *wire.Message {
	t.Helper()
	m, err := c.read(replyTimeout)
	if err != nil {
		t.Fatalf("read message: %v", err)
	}
	return m
}

// read reads the next message within timeout.
func (c *rawConn) read(timeout time.Duration) (*wire.Message, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	body, err := wire.ReadFrame(c.r, nil, wire.MaxFrameSize)
	if err != nil {
		return nil, err
	}
	var m wire.Message
	if err := msgpack.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("undecodable message %x: %w", body, err)
	}
	return &m, nil
}

// nextReply reads messages until one that is not an event (a reply or a
// connection error).
func (c *rawConn) nextReply(t testing.TB) *wire.Message {
	t.Helper()
	for {
		m := c.next(t)
		if m.Event == "" {
			return m
		}
	}
}

// call sends r (with a fresh id unless r has one) and returns its reply.
// Only one request may be outstanding.
func (c *rawConn) call(t testing.TB, r req) *wire.Message {
	t.Helper()
	if _, ok := r["id"]; !ok {
		r["id"] = c.id()
	}
	c.send(t, r)
	m := c.nextReply(t)
	if want, ok := r["id"].(uint64); ok && m.ID != want {
		t.Fatalf("%v: reply has id %d (%+v)", r, m.ID, m)
	}
	return m
}

// ok sends r and decodes its successful result into out (if not nil).
func (c *rawConn) ok(t testing.TB, r req, out any) {
	t.Helper()
	m := c.call(t, r)
	if m.Error != nil {
		t.Fatalf("%v: %s: %s", r, m.Error.Code, m.Error.Message)
	}
	if out != nil {
		if err := msgpack.Unmarshal(m.Result, out); err != nil {
			t.Fatalf("%v: decode result: %v", r, err)
		}
	}
}

// hello opens the session and returns its id, consuming the session event.
func (c *rawConn) hello(t testing.TB) uint64 {
	t.Helper()
	id := c.id()
	c.send(t, req{"id": id, "op": "hello", "protocol": wire.ProtocolVersion, "client": "rawtest"})
	m := c.next(t)
	if m.ID != id || m.Error != nil {
		t.Fatalf("hello: want a result for id %d, got %+v (error %v)", id, m, m.Error)
	}
	var res wire.HelloResult
	if err := msgpack.Unmarshal(m.Result, &res); err != nil {
		t.Fatalf("hello result: %v", err)
	}
	if res.Protocol != wire.ProtocolVersion || res.SessionID == 0 {
		t.Fatalf("hello result: %+v", res)
	}
	ev := c.next(t)
	var body wire.SessionEvent
	if ev.ID != 0 || ev.Event != wire.EventSession || msgpack.Unmarshal(ev.Body, &body) != nil ||
		body.State != wire.SessionConnected || body.SessionID != res.SessionID {
		t.Fatalf("want a connected session event after hello, got %+v", ev)
	}
	return res.SessionID
}

// wantError asserts that m is an error with code for request id.
func wantError(t testing.TB, m *wire.Message, id uint64, code wire.Code) {
	t.Helper()
	if m.Error == nil {
		t.Fatalf("want error %s for id %d, got result %+v", code, id, m)
	}
	if m.ID != id || m.Error.Code != code {
		t.Fatalf("want error %s for id %d, got id %d error %s (%s)", code, id, m.ID, m.Error.Code, m.Error.Message)
	}
}

// expectClosed asserts that the agent closes the connection without
// sending anything more.
func (c *rawConn) expectClosed(t testing.TB) {
	t.Helper()
	m, err := c.read(replyTimeout)
	if err == nil {
		t.Fatalf("want the connection closed, got message %+v (error %v)", m, m.Error)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("want the connection closed, it is still open after %v", replyTimeout)
	}
	// io.EOF, or ECONNRESET when the agent closed with our bytes unread.
}

// expectOpen asserts the connection still serves requests.
func (c *rawConn) expectOpen(t testing.TB) {
	t.Helper()
	c.ok(t, req{"op": "ping"}, nil)
}

var pathSeq atomic.Uint64

// uniquePath returns a fresh top-level path.
func uniquePath(prefix string) string {
	return fmt.Sprintf("/%s-%d", prefix, pathSeq.Add(1))
}

// expectHealthy asserts that c can still create a node and read it back.
func (c *rawConn) expectHealthy(t testing.TB) {
	t.Helper()
	path := uniquePath("healthy")
	data := []byte("still here " + path)
	var cr wire.CreateResult
	c.ok(t, req{"op": "create", "path": path, "data": data}, &cr)
	if cr.Path != path {
		t.Fatalf("create %s: created %s", path, cr.Path)
	}
	var gr wire.GetResult
	c.ok(t, req{"op": "get", "path": path}, &gr)
	if !bytes.Equal(gr.Data, data) {
		t.Fatalf("get %s: %q, want %q", path, gr.Data, data)
	}
}

// beside runs bad with a healthy connection open alongside, then asserts
// that the healthy connection still works and that the agent still accepts
// new sessions.
func beside(t *testing.T, a *agent.Agent, bad func(t *testing.T)) {
	t.Helper()
	healthy := dialHello(t, a)
	healthy.expectHealthy(t)
	bad(t)
	healthy.expectHealthy(t)
	dialHello(t, a).expectHealthy(t)
}

func TestHello(t *testing.T) {
	a := agenttest.Start(t)

	t.Run("handshake", func(t *testing.T) {
		c := dialRaw(t, a)
		c.hello(t) // checks the reply and the connected event
		c.expectHealthy(t)
	})

	t.Run("distinct sessions", func(t *testing.T) {
		a1, a2 := dialRaw(t, a), dialRaw(t, a)
		if s1, s2 := a1.hello(t), a2.hello(t); s1 == s2 {
			t.Fatalf("two connections share session %d", s1)
		}
	})

	t.Run("request before hello", func(t *testing.T) {
		beside(t, a, func(t *testing.T) {
			c := dialRaw(t, a)
			c.send(t, req{"id": 1, "op": "ping"})
			wantError(t, c.next(t), 1, wire.CodeNoSession)
			c.expectClosed(t)
		})
	})

	t.Run("unsupported version", func(t *testing.T) {
		beside(t, a, func(t *testing.T) {
			c := dialRaw(t, a)
			c.send(t, req{"id": 1, "op": "hello", "protocol": 99})
			wantError(t, c.next(t), 1, wire.CodeUnsupportedVersion)
			c.expectClosed(t)
		})
	})

	t.Run("second hello", func(t *testing.T) {
		c := dialHello(t, a)
		id := c.id()
		m := c.call(t, req{"id": id, "op": "hello", "protocol": wire.ProtocolVersion})
		wantError(t, m, id, wire.CodeBadArguments)
		c.expectHealthy(t)
	})
}

// TestBadFrames sends frames the agent cannot parse. Each ends its own
// connection, after one error message with id 0 where there is something
// to say, and touches nothing else.
func TestBadFrames(t *testing.T) {
	a := agenttest.Start(t)

	garbage := []struct {
		name string
		body []byte
	}{
		{"never-used msgpack code", []byte{0xc1, 0xc1, 0xc1, 0xc1}},
		{"random bytes", []byte("\xde\xad\xbe\xef not msgpack at all \xff\x00")},
		{"string", []byte("\xa5hello")},
		{"integer", []byte{0x05}},
		{"nil", []byte{0xc0}},
		{"array", []byte{0x92, 0x05, 0xa4, 'p', 'i', 'n', 'g'}},
		{"empty array", []byte{0x90}},
		{"map with integer keys", []byte{0x81, 0x01, 0x02}},
		{"truncated map", []byte{0x82, 0xa2, 'i', 'd', 0x05}},
	}
	for _, g := range garbage {
		t.Run("garbage/"+g.name, func(t *testing.T) {
			beside(t, a, func(t *testing.T) {
				c := dialHello(t, a)
				c.writeRaw(t, frame(g.body))
				wantError(t, c.next(t), 0, wire.CodeBadFrame)
				c.expectClosed(t)
			})
		})
	}

	t.Run("garbage before hello", func(t *testing.T) {
		beside(t, a, func(t *testing.T) {
			c := dialRaw(t, a)
			c.writeRaw(t, frame([]byte{0xc1, 0xff, 0x00}))
			wantError(t, c.next(t), 0, wire.CodeBadFrame)
			c.expectClosed(t)
		})
	})

	t.Run("empty frame", func(t *testing.T) {
		beside(t, a, func(t *testing.T) {
			c := dialHello(t, a)
			c.writeRaw(t, header(0))
			wantError(t, c.next(t), 0, wire.CodeBadFrame)
			c.expectClosed(t)
		})
	})

	t.Run("empty frame before hello", func(t *testing.T) {
		beside(t, a, func(t *testing.T) {
			c := dialRaw(t, a)
			c.writeRaw(t, header(0))
			wantError(t, c.next(t), 0, wire.CodeBadFrame)
			c.expectClosed(t)
		})
	})

	for _, n := range []uint32{0xFFFFFFFF, 5 << 20, wire.MaxFrameSize + 1} {
		t.Run(fmt.Sprintf("oversized length %d", n), func(t *testing.T) {
			beside(t, a, func(t *testing.T) {
				c := dialHello(t, a)
				c.writeRaw(t, header(n))
				wantError(t, c.next(t), 0, wire.CodeTooLarge)
				c.expectClosed(t)
			})
		})
	}

	t.Run("oversized length before hello", func(t *testing.T) {
		beside(t, a, func(t *testing.T) {
			c := dialRaw(t, a)
			c.writeRaw(t, header(0xFFFFFFFF))
			wantError(t, c.next(t), 0, wire.CodeTooLarge)
			c.expectClosed(t)
		})
	})

	t.Run("truncated frame", func(t *testing.T) {
		beside(t, a, func(t *testing.T) {
			c := dialHello(t, a)
			c.writeRaw(t, append(header(100), make([]byte, 10)...))
			if err := c.nc.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			c.expectClosed(t)
		})
	})

	t.Run("truncated header", func(t *testing.T) {
		beside(t, a, func(t *testing.T) {
			c := dialHello(t, a)
			c.writeRaw(t, []byte{0x00, 0x00})
			if err := c.nc.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			c.expectClosed(t)
		})
	})

	t.Run("frame of exactly the limit is read", func(t *testing.T) {
		beside(t, a, func(t *testing.T) {
			// A well-formed request padded to MaxFrameSize with an ignored
			// field: the limit is inclusive, and the ping is answered.
			c := dialHello(t, a)
			id := c.id()
			base := encode(t, req{"id": id, "op": "ping", "pad": []byte{}})
			pad := make([]byte, wire.MaxFrameSize-len(base)-3) // a bin32 header is 5 bytes, the empty bin8 2
			body := encode(t, req{"id": id, "op": "ping", "pad": pad})
			if len(body) != wire.MaxFrameSize {
				t.Fatalf("padded body is %d bytes, want %d", len(body), wire.MaxFrameSize)
			}
			c.writeRaw(t, frame(body))
			m := c.nextReply(t)
			if m.ID != id || m.Error != nil {
				t.Fatalf("want a result for %d, got %+v (error %v)", id, m, m.Error)
			}
		})
	})
}

// TestBadRequests sends well-framed maps with bad contents. Each is answered
// with an error for its id (0 when the id is unreadable), and the
// connection stays open.
func TestBadRequests(t *testing.T) {
	a := agenttest.Start(t)

	cases := []struct {
		name string
		req  req
		id   uint64 // the id the reply must carry
		code wire.Code
	}{
		{"path is an integer", req{"id": 5, "op": "get", "path": 123}, 5, wire.CodeBadArguments},
		{"id is a string", req{"id": "x", "op": "get", "path": "/"}, 0, wire.CodeBadArguments},
		{"id is a float", req{"id": 5.5, "op": "ping"}, 0, wire.CodeBadArguments},
		{"ops not an array", req{"id": 6, "op": "multi", "ops": "create /a"}, 6, wire.CodeBadArguments},
		{"op of ops not a map", req{"id": 7, "op": "multi", "ops": []any{1}}, 7, wire.CodeBadArguments},
		{"version a string", req{"id": 8, "op": "set", "path": "/", "version": "1"}, 8, wire.CodeBadArguments},
		{"ephemeral a string", req{"id": 9, "op": "create", "path": "/x", "ephemeral": "yes"}, 9, wire.CodeBadArguments},
		{"wait_ms a string", req{"id": 10, "op": "lock", "path": "/x", "wait_ms": "soon"}, 10, wire.CodeBadArguments},
		{"op an integer", req{"id": 11, "op": 3}, 11, wire.CodeBadArguments},
		{"data a map", req{"id": 12, "op": "create", "path": "/x", "data": map[string]int{"a": 1}}, 12, wire.CodeBadArguments},
		{"unknown op", req{"id": 13, "op": "frobnicate", "path": "/"}, 13, wire.CodeUnknownOp},
		{"check outside multi", req{"id": 14, "op": "check", "path": "/"}, 14, wire.CodeUnknownOp},
		{"missing op", req{"id": 15, "path": "/"}, 15, wire.CodeBadArguments},
		{"empty op", req{"id": 16, "op": ""}, 16, wire.CodeBadArguments},
		{"id zero", req{"id": 0, "op": "ping"}, 0, wire.CodeBadArguments},
		{"id missing", req{"op": "ping"}, 0, wire.CodeBadArguments},
		{"version below -1", req{"id": 17, "op": "set", "path": "/", "version": -2}, 17, wire.CodeBadArguments},
		{"version above int32", req{"id": 19, "op": "set", "path": "/", "version": int64(1) << 32}, 19, wire.CodeBadArguments},
		{"create with version", req{"id": 18, "op": "create", "path": "/x", "version": 0}, 18, wire.CodeBadArguments},
		{"empty multi", req{"id": 19, "op": "multi", "ops": []any{}}, 19, wire.CodeBadArguments},
		{"multi with a get", req{"id": 20, "op": "multi", "ops": []req{{"op": "get", "path": "/"}}}, 20, wire.CodeBadArguments},
		{"delete with create flags", req{"id": 21, "op": "delete", "path": "/x", "ephemeral": true}, 21, wire.CodeBadArguments},
		{"timeout_ms negative", req{"id": 22, "op": "create", "path": "/x", "timeout_ms": -1}, 22, wire.CodeBadArguments},
		{"timeout_ms a string", req{"id": 23, "op": "get", "path": "/", "timeout_ms": "soon"}, 23, wire.CodeBadArguments},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			beside(t, a, func(t *testing.T) {
				c := dialHello(t, a)
				c.nextID.Store(100) // the cases' own ids stay clear of ours
				c.send(t, tc.req)
				wantError(t, c.nextReply(t), tc.id, tc.code)
				c.expectHealthy(t)
			})
		})
	}

	t.Run("all on one connection", func(t *testing.T) {
		// The same requests back to back: none of them ends the connection
		// or confuses the ones after it.
		c := dialHello(t, a)
		c.nextID.Store(100)
		for _, tc := range cases {
			c.send(t, tc.req)
			wantError(t, c.nextReply(t), tc.id, tc.code)
		}
		c.expectHealthy(t)
	})
}

// TestInvalidPaths checks that every path rule is enforced for every op
// that takes a path, and that a refusal leaves the connection open.
func TestInvalidPaths(t *testing.T) {
	a := agenttest.Start(t)
	paths := []string{
		"",
		"a",
		"a/b",
		"/a/",
		"//",
		"/a//b",
		"/a/./b",
		"/a/../b",
		"/.",
		"/..",
		"/a\x00b",
		"/a\x01b",
		"/" + strings.Repeat("a", 4096),
		"/a/\xff\xfe",
	}
	ops := []string{"create", "get", "set", "delete", "exists", "children", "lock"}
	beside(t, a, func(t *testing.T) {
		c := dialHello(t, a)
		for _, op := range ops {
			for _, p := range paths {
				r := req{"op": op, "path": p}
				if op == "lock" {
					r["wait_ms"] = 0
				}
				m := c.call(t, r)
				if m.Error == nil || m.Error.Code != wire.CodeBadArguments {
					t.Errorf("%s %q: want bad_arguments, got %+v (error %v)", op, p, m, m.Error)
				}
			}
		}
		for _, p := range paths {
			m := c.call(t, req{"op": "multi", "ops": []req{{"op": "check", "path": "/"}, {"op": "create", "path": p}}})
			if m.Error == nil || m.Error.Code != wire.CodeBadArguments || m.Error.Index == nil || *m.Error.Index != 1 {
				t.Errorf("multi create %q: want bad_arguments at index 1, got %+v (error %+v)", p, m, m.Error)
			}
		}
		c.expectHealthy(t)
	})
	t.Run("longest valid path", func(t *testing.T) {
		c := dialHello(t, a)
		p := "/" + strings.Repeat("b", 4095)
		var cr wire.CreateResult
		c.ok(t, req{"op": "create", "path": p}, &cr)
		if cr.Path != p {
			t.Fatalf("created %q", cr.Path)
		}
	})
}

func TestDataLimit(t *testing.T) {
	a := agenttest.Start(t)
	beside(t, a, func(t *testing.T) {
		c := dialHello(t, a)
		path := uniquePath("big")
		id := c.id()
		m := c.call(t, req{"id": id, "op": "create", "path": path, "data": make([]byte, 1<<20+1)})
		wantError(t, m, id, wire.CodeTooLarge)
		var er wire.ExistsResult
		if c.ok(t, req{"op": "exists", "path": path}, &er); er.Exists {
			t.Fatal("a refused create left a node")
		}

		// Exactly the limit is allowed, and set enforces it too.
		max := bytes.Repeat([]byte{'m'}, 1<<20)
		c.ok(t, req{"op": "create", "path": path, "data": max}, nil)
		var gr wire.GetResult
		c.ok(t, req{"op": "get", "path": path}, &gr)
		if !bytes.Equal(gr.Data, max) {
			t.Fatalf("get returned %d bytes, want %d", len(gr.Data), len(max))
		}
		id = c.id()
		wantError(t, c.call(t, req{"id": id, "op": "set", "path": path, "data": make([]byte, 1<<20+1)}), id, wire.CodeTooLarge)
		c.expectHealthy(t)
	})
}

// TestPipelined sends many requests without waiting and expects every id
// answered exactly once.
func TestPipelined(t *testing.T) {
	a := agenttest.Start(t)
	const n = 200
	c := dialHello(t, a)
	prefix := uniquePath("pipe")
	c.ok(t, req{"op": "create", "path": prefix}, nil)

	var buf []byte
	want := make(map[uint64]string, n)
	for i := 0; i < n; i++ {
		id := c.id()
		path := fmt.Sprintf("%s/n%03d", prefix, i)
		want[id] = path
		buf = append(buf, frame(encode(t, req{"id": id, "op": "create", "path": path, "data": []byte(path)}))...)
	}
	c.writeRaw(t, buf) // all 200 in one write

	seen := make(map[uint64]bool, n)
	for len(seen) < n {
		m := c.next(t)
		if m.Event != "" {
			continue
		}
		path, ok := want[m.ID]
		if !ok {
			t.Fatalf("reply for unknown id %d: %+v", m.ID, m)
		}
		if seen[m.ID] {
			t.Fatalf("id %d answered twice", m.ID)
		}
		seen[m.ID] = true
		if m.Error != nil {
			t.Fatalf("create %s: %s: %s", path, m.Error.Code, m.Error.Message)
		}
		var cr wire.CreateResult
		if err := msgpack.Unmarshal(m.Result, &cr); err != nil || cr.Path != path {
			t.Fatalf("id %d: want create of %s, got %+v (%v)", m.ID, path, cr, err)
		}
	}
	if m, err := c.read(100 * time.Millisecond); err == nil {
		t.Fatalf("an extra message after all %d replies: %+v", n, m)
	}

	// Every node holds its own data: no request's fields leaked into
	// another's through a reused buffer.
	var kids wire.ChildrenResult
	c.ok(t, req{"op": "children", "path": prefix}, &kids)
	if len(kids.Children) != n {
		t.Fatalf("%d children, want %d", len(kids.Children), n)
	}
	for _, path := range want {
		var gr wire.GetResult
		c.ok(t, req{"op": "get", "path": path}, &gr)
		if string(gr.Data) != path {
			t.Fatalf("%s holds %q", path, gr.Data)
		}
	}
}

// TestCloseDeletesEphemerals: a connection's end is its session's end.
func TestCloseDeletesEphemerals(t *testing.T) {
	a := agenttest.Start(t)
	owner, watcher := dialHello(t, a), dialHello(t, a)
	path := uniquePath("eph")
	var cr wire.CreateResult
	owner.ok(t, req{"op": "create", "path": path, "ephemeral": true}, &cr)
	seq := uniquePath("eph-seq") + "-"
	owner.ok(t, req{"op": "create", "path": seq, "ephemeral": true, "sequential": true}, &cr)
	seqPath := cr.Path

	exists := func(p string) bool {
		var er wire.ExistsResult
		watcher.ok(t, req{"op": "exists", "path": p}, &er)
		return er.Exists
	}
	if !exists(path) || !exists(seqPath) {
		t.Fatal("ephemerals not visible to another connection")
	}
	owner.nc.Close()
	agenttest.Eventually(t, 5*time.Second, "the closed connection's ephemerals to go", func() bool {
		return !exists(path) && !exists(seqPath)
	})
	watcher.expectHealthy(t)
}

// lockPath takes the lock at path on c and returns the lease's key.
func lockPath(t *testing.T, c *rawConn, path string) string {
	t.Helper()
	var lr wire.LockResult
	c.ok(t, req{"op": "lock", "path": path}, &lr)
	if !strings.HasPrefix(lr.Key, path+"/") || lr.Token == 0 {
		t.Fatalf("lock %s: %+v", path, lr)
	}
	return lr.Key
}

// contenders lists the lock's children, read over c.
func contenders(t *testing.T, c *rawConn, path string) []string {
	t.Helper()
	var cr wire.ChildrenResult
	c.ok(t, req{"op": "children", "path": path}, &cr)
	return cr.Children
}

// wantOnlyHolder asserts that the holder's node is the lock's only child.
func wantOnlyHolder(t *testing.T, c *rawConn, path, key string) {
	t.Helper()
	kids := contenders(t, c, path)
	if len(kids) != 1 || path+"/"+kids[0] != key {
		t.Fatalf("children of %s: %q, want only the holder %s", path, kids, key)
	}
}

func TestLockCancel(t *testing.T) {
	a := agenttest.Start(t)
	holder, waiter := dialHello(t, a), dialHello(t, a)
	path := uniquePath("lock")
	key := lockPath(t, holder, path)

	lockID := waiter.id()
	waiter.send(t, req{"id": lockID, "op": "lock", "path": path})
	agenttest.Eventually(t, 5*time.Second, "the waiter in line", func() bool {
		return len(contenders(t, holder, path)) == 2
	})

	cancelID := waiter.id()
	waiter.send(t, req{"id": cancelID, "op": "cancel", "target": lockID})
	var gotLock, gotCancel bool
	for !gotLock || !gotCancel {
		m := waiter.nextReply(t)
		switch m.ID {
		case lockID:
			if gotLock {
				t.Fatalf("lock %d answered twice", lockID)
			}
			gotLock = true
			wantError(t, m, lockID, wire.CodeCanceled)
		case cancelID:
			if gotCancel {
				t.Fatalf("cancel %d answered twice", cancelID)
			}
			gotCancel = true
			if m.Error != nil {
				t.Fatalf("cancel: %s: %s", m.Error.Code, m.Error.Message)
			}
		default:
			t.Fatalf("unexpected reply %+v", m)
		}
	}
	// The waiter removes its node before it replies canceled.
	wantOnlyHolder(t, holder, path, key)

	// Cancelling what is not in flight is harmless.
	waiter.ok(t, req{"op": "cancel", "target": 999999}, nil)
	waiter.ok(t, req{"op": "cancel", "target": lockID}, nil)
	waiter.expectHealthy(t)
	wantOnlyHolder(t, holder, path, key)
}

// TestReusedIDEndsConnection: a request that reuses the id of one in
// flight ends the connection, whether it is a local read (which runs
// without a context of its own) or any other op; the connection's waits
// are withdrawn with it.
func TestReusedIDEndsConnection(t *testing.T) {
	a := agenttest.Start(t)
	holder := dialHello(t, a)
	path := uniquePath("lock")
	key := lockPath(t, holder, path)
	for _, again := range []req{{"op": "get", "path": "/"}, {"op": "create", "path": uniquePath("reused")}} {
		t.Run(again["op"].(string), func(t *testing.T) {
			waiter := dialHello(t, a)
			id := waiter.id()
			waiter.send(t, req{"id": id, "op": "lock", "path": path})
			agenttest.Eventually(t, 5*time.Second, "the waiter in line", func() bool {
				return len(contenders(t, holder, path)) == 2
			})
			again["id"] = id
			waiter.send(t, again)
			wantError(t, waiter.nextReply(t), 0, wire.CodeBadArguments)
			waiter.expectClosed(t)
			agenttest.Eventually(t, 5*time.Second, "the closed waiter's node to go", func() bool {
				return len(contenders(t, holder, path)) == 1
			})
			wantOnlyHolder(t, holder, path, key)
		})
	}
}

func TestLockWaitTimeout(t *testing.T) {
	a := agenttest.Start(t)
	holder, waiter := dialHello(t, a), dialHello(t, a)
	path := uniquePath("lock")
	key := lockPath(t, holder, path)

	id := waiter.id()
	start := time.Now()
	wantError(t, waiter.call(t, req{"id": id, "op": "lock", "path": path, "wait_ms": 50}), id, wire.CodeTimeout)
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Fatalf("gave up after %v, before its 50ms wait", took)
	}
	wantOnlyHolder(t, holder, path, key)

	id = waiter.id()
	wantError(t, waiter.call(t, req{"id": id, "op": "lock", "path": path, "wait_ms": 0}), id, wire.CodeTimeout)
	wantOnlyHolder(t, holder, path, key)
	waiter.expectHealthy(t)
}

// TestDuplicateInFlightID: reusing an id while its request is still
// running is a protocol violation. Either reply would be ambiguous, so the
// agent reports it at connection level (id 0) and closes the connection,
// which ends the session and removes its contender.
func TestDuplicateInFlightID(t *testing.T) {
	a := agenttest.Start(t)
	beside(t, a, func(t *testing.T) {
		holder, waiter := dialHello(t, a), dialHello(t, a)
		path := uniquePath("lock")
		key := lockPath(t, holder, path)

		const id = 7
		waiter.send(t, req{"id": id, "op": "lock", "path": path})
		agenttest.Eventually(t, 5*time.Second, "the first waiter in line", func() bool {
			return len(contenders(t, holder, path)) == 2
		})
		waiter.send(t, req{"id": id, "op": "lock", "path": path})
		wantError(t, waiter.next(t), 0, wire.CodeBadArguments)
		waiter.expectClosed(t)
		agenttest.Eventually(t, 5*time.Second, "the closed waiter's node to go", func() bool {
			return len(contenders(t, holder, path)) == 1
		})
		wantOnlyHolder(t, holder, path, key)
		holder.expectHealthy(t)
	})
}

// TestTooManyInFlight: beyond the in-flight limit a request is refused at
// once (the connection stays readable, so a cancel still gets through).
func TestTooManyInFlight(t *testing.T) {
	a := agenttest.Start(t, func(c *agent.Config) { c.MaxInFlight = 4 })
	holder, waiter := dialHello(t, a), dialHello(t, a)
	path := uniquePath("lock")
	lockPath(t, holder, path)
	var ids []uint64
	for i := 0; i < 4; i++ {
		id := waiter.id()
		ids = append(ids, id)
		waiter.send(t, req{"id": id, "op": "lock", "path": path})
	}
	agenttest.Eventually(t, 5*time.Second, "four waiters in line", func() bool {
		return len(contenders(t, holder, path)) == 5
	})
	over := waiter.id()
	wantError(t, waiter.call(t, req{"id": over, "op": "ping"}), over, wire.CodeTooManyRequests)
	cancel := waiter.id()
	waiter.send(t, req{"id": cancel, "op": "cancel", "target": ids[0]})
	seen := map[uint64]*wire.Message{}
	for len(seen) < 2 {
		m := waiter.nextReply(t)
		seen[m.ID] = m
	}
	if m := seen[ids[0]]; m == nil || m.Error == nil || m.Error.Code != wire.CodeCanceled {
		t.Fatalf("cancelled request: %+v", seen[ids[0]])
	}
	if m := seen[cancel]; m == nil || m.Error != nil {
		t.Fatalf("cancel reply: %+v", seen[cancel])
	}
}

// TestCloseWithRequestsInFlight: a connection that goes away with requests
// still running ends cleanly, and its contender nodes go with it.
func TestCloseWithRequestsInFlight(t *testing.T) {
	a := agenttest.Start(t)
	holder, waiter := dialHello(t, a), dialHello(t, a)
	path := uniquePath("lock")
	key := lockPath(t, holder, path)
	waiter.send(t, req{"id": waiter.id(), "op": "lock", "path": path})
	agenttest.Eventually(t, 5*time.Second, "the waiter in line", func() bool {
		return len(contenders(t, holder, path)) == 2
	})
	waiter.nc.Close()
	agenttest.Eventually(t, 5*time.Second, "the closed waiter's node to go", func() bool {
		return len(contenders(t, holder, path)) == 1
	})
	wantOnlyHolder(t, holder, path, key)
	holder.expectHealthy(t)
}

// TestNoSessionConnection: a connection opened without a session can read
// but is refused anything that needs a session, and closing it leaves no
// session behind.
func TestNoSessionConnection(t *testing.T) {
	a := agenttest.Start(t)
	writer := dialHello(t, a)
	writer.ok(t, req{"op": "create", "path": "/ro", "data": []byte("x")}, nil)

	c := dialRaw(t, a)
	var hello wire.HelloResult
	c.ok(t, req{"op": "hello", "protocol": 1, "no_session": true}, &hello)
	if hello.SessionID != 0 {
		t.Fatalf("a sessionless hello opened session %d", hello.SessionID)
	}
	var got wire.GetResult
	c.ok(t, req{"op": "get", "path": "/ro"}, &got)
	if string(got.Data) != "x" {
		t.Fatalf("get: %q", got.Data)
	}
	for _, r := range []req{
		{"op": "create", "path": "/ro2"},
		{"op": "lock", "path": "/l"},
		{"op": "set", "path": "/ro", "data": []byte("y")},
	} {
		id := c.id()
		r["id"] = id
		wantError(t, c.call(t, r), id, wire.CodeNoSession)
	}
	c.expectOpen(t)
}

// TestAppDeadlineKeptWhileLeaderLives: an agent that has a leader works on
// a request for all of its timeout_ms. It answers early (a tenth before)
// only to say that the cluster has no leader; with one, an early answer
// would fail a request that could still succeed.
func TestAppDeadlineKeptWhileLeaderLives(t *testing.T) {
	a := agenttest.Start(t)
	holder, waiter := dialHello(t, a), dialHello(t, a)
	path := uniquePath("deadline")
	lockPath(t, holder, path)

	const timeout = 600 * time.Millisecond
	start := time.Now()
	m := waiter.call(t, req{"op": "lock", "path": path, "timeout_ms": timeout.Milliseconds()})
	took := time.Since(start)
	if m.Error == nil {
		t.Fatalf("lock held by another session granted: %+v", m)
	}
	if took < timeout {
		t.Fatalf("the agent answered (%s: %s) after %v, before the app's timeout_ms of %v", m.Error.Code, m.Error.Message, took, timeout)
	}
}

// TestRequestsLeaveNoMemory: requests that end free all they held while
// their connection stays open. 50,000 reads with a timeout_ms, each of
// which once left a context behind on its connection (about 120 bytes),
// must not grow the agent's live heap by more than 2 MB.
func TestRequestsLeaveNoMemory(t *testing.T) {
	a := agenttest.Start(t)
	c := dialHello(t, a)
	c.ok(t, req{"op": "create", "path": "/k", "data": []byte("v")}, nil)
	const n, batch = 50_000, 500
	reads := func(count int) {
		for sent := 0; sent < count; sent += batch {
			var b []byte
			for i := 0; i < batch; i++ {
				b = append(b, frame(encode(t, req{"id": c.id(), "op": "get", "path": "/k", "timeout_ms": 30_000}))...)
			}
			c.writeRaw(t, b)
			for i := 0; i < batch; i++ {
				if m := c.nextReply(t); m.Error != nil {
					t.Fatalf("get: %+v", m.Error)
				}
			}
		}
	}
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	reads(5 * batch) // warm: buffers, pools, metrics
	before := heap()
	reads(n)
	after := heap()
	t.Logf("live heap %d KB before %d reads, %d KB after", before>>10, n, after>>10)
	if after > before+2<<20 {
		t.Fatalf("%d reads on one connection grew the live heap by %d KB", n, (after-before)>>10)
	}
}
