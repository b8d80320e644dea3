package zkapi_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/warden-dev/warden/agent/agenttest"
	"github.com/warden-dev/warden/zkapi"
)

// TestTLSHandshakeIsBounded: on a TLS port, a client that opens a
// connection and stalls in the TLS handshake (half a record header, then
// nothing) is closed after HandshakeTimeout, and its connection slot is
// freed, as a plain client that sends no connect request is.
func TestTLSHandshakeIsBounded(t *testing.T) {
	ca := agenttest.NewCA(t)
	agenttest.TLSArgs(t, ca, "zk") // makes zk.pem with `warden tls cert create`
	cert, err := tls.LoadX509KeyPair(filepath.Join(ca, "zk.pem"), filepath.Join(ca, "zk-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := zkapi.DefaultConfig()
	cfg.Addr, cfg.Logger = "127.0.0.1:0", hclog.NewNullLogger()
	cfg.HandshakeTimeout = 300 * time.Millisecond
	cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	// No connection here gets past its handshake, so none reaches the
	// backend.
	s, err := zkapi.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})

	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte{0x16, 0x03, 0x01}); err != nil { // a handshake record's first bytes
		t.Fatal(err)
	}
	agenttest.Eventually(t, 5*time.Second, "the connection counted", func() bool { return s.Connections() == 1 })
	start := time.Now()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := nc.Read(make([]byte, 1))
	if n != 0 || (!errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("a stalled handshake: read %d bytes, %v; want the connection closed", n, err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("a stalled handshake was closed after %v; the handshake timeout is %v", waited, cfg.HandshakeTimeout)
	}
	agenttest.Eventually(t, 5*time.Second, "the connection's slot freed", func() bool { return s.Connections() == 0 })
}
