package zkapi

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warden-dev/warden/fsm"
	"github.com/warden-dev/warden/localapi"
)

// laggingBackend is a replica that has not yet seen the node at hidden:
// it shows up once Sync has caught the replica up.
type laggingBackend struct {
	*treeBackend
	hidden string
	synced bool
}

func (b *laggingBackend) Exists(path string, watch bool) (fsm.Stat, bool, *fsm.Watch, error) {
	if path == b.hidden && !b.synced {
		return fsm.Stat{}, false, nil, nil
	}
	return b.treeBackend.Exists(path, watch)
}

func (b *laggingBackend) Sync(ctx context.Context) (uint64, error) {
	b.synced = true
	return b.treeBackend.Sync(ctx)
}

// TestMalformedCreateUnderParentNotYetSeen: a create of "/p/" whose parent
// another session just made is BADARGUMENTS even on an agent whose
// replica has not applied the parent yet (ZooKeeper's leader judges it
// on its latest state), not NONODE.
func TestMalformedCreateUnderParentNotYetSeen(t *testing.T) {
	tb := newTreeBackend()
	b := &laggingBackend{treeBackend: tb, hidden: "/p"}
	cfg := DefaultConfig()
	cfg.Logger = hclog.NewNullLogger()
	s, err := New(cfg, b)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := b.OpenSession(context.Background(), localapi.SessionOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c := newConn(s, nil)
	c.sid, c.secret, c.timeout = sess.ID, sess.Secret, time.Second
	var e encoder
	e.string("/p")
	e.buffer(nil)
	e.openACL()
	e.int(0)
	if rep := c.dispatch(request{op: opCreate, body: e.b}); rep.err != errOK {
		t.Fatalf("create /p: %d", rep.err)
	}
	var m encoder
	m.string("/p/")
	m.buffer(nil)
	m.openACL()
	m.int(0)
	if rep := c.dispatch(request{op: opCreate, body: m.b}); rep.err != errBadArguments {
		t.Fatalf("create /p/ with /p not yet on the replica: %d; want BADARGUMENTS", rep.err)
	}
	if !b.synced {
		t.Fatal("the replica was not caught up before the parent was judged missing")
	}
	var n encoder
	n.string("/q/")
	n.buffer(nil)
	n.openACL()
	n.int(0)
	if rep := c.dispatch(request{op: opCreate, body: n.b}); rep.err != errNoNode {
		t.Fatalf("create /q/ (no /q): %d; want NONODE", rep.err)
	}
}
