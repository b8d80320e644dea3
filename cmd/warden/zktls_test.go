package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/warden-dev/warden/agent/agenttest"
)

// zkTLSAgent starts a dev agent named proc whose ZooKeeper port serves
// TLS with its cluster certificate from a fresh test CA, on a loopback
// address of its own; it returns the agent, the port's address and the
// CA directory.
func zkTLSAgent(t *testing.T, extra ...string) (*agenttest.Proc, string, string) {
	t.Helper()
	ca := agenttest.NewCA(t)
	ip := agenttest.NextIP()
	args := append([]string{"--bind", ip, "--zk-bind", ip, "--zk-port", "2181", "--zk-tls"}, agenttest.TLSArgs(t, ca, "proc")...)
	p := agenttest.StartProc(t, t.TempDir(), filepath.Join(agenttest.SocketDir(t), "w.sock"), append(args, extra...)...)
	return p, p.ZKAddr(), ca
}

// zkClientTLS trusts the test CA in dir, expects the agent proc, and
// shows the certificate of node client (made by `warden tls cert
// create`) when it is not "".
func zkClientTLS(t *testing.T, dir, client string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(dir, "warden-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tc := &tls.Config{RootCAs: pool, ServerName: "proc"}
	if client != "" {
		tc.Certificates = []tls.Certificate{clientCert(t, dir, client)}
	}
	return tc
}

// clientCert makes (unless it exists) and loads the certificate of node
// name from the CA in dir.
func clientCert(t *testing.T, dir, name string) tls.Certificate {
	t.Helper()
	agenttest.TLSArgs(t, dir, name) // makes the certificate
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// zkProbe is a go-zookeeper client whose connections go through a
// dialer that records the first error its connections meet: the dial's
// (a TLS handshake the client refused) or a connection's first failed
// read or write (the server refused, or closed the connection).
type zkProbe struct {
	c      *zk.Conn
	events <-chan zk.Event
	errs   chan error
}

// dialZK connects go-zookeeper to addr over TLS with tc, or over plain
// TCP when tc is nil. The client is closed when the test ends.
func dialZK(t *testing.T, addr string, tc *tls.Config) *zkProbe {
	t.Helper()
	p := &zkProbe{errs: make(chan error, 1)}
	dial := func(network, address string, timeout time.Duration) (net.Conn, error) {
		d := &net.Dialer{Timeout: timeout}
		var c net.Conn
		var err error
		if tc == nil {
			c, err = d.Dial(network, address)
		} else {
			c, err = tls.DialWithDialer(d, network, address, tc)
		}
		if err != nil {
			p.report(err)
			return nil, err
		}
		return &probeConn{Conn: c, p: p}, nil
	}
	c, events, err := zk.Connect([]string{addr}, 5*time.Second, zk.WithDialer(dial), zk.WithLogger(zkQuiet{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	p.c, p.events = c, events
	return p
}

func (p *zkProbe) report(err error) {
	select {
	case p.errs <- err:
	default:
	}
}

// session waits until the client has a session, failing on the first
// connection error or after 15s.
func (p *zkProbe) session(t *testing.T) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case ev := <-p.events:
			if ev.State == zk.StateHasSession {
				return
			}
		case err := <-p.errs:
			t.Fatalf("the client's connection failed: %v", err)
		case <-deadline:
			t.Fatal("no session within 15s")
		}
	}
}

// refused waits for the client's first connection error and checks
// that the client never had a session.
func (p *zkProbe) refused(t *testing.T) error {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case ev := <-p.events:
			if ev.State == zk.StateHasSession {
				t.Fatal("the client got a session")
			}
		case err := <-p.errs:
			if p.c.State() == zk.StateHasSession {
				t.Fatal("the client got a session")
			}
			return err
		case <-deadline:
			t.Fatal("the connection neither failed nor got a session within 15s")
		}
	}
}

type probeConn struct {
	net.Conn
	p    *zkProbe
	once sync.Once
}

func (c *probeConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		c.once.Do(func() { c.p.report(err) })
	}
	return n, err
}

func (c *probeConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err != nil {
		c.once.Do(func() { c.p.report(err) })
	}
	return n, err
}

type zkQuiet struct{}

func (zkQuiet) Printf(string, ...any) {}

// isRemoteTLSAlert reports whether err is a TLS alert the server sent
// (it refused the client during the handshake).
func isRemoteTLSAlert(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error" && strings.Contains(op.Error(), "tls:")
}

// useZK checks that the client reads and writes through the port.
func useZK(t *testing.T, p *zkProbe, path string) {
	t.Helper()
	p.session(t)
	if _, err := p.c.Create(path, []byte("over tls"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create %s: %v", path, err)
	}
	data, _, err := p.c.Get(path)
	if err != nil || string(data) != "over tls" {
		t.Fatalf("get %s: %q, %v", path, data, err)
	}
}

// fourLetterTLS sends a four-letter word over TLS and returns the answer.
func fourLetterTLS(t *testing.T, addr string, tc *tls.Config, word string) string {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, tc)
	if err != nil {
		t.Fatalf("%s over tls: %v", word, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(word)); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("%s over tls: %v", word, err)
	}
	return string(b)
}

