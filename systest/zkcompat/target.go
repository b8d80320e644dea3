package zkcompat

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
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

// handedOut are the ports freePort has returned in this process.
var handedOut sync.Map

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago,
// taken below the kernel's range of ephemeral ports: a port from that
// range, once closed, can be taken by any outgoing connection (the
// ZooKeeper servers' own to each other) before the server binds it.
func freePort(t testing.TB) int {
	t.Helper()
	hi := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var lo, up int
		if _, err := fmt.Sscan(string(b), &lo, &up); err == nil && lo > 12000 {
			hi = lo
		}
	}
	lo := hi - 10000
	for range 1000 {
		p := lo + rand.IntN(hi-lo)
		if _, taken := handedOut.LoadOrStore(p, true); taken {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		return p
	}
	t.Fatalf("no free port in [%d, %d)", lo, hi)
	return 0
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
