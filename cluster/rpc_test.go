package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestRPCErrorCodes: the answering agent turns its errors into codes, and
// the caller turns codes (and the flags agents answered with before codes)
// into the sentinel errors, whatever the message says.
func TestRPCErrorCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code rpcCode
	}{
		{errNotLeader, codeNotLeader},
		{raft.ErrNotLeader, codeNotLeader},
		{raft.ErrLeadershipLost, codeNotLeader},
		{raft.ErrRaftShutdown, codeNotLeader},
		{fmt.Errorf("%w: agent a may not renew the sessions of b", ErrRefused), codeRefused},
		{fmt.Errorf("%w: unknown rpc method %q", ErrBadRequest, "x"), codeBadRequest},
		{ErrTooLarge, codeTooLarge},
		{raft.ErrEnqueueTimeout, codeTimeout},
		{context.DeadlineExceeded, codeTimeout},
		{errors.New("not the leader"), codeInternal}, // text means nothing
	} {
		if got := codeOf(tc.err); got != tc.code {
			t.Errorf("codeOf(%v) = %q, want %q", tc.err, got, tc.code)
		}
	}

	// A fake agent answering each method (named after the case) with a
	// canned response.
	answers := map[string]*rpcResponse{
		"not_leader":  failure(raft.ErrLeadershipLost),
		"refused":     failure(fmt.Errorf("%w: agent a may not act for session 7 of b", ErrRefused)),
		"bad_request": failure(fmt.Errorf("%w: entry does not decode", ErrBadRequest)),
		"too_large":   failure(ErrTooLarge),
		"timeout":     failure(ErrTimeout),
		"internal":    failure(errors.New("disk on fire")),
		"future_code": {Code: "some_later_code", Err: "from a newer agent"},
		"legacy_nl":   {NotLeader: true},
		"legacy_r":    {Refused: true, Err: "agent a may not announce the leave of b"},
		"legacy_e":    {Err: "refused by the leader"}, // text alone: internal
		"ok":          {Body: mustPack(uint64(42))},
	}
	addr := fakeAgent(t, func(req *rpcRequest) *rpcResponse { return answers[req.Method] })
	pool := newRPCPool(&dialer{})
	t.Cleanup(pool.close)
	for _, tc := range []struct {
		method string
		want   error
		msg    string
	}{
		{"not_leader", errNotLeader, ""},
		{"refused", ErrRefused, "may not act for session 7"},
		{"bad_request", ErrBadRequest, "does not decode"},
		{"too_large", ErrTooLarge, ""},
		{"timeout", ErrTimeout, ""},
		{"internal", errRemoteInternal, "disk on fire"},
		{"future_code", errRemoteInternal, "from a newer agent"},
		{"legacy_nl", errNotLeader, ""},
		{"legacy_r", ErrRefused, "may not announce"},
		{"legacy_e", errRemoteInternal, "refused by the leader"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := pool.call(ctx, addr, tc.method, nil, nil)
		cancel()
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.method, err, tc.want)
		}
		if tc.want != ErrRefused && errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v matches ErrRefused", tc.method, err)
		}
		if !strings.Contains(fmt.Sprint(err), tc.msg) {
			t.Errorf("%s: message %q lacks %q", tc.method, err, tc.msg)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var index uint64
	if err := pool.call(ctx, addr, "ok", nil, &index); err != nil || index != 42 {
		t.Fatalf("ok: %d, %v", index, err)
	}
	// A request over the limit is not sent.
	if err := pool.call(ctx, addr, "ok", make([]byte, maxRPCMessage), nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("an oversized request: %v, want ErrTooLarge", err)
	}
}

// fakeAgent serves the RPC kind on a loopback port with answer, until the
// test ends.
func fakeAgent(t *testing.T, answer func(*rpcRequest) *rpcResponse) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			serveFake(c, answer)
		}
	}()
	return ln.Addr().String()
}

func serveFake(c net.Conn, answer func(*rpcRequest) *rpcResponse) {
	defer c.Close()
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	var kind [1]byte
	if _, err := io.ReadFull(r, kind[:]); err != nil || kind[0] != connRPC {
		return
	}
	for {
		var req rpcRequest
		if err := readRPC(r, c, 5*time.Second, &req); err != nil {
			return
		}
		if err := writeRPC(w, answer(&req)); err != nil {
			return
		}
	}
}

// TestRaftTransportDoesNotPipeline: Raft gets a transport that refuses
// pipelined replication, so it sends each follower one AppendEntries at a
// time. hashicorp/raft's pipeline can block a send forever after a
// follower refuses an append (the leader then never replicates to that
// follower again, and shutdown hangs); the nemesis suite hit it.
func TestRaftTransportDoesNotPipeline(t *testing.T) {
	var tr raft.Transport = unpipelined{}
	if _, err := tr.AppendEntriesPipeline("peer", "127.0.0.1:1"); !errors.Is(err, raft.ErrPipelineReplicationNotSupported) {
		t.Fatalf("AppendEntriesPipeline: %v, want raft.ErrPipelineReplicationNotSupported", err)
	}
	if _, ok := tr.(raft.WithClose); !ok {
		t.Fatal("the transport lost its Close, which Raft calls when it shuts down")
	}
}
