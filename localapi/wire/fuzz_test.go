package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/localapi/wire"
)

// FuzzReadFrame feeds arbitrary streams to ReadFrame and checks each frame
// it returns against a model of the format: it never panics, never returns
// a body longer than max, and reads exactly the frames the stream holds.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 1, 'x'}, uint8(16), false)
	f.Add([]byte{0, 0, 0, 0}, uint8(16), false)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3}, uint8(16), true)
	f.Add([]byte{0, 0, 0, 100, 1, 2, 3}, uint8(200), false)
	f.Add([]byte{0, 0}, uint8(16), true)
	f.Add([]byte{0, 0, 0, 17}, uint8(16), false)
	f.Fuzz(func(t *testing.T, stream []byte, max uint8, oneByte bool) {
		var r io.Reader = bytes.NewReader(stream)
		if oneByte {
			r = iotest.OneByteReader(r)
		}
		var buf []byte
		off := 0
		for {
			body, err := wire.ReadFrame(r, buf, int(max))
			if len(body) > int(max) {
				t.Fatalf("body of %d bytes with max %d", len(body), max)
			}
			rest := stream[off:]
			switch {
			case len(rest) == 0:
				if err != io.EOF {
					t.Fatalf("at the end: %v, want io.EOF", err)
				}
				return
			case len(rest) < 4:
				if err != io.ErrUnexpectedEOF {
					t.Fatalf("%d header bytes: %v, want io.ErrUnexpectedEOF", len(rest), err)
				}
				return
			}
			n := binary.BigEndian.Uint32(rest)
			switch {
			case n == 0:
				if !errors.Is(err, wire.ErrEmptyFrame) {
					t.Fatalf("length 0: %v, want ErrEmptyFrame", err)
				}
				return
			case uint64(n) > uint64(max):
				if !errors.Is(err, wire.ErrFrameTooLarge) {
					t.Fatalf("length %d, max %d: %v, want ErrFrameTooLarge", n, max, err)
				}
				return
			case uint64(len(rest)-4) < uint64(n):
				if err != io.ErrUnexpectedEOF {
					t.Fatalf("length %d with %d bytes left: %v, want io.ErrUnexpectedEOF", n, len(rest)-4, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("a whole frame of %d bytes: %v", n, err)
			}
			if !bytes.Equal(body, rest[4:4+n]) {
				t.Fatalf("body %x, want %x", body, rest[4:4+n])
			}
			off += 4 + int(n)
			buf = body[:0]
		}
	})
}

// FuzzDecodeRequest feeds arbitrary bodies to DecodeRequest: it never
// panics, its error is classified, and whatever it accepts survives a round
// trip through the encoder unchanged.
func FuzzDecodeRequest(f *testing.F) {
	wait, version := int64(100), int64(2)
	seeds := []any{
		&wire.Request{ID: 1, Op: wire.OpHello, Protocol: wire.ProtocolVersion, SessionTimeoutMs: 10000, Client: "app"},
		&wire.Request{ID: 2, Op: wire.OpCreate, Path: "/a/b", Data: []byte("hello"), Ephemeral: true, Sequential: true},
		&wire.Request{ID: 3, Op: wire.OpMulti, Ops: wire.OpList{
			{Op: wire.OpCreate, Path: "/m", Data: []byte{0, 1}},
			{Op: wire.OpSet, Path: "/m", Data: []byte("x"), Version: &version},
			{Op: wire.OpCheck, Path: "/m", Version: &version},
			{Op: wire.OpDelete, Path: "/m"},
		}},
		&wire.Request{ID: 4, Op: wire.OpLock, Path: "/locks/db", WaitMs: &wait},
		&wire.Request{ID: 5, Op: wire.OpCancel, Target: 4},
		&wire.Request{ID: 6, Op: wire.OpSet, Path: "/a", Version: &version},
		map[string]any{"id": 7, "op": "get", "path": 123},
		map[string]any{"id": "x", "op": "get"},
		map[string]any{"id": 8, "op": "multi", "ops": "x"},
	}
	for _, s := range seeds {
		b, err := msgpack.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xc0})
	f.Add([]byte{0x90})
	f.Add([]byte{0x81, 0xa3, 'o', 'p', 's', 0xdd, 0x00, 0x0f, 0x42, 0x40})
	f.Fuzz(func(t *testing.T, body []byte) {
		req, werr := wire.DecodeRequest(body)
		if werr != nil {
			switch werr.Code {
			case wire.CodeBadFrame:
				if req != nil {
					t.Fatalf("bad_frame with a request %+v", req)
				}
			case wire.CodeBadArguments:
				if req == nil {
					t.Fatal("bad_arguments without a request to reply to")
				}
			default:
				t.Fatalf("unexpected code %s", werr.Code)
			}
			return
		}
		if req == nil {
			t.Fatal("no error and no request")
		}
		if len(req.Ops) > wire.MaxMultiOps {
			t.Fatalf("%d ops accepted", len(req.Ops))
		}
		again, err := msgpack.Marshal(req)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", req, err)
		}
		req2, werr := wire.DecodeRequest(again)
		if werr != nil {
			t.Fatalf("re-encoded request %+v refused: %v", req, werr)
		}
		if a, b := normalize(req), normalize(req2); !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip changed the request:\n %+v\n %+v", a, b)
		}
	})
}

// normalize makes empty and absent slices equal: omitempty encodes an
// empty one as absent.
func normalize(r *wire.Request) *wire.Request {
	c := *r
	if len(c.Data) == 0 {
		c.Data = nil
	}
	if len(c.Ops) == 0 {
		c.Ops = nil
	}
	if c.Ops != nil {
		c.Ops = append(wire.OpList(nil), c.Ops...)
		for i := range c.Ops {
			if len(c.Ops[i].Data) == 0 {
				c.Ops[i].Data = nil
			}
		}
	}
	return &c
}
