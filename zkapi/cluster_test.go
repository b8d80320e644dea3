package zkapi_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// owner returns the agent that owns session id, as p's replica has it.
func owner(t *testing.T, p *agenttest.Proc, id int64) string {
	t.Helper()
	c := p.Dial(t, warden.Options{NoSession: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ss, err := c.Sessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		if int64(s.ID) == id {
			return s.Agent
		}
	}
	return ""
}

func TestSessionMovesToAnotherAgentOfTheCluster(t *testing.T) {
	c := agenttest.StartCluster(t, 3, 0, "--zk-port", "2181")
	a, b := c.Servers[0], c.Servers[1]
	if log, err := os.ReadFile(a.Log.Name()); err != nil || !strings.Contains(string(log), `msg="zk listening" node=`+a.Name+" addr="+a.ZKAddr()) {
		t.Fatalf("the agent's log does not say 'zk listening addr=%s' (%v)", a.ZKAddr(), err)
	}
	r := dialRaw(t, a.ZKAddr(), 8000, 0, nil)
	if r.Session == 0 {
		t.Fatal("no session")
	}
	if code, _ := r.call(opCreate, createReq("/moved", []byte("v"), 1)); code != 0 {
		t.Fatalf("create ephemeral: %d", code)
	}
	// A wrong password is refused on another agent too.
	bad := append([]byte(nil), r.Passwd...)
	bad[15] ^= 0xff
	if x := dialRaw(t, b.ZKAddr(), 8000, r.Session, bad); x.Timeout != 0 || x.Session != 0 {
		t.Fatalf("wrong password on another agent: timeout %d session %#x", x.Timeout, x.Session)
	}
	// The TCP connection drops; the client reconnects through b.
	r.nc.Close()
	r2 := dialRaw(t, b.ZKAddr(), 8000, r.Session, r.Passwd)
	if r2.Session != r.Session || r2.Timeout != 8000 {
		t.Fatalf("resume on another agent: session %#x timeout %d; want %#x", r2.Session, r2.Timeout, r.Session)
	}
	code, st := r2.call(opExists, pathWatch("/moved", false))
	if code != 0 || st.stat().EphemeralOwner != r.Session {
		t.Fatalf("the ephemeral after the move: %d", code)
	}
	if got := owner(t, b, r.Session); got != b.Name {
		t.Fatalf("session owner after the move: %q; want %q", got, b.Name)
	}
	if code, _ := r2.call(opSetData, (&jw{}).str("/moved").buf([]byte("w")).i32(0).b); code != 0 {
		t.Fatalf("write through the new agent: %d", code)
	}
	if code, _ := r2.call(opCloseSession, nil); code != 0 {
		t.Fatalf("closeSession: %d", code)
	}
}

func TestClientFailsOverWhenItsAgentIsKilled(t *testing.T) {
	c := agenttest.StartCluster(t, 3, 0, "--zk-port", "2181")
	var addrs []string
	for _, p := range c.Servers {
		addrs = append(addrs, p.ZKAddr())
	}
	zc, events, err := zk.Connect(addrs, 8*time.Second, zk.WithLogger(quiet{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(zc.Close)
	waitState(t, events, zk.StateHasSession)
	sid := zc.SessionID()
	for _, p := range []string{"/watched", "/eph"} {
		flags := int32(0)
		if p == "/eph" {
			flags = zk.FlagEphemeral
		}
		if _, err := zc.Create(p, nil, flags, open); err != nil {
			t.Fatal(err)
		}
	}
	_, _, watch, err := zc.GetW("/watched")
	if err != nil {
		t.Fatal(err)
	}
	var victim, other *agenttest.Proc
	name := owner(t, c.Servers[0], sid)
	for _, p := range c.Servers {
		if p.Name == name {
			victim = p
		} else {
			other = p
		}
	}
	if victim == nil {
		t.Fatalf("no server owns session %#x (owner %q)", sid, name)
	}
	victim.Kill()
	waitState(t, events, zk.StateDisconnected)
	waitState(t, events, zk.StateHasSession)
	if got := owner(t, other, sid); got == victim.Name || got == "" {
		t.Fatalf("session owner after failover: %q", got)
	}
	if zc.SessionID() != sid {
		t.Fatalf("session %#x after failover; want %#x", zc.SessionID(), sid)
	}
	ok, st, err := zc.Exists("/eph")
	if err != nil || !ok || st.EphemeralOwner != sid {
		t.Fatalf("ephemeral after failover: %v %+v %v", ok, st, err)
	}
	// The watch was set again on the new agent (setWatches).
	w, _ := dialZK(t, other.ZKAddr(), 8*time.Second)
	if _, err := w.Set("/watched", []byte("x"), -1); err != nil {
		t.Fatal(err)
	}
	expect(t, watch, zk.EventNodeDataChanged, "/watched")
}

// TestNoQuorumDropsTheConnection: a write the agent cannot get applied
// (its cluster lost its quorum) gets no answer but a closed connection,
// which clients see as ConnectionLoss; the agent itself goes on.
func TestNoQuorumDropsTheConnection(t *testing.T) {
	c := agenttest.StartCluster(t, 3, 0, "--zk-port", "2181")
	a := c.Servers[0]
	r := dialRaw(t, a.ZKAddr(), 3000, 0, nil)
	if code, _ := r.call(opCreate, createReq("/before", nil, 0)); code != 0 {
		t.Fatalf("create: %d", code)
	}
	c.Servers[1].Kill()
	c.Servers[2].Kill()
	xid := r.send(opCreate, createReq("/after", nil, 0))
	_ = r.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var n [4]byte
		if _, err := io.ReadFull(r.nc, n[:]); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the connection was neither answered nor closed within 30s")
			}
			break // closed, as wanted
		}
		b := make([]byte, binary.BigEndian.Uint32(n[:]))
		if _, err := io.ReadFull(r.nc, b); err != nil {
			break
		}
		if x := int32(binary.BigEndian.Uint32(b)); x == xid {
			t.Fatalf("a write without a quorum was answered (error %d)", int32(binary.BigEndian.Uint32(b[12:])))
		}
	}
	nc, err := net.Dial("tcp", a.ZKAddr())
	if err != nil {
		t.Fatalf("the agent stopped serving: %v", err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte("ruok")); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if out, _ := io.ReadAll(nc); string(out) != "imok" {
		t.Fatalf("ruok without a quorum: %q", out)
	}
}
