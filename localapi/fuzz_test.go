package localapi_test

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/agent/agenttest"
	"github.com/warden-dev/warden/localapi/wire"
)

// FuzzServerFrames writes each input as one frame, after hello, on a fresh
// connection to a live agent. Whatever the input, the agent must answer as
// the protocol says (a bad frame: one bad_frame error and the connection
// closed; a request with a readable id: a reply to that id), and a healthy
// connection opened before any input must still answer ping afterwards.
//
// One agent serves every input of a process: it is started before f.Fuzz
// and stopped by f's cleanup, so the seed corpus costs one agent start in a
// plain `go test`, and each fuzzing worker starts its own.
func FuzzServerFrames(f *testing.F) {
	enc := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	seeds := [][]byte{
		enc(req{"id": 2, "op": "ping"}),
		enc(req{"id": 2, "op": "create", "path": "/fz", "data": []byte("x")}),
		enc(req{"id": 2, "op": "create", "path": "/fz-eph", "ephemeral": true, "sequential": true}),
		enc(req{"id": 2, "op": "get", "path": "/"}),
		enc(req{"id": 2, "op": "children", "path": "/"}),
		enc(req{"id": 2, "op": "multi", "ops": []req{{"op": "create", "path": "/fz-m"}, {"op": "delete", "path": "/fz-m"}}}),
		enc(req{"id": 2, "op": "lock", "path": "/fz-lock", "wait_ms": 0}),
		enc(req{"id": 2, "op": "cancel", "target": 2}),
		enc(req{"id": 2, "op": "hello", "protocol": 1}),
		enc(req{"id": 2, "op": "get", "path": 123}),
		enc(req{"id": "x", "op": "get"}),
		enc(req{"id": 0, "op": "ping"}),
		enc(req{"id": 2, "op": "nope"}),
		enc(req{"id": 2, "op": "multi", "ops": "x"}),
		{},
		{0xc0},
		{0xc1, 0xff},
		{0x90},
		{0x81, 0xa3, 'o', 'p', 's', 0xdd, 0x00, 0x0f, 0x42, 0x40},
	}
	for _, s := range seeds {
		f.Add(s)
	}

	a := agenttest.Start(f)
	healthy := dialHello(f, a)
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > wire.MaxFrameSize {
			t.Skip("longer than a frame")
		}
		c := dialHello(t, a)
		c.nextID.Store(1 << 40) // clear of any id the input may use
		c.writeRaw(t, frame(body))

		want, werr := wire.DecodeRequest(body)
		switch {
		case len(body) == 0 || (werr != nil && werr.Code == wire.CodeBadFrame):
			wantError(t, c.nextReply(t), 0, wire.CodeBadFrame)
			c.expectClosed(t)
		case werr != nil:
			wantError(t, c.nextReply(t), want.ID, werr.Code)
			c.expectOpen(t)
		case want.ID == 0:
			wantError(t, c.nextReply(t), 0, wire.CodeBadArguments)
			c.expectOpen(t)
		case blocking[want.Op] && (want.WaitMs == nil || *want.WaitMs < 0 || *want.WaitMs > 1000):
			// It may wait on a lock held by an earlier input's session
			// that is still closing; don't wait for it.
		default:
			if m := c.nextReply(t); m.ID != want.ID {
				t.Fatalf("reply for id %d, want %d: %+v", m.ID, want.ID, m)
			}
		}
		c.nc.Close()
		m := healthy.call(t, req{"op": "ping"})
		if m.Error != nil {
			t.Fatalf("healthy connection: %s: %s", m.Error.Code, m.Error.Message)
		}
	})
}

// blocking lists the ops that may wait (on a grant, a barrier or an item):
// the fuzzer does not wait for their replies.
var blocking = map[string]bool{
	wire.OpLock: true, wire.OpReadLock: true, wire.OpWriteLock: true, wire.OpSemAcquire: true,
	wire.OpCampaign: true, wire.OpBarrierWait: true, wire.OpBarrierEnter: true,
	wire.OpBarrierLeave: true, wire.OpQueueTake: true,
}
