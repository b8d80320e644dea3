package zkapi

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warden-dev/warden/fsm"
)

// serveTree serves a Server over a fresh tree on a free loopback port.
func serveTree(t *testing.T, handshake time.Duration) (*treeBackend, *Server) {
	t.Helper()
	b := newTreeBackend()
	b.waiting = make(chan uint64, 16)
	cfg := DefaultConfig()
	cfg.Addr, cfg.HandshakeTimeout, cfg.Logger = "127.0.0.1:0", handshake, hclog.NewNullLogger()
	s, err := New(cfg, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
		if err := s.Close(); err != nil { // twice: a no-op
			t.Error(err)
		}
	})
	return b, s
}

// connectSeen opens a session as a client that has seen zxid seen, and
// returns the connect response's timeout, or -1 when the connection was
// closed without one.
func connectSeen(t *testing.T, addr string, seen uint64) int32 {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var e encoder
	e.int(0)
	e.long(int64(seen))
	e.int(2000)
	e.long(0)
	e.buffer(make([]byte, 16))
	frame := append(encoderLen(len(e.b)), e.b...)
	if _, err := nc.Write(frame); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	body, err := readFrame(nc, nil, 1<<20)
	if err == io.EOF {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	d := newDecoder(body)
	_, timeout := d.int(), d.int()
	return timeout
}

func encoderLen(n int) []byte {
	var e encoder
	e.int(int32(n))
	return e.b
}

// TestClientAheadOfTheReplicaWaitsForIt: a client that has seen a zxid
// this replica has not applied is served once the replica gets there,
// and refused (the connection closed, so it tries another server) if it
// does not within the handshake timeout: it never reads older data than
// it saw.
func TestClientAheadOfTheReplicaWaitsForIt(t *testing.T) {
	b, s := serveTree(t, 500*time.Millisecond)
	now := b.Index()
	if got := connectSeen(t, s.Addr(), now+100); got != -1 {
		t.Fatalf("a client 100 entries ahead got a session (timeout %d); want the connection closed", got)
	}
	// The entry the client saw arrives while the handshake waits for it.
	ahead := b.Index() + 1
	go func() {
		for i := range b.waiting {
			if i == ahead {
				_, _ = b.Write(context.Background(), 0, []fsm.Op{{Kind: fsm.OpCreate, Path: "/late", Version: -1}})
				return
			}
		}
	}()
	if got := connectSeen(t, s.Addr(), ahead); got <= 0 {
		t.Fatalf("a client one entry ahead: timeout %d; want a session once the entry arrived", got)
	}
}
