package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/localapi/wire"
)

func encode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func header(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

func TestFrameRoundTrip(t *testing.T) {
	msgs := []*wire.Message{
		{ID: 1, Result: encode(t, &wire.HelloResult{Protocol: 1, SessionID: 42, Agent: "a"})},
		{ID: 2, Error: wire.Errorf(wire.CodeNoNode, "/x")},
		{Event: wire.EventSession, Body: encode(t, &wire.SessionEvent{State: wire.SessionConnected, SessionID: 42})},
		{ID: 1<<64 - 1, Result: encode(t, &wire.GetResult{Data: bytes.Repeat([]byte{7}, 70000)})},
	}
	var stream []byte
	for _, m := range msgs {
		var err error
		if stream, err = wire.AppendFrame(stream, m); err != nil {
			t.Fatal(err)
		}
	}
	var written bytes.Buffer
	for _, m := range msgs {
		if err := wire.WriteFrame(&written, m); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(written.Bytes(), stream) {
		t.Fatal("WriteFrame and AppendFrame disagree")
	}

	for name, r := range map[string]io.Reader{
		"whole":    bytes.NewReader(stream),
		"one byte": iotest.OneByteReader(bytes.NewReader(stream)),
	} {
		t.Run(name, func(t *testing.T) {
			var buf []byte
			for i, want := range msgs {
				body, err := wire.ReadFrame(r, buf, wire.MaxFrameSize)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				var got wire.Message
				if err := msgpack.Unmarshal(body, &got); err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if !bytes.Equal(encode(t, &got), encode(t, want)) {
					t.Fatalf("frame %d: got %+v, want %+v", i, got, want)
				}
				buf = body[:0]
			}
			if _, err := wire.ReadFrame(r, buf, wire.MaxFrameSize); err != io.EOF {
				t.Fatalf("after the last frame: %v, want io.EOF", err)
			}
		})
	}
}

func TestReadFrameReusesBuffer(t *testing.T) {
	stream := append(header(3), "abc"...)
	buf := make([]byte, 0, 16)
	body, err := wire.ReadFrame(bytes.NewReader(stream), buf, 16)
	if err != nil || string(body) != "abc" {
		t.Fatalf("%q %v", body, err)
	}
	if &body[0] != &buf[:1][0] {
		t.Fatal("a buffer with room was not reused")
	}
}

func TestReadFrameLimit(t *testing.T) {
	// Exactly the limit is fine.
	stream := append(header(8), "12345678"...)
	if body, err := wire.ReadFrame(bytes.NewReader(stream), nil, 8); err != nil || string(body) != "12345678" {
		t.Fatalf("frame of exactly max: %q %v", body, err)
	}
	for _, n := range []uint32{9, wire.MaxFrameSize + 1, 5 << 20, 0xFFFFFFFF} {
		max := 8
		if n > wire.MaxFrameSize {
			max = wire.MaxFrameSize
		}
		r := bytes.NewReader(append(header(n), "trailing"...))
		body, err := wire.ReadFrame(r, nil, max)
		if !errors.Is(err, wire.ErrFrameTooLarge) || body != nil {
			t.Fatalf("length %d, max %d: %q %v, want ErrFrameTooLarge", n, max, body, err)
		}
		if r.Len() != len("trailing") {
			t.Fatalf("length %d: read %d bytes past the header", n, len("trailing")-r.Len())
		}
	}
}

// TestReadFrameTooLargeAllocatesNothing: the length is checked before the
// buffer is made, so a lying header costs a few bytes, not 4 GiB.
func TestReadFrameTooLargeAllocatesNothing(t *testing.T) {
	hdr := header(0xFFFFFFFF)
	const runs = 100
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		if _, err := wire.ReadFrame(bytes.NewReader(hdr), nil, wire.MaxFrameSize); !errors.Is(err, wire.ErrFrameTooLarge) {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 4<<10 {
		t.Fatalf("a refused header allocated %d bytes", per)
	}
}

func TestReadFrameEmpty(t *testing.T) {
	r := bytes.NewReader(append(header(0), header(1)...))
	if body, err := wire.ReadFrame(r, nil, 16); !errors.Is(err, wire.ErrEmptyFrame) || body != nil {
		t.Fatalf("%q %v, want ErrEmptyFrame", body, err)
	}
}

func TestReadFrameTruncated(t *testing.T) {
	cases := map[string][]byte{
		"half a header":         {0, 0},
		"body shorter than len": append(header(100), make([]byte, 10)...),
		"header only":           header(100),
	}
	for name, stream := range cases {
		t.Run(name, func(t *testing.T) {
			body, err := wire.ReadFrame(bytes.NewReader(stream), nil, wire.MaxFrameSize)
			if err != io.ErrUnexpectedEOF || body != nil {
				t.Fatalf("%q %v, want io.ErrUnexpectedEOF", body, err)
			}
		})
	}
	if _, err := wire.ReadFrame(bytes.NewReader(nil), nil, wire.MaxFrameSize); err != io.EOF {
		t.Fatalf("no bytes at all: %v, want io.EOF (a clean end)", err)
	}
}

func TestAppendFrameTooLarge(t *testing.T) {
	dst := []byte("keep")
	m := &wire.Message{ID: 1, Result: msgpack.RawMessage(encode(t, make([]byte, wire.MaxFrameSize)))}
	out, err := wire.AppendFrame(dst, m)
	if !errors.Is(err, wire.ErrFrameTooLarge) || string(out) != "keep" {
		t.Fatalf("%d bytes, %v: want ErrFrameTooLarge and dst untouched", len(out), err)
	}
	if err := wire.WriteFrame(io.Discard, m); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Fatalf("WriteFrame: %v", err)
	}
}

// TestAppendReplyIsTheMessagesFrame: the one-pass reply frame is, byte for
// byte, the frame of the Message it stands for, after whatever dst held.
func TestAppendReplyIsTheMessagesFrame(t *testing.T) {
	stat := wire.Stat{Czxid: 7, Mzxid: 1 << 40, Version: 3, DataLength: 100, NumChildren: 2}
	results := []any{
		&wire.Empty{},
		&wire.GetResult{Data: bytes.Repeat([]byte{'x'}, 100), Stat: stat},
		&wire.GetResult{Data: bytes.Repeat([]byte{7}, 70000), Stat: stat, Watch: 9},
		&wire.CreateResult{Path: "/a/b-0000000001", Stat: stat},
		&wire.ChildrenResult{Children: []string{"a", "b"}, Stat: stat},
		&wire.ExistsResult{},
	}
	for _, id := range []uint64{0, 1, 127, 128, 300, 1 << 40, 1<<64 - 1} {
		for _, r := range results {
			body, err := wire.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			for _, dst := range [][]byte{nil, []byte("kept")} {
				want, err := wire.AppendFrame(bytes.Clone(dst), &wire.Message{ID: id, Result: body})
				if err != nil {
					t.Fatal(err)
				}
				got, err := wire.AppendReply(bytes.Clone(dst), id, r)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("id %d, %T, dst %q: got %x (%v), want %x", id, r, dst, got, err, want)
				}
			}
		}
	}
	out, err := wire.AppendReply([]byte("keep"), 1, &wire.GetResult{Data: make([]byte, wire.MaxFrameSize)})
	if !errors.Is(err, wire.ErrFrameTooLarge) || string(out) != "keep" {
		t.Fatalf("%d bytes, %v: want ErrFrameTooLarge and dst untouched", len(out), err)
	}
}

func TestDecodeRequest(t *testing.T) {
	wait := int64(250)
	version := int64(3)
	want := &wire.Request{
		ID: 9, Op: wire.OpMulti, Path: "/p", Data: []byte("d"), Version: &version,
		Ephemeral: true, Sequential: true, Container: true,
		Ops: wire.OpList{
			{Op: wire.OpCreate, Path: "/p/a", Data: []byte("x"), Ephemeral: true},
			{Op: wire.OpCheck, Path: "/p", Version: &version},
		},
		Protocol: 1, SessionTimeoutMs: 5000, Client: "c", WaitMs: &wait, Key: "/l/lock-1", Token: 77, Target: 8,
	}
	got, werr := wire.DecodeRequest(encode(t, want))
	if werr != nil {
		t.Fatal(werr)
	}
	if !bytes.Equal(encode(t, got), encode(t, want)) {
		t.Fatalf("got %+v, want %+v", got, want)
	}

	// Unknown fields are ignored: newer clients may send more.
	got, werr = wire.DecodeRequest(encode(t, map[string]any{"id": 3, "op": "ping", "future": map[string]any{"x": []int{1}}}))
	if werr != nil || got.ID != 3 || got.Op != wire.OpPing {
		t.Fatalf("%+v %v", got, werr)
	}
}

// TestDecodeRequestErrors: a body that is not a map is a bad frame (the
// connection is closed); a map with a bad field is bad_arguments, carrying
// the id when it could be read (the connection stays open).
func TestDecodeRequestErrors(t *testing.T) {
	badFrames := map[string][]byte{
		"empty":           {},
		"nil":             {0xc0},
		"integer":         {0x05},
		"string":          []byte("\xa2hi"),
		"array":           {0x92, 0x05, 0xa4, 'p', 'i', 'n', 'g'},
		"empty array":     {0x90},
		"never-used code": {0xc1},
		"truncated map":   {0x82, 0xa2, 'i', 'd', 0x05},
		"integer keys":    {0x81, 0x01, 0x02},
		"map16 no body":   {0xde, 0xff, 0xff},
	}
	for name, b := range badFrames {
		t.Run("bad frame/"+name, func(t *testing.T) {
			req, werr := wire.DecodeRequest(b)
			if werr == nil || werr.Code != wire.CodeBadFrame || req != nil {
				t.Fatalf("%x: got %+v %v, want bad_frame and no request", b, req, werr)
			}
		})
	}

	badArgs := []struct {
		name string
		req  map[string]any
		id   uint64
	}{
		{"path an integer", map[string]any{"id": 5, "op": "get", "path": 123}, 5},
		{"ops a string", map[string]any{"id": 6, "op": "multi", "ops": "x"}, 6},
		{"op of ops an integer", map[string]any{"id": 7, "op": "multi", "ops": []any{1}}, 7},
		{"version a string", map[string]any{"id": 8, "op": "set", "path": "/", "version": "1"}, 8},
		{"wait_ms a float", map[string]any{"id": 9, "op": "lock", "path": "/", "wait_ms": 1.5}, 9},
		{"ephemeral an integer", map[string]any{"id": 10, "op": "create", "ephemeral": 1}, 10},
		{"op a bool", map[string]any{"id": 11, "op": true}, 11},
		{"id a string", map[string]any{"id": "x", "op": "get"}, 0},
		{"id a float", map[string]any{"id": 5.5, "op": "get"}, 0},
		{"id a map", map[string]any{"id": map[string]int{"a": 1}, "op": "get"}, 0},
		{"no id", map[string]any{"op": "get", "path": 1}, 0},
	}
	for _, tc := range badArgs {
		t.Run("bad arguments/"+tc.name, func(t *testing.T) {
			req, werr := wire.DecodeRequest(encode(t, tc.req))
			if werr == nil || werr.Code != wire.CodeBadArguments {
				t.Fatalf("got %+v %v, want bad_arguments", req, werr)
			}
			if req == nil || req.ID != tc.id {
				t.Fatalf("got request %+v, want one with id %d to reply to", req, tc.id)
			}
		})
	}
}

// multiBody encodes {"id":id,"op":"multi","ops":[...]} with n check ops.
func multiBody(t testing.TB, id uint64, n int) []byte {
	t.Helper()
	ops := make([]wire.Op, n)
	for i := range ops {
		ops[i] = wire.Op{Op: wire.OpCheck, Path: "/"}
	}
	return encode(t, &wire.Request{ID: id, Op: wire.OpMulti, Ops: ops})
}

func TestOpListLimit(t *testing.T) {
	req, werr := wire.DecodeRequest(multiBody(t, 4, wire.MaxMultiOps))
	if werr != nil || len(req.Ops) != wire.MaxMultiOps {
		t.Fatalf("a multi of exactly MaxMultiOps: %v", werr)
	}
	req, werr = wire.DecodeRequest(multiBody(t, 4, wire.MaxMultiOps+1))
	if werr == nil || werr.Code != wire.CodeBadArguments || req == nil || req.ID != 4 {
		t.Fatalf("a multi of MaxMultiOps+1: got %+v %v, want bad_arguments for id 4", req, werr)
	}
	if !strings.Contains(werr.Message, "limit") {
		t.Fatalf("message %q does not name the limit", werr.Message)
	}
}

// TestOpListClaimRefusedWithoutAllocating: an array header claiming a
// million ops, in a frame of a few bytes, is refused before anything is
// made for it.
func TestOpListClaimRefusedWithoutAllocating(t *testing.T) {
	var body []byte
	body = append(body, 0x83)
	body = append(body, encode(t, "id")...)
	body = append(body, 0x05)
	body = append(body, encode(t, "op")...)
	body = append(body, encode(t, "multi")...)
	body = append(body, encode(t, "ops")...)
	body = append(body, 0xdd) // array 32
	body = binary.BigEndian.AppendUint32(body, 1_000_000)
	body = append(body, 0x80) // one (empty) op, where a million were promised

	var ops wire.OpList
	if err := msgpack.Unmarshal(body[len(body)-6:], &ops); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("OpList took a million-op header: %v", err)
	}

	const runs = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		req, werr := wire.DecodeRequest(body)
		if werr == nil {
			t.Fatalf("a million-op claim was accepted: %d ops", len(req.Ops))
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 64<<10 {
		t.Fatalf("refusing a million-op claim allocated %d bytes", per)
	}
}

// TestMapClaimRefusedWithoutAllocating: a map header claiming four billion
// entries, in a frame of five bytes, costs next to nothing to refuse.
func TestMapClaimRefusedWithoutAllocating(t *testing.T) {
	bodies := [][]byte{
		{0xdf, 0xff, 0xff, 0xff, 0xff},
		{0xdf, 0xff, 0xff, 0xff, 0xff, 0xa2, 'i', 'd', 0x05},
		{0xde, 0xff, 0xff},
	}
	for _, body := range bodies {
		const runs = 20
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := 0; i < runs; i++ {
			if req, werr := wire.DecodeRequest(body); werr == nil || werr.Code != wire.CodeBadFrame {
				t.Fatalf("%x: %+v %v, want bad_frame", body, req, werr)
			}
		}
		runtime.ReadMemStats(&after)
		if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 64<<10 {
			t.Fatalf("%x: refusing it allocated %d bytes", body, per)
		}
	}
}

// TestLengthClaimsDoNotAccumulate: a string, bin or ext header may claim
// up to 4 GiB in a frame of a few bytes. Refusing one costs at most about a
// megabyte, and refusing many costs no more each time: nothing grows toward
// the claims from one frame to the next.
func TestLengthClaimsDoNotAccumulate(t *testing.T) {
	claim := []byte{0x7f, 0xff, 0xff, 0xf0}
	bodies := map[string][]byte{
		"bin32 in an unknown field": append([]byte{0x81, 0xa1, 'x', 0xc6}, claim...),
		"str32 path":                append([]byte{0x82, 0xa2, 'i', 'd', 0x05, 0xa4, 'p', 'a', 't', 'h', 0xdb}, claim...),
		"bin32 data":                append([]byte{0x82, 0xa2, 'i', 'd', 0x05, 0xa4, 'd', 'a', 't', 'a', 0xc6}, claim...),
		"ext32 value":               append(append([]byte{0x81, 0xa1, 'x', 0xc9}, claim...), 0x01),
		"str32 key":                 append([]byte{0x81, 0xdb}, claim...),
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			const runs = 60
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for i := 0; i < runs; i++ {
				if _, werr := wire.DecodeRequest(body); werr == nil {
					t.Fatal("a truncated value was accepted")
				}
			}
			runtime.ReadMemStats(&after)
			if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 4<<20 {
				t.Fatalf("each refusal allocated %d MiB on average", per>>20)
			}
		})
	}
}

