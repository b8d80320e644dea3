package zkapi_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/warden-dev/warden/agent"
	"github.com/warden-dev/warden/agent/agenttest"
	"github.com/warden-dev/warden/cluster"
)

// startAgent runs an in-process agent serving ZooKeeper on a free port.
func startAgent(t *testing.T) *agent.Agent {
	t.Helper()
	a := agenttest.Start(t, func(c *agent.Config) { c.ZKPort = agent.ZKPortFree })
	if a.ZKAddr() == "" {
		t.Fatal("agent has no ZooKeeper address")
	}
	return a
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}

// dialZK connects go-zookeeper's client and waits for its session.
func dialZK(t *testing.T, addr string, timeout time.Duration) (*zk.Conn, <-chan zk.Event) {
	t.Helper()
	c, events, err := zk.Connect([]string{addr}, timeout, zk.WithLogger(quiet{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	waitState(t, events, zk.StateHasSession)
	return c, events
}

func waitState(t *testing.T, events <-chan zk.Event, want zk.State) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Type == zk.EventSession && ev.State == want {
				return
			}
		case <-deadline:
			t.Fatalf("no session event %v within 20s", want)
		}
	}
}

var open = zk.WorldACL(zk.PermAll)

func TestSessionOpensAsAResumableWardenSessionAndCloses(t *testing.T) {
	a := startAgent(t)
	c, _ := dialZK(t, a.ZKAddr(), 4*time.Second)
	id := uint64(c.SessionID())
	s, ok := a.Node().FSM().Session(id)
	if !ok {
		t.Fatalf("ZooKeeper session %#x is not a Warden session", id)
	}
	if !s.Resumable || s.TimeoutMs != 4000 || !strings.HasPrefix(s.Client, "zookeeper ") {
		t.Fatalf("session = %+v; want resumable, timeout 4000ms, client zookeeper ...", s)
	}
	if _, err := c.Create("/e", nil, zk.FlagEphemeral, open); err != nil {
		t.Fatal(err)
	}
	c.Close()
	agenttest.Eventually(t, 5*time.Second, "closeSession to end the session", func() bool {
		_, ok := a.Node().FSM().Session(id)
		return !ok
	})
	if _, _, _, err := a.Node().Get("/e", false); err == nil {
		t.Fatal("the ephemeral node outlived its closed session")
	}
}

func TestTimeoutIsClampedToTheAgentsBounds(t *testing.T) {
	a := agenttest.Start(t, func(c *agent.Config) {
		c.ZKPort = agent.ZKPortFree
		c.Tune = func(cc *cluster.Config) {
			agenttest.Fast(cc)
			cc.MinSessionTimeout, cc.MaxSessionTimeout = time.Second, 3*time.Second
		}
	})
	for _, tc := range []struct{ ask, want int32 }{{100, 1000}, {2000, 2000}, {60000, 3000}} {
		r := dialRaw(t, a.ZKAddr(), tc.ask, 0, nil)
		if r.Timeout != tc.want || r.Session == 0 || len(r.Passwd) != 16 {
			t.Errorf("asked %dms: timeout %d, session %#x, password of %d bytes; want %dms, a session, 16 bytes",
				tc.ask, r.Timeout, r.Session, len(r.Passwd), tc.want)
		}
	}
}

