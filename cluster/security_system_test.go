package cluster_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/fsm"
)

// The security system tests replay attacks on the cluster port (Raft and
// agent RPC, port 7300) against real agents, and check that each fails
// without harming the cluster or its apps.

// Connection kinds and RPC framing of the cluster port, as an attacker
// would write them.
const (
	kindRaft byte = 1
	kindRPC  byte = 3
)

// attacker talks to an agent's cluster port from a chosen local address,
// optionally over TLS.
type attacker struct {
	t    *testing.T
	from string // local IP
	tls  *tls.Config
}

// dial connects to addr and announces kind. It fails only if the TCP
// connection itself cannot be made.
func (a attacker) dial(addr string, kind byte) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(a.from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if a.tls != nil {
		tc := tls.Client(c, a.tls)
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, fmt.Errorf("handshake: %w", err)
		}
		c = tc
	}
	_, _ = c.Write([]byte{kind})
	return c, nil
}

// rpc sends one agent RPC and returns its answer's error text ("" for
// success), or an error if the agent gave no answer at all.
func (a attacker) rpc(addr, method string, body []byte) (string, error) {
	c, err := a.dial(addr, kindRPC)
	if err != nil {
		return "", err
	}
	defer c.Close()
	req, _ := msgpack.Marshal(map[string]any{"m": method, "b": body})
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(req)))
	if _, err := c.Write(append(hdr[:], req...)); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return "", fmt.Errorf("no answer: %w", err)
	}
	resp := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(r, resp); err != nil {
		return "", err
	}
	var out struct {
		Err       string `msgpack:"e"`
		NotLeader bool   `msgpack:"nl"`
	}
	if err := msgpack.Unmarshal(resp, &out); err != nil {
		return "", err
	}
	if out.NotLeader {
		return "not leader", nil
	}
	return out.Err, nil
}

