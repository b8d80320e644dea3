package zkcompat

import (
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
)

// TestKazooTLS runs kazoo/tests/test_tls.py: kazoo's own TLS client
// (use_ssl, ca, certfile, keyfile) against a Warden agent whose
// ZooKeeper port serves TLS and requires client certificates
// (--zk-tls --zk-tls-verify-client), every certificate made by `warden
// tls`. It runs when ZK_TARGET names warden.
func TestKazooTLS(t *testing.T) {
	if !slices.Contains(Kinds(t), "warden") {
		t.Skip("the TLS check runs against Warden (ZK_TARGET=warden or both)")
	}
	ca := agenttest.NewCA(t)
	agenttest.TLSArgs(t, ca, "kazoo") // the client's certificate
	ip := agenttest.NextIP()
	args := append([]string{"--bind", ip, "--zk-bind", ip, "--zk-port", strconv.Itoa(freePort(t)),
		"--zk-tls", "--zk-tls-verify-client"}, agenttest.TLSArgs(t, ca, "proc")...)
	p := agenttest.StartProc(t, t.TempDir(), filepath.Join(agenttest.SocketDir(t), "w.sock"), args...)
	env := []string{"ZK_HOSTS=" + p.ZKAddr(),
		"ZK_TLS_CA=" + filepath.Join(ca, "warden-ca.pem"),
		"ZK_TLS_CERT=" + filepath.Join(ca, "kazoo.pem"),
		"ZK_TLS_KEY=" + filepath.Join(ca, "kazoo-key.pem")}
	// -k selects test_tls.py's tests: the others speak plain TCP.
	out := runTool(t, filepath.Join(here(t), "kazoo"), 5*time.Minute, env, "./run.sh", "-v", "-rs", "-k", "test_tls")
	// Every check ran: none skipped (a lost variable skips them all).
	if !regexp.MustCompile(`\b3 passed\b`).MatchString(out) || regexp.MustCompile(`\bskipped\b`).MatchString(out) {
		t.Fatalf("kazoo's TLS checks did not all run and pass:\n%s", out)
	}
}
