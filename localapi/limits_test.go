package localapi_test

import (
	"bufio"
	"context"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/localapi/wire"
)

// The limits tests attack a real agent process through its socket as a
// local app could, and check that the agent stays up, other apps keep
// their sessions, and its memory stays bounded.

// procConn is a raw connection to an agent process.
type procConn struct {
	nc net.Conn
	r  *bufio.Reader
	w  *bufio.Writer
}

func dialProc(t testing.TB, sock string) *procConn {
	t.Helper()
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	return &procConn{nc: nc, r: bufio.NewReaderSize(nc, 1<<16), w: bufio.NewWriterSize(nc, 1<<16)}
}

func (c *procConn) write(t testing.TB, v any) {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.w.Write(frame(b))
}

func (c *procConn) flush(t testing.TB) {
	t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(replyTimeout))
	if err := c.w.Flush(); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func (c *procConn) read(t testing.TB) *wire.Message {
	t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(replyTimeout))
	body, err := wire.ReadFrame(c.r, nil, wire.MaxFrameSize)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m wire.Message
	if err := msgpack.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

func (c *procConn) hello(t testing.TB) {
	t.Helper()
	c.write(t, req{"id": 1, "op": "hello", "protocol": 1})
	c.flush(t)
	if m := c.read(t); m.Error != nil {
		t.Fatalf("hello: %+v", m.Error)
	}
}

func procRSS(t testing.TB, p *agenttest.Proc) int64 {
	t.Helper()
	n, err := p.RSS()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// bystander is an app holding a lock, which every attack must leave be.
func bystander(t *testing.T, sock string) (*warden.Client, *warden.Lease) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := warden.Dial(ctx, warden.Options{Socket: sock, Name: "bystander"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	l, err := c.Lock(ctx, "/bystander")
	if err != nil {
		t.Fatal(err)
	}
	return c, l
}

func stillHolds(t *testing.T, c *warden.Client, l *warden.Lease) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ok, err := c.CheckToken(ctx, "/bystander", l.Token); err != nil || !ok {
		t.Fatalf("the bystander's lock is gone (%v, %v)", ok, err)
	}
}

// TestManyStreamsRefused: one connection asks for 150,000 subscriptions.
// Past the per-connection cap each is refused with too_many_requests; the
// agent's memory stays bounded and other apps are untouched.
func TestManyStreamsRefused(t *testing.T) {
	const cap, attempts = 1000, 150_000
	sock := filepath.Join(agenttest.SocketDir(t), "w.sock")
	p := agenttest.StartProc(t, t.TempDir(), sock, "--max-streams", strconv.Itoa(cap))
	by, lease := bystander(t, sock)
	rss0 := procRSS(t, p)
	c := dialProc(t, sock)
	c.hello(t)
	ok, refused, peak := 0, 0, rss0
	go func() { // requests are pipelined; replies read below
		for i := 0; i < attempts; i++ {
			c.write(t, req{"id": i + 2, "op": "subscribe", "path": "/"})
			if i%1000 == 999 {
				_ = c.w.Flush()
			}
		}
		_ = c.w.Flush()
	}()
	for ok+refused < attempts {
		m := c.read(t)
		switch {
		case m.Event != "":
			continue
		case m.Error == nil:
			ok++
		case m.Error.Code == wire.CodeTooManyRequests:
			refused++
		default:
			t.Fatalf("subscribe: %+v", m.Error)
		}
		if (ok+refused)%10_000 == 0 {
			peak = max(peak, procRSS(t, p))
		}
	}
	peak = max(peak, procRSS(t, p))
	t.Logf("%d subscriptions open, %d refused; agent RSS %d MB before, peak %d MB", ok, refused, rss0>>20, peak>>20)
	if ok > cap {
		t.Fatalf("%d subscriptions open on one connection, cap %d", ok, cap)
	}
	if peak > rss0+128<<20 {
		t.Fatalf("agent RSS grew from %d MB to %d MB", rss0>>20, peak>>20)
	}
	stillHolds(t, by, lease)
}

// TestConnectionsPerUIDCapped: a user opening more connections than its
// cap gets too_many_requests on each extra one, which is closed; its
// earlier connections and other apps keep working, and once it closes
// some it may connect again.
func TestConnectionsPerUIDCapped(t *testing.T) {
	const cap = 50
	sock := filepath.Join(agenttest.SocketDir(t), "w.sock")
	agenttest.StartProc(t, t.TempDir(), sock, "--max-conns-per-uid", strconv.Itoa(cap))
	by, lease := bystander(t, sock) // one of the cap
	var conns []*procConn
	for i := 0; i < cap-1; i++ {
		c := dialProc(t, sock)
		c.hello(t)
		conns = append(conns, c)
	}
	for i := 0; i < 20; i++ {
		c := dialProc(t, sock)
		m := c.read(t)
		if m.Error == nil || m.Error.Code != wire.CodeTooManyRequests {
			t.Fatalf("connection %d over the cap: want too_many_requests, got %+v", cap+i+1, m)
		}
	}
	stillHolds(t, by, lease)
	conns[0].nc.Close()
	agenttest.Eventually(t, 10*time.Second, "a connection accepted once one closed", func() bool { return canConnect(sock) })
}

// canConnect says whether an app can connect and open a session now.
func canConnect(sock string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := warden.Dial(ctx, warden.Options{Socket: sock})
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// TestAcceptSurvivesFDExhaustion: an agent limited to 128 file
// descriptors is sent 300 connections. Accept fails with EMFILE; the agent
// pauses and retries instead of exiting, the bystander keeps its lock, and
// once the flood is gone new apps connect.
func TestAcceptSurvivesFDExhaustion(t *testing.T) {
	sock := filepath.Join(agenttest.SocketDir(t), "w.sock")
	p := agenttest.Launch(t, []string{"prlimit", "--nofile=128:128"},
		[]string{"agent", "--dev", "--node", "proc", "--socket", sock, "--data-dir", t.TempDir(), "--log-level", "warn"})
	p.WaitSocket(30 * time.Second)
	by, lease := bystander(t, sock)
	var flood []net.Conn
	for i := 0; i < 300; i++ {
		nc, err := net.DialTimeout("unix", sock, time.Second)
		if err != nil {
			continue // the backlog is full too
		}
		flood = append(flood, nc)
	}
	t.Logf("%d of 300 connections made", len(flood))
	select {
	case <-p.Exited():
		t.Fatal("the agent exited under the connection flood")
	default:
	}
	for _, nc := range flood {
		nc.Close()
	}
	agenttest.Eventually(t, 20*time.Second, "a new connection accepted after the flood", func() bool { return canConnect(sock) })
	select {
	case <-p.Exited():
		t.Fatal("the agent exited under the connection flood")
	default:
	}
	stillHolds(t, by, lease)
}
