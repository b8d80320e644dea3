package agenttest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Netns is a private network namespace for a cluster test. Agents started
// in it see only its loopback interface, so a test can cut one agent's
// address off from the others (with policy-routing blackhole rules) without
// touching the host's network. It is deleted when the test ends.
type Netns struct {
	t    testing.TB
	Name string
}

// NewNetns creates a namespace with its loopback up, and moves the local
// routing table's rule behind the slot the blackhole rules use. It skips
// the test when namespaces cannot be made (not root, no `ip`).
func NewNetns(t testing.TB) *Netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("partition tests need root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("partition tests need the ip command (iproute2)")
	}
	n := &Netns{t: t, Name: fmt.Sprintf("warden-test-%d-%d", os.Getpid(), ipNext.Add(1))}
	n.ip("netns", "add", n.Name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.Name).Run() })
	n.ip("-n", n.Name, "link", "set", "lo", "up")
	n.ip("-n", n.Name, "rule", "add", "pref", "100", "lookup", "local")
	n.ip("-n", n.Name, "rule", "del", "pref", "0", "lookup", "local")
	return n
}

func (n *Netns) ip(args ...string) {
	n.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		n.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Cut drops every packet from or to addr (both TCP and UDP), so the agent
// bound there can reach no other agent and none can reach it.
func (n *Netns) Cut(addr string) {
	n.t.Helper()
	n.ip("-n", n.Name, "rule", "add", "pref", "10", "from", addr, "blackhole")
	n.ip("-n", n.Name, "rule", "add", "pref", "10", "to", addr, "blackhole")
}

// Heal undoes Cut.
func (n *Netns) Heal(addr string) {
	n.t.Helper()
	n.ip("-n", n.Name, "rule", "del", "pref", "10", "from", addr, "blackhole")
	n.ip("-n", n.Name, "rule", "del", "pref", "10", "to", addr, "blackhole")
}

// Prefix is the command prefix that runs a program inside the namespace.
func (n *Netns) Prefix() []string { return []string{"ip", "netns", "exec", n.Name} }
