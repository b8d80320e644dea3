package localapi_test

import (
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/agent/agenttest"
	"github.com/warden-dev/warden/localapi/wire"
)

// TestCreateTTL: a create with ttl_ms answers a Stat with ttl, so do
// reads, a set keeps it, and the node is deleted (its watch hears so) no
// sooner than ttl_ms after its last change. A node without a TTL has no
// ttl in its Stat.
func TestCreateTTL(t *testing.T) {
	a := agenttest.Start(t)
	c := dialHello(t, a)
	path := uniquePath("ttl")
	var cr wire.CreateResult
	c.ok(t, req{"op": "create", "path": path, "data": []byte("x"), "ttl_ms": 400}, &cr)
	if cr.Stat.TTL != 400 {
		t.Fatalf("create result stat: %+v", cr.Stat)
	}
	var sr wire.StatResult
	c.ok(t, req{"op": "set", "path": path, "data": []byte("y")}, &sr)
	if sr.Stat.TTL != 400 || sr.Stat.Mtime < cr.Stat.Mtime {
		t.Fatalf("set result stat: %+v", sr.Stat)
	}
	var gr wire.GetResult
	c.ok(t, req{"op": "get", "path": path, "watch": true}, &gr)
	if gr.Stat.TTL != 400 || gr.Watch == 0 {
		t.Fatalf("get: %+v", gr)
	}
	var mr wire.MultiResult
	c.ok(t, req{"op": "multi", "ops": []req{{"op": "create", "path": uniquePath("ttl-multi"), "ttl_ms": 60000}}}, &mr)
	if mr.Results[0].Stat.TTL != 60000 {
		t.Fatalf("multi create: %+v", mr.Results[0])
	}
	for {
		m, err := c.read(replyTimeout)
		if err != nil {
			t.Fatalf("no watch event for the TTL node within %v: %v", replyTimeout, err)
		}
		if m.Event != wire.EventWatch || m.Sub != gr.Watch {
			continue
		}
		var ev wire.WatchEvent
		if err := msgpack.Unmarshal(m.Body, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type != wire.ChangeDeleted || ev.Path != path {
			t.Fatalf("watch heard %+v, want the node deleted", ev)
		}
		if now := time.Now().UnixMilli(); now < gr.Stat.Mtime+gr.Stat.TTL {
			t.Fatalf("deleted at %d, before mtime %d + ttl %d", now, gr.Stat.Mtime, gr.Stat.TTL)
		}
		break
	}
	var er wire.ExistsResult
	c.ok(t, req{"op": "exists", "path": path}, &er)
	if er.Exists {
		t.Fatal("the TTL node still exists after its deletion event")
	}
	plain := uniquePath("plain")
	c.ok(t, req{"op": "create", "path": plain}, &cr)
	m := c.call(t, req{"op": "get", "path": plain})
	var raw map[string]map[string]any
	if err := msgpack.Unmarshal(m.Result, &raw); err != nil {
		t.Fatal(err)
	}
	if _, has := raw["stat"]["ttl"]; has {
		t.Fatalf("a node without a TTL has ttl in its stat: %v", raw["stat"])
	}
}

// TestCreateTTLRefusals: a ttl_ms that is not a positive number of ms
// within bounds, on an ephemeral node or a container, or on an op other
// than create, is bad_arguments, and the connection goes on.
func TestCreateTTLRefusals(t *testing.T) {
	a := agenttest.Start(t)
	c := dialHello(t, a)
	c.nextID.Store(100) // the cases' own ids stay clear of ours
	for _, tc := range []struct {
		name string
		req  req
	}{
		{"negative", req{"id": 24, "op": "create", "path": "/x", "ttl_ms": -5}},
		{"on an ephemeral", req{"id": 25, "op": "create", "path": "/x", "ttl_ms": 1000, "ephemeral": true}},
		{"on a container", req{"id": 26, "op": "create", "path": "/x", "ttl_ms": 1000, "container": true}},
		{"on a set", req{"id": 27, "op": "set", "path": "/", "ttl_ms": 1000}},
		{"a string", req{"id": 28, "op": "create", "path": "/x", "ttl_ms": "1h"}},
		{"too long", req{"id": 29, "op": "create", "path": "/x", "ttl_ms": int64(1) << 48}},
		{"on a multi's delete", req{"id": 30, "op": "multi", "ops": []req{{"op": "delete", "path": "/x", "ttl_ms": 5}}}},
		{"on a multi's ephemeral", req{"id": 31, "op": "multi", "ops": []req{{"op": "create", "path": "/x", "ttl_ms": 5, "ephemeral": true}}}},
	} {
		c.send(t, tc.req)
		wantError(t, c.nextReply(t), uint64(tc.req["id"].(int)), wire.CodeBadArguments)
	}
	var er wire.ExistsResult
	c.ok(t, req{"op": "exists", "path": "/x"}, &er)
	if er.Exists {
		t.Fatal("a refused create made /x")
	}
	c.expectHealthy(t)
}
