package zkcompat

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
)

// zkCliTLSClasspath is Debian's ZooKeeper client with the two Netty jars
// its TLS socket needs and its jar's manifest does not list.
const zkCliTLSClasspath = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/netty-resolver.jar:/usr/share/java/netty-codec.jar"

// TestZkCliTLS: ZooKeeper's own Java client (zkCli, ClientCnxnSocketNetty
// with zookeeper.client.secure) creates and reads a node through an
// agent with --zk-tls --zk-tls-verify-client, with the Java client's
// default hostname verification on, its trust store the CA's PEM file and
// its key store a PEM file of its certificate and key, all made by
// `warden tls` (as docs/zookeeper.md, section TLS, says). It runs when
// ZK_TARGET names warden.
func TestZkCliTLS(t *testing.T) {
	if !slices.Contains(Kinds(t), "warden") {
		t.Skip("the TLS check runs against Warden (ZK_TARGET=warden or both)")
	}
	zkCli := zkCliPath(t)
	for _, jar := range strings.Split(zkCliTLSClasspath, ":")[1:] {
		if _, err := os.Stat(jar); err != nil {
			t.Fatalf("the Java client's TLS needs %s (Debian's zookeeper and its netty): %v", jar, err)
		}
	}
	bin := agenttest.Binary(t)
	dir := t.TempDir()
	ip := agenttest.NextIP()
	warden := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("warden %v: %v\n%s", args, err, out)
		}
	}
	ca, caKey := filepath.Join(dir, "warden-ca.pem"), filepath.Join(dir, "warden-ca-key.pem")
	warden("tls", "ca", "create", "--dir", dir)
	// The agent's certificate names the IP clients dial, for the Java
	// client's hostname verification.
	warden("tls", "cert", "create", "--node", "proc", "--ip", ip, "--dir", dir, "--ca", ca, "--ca-key", caKey)
	warden("tls", "cert", "create", "--node", "zkcli", "--dir", dir, "--ca", ca, "--ca-key", caKey)
	var keystore []byte
	for _, f := range []string{"zkcli.pem", "zkcli-key.pem"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		keystore = append(keystore, b...)
	}
	keystorePath := filepath.Join(dir, "zkcli-keystore.pem")
	if err := os.WriteFile(keystorePath, keystore, 0o600); err != nil {
		t.Fatal(err)
	}

	p := agenttest.StartProc(t, t.TempDir(), filepath.Join(agenttest.SocketDir(t), "w.sock"),
		"--bind", ip, "--zk-bind", ip, "--zk-port", strconv.Itoa(freePort(t)), "--zk-tls", "--zk-tls-verify-client",
		"--tls-ca", ca, "--tls-cert", filepath.Join(dir, "proc.pem"), "--tls-key", filepath.Join(dir, "proc-key.pem"))

	cmd := exec.Command(zkCli, "-server", p.ZKAddr())
	cmd.Stdin = strings.NewReader("create /zkcli-tls over-tls\nget /zkcli-tls\nquit\n")
	// zkCli.sh's own -cp comes first; java takes the last.
	flags := strings.Join([]string{"-cp", zkCliTLSClasspath, "-Xmx128m", "-XX:TieredStopAtLevel=1",
		"-Dzookeeper.client.secure=true",
		"-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty",
		"-Dzookeeper.ssl.trustStore.location=" + ca, "-Dzookeeper.ssl.trustStore.type=PEM",
		"-Dzookeeper.ssl.keyStore.location=" + keystorePath, "-Dzookeeper.ssl.keyStore.type=PEM"}, " ")
	cmd.Env = append(os.Environ(), "ZOO_LOG_DIR="+t.TempDir(), "CLIENT_JVMFLAGS="+flags)
	out := runToolCmd(t, cmd, 2*time.Minute)
	if !strings.Contains(out, "Created /zkcli-tls\nover-tls\n") {
		t.Fatalf("zkCli over TLS did not create and read the node:\n%s", out)
	}
}