// TestEveryValueKindIsSkipped: an unknown field may hold any msgpack value,
// in every encoding of it, and the request around it still decodes. (The
// body is scanned before it is decoded; a scan that misjudged the length
// of any kind would refuse the request or misread the fields after it.)
func TestEveryValueKindIsSkipped(t *testing.T) {
	values := map[string]any{
		"nil": nil, "true": true, "false": false,
		"fixint": 5, "negative fixint": -3,
		"uint8": uint8(200), "uint16": uint16(60000), "uint32": uint32(1 << 31), "uint64": uint64(1 << 63),
		"int8": int8(-100), "int16": int16(-30000), "int32": int32(-1 << 30), "int64": int64(-1 << 62),
		"float32": float32(1.5), "float64": 2.5,
		"fixstr": strings.Repeat("s", 31), "str8": strings.Repeat("s", 200),
		"str16": strings.Repeat("s", 300), "str32": strings.Repeat("s", 70000),
		"bin8": []byte{1}, "bin16": make([]byte, 300), "bin32": make([]byte, 70000),
		"fixarray": []int{1, 2}, "array16": make([]int, 20), "array32": make([]int, 70000),
		"fixmap": map[string]int{"a": 1}, "map16": manyKeys(20), "map32": manyKeys(70000),
		"timestamp32": time.Unix(1, 0), "timestamp64": time.Unix(1, 1), "timestamp96": time.Unix(-1, 1),
		"nested": map[string]any{"a": []any{map[string]any{"b": []any{nil, 1, "x"}}}},
	}
	raw := map[string][]byte{
		"fixext1":  {0xd4, 0x05, 0x01},
		"fixext2":  {0xd5, 0x05, 0x01, 0x02},
		"fixext16": append([]byte{0xd8, 0x05}, make([]byte, 16)...),
		"ext8":     {0xc7, 0x02, 0x05, 0x01, 0x02},
		"ext16":    {0xc8, 0x00, 0x02, 0x05, 0x01, 0x02},
		"ext32":    {0xc9, 0x00, 0x00, 0x00, 0x02, 0x05, 0x01, 0x02},
	}
	for name, v := range values {
		raw[name] = encode(t, v)
	}
	for name, value := range raw {
		t.Run(name, func(t *testing.T) {
			// {"id": 5, "x": value, "op": "ping"}: the op comes after the
			// value, so it is read only if the value was skipped exactly.
			body := []byte{0x83, 0xa2, 'i', 'd', 0x05, 0xa1, 'x'}
			body = append(body, value...)
			body = append(body, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g')
			req, werr := wire.DecodeRequest(body)
			if werr != nil || req.ID != 5 || req.Op != wire.OpPing {
				t.Fatalf("%+v %v", req, werr)
			}
		})
	}
}

func manyKeys(n int) map[string]int {
	m := make(map[string]int, n)
	for i := 0; i < n; i++ {
		m[fmt.Sprint(i)] = i
	}
	return m
}

// TestNestingLimit: values may nest a few dozen levels deep, not more; a
// frame of nested arrays is refused before the decoder recurses into it.
func TestNestingLimit(t *testing.T) {
	nested := func(depth int) []byte {
		body := []byte{0x82, 0xa2, 'i', 'd', 0x05, 0xa1, 'x'}
		body = append(body, bytes.Repeat([]byte{0x91}, depth)...)
		return append(body, 0xc0)
	}
	if req, werr := wire.DecodeRequest(nested(20)); werr != nil || req.ID != 5 {
		t.Fatalf("20 levels: %+v %v", req, werr)
	}
	for _, depth := range []int{40, wire.MaxFrameSize - 16} {
		req, werr := wire.DecodeRequest(nested(depth))
		if werr == nil || werr.Code != wire.CodeBadFrame {
			t.Fatalf("%d levels: %+v %v, want bad_frame", depth, req, werr)
		}
	}
}

// TestDuplicateIDField: with the id given twice, the last one counts, as
// it does for a well-formed request.
func TestDuplicateIDField(t *testing.T) {
	var body []byte
	body = append(body, 0x83, 0xa2, 'i', 'd', 0x05, 0xa2, 'i', 'd', 0x06)
	body = append(body, 0xa4, 'p', 'a', 't', 'h', 0x01) // path: 1, a bad type
	req, werr := wire.DecodeRequest(body)
	if werr == nil || werr.Code != wire.CodeBadArguments || req.ID != 6 {
		t.Fatalf("%+v %v, want bad_arguments for id 6", req, werr)
	}
	body[len(body)-1] = 0xa0 // path: "", well-formed
	if req, werr = wire.DecodeRequest(body); werr != nil || req.ID != 6 {
		t.Fatalf("%+v %v, want id 6", req, werr)
	}
}

// TestLargestRequestID: ids use all 64 bits.
func TestLargestRequestID(t *testing.T) {
	req, werr := wire.DecodeRequest(encode(t, map[string]any{"id": uint64(1<<64 - 1), "op": "ping"}))
	if werr != nil || req.ID != 1<<64-1 {
		t.Fatalf("%+v %v", req, werr)
	}
}

// TestStatEncoding: Stat's hand-written encoding is byte for byte what
// Marshal writes for the same fields through the reflective encoder, on
// its own and inside a reply.
func TestStatEncoding(t *testing.T) {
	type plainStat wire.Stat // the same fields and tags, without EncodeMsgpack
	type plainGet struct {
		Data  []byte    `msgpack:"data"`
		Stat  plainStat `msgpack:"stat"`
		Watch uint64    `msgpack:"watch,omitempty"`
	}
	rng := rand.New(rand.NewSource(1))
	stats := []wire.Stat{
		{},
		{TTL: 1},
		{Czxid: math.MaxUint64, Ctime: math.MinInt64, Mtime: -1, Version: math.MinInt32,
			Cversion: math.MaxInt32, Aversion: -33, EphemeralOwner: 128, DataLength: 255, NumChildren: 65536, TTL: -5},
	}
	// Every field set: a field added to Stat but not to EncodeMsgpack is
	// missing from its bytes even when it is omitempty.
	var full wire.Stat
	v := reflect.ValueOf(&full).Elem()
	for i := 0; i < v.NumField(); i++ {
		switch f := v.Field(i); f.Kind() {
		case reflect.Int32, reflect.Int64:
			f.SetInt(int64(i + 1))
		case reflect.Uint64:
			f.SetUint(uint64(i + 1))
		default:
			t.Fatalf("Stat.%s: add a case for %s", v.Type().Field(i).Name, f.Kind())
		}
	}
	stats = append(stats, full)
	for i := 0; i < 500; i++ {
		stats = append(stats, wire.Stat{
			Czxid: rng.Uint64() >> rng.Intn(64), Mzxid: rng.Uint64() >> rng.Intn(64), Pzxid: rng.Uint64() >> rng.Intn(64),
			Ctime: rng.Int63() >> rng.Intn(63), Mtime: -rng.Int63() >> rng.Intn(63),
			Version: int32(rng.Uint32()), Cversion: int32(rng.Intn(300)), Aversion: -int32(rng.Intn(40)),
			EphemeralOwner: uint64(rng.Intn(2)) * rng.Uint64(), DataLength: int32(rng.Intn(1 << 20)),
			NumChildren: int32(rng.Intn(70_000)), TTL: int64(rng.Intn(2)) * rng.Int63n(1<<40),
		})
	}
	for _, s := range stats {
		for _, pair := range [][2]any{
			{s, plainStat(s)},
			{&wire.GetResult{Data: []byte("v"), Stat: s, Watch: 3}, &plainGet{Data: []byte("v"), Stat: plainStat(s), Watch: 3}},
		} {
			got, err := wire.Marshal(pair[0])
			if err != nil {
				t.Fatal(err)
			}
			want, err := wire.Marshal(pair[1])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%+v: wrote\n%x\nthe reflective encoder writes\n%x", s, got, want)
			}
		}
	}
}

// BenchmarkAppendReplyGet: the reply to a get of 100 bytes, as the agent
// encodes it for every read.
func BenchmarkAppendReplyGet(b *testing.B) {
	r := &wire.GetResult{Data: bytes.Repeat([]byte{'x'}, 100), Stat: wire.Stat{
		Czxid: 1 << 20, Mzxid: 1 << 21, Pzxid: 1 << 20, Ctime: 1_780_000_000_000, Mtime: 1_780_000_000_100,
		Version: 40, DataLength: 100,
	}}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var err error
		if buf, err = wire.AppendReply(buf[:0], uint64(i), r); err != nil {
			b.Fatal(err)
		}
	}
}
