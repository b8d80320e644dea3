package cluster

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/fsm"
)

// FuzzReadRPC feeds arbitrary bytes to the cluster port's RPC decoder, as
// a peer past admission could send them: it never panics, accepts no
// message over maxRPCMessage, and the bodies it yields decode (or fail)
// without panicking either.
func FuzzReadRPC(f *testing.F) {
	frame := func(v any) []byte {
		b, _ := msgpack.Marshal(v)
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
	}
	entry, _ := fsm.Encode(fsm.CmdWrite, &fsm.Write{Ops: []fsm.Op{{Kind: fsm.OpCreate, Path: "/a"}}})
	f.Add(frame(&rpcRequest{Method: rpcApply, Body: entry}))
	f.Add(frame(&rpcRequest{Method: rpcKeepalive, Body: mustPack(&keepaliveRequest{Agent: "a", IDs: []uint64{1, 2}})}))
	f.Add(frame(&rpcRequest{Method: rpcLeave, Body: mustPack("a")}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xc6, 0xff, 0xff, 0xff, 0xff})
	f.Add(frame(map[string]any{"m": 1, "b": "x"}))
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := bufio.NewReader(bytes.NewReader(stream))
		for {
			var req rpcRequest
			if err := readRPC(r, nil, 0, &req); err != nil {
				return
			}
			if len(req.Body) > maxRPCMessage {
				t.Fatalf("a body of %d bytes got through", len(req.Body))
			}
			_, _ = fsm.ActorOf(req.Body)
			_ = fsm.Check(req.Body)
			var ka keepaliveRequest
			_ = msgpack.Unmarshal(req.Body, &ka)
		}
	})
}

func mustPack(v any) []byte {
	b, err := msgpack.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
