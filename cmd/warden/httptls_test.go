package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// httpsAgent starts a dev agent named proc whose HTTP endpoint serves TLS
// with its cluster certificate from a fresh test CA, on a loopback
// address of its own; it returns the agent, the endpoint's address and
// the CA directory.
func httpsAgent(t *testing.T, extra ...string) (*agenttest.Proc, string, string) {
	t.Helper()
	ca := agenttest.NewCA(t)
	ip := agenttest.NextIP()
	args := append([]string{"--bind", ip, "--http-bind", ip, "--http-port", "7302", "--http-tls"},
		agenttest.TLSArgs(t, ca, "proc")...)
	p := agenttest.StartProc(t, t.TempDir(), filepath.Join(agenttest.SocketDir(t), "w.sock"), append(args, extra...)...)
	return p, net.JoinHostPort(ip, "7302"), ca
}

// httpsClient trusts the test CA in dir, expects the agent proc, and shows
// the certificate of node client when it is not "".
func httpsClient(t *testing.T, dir, client string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(dir, "warden-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tc := &tls.Config{RootCAs: pool, ServerName: "proc"}
	if client != "" {
		agenttest.TLSArgs(t, dir, client) // makes the certificate
		cert, err := tls.LoadX509KeyPair(filepath.Join(dir, client+".pem"), filepath.Join(dir, client+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
}

// get fetches url and returns its status and body.
func get(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestHTTPTLS: with --http-tls the endpoint answers HTTPS with the
// agent's certificate, refuses plain HTTP, serves no data values, and
// takes a renewed certificate on SIGHUP.
func TestHTTPTLS(t *testing.T) {
	p, addr, ca := httpsAgent(t)
	client := httpsClient(t, ca, "")

	code, body, err := get(client, "https://"+addr+"/v1/status")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /v1/status over HTTPS: %d %q %v", code, body, err)
	}
	var st warden.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Node != "proc" {
		t.Fatalf("status %q: %v", body, err)
	}

	// Plain HTTP gets no status.
	if code, body, err := get(&http.Client{Timeout: 5 * time.Second}, "http://"+addr+"/v1/status"); err == nil && (code == http.StatusOK || strings.Contains(body, "proc")) {
		t.Fatalf("plain HTTP was served: %d %q", code, body)
	}
	// A client that does not trust the CA is refused by its own check.
	if _, _, err := get(&http.Client{Timeout: 5 * time.Second}, "https://"+addr+"/v1/status"); err == nil {
		t.Fatal("a client without the CA accepted the agent's certificate")
	}

	// Status, members, health and metrics only: no data values, nothing
	// else.
	c := p.Dial(t, warden.Options{Name: "writer"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const secret = "s3cret-value-4711"
	if _, err := c.Create(ctx, "/app", []byte(secret), warden.Persistent); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{
		"/v1/status": 200, "/v1/members": 200, "/healthz": 200, "/readyz": 200, "/metrics": 200,
		"/": 404, "/v1/kv/app": 404, "/v1/get/app": 404, "/app": 404, "/debug/pprof/": 404, "/debug/vars": 404,
	} {
		code, body, err := get(client, "https://"+addr+path)
		if err != nil || code != want {
			t.Errorf("GET %s: %d, %v; want %d", path, code, err, want)
		}
		if strings.Contains(body, secret) {
			t.Errorf("GET %s shows a data value: %q", path, body)
		}
	}

	// A renewed certificate (same name, new key) is served after SIGHUP.
	served := func() string {
		conn, err := tls.Dial("tcp", addr, client.Transport.(*http.Transport).TLSClientConfig)
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
	if code, _, err := get(client, "https://"+addr+"/v1/status"); err != nil || code != 200 {
		t.Fatalf("GET /v1/status with the renewed certificate: %d %v", code, err)
	}
}

// TestHTTPTLSVerifyClient: with --http-tls-verify-client only a client
// with a certificate from the CA is served.
func TestHTTPTLSVerifyClient(t *testing.T) {
	_, addr, ca := httpsAgent(t, "--http-tls-verify-client")
	if _, _, err := get(httpsClient(t, ca, ""), "https://"+addr+"/v1/status"); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	other := agenttest.NewCA(t)
	agenttest.TLSArgs(t, other, "stranger")
	stranger := httpsClient(t, ca, "")
	cert, err := tls.LoadX509KeyPair(filepath.Join(other, "stranger.pem"), filepath.Join(other, "stranger-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	stranger.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{cert}
	if _, _, err := get(stranger, "https://"+addr+"/v1/status"); err == nil {
		t.Fatal("a client with a certificate from another CA was served")
	}
	if code, body, err := get(httpsClient(t, ca, "monitor"), "https://"+addr+"/v1/status"); err != nil || code != 200 {
		t.Fatalf("a client with a certificate from the CA: %d %q %v", code, body, err)
	}
}

// TestHTTPTLSNeedsCertificate: --http-tls without the agent's certificate,
// and --http-tls-verify-client without --http-tls, are usage errors.
func TestHTTPTLSNeedsCertificate(t *testing.T) {
	for _, args := range [][]string{{"--http-tls"}, {"--http-tls-verify-client"}} {
		r := runWarden(t, nil, append([]string{"agent", "--dev", "--socket", filepath.Join(agenttest.SocketDir(t), "w.sock")}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, args[0]) {
			t.Errorf("warden agent --dev %v: exit %d, stderr %q; want a usage error naming the flag", args, r.code, r.stderr)
		}
	}
}

func runWardenOK(t *testing.T, args ...string) {
	t.Helper()
	if r := runWarden(t, nil, args...); r.code != 0 {
		t.Fatalf("warden %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
	}
}
