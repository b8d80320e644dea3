package warden_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/localapi/wire"
)

// TestCreateTTL: CreateTTL makes a node whose Stat reports its TTL, and
// which the agent deletes once the TTL has passed (a watch hears it);
// CreateTTLOp does the same within a Multi; a TTL that is not positive,
// or on an ephemeral node, is bad_arguments.
func TestCreateTTL(t *testing.T) {
	a := agenttest.Start(t)
	c := dial(t, a)
	ctx := testCtx(t, 30*time.Second)
	badArgs := &wire.Error{Code: wire.CodeBadArguments}

	p, err := c.CreateTTL(ctx, "/ttl-", []byte("x"), warden.Sequential, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	_, st, w, err := c.GetW(ctx, p)
	if err != nil || st.TTL != 300 {
		t.Fatalf("get %s: %+v, %v", p, st, err)
	}
	ev, err := w.Wait(ctx)
	if err != nil || ev.Type != wire.ChangeDeleted {
		t.Fatalf("watch of the TTL node: %+v, %v", ev, err)
	}
	if now := time.Now().UnixMilli(); now < st.Mtime+st.TTL {
		t.Fatalf("deleted at %d, before mtime %d + ttl %d", now, st.Mtime, st.TTL)
	}

	res, err := c.Multi(ctx, warden.CreateTTLOp("/ttl-multi", nil, warden.Persistent, 90*time.Second+time.Microsecond))
	if err != nil || res[0].Stat.TTL != 90001 {
		t.Fatalf("multi: %+v, %v (want the TTL rounded up to 90001 ms)", res, err)
	}
	for name, call := range map[string]func() error{
		"zero":      func() error { _, err := c.CreateTTL(ctx, "/bad", nil, warden.Persistent, 0); return err },
		"negative":  func() error { _, err := c.CreateTTL(ctx, "/bad", nil, warden.Persistent, -time.Second); return err },
		"ephemeral": func() error { _, err := c.CreateTTL(ctx, "/bad", nil, warden.Ephemeral, time.Second); return err },
		"in a multi": func() error {
			_, err := c.Multi(ctx, warden.CreateTTLOp("/bad", nil, warden.Persistent, 0))
			return err
		},
	} {
		if err := call(); !errors.Is(err, badArgs) {
			t.Errorf("%s: %v, want bad_arguments", name, err)
		}
	}
	if _, ok, _ := c.Exists(ctx, "/bad"); ok {
		t.Fatal("a refused create made /bad")
	}
}

// TestManyTTLNodesExpire: more TTL nodes than one expiry entry names
// (fsm.MaxExpirePerEntry) all go, and their parent, which has no TTL,
// stays; a TTL parent goes once its last child has.
func TestManyTTLNodesExpire(t *testing.T) {
	a := agenttest.Start(t)
	c := dial(t, a)
	ctx := testCtx(t, 60*time.Second)
	mustCreate(t, c, "/many", "", warden.Persistent)
	if _, err := c.CreateTTL(ctx, "/many/parent", nil, warden.Persistent, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for batch := 0; batch < 3; batch++ {
		var ops []warden.Op
		for i := 0; i < 500; i++ {
			ops = append(ops, warden.CreateTTLOp(fmt.Sprintf("/many/parent/n-%d-%d", batch, i), nil, warden.Persistent, 300*time.Millisecond))
		}
		if _, err := c.Multi(ctx, ops...); err != nil {
			t.Fatal(err)
		}
	}
	for {
		kids, _, w, err := c.ChildrenW(ctx, "/many")
		if err != nil {
			t.Fatal(err)
		}
		if len(kids) == 0 {
			break
		}
		if _, err := w.Wait(ctx); err != nil {
			t.Fatalf("waiting for /many/parent and its 1500 TTL children to go: %v", err)
		}
	}
	if _, ok, _ := c.Exists(ctx, "/many"); !ok {
		t.Fatal("/many, which has no TTL, went too")
	}
}
