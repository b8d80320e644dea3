package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// keygen runs warden keygen.
func keygen(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(agenttest.Binary(t), "keygen").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// runWarden runs the warden binary to completion, with env added to its
// environment.
func runWarden(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(agenttest.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run warden %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

// wardenAt runs a warden verb against the agent p.
func wardenAt(t *testing.T, p *agenttest.Proc, args ...string) result {
	t.Helper()
	return runWarden(t, []string{"WARDEN_SOCKET=" + p.Socket}, args...)
}

// listedKeys parses warden keyring --list: key -> "AGENTS PRIMARY".
func listedKeys(t *testing.T, r result) map[string]string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("warden keyring --list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	keys := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("unexpected line %q in\n%s", line, r.stdout)
		}
		keys[f[0]] = f[1] + " " + f[2]
	}
	return keys
}

// memberStatus is name's Serf status as p's agent sees it ("" when it is
// not listed).
func memberStatus(t *testing.T, p *agenttest.Proc, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := warden.Dial(ctx, warden.Options{Socket: p.Socket, NoSession: true})
	if err != nil {
		return ""
	}
	defer c.Close()
	ms, err := c.Members(ctx)
	if err != nil {
		return ""
	}
	for _, m := range ms {
		if m.Name == name {
			return m.Status
		}
	}
	return ""
}

// TestKeyringRotation rotates the gossip key of a real 3-server cluster
// with warden keyring, then checks that the new key outlives a restart
// and that the old key no longer lets an agent in.
func TestKeyringRotation(t *testing.T) {
	k1, k2 := keygen(t), keygen(t)
	c := agenttest.StartClusterWith(t, agenttest.ClusterOptions{Servers: 3, Args: []string{"--encrypt", k1}})
	s1, s2, s3 := c.Servers[0], c.Servers[1], c.Servers[2]
	// A keyring request reaches the agents its agent knows through Serf:
	// wait until each knows every other (a cluster is up as soon as Raft
	// has its servers, which can be before gossip has told every agent of
	// every other).
	for _, p := range c.Servers {
		for _, q := range c.Servers {
			agenttest.Eventually(t, 30*time.Second, p.Name+" to see "+q.Name+" alive", func() bool {
				return memberStatus(t, p, q.Name) == "alive"
			})
		}
	}

	if got := listedKeys(t, wardenAt(t, s1, "keyring", "--list")); len(got) != 1 || got[k1] != "3/3 3" {
		t.Fatalf("before the rotation: keys %v; want only K1 on 3 of 3, primary on 3", got)
	}
	// The primary key cannot be removed.
	r := wardenAt(t, s1, "keyring", "--remove", k1)
	if r.code != 1 || !strings.Contains(r.stderr, "primary gossip key") {
		t.Fatalf("removing the primary key: exit %d, stderr %q; want exit 1 and a message about the primary key", r.code, r.stderr)
	}
	// Exactly one action, and keys that are keys.
	if r := wardenAt(t, s1, "keyring", "--list", "--use", k2); r.code != 2 {
		t.Fatalf("two actions: exit %d, stderr %q; want 2", r.code, r.stderr)
	}
	if r := wardenAt(t, s1, "keyring", "--install", "bm90IGEga2V5"); r.code != 1 || !strings.Contains(r.stderr, "not a gossip key") {
		t.Fatalf("a short key: exit %d, stderr %q", r.code, r.stderr)
	}

	// The rotation, each step from a different agent.
	for _, step := range []struct {
		p    *agenttest.Proc
		args []string
		want string
	}{
		{s1, []string{"--install", k2}, "installed the key on all 3 agents"},
		{s2, []string{"--use", k2}, "made the key primary on all 3 agents"},
		{s3, []string{"--remove", k1}, "removed the key on all 3 agents"},
	} {
		r := wardenAt(t, step.p, append([]string{"keyring"}, step.args...)...)
		if r.code != 0 || !strings.Contains(r.stdout, step.want) {
			t.Fatalf("warden keyring %s via %s: exit %d\n%s%s", step.args[0], step.p.Name, r.code, r.stdout, r.stderr)
		}
	}
	for _, p := range c.Servers {
		if got := listedKeys(t, wardenAt(t, p, "keyring", "--list")); len(got) != 1 || got[k2] != "3/3 3" {
			t.Fatalf("after the rotation, via %s: keys %v; want only K2 on 3 of 3, primary on 3", p.Name, got)
		}
		b, err := os.ReadFile(filepath.Join(p.DataDir, "serf.keyring"))
		if err != nil {
			t.Fatal(err)
		}
		var file []string
		if err := json.Unmarshal(b, &file); err != nil || len(file) != 1 || file[0] != k2 {
			t.Fatalf("%s's keyring file holds %s; want [K2]", p.Name, b)
		}
	}

	// A restarted agent (still started with --encrypt K1) comes back with
	// the keyring file's K2 and rejoins the gossip.
	s3.Kill()
	agenttest.Eventually(t, 30*time.Second, "server3 seen failed", func() bool {
		return memberStatus(t, s1, "server3") == "failed"
	})
	s3.Restart()
	agenttest.Eventually(t, 30*time.Second, "server3 alive again", func() bool {
		return memberStatus(t, s1, "server3") == "alive"
	})
	if got := listedKeys(t, wardenAt(t, s3, "keyring", "--list")); len(got) != 1 || got[k2] != "3/3 3" {
		t.Fatalf("via the restarted agent: keys %v; want only K2 on 3 of 3", got)
	}

	// A new agent with only K1 cannot join; one with K2 can. (The K2 one
	// starts last, so once it is listed the other had its chance.)
	start := func(name, key string) *agenttest.Proc {
		args := []string{"agent", "--node", name, "--bind", agenttest.NextIP(), "--data-dir", filepath.Join(t.TempDir(), name),
			"--socket", filepath.Join(agenttest.SocketDir(t), "w.sock"), "--join", s1.IP, "--encrypt", key}
		if c.TLSDir != "" {
			args = append(args, agenttest.TLSArgs(t, c.TLSDir, name)...)
		}
		return agenttest.Launch(t, nil, append(args, agenttest.ClusterArgs...))
	}
	old := start("oldkey", k1)
	agenttest.Eventually(t, 30*time.Second, "the K1 agent's failed join", func() bool {
		b, _ := os.ReadFile(old.Log.Name())
		return bytes.Contains(b, []byte("join failed"))
	})
	start("newkey", k2)
	agenttest.Eventually(t, 60*time.Second, "the K2 agent listed", func() bool {
		return memberStatus(t, s1, "newkey") == "alive"
	})
	for _, p := range c.Servers {
		if st := memberStatus(t, p, "oldkey"); st != "" {
			t.Fatalf("%s lists the agent with only the old key as %s", p.Name, st)
		}
	}
}

// TestKeyringWithoutEncryption: an agent without gossip encryption
// refuses keyring requests with a clear error.
func TestKeyringWithoutEncryption(t *testing.T) {
	e := startAgent(t)
	r := e.cli("keyring", "--list")
	if r.code != 1 || !strings.Contains(r.stderr, "gossip encryption is off") {
		t.Fatalf("warden keyring --list without --encrypt: exit %d, stderr %q", r.code, r.stderr)
	}
	r = e.cli("keyring", "--install", keygen(t))
	if r.code != 1 || !strings.Contains(r.stderr, "gossip encryption is off") {
		t.Fatalf("warden keyring --install without --encrypt: exit %d, stderr %q", r.code, r.stderr)
	}
}
