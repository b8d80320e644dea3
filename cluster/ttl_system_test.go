package cluster_test

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/fsm"
	"github.com/warden-dev/warden/localapi/wire"
)

// awaitDeleted waits (bounded) for w, a watch on a TTL node, to report
// the node deleted, and returns when it did.
func awaitDeleted(t *testing.T, w *warden.Watch, path string, within time.Duration) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	ev, err := w.Wait(ctx)
	if err != nil || ev.Type != wire.ChangeDeleted || ev.Path != path {
		t.Fatalf("waiting up to %v for %s to expire: %+v, %v", within, path, ev, err)
	}
	return time.Now()
}

// TestTTLNodesExpireAcrossLeaderChange runs three real servers. A TTL
// node created through a follower is deleted once its TTL has passed, as
// a watch on another agent sees. A second node's countdown survives a
// leader change: it is the replicated Mtime, so the new leader deletes the
// node TTL after its last change, not TTL after the election. An expiry
// entry forwarded by a member, which only the leader may propose, is
// refused, and the node it names stays.
func TestTTLNodesExpireAcrossLeaderChange(t *testing.T) {
	c := startCluster(t, agenttest.ClusterOptions{Servers: 3})
	leader := c.Leader()
	var followers []*agenttest.Proc
	for _, s := range c.Servers {
		if s != leader {
			followers = append(followers, s)
		}
	}
	writer := followers[0].Dial(t, warden.Options{Name: "ttl-writer"})
	watcher := followers[1].Dial(t, warden.Options{Name: "ttl-watcher"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// 1. Expiry: created through a follower, seen gone by another.
	if _, err := writer.CreateTTL(ctx, "/short", []byte("x"), warden.Persistent, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := watcher.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	st, ok, w, err := watcher.ExistsW(ctx, "/short")
	if err != nil || !ok || st.TTL != 1000 {
		t.Fatalf("exists /short on another agent: %+v %v %v", st, ok, err)
	}
	gone := awaitDeleted(t, w, "/short", 15*time.Second)
	if due := time.UnixMilli(st.Mtime + st.TTL); gone.Before(due) {
		t.Fatalf("/short deleted at %v, before it was due at %v", gone, due)
	}

	// 2. A forged expiry from a member's address is refused.
	if _, err := writer.CreateTTL(ctx, "/forged", nil, warden.Persistent, time.Hour); err != nil {
		t.Fatal(err)
	}
	fst, _, _ := writer.Exists(ctx, "/forged")
	forged := entry(t, fsm.CmdExpireTTL, &fsm.ExpireTTL{Time: 1 << 62, Nodes: []fsm.TTLExpiry{{Path: "/forged", Mzxid: fst.Mzxid}}})
	// From a member's address, and under TLS with the member's own
	// certificate: the leader admits the call, then refuses the entry.
	in := attacker{t: t, from: followers[0].IP}
	if c.TLSDir != "" {
		name := filepath.Join(c.TLSDir, followers[0].Name)
		cert, err := tls.LoadX509KeyPair(name+".pem", name+"-key.pem")
		if err != nil {
			t.Fatal(err)
		}
		in.tls = &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}}
	}
	answer, err := in.rpc(net.JoinHostPort(leader.IP, "7300"), "apply", forged)
	if err != nil || !strings.Contains(answer, "only the leader") {
		t.Fatalf("a forwarded expiry entry: answer %q, %v; want a refusal", answer, err)
	}
	if _, ok, _ := writer.Exists(ctx, "/forged"); !ok {
		t.Fatal("a forged expiry deleted /forged")
	}

	// 3. The countdown survives a leader change. The leader is killed
	// halfway through the TTL, so a countdown restarted by the new
	// leader would delete the node at least half a TTL late.
	const ttl = 8 * time.Second
	if _, err := writer.CreateTTL(ctx, "/long", nil, warden.Persistent, ttl); err != nil {
		t.Fatal(err)
	}
	if _, err := watcher.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	st, ok, w, err = watcher.ExistsW(ctx, "/long")
	if err != nil || !ok {
		t.Fatalf("exists /long: %+v %v %v", st, ok, err)
	}
	due := time.UnixMilli(st.Mtime + st.TTL)
	// Waiting for wall-clock time to pass is the point here, not a
	// stand-in for an event.
	time.Sleep(time.Until(due.Add(-ttl / 2)))
	leader.Kill()
	newLeader := liveLeader(t, c)
	if newLeader == leader {
		t.Fatalf("%s still leads after being killed", leader.Name)
	}
	elected := time.Now()
	if elected.After(due) {
		t.Logf("the new leader came only after the node was due (%v late): the test shows less", elected.Sub(due))
	}
	gone = awaitDeleted(t, w, "/long", 30*time.Second)
	if gone.Before(due) {
		t.Fatalf("/long deleted at %v, before it was due at %v", gone, due)
	}
	// Due plus the leader's tick (1 s) plus a proposal; a restarted
	// countdown would be at least elected+ttl, more than ttl/2 later.
	if late := gone.Sub(due); late > 3*time.Second {
		t.Fatalf("/long deleted %v after it was due (new leader %s elected %v before due): the countdown did not survive the leader change",
			late, newLeader.Name, due.Sub(elected))
	}
	t.Logf("leader %s killed %v before /long was due; %s elected; /long deleted %v after due",
		leader.Name, ttl/2, newLeader.Name, gone.Sub(due))
	if _, ok, _ := watcher.Exists(ctx, "/forged"); !ok {
		t.Fatal("/forged, not due for an hour, went with the leader change")
	}
}