func TestCreateModesAndSequentialNames(t *testing.T) {
	a := startAgent(t)
	c, _ := dialZK(t, a.ZKAddr(), 5*time.Second)
	if p, err := c.Create("/app", []byte("x"), zk.FlagPersistent, open); err != nil || p != "/app" {
		t.Fatalf("create persistent: %q, %v", p, err)
	}
	for i := 0; i < 3; i++ {
		p, err := c.Create("/app/job-", nil, zk.FlagSequence, open)
		if want := fmt.Sprintf("/app/job-%010d", i); err != nil || p != want {
			t.Fatalf("create sequential: %q, %v; want %q", p, err, want)
		}
	}
	p, err := c.Create("/app/lock-", nil, zk.FlagEphemeralSequential, open)
	if err != nil || p != "/app/lock-0000000003" {
		t.Fatalf("create ephemeral sequential: %q, %v", p, err)
	}
	if _, err := c.Create("/app/eph", nil, zk.FlagEphemeral, open); err != nil {
		t.Fatal(err)
	}
	_, st, err := c.Get("/app/eph")
	if err != nil || st.EphemeralOwner != c.SessionID() {
		t.Fatalf("ephemeral owner = %#x (%v); want the session %#x", st.EphemeralOwner, err, c.SessionID())
	}
	if _, err := c.Create("/app/eph/child", nil, 0, open); !errors.Is(err, zk.ErrNoChildrenForEphemerals) {
		t.Fatalf("child of an ephemeral: %v; want NOCHILDRENFOREPHEMERALS", err)
	}
	if _, err := c.CreateContainer("/box", nil, zk.FlagContainer, open); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create("/box/item", nil, 0, open); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("/box/item", -1); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := c.Exists("/box"); err != nil || ok {
		t.Fatalf("container after its last child went: exists=%v (%v); want gone", ok, err)
	}
	if p, err := c.CreateTTL("/ttl-", nil, zk.FlagPersistentSequentialWithTTL, open, time.Minute); err != nil || p != "/ttl-0000000003" { // the root's cversion: /app and /box created, /box removed
		t.Fatalf("createTTL sequential: %q, %v", p, err)
	}
	// A TTL node goes once its TTL has passed without a change.
	if _, err := c.CreateTTL("/short", nil, zk.FlagTTL, open, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	_, _, gone, err := c.ExistsW("/short")
	if err != nil {
		t.Fatal(err)
	}
	expect(t, gone, zk.EventNodeDeleted, "/short")
	kids, st, err := c.Children("/app")
	if err != nil || len(kids) != 5 || st.NumChildren != 5 || st.Cversion != 5 {
		t.Fatalf("children = %v, stat %+v (%v)", kids, st, err)
	}
}

func TestReadWriteStatsAndErrorCodes(t *testing.T) {
	a := startAgent(t)
	c, _ := dialZK(t, a.ZKAddr(), 5*time.Second)
	if _, err := c.Create("/n", []byte("v0"), 0, open); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create("/n", nil, 0, open); !errors.Is(err, zk.ErrNodeExists) {
		t.Fatalf("create twice: %v; want NODEEXISTS", err)
	}
	if _, err := c.Create("/missing/child", nil, 0, open); !errors.Is(err, zk.ErrNoNode) {
		t.Fatalf("create under a missing parent: %v; want NONODE", err)
	}
	if _, err := c.Create("/acl", nil, 0, zk.WorldACL(zk.PermRead)); !errors.Is(err, zk.ErrInvalidACL) {
		t.Fatalf("create with a read-only ACL: %v; want INVALIDACL", err)
	}
	st, err := c.Set("/n", []byte("v1"), 0)
	if err != nil || st.Version != 1 || st.DataLength != 2 {
		t.Fatalf("set: %+v, %v", st, err)
	}
	if _, err := c.Set("/n", []byte("v2"), 0); !errors.Is(err, zk.ErrBadVersion) {
		t.Fatalf("set with a stale version: %v; want BADVERSION", err)
	}
	if _, err := c.Set("/none", nil, -1); !errors.Is(err, zk.ErrNoNode) {
		t.Fatalf("set of a missing node: %v; want NONODE", err)
	}
	data, st2, err := c.Get("/n")
	if err != nil || string(data) != "v1" || st2.Mzxid != st.Mzxid || st2.Czxid >= st2.Mzxid || st2.Mtime < st2.Ctime {
		t.Fatalf("get: %q %+v %v", data, st2, err)
	}
	if _, _, err := c.Get("/none"); !errors.Is(err, zk.ErrNoNode) {
		t.Fatalf("get of a missing node: %v; want NONODE", err)
	}
	if _, err := c.Create("/n/k", nil, 0, open); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("/n", -1); !errors.Is(err, zk.ErrNotEmpty) {
		t.Fatalf("delete of a parent: %v; want NOTEMPTY", err)
	}
	if err := c.Delete("/n/k", 3); !errors.Is(err, zk.ErrBadVersion) {
		t.Fatalf("delete with a wrong version: %v; want BADVERSION", err)
	}
	if err := c.Delete("/n/k", 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("/n/k", -1); !errors.Is(err, zk.ErrNoNode) {
		t.Fatalf("delete of a missing node: %v; want NONODE", err)
	}
	ok, st3, err := c.Exists("/n")
	if err != nil || !ok || st3.NumChildren != 0 || st3.Cversion != 2 || st3.Pzxid <= st3.Czxid {
		t.Fatalf("exists: %v %+v %v", ok, st3, err)
	}
	kids, st4, err := c.Children("/")
	if err != nil || len(kids) != 1 || kids[0] != "n" || st4.NumChildren != 1 {
		t.Fatalf("children of /: %v %+v %v", kids, st4, err)
	}
	acl, _, err := c.GetACL("/n")
	if err != nil || len(acl) != 1 || acl[0] != open[0] {
		t.Fatalf("getACL: %v %v; want world:anyone all", acl, err)
	}
	if _, err := c.SetACL("/n", open, -1); err != nil {
		t.Fatalf("setACL world:anyone: %v", err)
	}
	if _, err := c.SetACL("/n", zk.DigestACL(zk.PermAll, "u", "p"), -1); !errors.Is(err, zk.ErrInvalidACL) {
		t.Fatalf("setACL digest: %v; want INVALIDACL", err)
	}
	if _, err := c.Sync("/n"); err != nil {
		t.Fatal(err)
	}
}

func TestMultiAppliesAllOrNothingWithPerOpResults(t *testing.T) {
	a := startAgent(t)
	c, _ := dialZK(t, a.ZKAddr(), 5*time.Second)
	res, err := c.Multi(
		&zk.CreateRequest{Path: "/m", Data: []byte("a"), Acl: open},
		&zk.CreateRequest{Path: "/m/s-", Acl: open, Flags: zk.FlagSequence},
		&zk.SetDataRequest{Path: "/m", Data: []byte("b"), Version: 0},
		&zk.CheckVersionRequest{Path: "/m", Version: 1},
	)
	if err != nil || len(res) != 4 || res[1].String != "/m/s-0000000000" || res[2].Stat == nil || res[2].Stat.Version != 1 {
		t.Fatalf("multi: %+v, %v", res, err)
	}
	for _, r := range res {
		if r.Error != nil {
			t.Fatalf("multi result error: %+v", res)
		}
	}
	res, err = c.Multi(
		&zk.CreateRequest{Path: "/m2", Acl: open},
		&zk.DeleteRequest{Path: "/m", Version: -1}, // not empty
		&zk.SetDataRequest{Path: "/m", Version: -1},
	)
	if !errors.Is(err, zk.ErrNotEmpty) || len(res) != 3 || res[0].Error != nil || !errors.Is(res[1].Error, zk.ErrNotEmpty) ||
		res[2].Error == nil || !strings.Contains(res[2].Error.Error(), "-2") {
		t.Fatalf("failed multi: %+v, %v; want NOTEMPTY on the second op", res, err)
	}
	if ok, _, _ := c.Exists("/m2"); ok {
		t.Fatal("a failed multi applied its first op")
	}
}

func TestOneShotWatchesFireOnceInOrder(t *testing.T) {
	a := startAgent(t)
	c, _ := dialZK(t, a.ZKAddr(), 5*time.Second)
	other, _ := dialZK(t, a.ZKAddr(), 5*time.Second)
	_, _, exists, err := c.ExistsW("/w")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Create("/w", []byte("1"), 0, open); err != nil {
		t.Fatal(err)
	}
	expect(t, exists, zk.EventNodeCreated, "/w")
	_, _, data, err := c.GetW("/w")
	if err != nil {
		t.Fatal(err)
	}
	_, _, kids, err := c.ChildrenW("/w")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Set("/w", []byte("2"), -1); err != nil {
		t.Fatal(err)
	}
	// The notification precedes the reply to a read that sees the change.
	if got, _, err := c.Get("/w"); err != nil || string(got) != "2" {
		t.Fatalf("get after set: %q %v", got, err)
	}
	select {
	case ev := <-data:
		if ev.Type != zk.EventNodeDataChanged || ev.Path != "/w" {
			t.Fatalf("data watch: %+v", ev)
		}
	default:
		t.Fatal("a read saw the change before its data watch's notification")
	}
	if _, err := other.Set("/w", []byte("3"), -1); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Create("/w/c", nil, 0, open); err != nil {
		t.Fatal(err)
	}
	expect(t, kids, zk.EventNodeChildrenChanged, "/w")
	// One-shot: the data watch fired once; the second set has no event.
	select {
	case ev, ok := <-data:
		if ok {
			t.Fatalf("a one-shot watch fired twice: %+v", ev)
		}
	default:
	}
	_, _, del, err := c.GetW("/w/c")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Delete("/w/c", -1); err != nil {
		t.Fatal(err)
	}
	expect(t, del, zk.EventNodeDeleted, "/w/c")
}

func expect(t *testing.T, ch <-chan zk.Event, typ zk.EventType, path string) {
	t.Helper()
	select {
	case ev := <-ch:
		if ev.Type != typ || ev.Path != path {
			t.Fatalf("event %v on %s; want %v on %s", ev.Type, ev.Path, typ, path)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no %v on %s within 10s", typ, path)
	}
}
