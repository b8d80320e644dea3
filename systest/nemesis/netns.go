package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// The run happens inside a network namespace of its own: its agents see
// only the namespace's loopback interface, and a partition is a pair of
// policy-routing blackhole rules per direction cut, which drop TCP and UDP
// alike without touching the host's network. Deleting the namespace at the
// end removes every rule.

// inNetns runs this program again inside a fresh namespace (the same
// arguments plus -netns NAME), deletes the namespace when it ends, and
// returns its exit code. SIGINT and SIGTERM are passed on to it.
func inNetns(args []string) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "nemesis: needs root, to make a network namespace and cut traffic inside it")
		return 2
	}
	name := fmt.Sprintf("warden-nemesis-%d", os.Getpid())
	for _, cmd := range [][]string{
		{"netns", "add", name},
		{"-n", name, "link", "set", "lo", "up"},
		// The local table's rule moves behind the slot blackhole rules use.
		{"-n", name, "rule", "add", "pref", "100", "lookup", "local"},
		{"-n", name, "rule", "del", "pref", "0", "lookup", "local"},
	} {
		if out, err := exec.Command("ip", cmd...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "nemesis: ip %s: %v\n%s", strings.Join(cmd, " "), err, out)
			_ = exec.Command("ip", "netns", "del", name).Run()
			return 2
		}
	}
	defer func() { _ = exec.Command("ip", "netns", "del", name).Run() }()
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "nemesis:", err)
		return 2
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", name, self, "-netns", name}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "nemesis:", err)
		return 2
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	signal.Stop(sigs)
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "nemesis:", err)
		return 2
	}
	return 0
}

// cut drops every packet from a to b and from b to a.
func cut(a, b string) error {
	for _, r := range [][]string{{"from", a, "to", b}, {"from", b, "to", a}} {
		if out, err := exec.Command("ip", append([]string{"rule", "add", "pref", "10"}, append(r, "blackhole")...)...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip rule add %s: %v: %s", strings.Join(r, " "), err, out)
		}
	}
	return nil
}

// heal removes every cut.
func heal() error {
	for {
		out, err := exec.Command("ip", "rule", "del", "pref", "10").CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "No such file") || strings.Contains(string(out), "not found") {
				return nil
			}
			return fmt.Errorf("ip rule del pref 10: %v: %s", err, out)
		}
	}
}

// blocked reports whether a TCP connection from address a to b's cluster
// port is refused by the routing rules: a cut counts only once this holds.
// A connection that b's port refuses (b is down) proves nothing either
// way, so it reports the error.
func blocked(a, b string) (bool, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(a)}, Timeout: 500 * time.Millisecond}
	c, err := d.Dial("tcp", net.JoinHostPort(b, "7300"))
	if err == nil {
		c.Close()
		return false, nil
	}
	if strings.Contains(err.Error(), "connection refused") {
		return false, fmt.Errorf("%s → %s: %w", a, b, err)
	}
	return true, nil
}
