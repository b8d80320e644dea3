package warden

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/warden-dev/warden/localapi/wire"
)

// TestDialReportsSessionLostBeforeTaken: an agent answers the hello, then
// reports the session lost and closes the connection (as it does for a
// session that expired at the leader before its opening reached the
// agent), all before Dial has taken the connection. Dial fails with
// ErrSessionLost, not with a bare "connection closed: EOF", which read as
// if the agent had closed the connection without a word.
func TestDialReportsSessionLostBeforeTaken(t *testing.T) {
	dir, err := os.MkdirTemp("", "wdial")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "w.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	agent := make(chan error, 1)
	go func() { agent <- answerHelloThenLose(ln) }()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := newClient(Options{Socket: sock})
	cn, hello, err := c.handshake(ctx, &wire.Request{Op: wire.OpHello, Protocol: wire.ProtocolVersion})
	if err != nil {
		t.Fatalf("hello: %v", err)
	}
	if err := <-agent; err != nil {
		t.Fatalf("the agent: %v", err)
	}
	select {
	case <-cn.ended: // the lost report and the end came before Dial took cn
	case <-ctx.Done():
		t.Fatal("the connection did not end after the agent closed it")
	}
	err = c.take(cn, hello)
	if !errors.Is(err, ErrSessionLost) {
		t.Fatalf("Dial's error: %v; want ErrSessionLost", err)
	}
	if !errors.Is(c.Err(), ErrSessionLost) {
		t.Fatalf("the client ended with %v; want ErrSessionLost", c.Err())
	}
}

// answerHelloThenLose plays the agent on one connection: it answers the
// hello with session 7, reports the session lost, and closes.
func answerHelloThenLose(ln net.Listener) error {
	nc, err := ln.Accept()
	if err != nil {
		return err
	}
	defer nc.Close()
	frame, err := wire.ReadFrame(bufio.NewReader(nc), nil, wire.MaxFrameSize)
	if err != nil {
		return err
	}
	req, werr := wire.DecodeRequest(frame)
	if werr != nil {
		return werr
	}
	res, err := wire.Marshal(&wire.HelloResult{Protocol: wire.ProtocolVersion, SessionID: 7, SessionTimeoutMs: 1000, Agent: "a1"})
	if err != nil {
		return err
	}
	ev, err := wire.Marshal(&wire.SessionEvent{State: wire.SessionLost, SessionID: 7})
	if err != nil {
		return err
	}
	b, err := wire.AppendFrame(nil, &wire.Message{ID: req.ID, Result: res})
	if err != nil {
		return err
	}
	if b, err = wire.AppendFrame(b, &wire.Message{Event: wire.EventSession, Body: ev}); err != nil {
		return err
	}
	_, err = nc.Write(b)
	return err
}