func entry(t *testing.T, ct fsm.CommandType, body any) []byte {
	t.Helper()
	b, err := fsm.Encode(ct, body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// victim is an app holding a lock through one agent.
type victim struct {
	c     *warden.Client
	lease *warden.Lease
	state *stateLog
}

func newVictim(t *testing.T, p *agenttest.Proc) victim {
	st := &stateLog{}
	c := p.Dial(t, warden.Options{Name: "victim", OnSessionState: st.record})
	return victim{c: c, lease: lockNow(t, c, "/victim/lock"), state: st}
}

// unharmed checks that the victim still holds its lock and was never told
// its session was in doubt.
func (v victim) unharmed(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := v.c.Sync(ctx); err != nil {
		t.Fatalf("victim: %v", err)
	}
	ok, err := v.c.CheckToken(ctx, "/victim/lock", v.lease.Token)
	if err != nil || !ok {
		t.Fatalf("the victim's lock is gone (current %v, %v)", ok, err)
	}
	if n := v.state.count("lost") + v.state.count("suspended"); n > 0 {
		t.Fatalf("the victim's session was disturbed: %s", v.state)
	}
}

// leaderRPC returns the leader and its cluster port's address.
func leaderRPC(c *agenttest.Cluster) (*agenttest.Proc, string) {
	l := c.Leader()
	return l, net.JoinHostPort(l.IP, "7300")
}

// attacks are the outsider's RPCs: a forwarded create, closing the
// victim's session with an hour of lock-delay, renewing it as its agent,
// and the leave of a voter.
func attacks(t *testing.T, sid uint64, owner, voter string) map[string][2]any {
	return map[string][2]any{
		"apply create": {"apply", entry(t, fsm.CmdWrite, &fsm.Write{Time: 1, Ops: []fsm.Op{{Kind: fsm.OpCreate, Path: "/pwned"}}})},
		"apply close":  {"apply", entry(t, fsm.CmdCloseSession, &fsm.CloseSession{Time: 1, Session: sid, Reason: fsm.CloseExpired, LockDelayMs: 3600_000})},
		"keepalive":    {"keepalive", mustMarshal(t, map[string]any{"agent": owner, "ids": []uint64{sid}})},
		"leave":        {"leave", mustMarshal(t, voter)},
	}
}

// TestOutsiderRefusedWithoutTLS: without TLS the cluster port admits only
// the addresses of Serf members. From any other address every RPC (apply,
// close, keepalive, leave) and a forged Raft AppendEntries are refused
// before a byte is decoded; the same apply from a member's address goes
// through, which shows what the attacks would have done.
func TestOutsiderRefusedWithoutTLS(t *testing.T) {
	c := startCluster(t, agenttest.ClusterOptions{Servers: 3, Plain: true})
	v := newVictim(t, c.Servers[1])
	leader, addr := leaderRPC(c)
	before, _ := leader.Status()
	outsider := attacker{t: t, from: agenttest.NextIP()}
	voter := c.Servers[2].Name
	if voter == leader.Name {
		voter = c.Servers[0].Name
	}
	for name, a := range attacks(t, v.c.SessionID(), c.Servers[1].Name, voter) {
		if answer, err := outsider.rpc(addr, a[0].(string), a[1].([]byte)); err == nil {
			t.Errorf("%s from an outsider was answered (%q); want the connection refused", name, answer)
		}
	}
	forgeAppendEntries(t, outsider, addr, before.Term+1)

	// A member's address is admitted: the same write goes through.
	member := attacker{t: t, from: c.Servers[0].IP}
	ctl := entry(t, fsm.CmdWrite, &fsm.Write{Time: 1, Ops: []fsm.Op{{Kind: fsm.OpCreate, Path: "/control"}}})
	if answer, err := member.rpc(addr, "apply", ctl); err != nil || answer != "" {
		t.Fatalf("apply from a member's address: %q, %v", answer, err)
	}
	checkUnharmed(t, c, v, leader, before)
}

// forgeAppendEntries sends a Raft AppendEntries with a higher term, as
// hashicorp/raft's transport frames it (a type byte, then msgpack), and
// expects the connection to be refused.
func forgeAppendEntries(t *testing.T, a attacker, addr string, term uint64) {
	t.Helper()
	c, err := a.dial(addr, kindRaft)
	if err != nil {
		return // refused at the handshake
	}
	defer c.Close()
	msg, _ := msgpack.Marshal(map[string]any{"Term": term, "Leader": []byte(addr), "PrevLogEntry": 0, "LeaderCommitIndex": 0})
	_, _ = c.Write(append([]byte{0}, msg...)) // 0: rpcAppendEntries
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("a forged AppendEntries was answered")
	}
}

// checkUnharmed: nothing the attacks tried happened.
func checkUnharmed(t *testing.T, c *agenttest.Cluster, v victim, leader *agenttest.Proc, before warden.Status) {
	t.Helper()
	v.unharmed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, ok, err := v.c.Exists(ctx, "/pwned"); err != nil || ok {
		t.Fatalf("/pwned exists (%v, %v): an outsider's apply went through", ok, err)
	}
	after, _ := leader.Status()
	if c.Leader() != leader || after.Term != before.Term {
		t.Fatalf("leadership changed: %s term %d, then %s term %d", leader.Name, before.Term, c.Leader().Name, after.Term)
	}
	ms, err := v.c.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	voters := 0
	for _, m := range ms {
		if m.Suffrage == "voter" {
			voters++
		}
	}
	if voters != 3 {
		t.Fatalf("want 3 voters after the attacks, got %+v", ms)
	}
}

// TestTLSRefusesOutsiders: with mutual TLS, nothing without a certificate
// from the cluster's CA gets past the handshake, even from a member's
// address: no plain connection, no TLS client without a certificate, none
// with a certificate from another CA. Every agent runs with TLS, so the
// cluster forming and serving the victim shows TLS works between agents.
func TestTLSRefusesOutsiders(t *testing.T) {
	c := startCluster(t, agenttest.ClusterOptions{Servers: 3, TLS: true})
	v := newVictim(t, c.Servers[1])
	leader, addr := leaderRPC(c)
	before, _ := leader.Status()
	other := agenttest.NewCA(t)
	agenttest.TLSArgs(t, other, c.Servers[0].Name) // a certificate for a member's name, from another CA
	foreign, err := tls.LoadX509KeyPair(filepath.Join(other, c.Servers[0].Name+".pem"), filepath.Join(other, c.Servers[0].Name+"-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []attacker{
		{t: t, from: c.Servers[0].IP},
		{t: t, from: c.Servers[0].IP, tls: &tls.Config{InsecureSkipVerify: true}},
		{t: t, from: agenttest.NextIP(), tls: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{foreign}}},
	} {
		for name, at := range attacks(t, v.c.SessionID(), c.Servers[1].Name, c.Servers[2].Name) {
			if answer, err := a.rpc(addr, at[0].(string), at[1].([]byte)); err == nil {
				t.Errorf("%s (tls %v) was answered (%q); want the handshake refused", name, a.tls != nil, answer)
			}
		}
		forgeAppendEntries(t, a, addr, before.Term+1)
	}
	checkUnharmed(t, c, v, leader, before)
}

// TestTLSAgentsActOnlyAsThemselves: with hostname verification, an agent
// holding a valid certificate of the cluster's CA for its own name may
// forward writes, but not renew, close or write as another agent's
// sessions, nor announce another agent's leave.
func TestTLSAgentsActOnlyAsThemselves(t *testing.T) {
	c := startCluster(t, agenttest.ClusterOptions{Servers: 3, TLS: true})
	v := newVictim(t, c.Servers[1])
	leader, addr := leaderRPC(c)
	before, _ := leader.Status()
	agenttest.TLSArgs(t, c.TLSDir, "intruder")
	cert, err := tls.LoadX509KeyPair(filepath.Join(c.TLSDir, "intruder.pem"), filepath.Join(c.TLSDir, "intruder-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	in := attacker{t: t, from: agenttest.NextIP(), tls: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}}}
	sid := v.c.SessionID()
	for name, at := range attacks(t, sid, c.Servers[1].Name, c.Servers[2].Name) {
		if name == "apply create" {
			continue // members may write as no session
		}
		answer, err := in.rpc(addr, at[0].(string), at[1].([]byte))
		if err != nil || !strings.Contains(answer, "may not") {
			t.Errorf("%s by an agent acting for another: answer %q, %v; want a refusal", name, answer, err)
		}
	}
	ws := entry(t, fsm.CmdWrite, &fsm.Write{Time: 1, Session: sid, Seq: 1 << 40, MinUnacked: 1, Ops: []fsm.Op{{Kind: fsm.OpDelete, Path: v.lease.Key, Version: fsm.AnyVersion}}})
	if answer, err := in.rpc(addr, "apply", ws); err != nil || !strings.Contains(answer, "may not") {
		t.Errorf("deleting the victim's contender as its session: answer %q, %v; want a refusal", answer, err)
	}
	ctl := entry(t, fsm.CmdWrite, &fsm.Write{Time: 1, Ops: []fsm.Op{{Kind: fsm.OpCreate, Path: "/control"}}})
	if answer, err := in.rpc(addr, "apply", ctl); err != nil || answer != "" {
		t.Fatalf("a sessionless write by a certified agent: %q, %v", answer, err)
	}
	// Operator requests, which replace the tree or drop a server, are
	// taken only from servers: a certified agent that is not a voter is
	// refused before its request is read.
	for _, method := range []string{"restore", "remove_peer"} {
		body, _ := msgpack.Marshal(map[string]any{"upload": "x", "data": []byte("x"), "final": true, "force": true})
		if answer, err := in.rpc(addr, method, body); err != nil || !strings.Contains(answer, "is not a server") {
			t.Errorf("%s by a certified agent that is not a server: answer %q, %v; want a refusal", method, answer, err)
		}
	}
	checkUnharmed(t, c, v, leader, before)
}

// TestTLSRogueServerNotAdded: with TLS on, an agent that joins Serf as a
// server is made a Raft voter only once it shows a certificate for its own
// node name. A rogue with a valid certificate for another name, and one
// with no certificate, stay out; a proper replica that joins after them
// is added, which shows the leader looked at all three.
func TestTLSRogueServerNotAdded(t *testing.T) {
	c := startCluster(t, agenttest.ClusterOptions{Servers: 3, TLS: true})
	seed := c.Servers[0].IP
	start := func(name string, tlsArgs []string, server bool) *agenttest.Proc {
		ip := agenttest.NextIP()
		args := []string{"agent", "--node", name, "--bind", ip, "--data-dir", filepath.Join(t.TempDir(), name),
			"--socket", filepath.Join(agenttest.SocketDir(t), "w.sock"), "--join", seed}
		if server {
			args = append(args, "--server")
		}
		return agenttest.Launch(t, nil, append(append(args, tlsArgs...), agenttest.ClusterArgs...))
	}
	// A certificate from the cluster's CA, but for another name.
	stolen := agenttest.TLSArgs(t, c.TLSDir, "someone-else")
	start("rogue1", stolen, true)
	start("rogue2", nil, true)
	good := start("replica9", agenttest.TLSArgs(t, c.TLSDir, "replica9"), false)
	obs := c.Servers[0].Dial(t, warden.Options{Name: "observer"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var ms []warden.Member
	agenttest.Eventually(t, 60*time.Second, "the proper replica in Raft", func() bool {
		var err error
		ms, err = obs.Members(ctx)
		for _, m := range ms {
			if m.Name == good.Name && m.Suffrage == "nonvoter" {
				return err == nil
			}
		}
		return false
	})
	// The leader reconciles on every Serf event and every 5 s: look over
	// two more rounds that the rogues stay out.
	for end := time.Now().Add(12 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		ms, _ = obs.Members(ctx)
		for _, m := range ms {
			if strings.HasPrefix(m.Name, "rogue") && m.Suffrage != "none" {
				t.Fatalf("%s was added to Raft as %s: %+v", m.Name, m.Suffrage, ms)
			}
		}
	}
}

// TestOversizedRPCRefused: an RPC announcing a 4 GiB message, and then
// streaming data, is cut off at its length: the agent neither allocates
// for it nor dies, and its memory stays flat.
func TestOversizedRPCRefused(t *testing.T) {
	c := startCluster(t, agenttest.ClusterOptions{Servers: 3, Plain: true})
	v := newVictim(t, c.Servers[1])
	leader, addr := leaderRPC(c)
	before, _ := leader.Status()
	rss0 := rss(t, leader)
	a := attacker{t: t, from: c.Servers[0].IP} // a member's address gets past admission
	for i := 0; i < 5; i++ {
		conn, err := a.dial(addr, kindRPC)
		if err != nil {
			t.Fatal(err)
		}
		junk := make([]byte, 1<<20)
		_, err = conn.Write([]byte{0xff, 0xff, 0xff, 0xff})
		sent := 0
		for ; err == nil && sent < 256; sent++ { // up to 256 MiB of the claimed 4 GiB
			_, err = conn.Write(junk)
		}
		conn.Close()
		if err == nil {
			t.Fatalf("the agent read 256 MiB of a message announced at 4 GiB")
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the agent stopped reading but kept the connection open (%v); want it closed", err)
		}
	}
	if rss1 := rss(t, leader); rss1 > rss0+32<<20 {
		t.Fatalf("leader RSS grew from %d MB to %d MB under oversized RPCs", rss0>>20, rss1>>20)
	}
	t.Logf("leader RSS %d MB before, %d MB after", rss0>>20, rss(t, leader)>>20)
	checkUnharmed(t, c, v, leader, before)
}

func rss(t *testing.T, p *agenttest.Proc) int64 {
	t.Helper()
	n, err := p.RSS()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLockDelayIgnoresProposerClock: the close that expires a holder is
// stamped with the proposer's wall clock. A proposer an hour behind must
// not shorten the lock-delay (the lock would pass on while the holder's
// agent may not yet have told it "lost"), and one an hour ahead must not
// stretch it: the agent serving the next waiter times the delay on its own
// clock from when it applied the close.
func TestLockDelayIgnoresProposerClock(t *testing.T) {
	c := startCluster(t, agenttest.ClusterOptions{Servers: 3, Plain: true})
	_, addr := leaderRPC(c)
	member := attacker{t: t, from: c.Servers[0].IP} // a proposer with a skewed clock
	for _, tc := range []struct {
		name     string
		skew     time.Duration
		delay    time.Duration
		min, max time.Duration
	}{
		{"clock behind", -time.Hour, 2 * time.Second, 1800 * time.Millisecond, 10 * time.Second},
		{"clock ahead", time.Hour, 300 * time.Millisecond, 200 * time.Millisecond, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/skew/" + strings.ReplaceAll(tc.name, " ", "-")
			holder := c.Servers[1].Dial(t, warden.Options{Name: "holder"})
			lockNow(t, holder, path)
			waiter := c.Servers[2].Dial(t, warden.Options{Name: "waiter"})
			granted := lockAsync(t, waiter, path)
			waitInLine(t, waiter, path, 2)
			closeEntry := entry(t, fsm.CmdCloseSession, &fsm.CloseSession{
				Time: time.Now().Add(tc.skew).UnixMilli(), Session: holder.SessionID(),
				Reason: fsm.CloseExpired, LockDelayMs: tc.delay.Milliseconds(),
			})
			start := time.Now()
			if answer, err := member.rpc(addr, "apply", closeEntry); err != nil || answer != "" {
				t.Fatalf("close: %q, %v", answer, err)
			}
			g := waitGrant(t, granted, tc.max+5*time.Second)
			took := g.at.Sub(start)
			t.Logf("lock-delay %v, proposer clock %+v: granted %v after the close", tc.delay, tc.skew, took.Round(time.Millisecond))
			if took < tc.min || took > tc.max {
				t.Fatalf("granted %v after the close; want between %v and %v", took, tc.min, tc.max)
			}
		})
	}
}

// TestGossipEncryption: with --encrypt, an agent without the key, or with
// another key, never becomes a Serf member; one with the key joins. (The
// proper one starts last, so once it is listed the others had their
// chance.)
func TestGossipEncryption(t *testing.T) {
	key := func() string {
		out, err := exec.Command(agenttest.Binary(t), "keygen").Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	k := key()
	c := startCluster(t, agenttest.ClusterOptions{Servers: 3, Args: []string{"--encrypt", k}})
	seed := c.Servers[0].IP
	start := func(name string, extra ...string) {
		ip := agenttest.NextIP()
		args := []string{"agent", "--node", name, "--bind", ip, "--data-dir", filepath.Join(t.TempDir(), name),
			"--socket", filepath.Join(agenttest.SocketDir(t), "w.sock"), "--join", seed}
		if c.TLSDir != "" {
			args = append(args, agenttest.TLSArgs(t, c.TLSDir, name)...)
		}
		agenttest.Launch(t, nil, append(append(args, agenttest.ClusterArgs...), extra...))
	}
	start("nokey")
	start("otherkey", "--encrypt", key())
	start("replica9", "--encrypt", k)
	obs := c.Servers[0].Dial(t, warden.Options{Name: "observer"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var ms []warden.Member
	agenttest.Eventually(t, 60*time.Second, "the agent with the key in Raft", func() bool {
		ms, _ = obs.Members(ctx)
		for _, m := range ms {
			if m.Name == "replica9" && m.Suffrage == "nonvoter" {
				return true
			}
		}
		return false
	})
	for _, m := range ms {
		if m.Name == "nokey" || m.Name == "otherkey" {
			t.Fatalf("%s joined without the gossip key: %+v", m.Name, ms)
		}
	}
}
