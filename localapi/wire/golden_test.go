package wire_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/localapi/wire"
)

// The golden frames in testdata/protocol/v1.json are protocol version 1 as
// bytes: every client (Go, Python, TypeScript) replays them. Each entry is
// a frame (length prefix included, hex) and, for readers, the frame's body
// as JSON (bin values as {"$bin": hex}). This test keeps them in step with
// the wire package: run `go test ./localapi/wire -run Golden -update` after
// a deliberate protocol change.

var update = flag.Bool("update", false, "rewrite testdata/protocol/v1.json")

const goldenFile = "../../testdata/protocol/v1.json"

type golden struct {
	Name  string          `json:"name"`
	Kind  string          `json:"kind"` // request, reply or event
	Frame string          `json:"frame"`
	Body  json.RawMessage `json:"body"`
}

func i64(v int64) *int64 { return &v }

func raw(t *testing.T, v any) msgpack.RawMessage {
	t.Helper()
	b, err := wire.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func goldenCases(t *testing.T) []struct {
	name, kind string
	v          any
} {
	stat := wire.Stat{Czxid: 12, Mzxid: 14, Pzxid: 12, Ctime: 1700000000000, Mtime: 1700000000500,
		Version: 1, DataLength: 5, EphemeralOwner: 0}
	type c = struct {
		name, kind string
		v          any
	}
	cases := []c{
		{"hello", "request", &wire.Request{ID: 1, Op: wire.OpHello, Protocol: 1, SessionTimeoutMs: 10000, Client: "app"}},
		{"hello-resumable", "request", &wire.Request{ID: 1, Op: wire.OpHello, Protocol: 1, Resumable: true}},
		{"hello-resume", "request", &wire.Request{ID: 1, Op: wire.OpHello, Protocol: 1, SessionID: 7, Secret: []byte{1, 2, 3, 4}}},
		{"hello-no-session", "request", &wire.Request{ID: 1, Op: wire.OpHello, Protocol: 1, NoSession: true}},
		{"ping", "request", &wire.Request{ID: 2, Op: wire.OpPing}},
		{"create", "request", &wire.Request{ID: 3, Op: wire.OpCreate, Path: "/app/config", Data: []byte("hello")}},
		{"create-ephemeral-sequential", "request", &wire.Request{ID: 4, Op: wire.OpCreate, Path: "/jobs/job-", Ephemeral: true, Sequential: true}},
		{"set", "request", &wire.Request{ID: 5, Op: wire.OpSet, Path: "/app/config", Data: []byte("world"), Version: i64(0)}},
		{"delete", "request", &wire.Request{ID: 6, Op: wire.OpDelete, Path: "/app/config", Version: i64(-1)}},
		{"get", "request", &wire.Request{ID: 7, Op: wire.OpGet, Path: "/app/config"}},
		{"get-watch", "request", &wire.Request{ID: 8, Op: wire.OpGet, Path: "/app/config", Watch: true}},
		{"exists", "request", &wire.Request{ID: 9, Op: wire.OpExists, Path: "/app"}},
		{"children", "request", &wire.Request{ID: 10, Op: wire.OpChildren, Path: "/"}},
		{"multi", "request", &wire.Request{ID: 11, Op: wire.OpMulti, Ops: wire.OpList{
			{Op: wire.OpCheck, Path: "/app", Version: i64(0)},
			{Op: wire.OpCreate, Path: "/app/a", Data: []byte("x")},
			{Op: wire.OpSet, Path: "/app", Data: []byte("y"), Version: i64(0)},
			{Op: wire.OpDelete, Path: "/app/b", Version: i64(-1)},
		}}},
		{"sync", "request", &wire.Request{ID: 12, Op: wire.OpSync}},
		{"lock", "request", &wire.Request{ID: 13, Op: wire.OpLock, Path: "/locks/nightly", WaitMs: i64(-1)}},
		{"lock-try", "request", &wire.Request{ID: 14, Op: wire.OpLock, Path: "/locks/nightly", WaitMs: i64(0)}},
		{"unlock", "request", &wire.Request{ID: 15, Op: wire.OpUnlock, Key: "/locks/nightly/lock-0000000003"}},
		{"lock-check", "request", &wire.Request{ID: 16, Op: wire.OpLockCheck, Path: "/locks/nightly", Token: 42}},
		{"cancel", "request", &wire.Request{ID: 17, Op: wire.OpCancel, Target: 13}},
		{"status", "request", &wire.Request{ID: 18, Op: wire.OpStatus}},
		{"members", "request", &wire.Request{ID: 19, Op: wire.OpMembers}},
		{"subscribe", "request", &wire.Request{ID: 20, Op: wire.OpSubscribe, Path: "/config", Scope: wire.ScopeSubtree, FromZxid: 40}},
		{"unsubscribe", "request", &wire.Request{ID: 21, Op: wire.OpUnsubscribe, Sub: 3}},
		{"campaign", "request", &wire.Request{ID: 22, Op: wire.OpCampaign, Path: "/warden/elections/db", Data: []byte("host-a")}},
		{"report", "request", &wire.Request{ID: 23, Op: wire.OpReport, Job: "nightly", Task: "t1", State: "running", Percent: 50, Message: "half"}},
		{"join", "request", &wire.Request{ID: 24, Op: wire.OpJoin, Group: "workers", Member: "w1", Data: []byte("10.0.0.7")}},
		{"counter-add", "request", &wire.Request{ID: 25, Op: wire.OpCounterAdd, Path: "/counters/c", Delta: 5}},

		{"reply-hello", "reply", &wire.Message{ID: 1, Result: raw(t, &wire.HelloResult{Protocol: 1, SessionID: 5, SessionTimeoutMs: 10000, Agent: "node-a"})}},
		{"reply-empty", "reply", &wire.Message{ID: 2, Result: raw(t, &wire.Empty{})}},
		{"reply-create", "reply", &wire.Message{ID: 3, Result: raw(t, &wire.CreateResult{Path: "/app/config", Stat: stat})}},
		{"reply-get", "reply", &wire.Message{ID: 7, Result: raw(t, &wire.GetResult{Data: []byte("hello"), Stat: stat})}},
		{"reply-exists", "reply", &wire.Message{ID: 9, Result: raw(t, &wire.ExistsResult{Exists: true, Stat: stat})}},
		{"reply-children", "reply", &wire.Message{ID: 10, Result: raw(t, &wire.ChildrenResult{Children: []string{"a", "b"}, Stat: stat})}},
		{"reply-lock", "reply", &wire.Message{ID: 13, Result: raw(t, &wire.LockResult{Key: "/locks/nightly/lock-0000000003", Token: 42})}},
		{"reply-subscribe", "reply", &wire.Message{ID: 20, Result: raw(t, &wire.SubscribeResult{Sub: 3})}},
		{"event-session", "event", &wire.Message{Event: wire.EventSession, Body: raw(t, &wire.SessionEvent{State: wire.SessionConnected, SessionID: 5})}},
		{"event-change", "event", &wire.Message{Event: wire.EventChange, Sub: 3, Body: raw(t, &wire.ChangeEvent{Type: wire.ChangeDataChanged, Path: "/config/app", Zxid: 42, Data: []byte("v2"), Stat: stat})}},
		{"event-watch", "event", &wire.Message{Event: wire.EventWatch, Sub: 4, Body: raw(t, &wire.WatchEvent{Type: wire.ChangeDeleted, Path: "/app", Zxid: 43})}},
		{"event-leader", "event", &wire.Message{Event: wire.EventLeader, Sub: 5, Body: raw(t, &wire.LeaderResult{Key: "/warden/elections/db/n-0000000001", Data: []byte("host-a"), Token: 44})}},
	}
	index := 1
	for _, code := range []wire.Code{
		wire.CodeNoNode, wire.CodeNodeExists, wire.CodeBadVersion, wire.CodeNotEmpty, wire.CodeNoChildrenForEphemerals,
		wire.CodeBadArguments, wire.CodeSessionExpired, wire.CodeTimeout, wire.CodeUnavailable, wire.CodeTooLarge,
		wire.CodeUnknownOp, wire.CodePermissionDenied, wire.CodeCanceled, wire.CodeNotHeld, wire.CodeNoSession,
		wire.CodeUnsupportedVersion, wire.CodeBadFrame, wire.CodeTooManyRequests, wire.CodeInternal,
	} {
		e := wire.Errorf(code, "an example "+string(code)+" message")
		id := uint64(100)
		if code == wire.CodeBadFrame {
			id = 0 // connection-level
		}
		if code == wire.CodeBadVersion {
			e.Index = &index // a multi's failing op
		}
		cases = append(cases, c{"error-" + string(code), "reply", &wire.Message{ID: id, Error: e}})
	}
	return cases
}

// toJSON renders a msgpack body as JSON for readers, bin as {"$bin": hex}.
func toJSON(t *testing.T, body []byte) json.RawMessage {
	t.Helper()
	d := msgpack.NewDecoder(bytes.NewReader(body))
	d.UseLooseInterfaceDecoding(true)
	v, err := d.DecodeInterface()
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(binToHex(v))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func binToHex(v any) any {
	switch x := v.(type) {
	case []byte:
		return map[string]string{"$bin": hex.EncodeToString(x)}
	case map[string]any:
		for k, e := range x {
			x[k] = binToHex(e)
		}
	case []any:
		for i, e := range x {
			x[i] = binToHex(e)
		}
	}
	return v
}

func TestGoldenFrames(t *testing.T) {
	var got []golden
	for _, c := range goldenCases(t) {
		frame, err := wire.AppendFrame(nil, c.v)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got = append(got, golden{Name: c.name, Kind: c.kind, Frame: hex.EncodeToString(frame), Body: toJSON(t, frame[4:])})
	}
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(filepath.FromSlash(goldenFile), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.FromSlash(goldenFile))
	if err != nil {
		t.Fatalf("%v (generate with -update)", err)
	}
	var want []golden
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(got) {
		t.Fatalf("%d golden frames, the wire package makes %d: run with -update after a deliberate change", len(want), len(got))
	}
	for i := range want {
		if want[i].Name != got[i].Name || want[i].Frame != got[i].Frame {
			t.Errorf("%s: the wire package encodes\n  %s\nbut the golden frame is\n  %s", got[i].Name, got[i].Frame, want[i].Frame)
		}
	}
	// Replay: every golden request decodes as the agent decodes it, and
	// every reply and event decodes into a Message.
	for _, g := range want {
		frame, _ := hex.DecodeString(g.Frame)
		body, err := wire.ReadFrame(bytes.NewReader(frame), nil, wire.MaxFrameSize)
		if err != nil {
			t.Fatalf("%s: %v", g.Name, err)
		}
		switch g.Kind {
		case "request":
			if _, werr := wire.DecodeRequest(body); werr != nil {
				t.Errorf("%s: the agent refuses it: %v", g.Name, werr)
			}
		default:
			var m wire.Message
			if err := msgpack.Unmarshal(body, &m); err != nil {
				t.Errorf("%s: %v", g.Name, err)
			}
		}
	}
}
