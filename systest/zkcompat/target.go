package zkcompat

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// Target is a running service that speaks ZooKeeper's client protocol:
// a real ZooKeeper or a Warden cluster. Its methods are called from the
// test's goroutine (or the control server's, one call at a time); Start
// registers its shutdown with t.Cleanup.
type Target interface {
	// Name is "zookeeper" or "warden".
	Name() string
	// Hosts is the client connection string, "ip:port,ip:port,...".
	Hosts() string
	// Servers lists the servers' client addresses, in Hosts' order.
	Servers() []string
	// Kill SIGKILLs the server whose client address is addr and waits
	// until it has gone.
	Kill(addr string) error
	// Restart starts a killed server again on its data and waits until
	// it serves clients.
	Restart(addr string) error
}

// Kinds of target a test runs against, from ZK_TARGET: "zookeeper",
// "warden", or "both" (zookeeper first). The test is skipped when
// ZK_TARGET is unset.
func Kinds(t testing.TB) []string {
	t.Helper()
	switch v := os.Getenv("ZK_TARGET"); v {
	case "":
		t.Skip("ZooKeeper compatibility check: set ZK_TARGET=zookeeper, warden or both (make test-zk)")
	case "both":
		return []string{"zookeeper", "warden"}
	case "zookeeper", "warden":
		return []string{v}
	default:
		t.Fatalf("ZK_TARGET=%q: want zookeeper, warden or both", v)
	}
	return nil
}

// Start starts a target of kind with servers servers (1 or 3; a Warden
// cluster always has 3, since it is how Warden runs). It is stopped when
// the test ends, whatever the outcome.
func Start(t testing.TB, kind string, servers int) Target {
	t.Helper()
	switch kind {
	case "zookeeper":
		return StartZooKeeper(t, servers)
	case "warden":
		return StartWarden(t)
	}
	t.Fatalf("unknown target %q", kind)
	return nil
}

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitTCP waits until addr accepts a connection, or fails after timeout;
// dead, when it fires first, ends the wait with its message.
func waitTCP(addr string, timeout time.Duration, dead func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		if dead != nil {
			if err := dead(); err != nil {
				return err
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not accept connections within %v", addr, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fourLetter sends a ZooKeeper four-letter-word command and returns the answer.
func fourLetter(addr, cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(cmd)); err != nil {
		return "", err
	}
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String(), nil
		}
	}
}
