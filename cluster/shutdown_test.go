package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/warden-dev/warden/fsm"
)

// TestCloseLeavesNoGoroutines: a server and a replica run in this process
// with sessions on both (the replica's opened, renewed and written through
// the server over the cluster port) and inbound connections to both in
// every state (before the kind byte, an idle RPC connection, one half way
// through a message, one handed to Raft). Closing both, twice, closes
// every one of those connections and leaves no goroutine that runs or was
// started by this module's code.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := moduleGoroutines()

	srv := startTestNode(t, "s1", func(c *Config) { c.Server, c.Bootstrap = true, true })
	rep := startTestNode(t, "r1", func(c *Config) { c.Join = []string{srv.SerfAddr()} })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rep.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}

	for i, n := range []*Node{srv, rep, srv, rep} {
		s, err := n.OpenSession(ctx, SessionOptions{Timeout: time.Second, Resumable: i%2 == 0})
		if err != nil {
			t.Fatalf("open a session on %s: %v", n.Name(), err)
		}
		op := fsm.Op{Kind: fsm.OpCreate, Path: fmt.Sprintf("/e%d", i), Ephemeral: true}
		if res, err := n.Write(ctx, s.ID, []fsm.Op{op}); err != nil || res.Error() != nil {
			t.Fatalf("write through %s: %v, %v", n.Name(), err, res)
		}
	}
	// A keepalive round trip from the replica's keeper.
	waitFor(t, 10*time.Second, "the server's expirer to track the replica's sessions", func() bool {
		return rep.Stats().LocalSessions == 2 && srv.Stats().ExpiryTracked == 4
	})

	var raw []net.Conn
	for _, n := range []*Node{srv, rep} {
		dial := func(first []byte) net.Conn {
			c, err := net.Dial("tcp", n.RPCAddr())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			if _, err := c.Write(first); err != nil {
				t.Fatal(err)
			}
			raw = append(raw, c)
			return c
		}
		dial(nil) // admitted, waiting for its kind byte
		idle := dial([]byte{connRPC})
		w, r := bufio.NewWriter(idle), bufio.NewReader(idle)
		if err := writeRPC(w, &rpcRequest{Method: rpcBarrier}); err != nil {
			t.Fatal(err)
		}
		var resp rpcResponse
		if err := readRPC(r, nil, 0, &resp); err != nil {
			t.Fatalf("a barrier on a raw connection to %s: %v", n.Name(), err)
		}
		dial(append([]byte{connRPC}, binary.BigEndian.AppendUint32(nil, 100)...)) // a length, no body
		dial([]byte{connRaft})                                                    // Raft's now
	}

	for range 2 {
		if err := rep.Close(); err != nil && !errors.Is(err, raft.ErrRaftShutdown) {
			t.Errorf("close the replica: %v", err)
		}
		if err := srv.Close(); err != nil && !errors.Is(err, raft.ErrRaftShutdown) {
			t.Errorf("close the server: %v", err)
		}
	}

	for i, c := range raw {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var b [1]byte
		_, err := c.Read(b[:])
		var ne net.Error
		if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			t.Errorf("inbound connection %d is still open after Close (read: %v)", i, err)
		}
	}

	var left []string
	ok := poll(10*time.Second, func() bool {
		left = left[:0]
		for id, stack := range moduleGoroutines() {
			if _, old := before[id]; !old {
				left = append(left, stack)
			}
		}
		return len(left) == 0
	})
	if !ok {
		t.Fatalf("%d goroutines of the module outlived Close:\n\n%s", len(left), strings.Join(left, "\n\n"))
	}
}

// startTestNode opens a node on loopback with free ports and short
// timings, closed when the test ends.
func startTestNode(t *testing.T, name string, tune func(*Config)) *Node {
	t.Helper()
	return openTestNode(t, newTestNode(t, name, tune))
}

// newTestNode allocates what startTestNode opens.
func newTestNode(t *testing.T, name string, tune func(*Config)) *Node {
	t.Helper()
	c := DefaultConfig()
	c.NodeName, c.DataDir = name, t.TempDir()
	c.RPCPort, c.SerfPort = 0, 0
	c.HeartbeatTimeout, c.ElectionTimeout = 200*time.Millisecond, 200*time.Millisecond
	c.ExpiryTick = 10 * time.Millisecond
	c.RetryJoinInterval = 100 * time.Millisecond
	c.LockDelay = 0
	if testing.Verbose() {
		c.LogOutput = os.Stderr
	}
	tune(c)
	n, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// openTestNode opens n, to be closed when the test ends.
func openTestNode(t *testing.T, n *Node) *Node {
	t.Helper()
	if err := n.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// moduleGoroutines returns the stacks of the goroutines that run, or were
// started by, a function of this module, by goroutine id.
func moduleGoroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := make(map[string]string)
	for _, g := range strings.Split(string(buf), "\n\n") {
		head, _, _ := strings.Cut(g, "\n")
		id, _, _ := strings.Cut(strings.TrimPrefix(head, "goroutine "), " ")
		if strings.Contains(g, "github.com/warden-dev/warden/") {
			out[id] = g
		}
	}
	return out
}

// poll checks cond every few milliseconds until it holds (true) or timeout
// passes (false).
func poll(timeout time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(timeout); ; time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// waitFor fails the test unless cond holds within timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !poll(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// TestCloseUnderWrites: closing a leader while writes and barriers pour in
// from many goroutines returns within a bound. hashicorp/raft never
// answers a future still queued in a buffered apply channel when it shuts
// down, so with such a buffer (raft.Config.BatchApplyCh) a waiter for one of
// those futures, which Close awaits, hung it forever.
func TestCloseUnderWrites(t *testing.T) {
	for round := 0; round < 5; round++ {
		n := startTestNode(t, fmt.Sprintf("s%d", round), func(c *Config) { c.Server, c.Bootstrap = true, true })
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := n.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		s, err := n.OpenSession(ctx, SessionOptions{Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		writes := make(chan struct{}, 1024)
		for g := 0; g < 32; g++ {
			go func() {
				for i := 0; ctx.Err() == nil; i++ {
					op := fsm.Op{Kind: fsm.OpCreate, Path: fmt.Sprintf("/w%d-%d", g, i)}
					if _, err := n.Write(ctx, s.ID, []fsm.Op{op}); err != nil {
						return
					}
					_, _ = n.Sync(ctx)
					select {
					case writes <- struct{}{}:
					default:
					}
				}
			}()
		}
		for i := 0; i < 200; i++ {
			<-writes
		}
		closed := make(chan struct{})
		go func() { n.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(15 * time.Second):
			buf := make([]byte, 1<<20)
			t.Fatalf("round %d: Close did not return within 15s under writes:\n%s", round, buf[:runtime.Stack(buf, true)])
		}
		cancel()
	}
}
