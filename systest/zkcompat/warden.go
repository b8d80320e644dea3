package zkcompat

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
)

// Warden is a 3-server Warden cluster (agenttest.StartCluster) whose
// agents serve ZooKeeper's protocol with --zk-port. Every agent has a
// loopback address of its own (its --bind), on which it listens, so one
// port serves them all.
type Warden struct {
	c     *agenttest.Cluster
	addrs []string
}

// StartWarden starts the cluster and waits until every agent's ZooKeeper
// port accepts connections. It fails at once, saying so, when the warden
// binary has no --zk-port flag.
func StartWarden(t testing.TB) *Warden {
	t.Helper()
	bin := agenttest.Binary(t)
	help, _ := exec.Command(bin, "agent", "--help").CombinedOutput()
	if !strings.Contains(string(help), "zk-port") {
		t.Fatalf("warden agent does not know --zk-port: the ZooKeeper front door (package zkapi) is not in this build")
	}
	port := freePort(t)
	c := agenttest.StartCluster(t, 3, 0, "--zk-port", strconv.Itoa(port))
	w := &Warden{c: c}
	for _, p := range c.Servers {
		w.addrs = append(w.addrs, fmt.Sprintf("%s:%d", p.IP, port))
	}
	for i, a := range w.addrs {
		p := c.Servers[i]
		dead := func() error {
			select {
			case <-p.Exited():
				return fmt.Errorf("agent %s exited", p.Name)
			default:
				return nil
			}
		}
		if err := waitTCP(a, 30*time.Second, dead); err != nil {
			t.Fatalf("warden agent %s: ZooKeeper port: %v", p.Name, err)
		}
	}
	return w
}

// Name implements Target.
func (w *Warden) Name() string { return "warden" }

// Hosts implements Target.
func (w *Warden) Hosts() string { return strings.Join(w.addrs, ",") }

// Servers implements Target.
func (w *Warden) Servers() []string { return append([]string{}, w.addrs...) }

func (w *Warden) proc(addr string) (*agenttest.Proc, error) {
	for i, a := range w.addrs {
		if a == addr {
			return w.c.Servers[i], nil
		}
	}
	return nil, fmt.Errorf("no warden agent at %s", addr)
}

// Kill implements Target.
func (w *Warden) Kill(addr string) error {
	p, err := w.proc(addr)
	if err != nil {
		return err
	}
	p.Kill()
	return nil
}

// Restart implements Target.
func (w *Warden) Restart(addr string) error {
	p, err := w.proc(addr)
	if err != nil {
		return err
	}
	p.Restart()
	return waitTCP(addr, 30*time.Second, nil)
}