// TestZKTLS: with --zk-tls the ZooKeeper port serves go-zookeeper over
// TLS with the agent's certificate; a client that does not trust the CA,
// one limited to TLS 1.1 and a plain-TCP one get no session, and the
// agent serves on; four-letter words work over TLS; SIGHUP renews the
// certificate.
func TestZKTLS(t *testing.T) {
	p, addr, ca := zkTLSAgent(t)
	good := zkClientTLS(t, ca, "")

	useZK(t, dialZK(t, addr, good), "/tls")

	// TLS 1.2 is enough (Java 8 clients), with the same protocol inside.
	tls12 := good.Clone()
	tls12.MaxVersion = tls.VersionTLS12
	useZK(t, dialZK(t, addr, tls12), "/tls12")

	// A client that does not trust the CA refuses the agent's certificate.
	err := dialZK(t, addr, &tls.Config{ServerName: "proc"}).refused(t)
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Fatalf("a client without the CA: %v; want a certificate verification error", err)
	}
	// TLS 1.1 and older are refused by the agent.
	old := good.Clone()
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if err := dialZK(t, addr, old).refused(t); !isRemoteTLSAlert(err) {
		t.Fatalf("a TLS 1.1 client: %v; want the agent's TLS alert", err)
	}
	// A plain-TCP client: its connect request is not a TLS handshake, so
	// the agent closes the connection without a byte in answer.
	err = dialZK(t, addr, nil).refused(t)
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("a plain-TCP client: %v; want the connection closed", err)
	}
	// A plain four-letter word (as `echo ruok | nc` sends it) gets no
	// answer either.
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("ruok")); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	if b, err := io.ReadAll(c); len(b) != 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("plain ruok on the TLS port: %q, %v; want the connection closed", b, err)
	}
	c.Close()

	// The agent serves on: four-letter words over TLS, and a new client.
	if got := fourLetterTLS(t, addr, good, "ruok"); got != "imok" {
		t.Fatalf("ruok over tls: %q", got)
	}
	if got := fourLetterTLS(t, addr, good, "srvr"); !strings.Contains(got, "Zookeeper version:") {
		t.Fatalf("srvr over tls: %q", got)
	}
	useZK(t, dialZK(t, addr, good), "/after")

	// A renewed certificate (same name, new key) is served after SIGHUP.
	served := func() string {
		conn, err := tls.Dial("tcp", addr, good)
		if err != nil {
			t.Fatalf("tls dial: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := served()
	renewed := t.TempDir()
	runWardenOK(t, "tls", "cert", "create", "--node", "proc", "--dir", renewed,
		"--ca", filepath.Join(ca, "warden-ca.pem"), "--ca-key", filepath.Join(ca, "warden-ca-key.pem"))
	for _, f := range []string{"proc.pem", "proc-key.pem"} {
		b, err := os.ReadFile(filepath.Join(renewed, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ca, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if served() != before {
		t.Fatal("the certificate changed before SIGHUP")
	}
	p.Signal(syscall.SIGHUP)
	agenttest.Eventually(t, 10*time.Second, "the renewed certificate served", func() bool { return served() != before })
	useZK(t, dialZK(t, addr, good), "/renewed")
}

// TestZKTLSVerifyClient: with --zk-tls-verify-client only a client with
// a certificate from the CA gets a session.
func TestZKTLSVerifyClient(t *testing.T) {
	_, addr, ca := zkTLSAgent(t, "--zk-tls-verify-client")

	if err := dialZK(t, addr, zkClientTLS(t, ca, "")).refused(t); !isRemoteTLSAlert(err) {
		t.Fatalf("a client without a certificate: %v; want the agent's TLS alert", err)
	}
	other := agenttest.NewCA(t)
	stranger := zkClientTLS(t, ca, "")
	stranger.Certificates = []tls.Certificate{clientCert(t, other, "stranger")}
	if err := dialZK(t, addr, stranger).refused(t); !isRemoteTLSAlert(err) {
		t.Fatalf("a client with a certificate from another CA: %v; want the agent's TLS alert", err)
	}
	// No four-letter word without a certificate either.
	c, err := tls.Dial("tcp", addr, zkClientTLS(t, ca, ""))
	if err == nil {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = c.Write([]byte("ruok"))
		b, rerr := io.ReadAll(c)
		c.Close()
		if len(b) != 0 || !isRemoteTLSAlert(rerr) {
			t.Fatalf("ruok without a certificate: %q, %v; want the agent's TLS alert", b, rerr)
		}
	}

	app := zkClientTLS(t, ca, "app")
	useZK(t, dialZK(t, addr, app), "/verified")
	if got := fourLetterTLS(t, addr, app, "ruok"); got != "imok" {
		t.Fatalf("ruok with a certificate: %q", got)
	}
}

// TestZKTLSNeedsCertificateAndPort: --zk-tls without the agent's
// certificate or without --zk-port, and --zk-tls-verify-client without
// --zk-tls, are usage errors naming what is missing, from flags or from
// WARDEN_* variables.
func TestZKTLSNeedsCertificateAndPort(t *testing.T) {
	ca := agenttest.NewCA(t)
	certArgs := agenttest.TLSArgs(t, ca, "proc")
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"--zk-port", "0", "--zk-tls"}, "--zk-port"},
		{nil, append([]string{"--zk-tls"}, certArgs...), "--zk-port"},
		{nil, []string{"--zk-port", "-1", "--zk-tls"}, "--tls-cert"},
		{[]string{"WARDEN_ZK_PORT=-1", "WARDEN_ZK_TLS=1"}, nil, "--tls-cert"},
		{nil, append([]string{"--zk-port", "-1", "--zk-tls-verify-client"}, certArgs...), "--zk-tls-verify-client needs --zk-tls"},
	} {
		args := append([]string{"agent", "--dev", "--socket", filepath.Join(agenttest.SocketDir(t), "w.sock")}, tc.args...)
		r := runWarden(t, tc.env, args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v warden %v: exit %d, stderr %q; want a usage error naming %s", tc.env, args, r.code, r.stderr, tc.want)
		}
	}
}
