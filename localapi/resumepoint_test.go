package localapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/agent/agenttest"
	"github.com/warden-dev/warden/localapi/wire"
)

// TestSubscribeFromBeyondCurrent: a subscribe resuming after a zxid no
// event has carried yet is refused with bad_arguments naming the current
// zxid, at once, instead of waiting; resuming at the current zxid is
// fine and streams the next change.
func TestSubscribeFromBeyondCurrent(t *testing.T) {
	a := agenttest.Start(t)
	c := dialHello(t, a)
	path := uniquePath("resume")
	c.ok(t, req{"op": "create", "path": path}, nil)
	var sr wire.SyncResult
	c.ok(t, req{"op": "sync"}, &sr)

	id := c.id()
	m := c.call(t, req{"id": id, "op": "subscribe", "path": path, "from_zxid": sr.Zxid + 1000})
	wantError(t, m, id, wire.CodeBadArguments)
	var named uint64
	_, after, _ := strings.Cut(m.Error.Message, "current zxid ")
	if _, err := fmt.Sscanf(after, "%d:", &named); err != nil || named < sr.Zxid || named >= sr.Zxid+1000 {
		t.Fatalf("error %q does not name the current zxid (%d or a little more)", m.Error.Message, sr.Zxid)
	}

	var sub wire.SubscribeResult
	c.ok(t, req{"op": "subscribe", "path": path, "from_zxid": sr.Zxid}, &sub)
	c.send(t, req{"id": c.id(), "op": "set", "path": path, "data": []byte("x")})
	for {
		m := c.next(t)
		if m.Event != wire.EventChange {
			continue
		}
		var ev wire.ChangeEvent
		if err := msgpack.Unmarshal(m.Body, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type != wire.ChangeDataChanged || ev.Zxid <= sr.Zxid || string(ev.Data) != "x" {
			t.Fatalf("first event after resuming at %d: %+v", sr.Zxid, ev)
		}
		return
	}
}
