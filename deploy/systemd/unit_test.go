package systemd

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/warden-dev/warden/deploy/internal/deploytest"
)

// installedBinary is where the unit expects warden.
const installedBinary = "/usr/local/bin/warden"

// verify runs systemd-analyze verify on a copy of unit whose ExecStart
// names bin (verify refuses a binary that does not exist), and returns
// what it said. systemd-analyze exits 0 on unknown keys and bad values,
// which it only reports: any output is a finding.
func verify(t *testing.T, unit []byte, bin string) string {
	t.Helper()
	analyze := deploytest.Tool(t, "systemd-analyze")
	dir := t.TempDir()
	p := filepath.Join(dir, "warden.service")
	if err := os.WriteFile(p, bytes.ReplaceAll(unit, []byte(installedBinary), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(analyze, "verify", "--man=no", p)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil && len(out) == 0 {
		return err.Error()
	}
	return strings.TrimSpace(string(out))
}

func readUnit(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("warden.service")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUnitVerifies(t *testing.T) {
	if out := verify(t, readUnit(t), deploytest.Binary(t)); out != "" {
		t.Fatalf("systemd-analyze verify warden.service:\n%s", out)
	}
}

// TestVerifyCatchesBrokenUnits makes sure the check above is not blind.
func TestVerifyCatchesBrokenUnits(t *testing.T) {
	bin := deploytest.Binary(t)
	good := readUnit(t)
	for _, tc := range []struct{ name, from, to string }{
		{"misspelt key", "\nUser=warden", "\nUsr=warden"},
		{"bad value", "ProtectSystem=strict", "ProtectSystem=strickt"},
		{"unknown signal", "KillSignal=SIGTERM", "KillSignal=SIGTREM"},
		{"missing binary", installedBinary, "/nonexistent/warden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := bytes.Replace(good, []byte(tc.from), []byte(tc.to), 1)
			if bytes.Equal(bad, good) {
				t.Fatalf("%q is not in the unit", tc.from)
			}
			b := bin
			if tc.from == installedBinary {
				b = "/nonexistent/warden"
			}
			if out := verify(t, bad, b); out == "" {
				t.Fatal("systemd-analyze verify found nothing wrong")
			}
		})
	}
}

// TestUnitExposure runs systemd-analyze security on the unit: its overall
// exposure must stay at 2.0 or below ("OK").
func TestUnitExposure(t *testing.T) {
	analyze := deploytest.Tool(t, "systemd-analyze")
	p := filepath.Join(t.TempDir(), "warden.service")
	if err := os.WriteFile(p, readUnit(t), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "security", "--offline=yes", "--threshold=20", "--no-pager", p).CombinedOutput()
	level := regexp.MustCompile(`Overall exposure level for [^:]*: ([0-9.]+ \w+)`).FindSubmatch(out)
	if err != nil || level == nil {
		t.Fatalf("systemd-analyze security: %v (want an exposure of at most 2.0)\n%s", err, out)
	}
	t.Logf("exposure: %s", level[1])
}

// TestUnitContract checks what the docs, the image and the Kubernetes
// manifests rely on: the user, the directories, the socket and data
// paths, how the service stops and restarts, and the hardening options.
func TestUnitContract(t *testing.T) {
	keys := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(readUnit(t)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = append(keys[k], v)
		}
	}
	want := map[string]string{
		"User": "warden", "Group": "warden",
		"RuntimeDirectory": "warden", "StateDirectory": "warden",
		"EnvironmentFile": "-/etc/warden/warden.env",
		"Restart":         "on-failure", "KillSignal": "SIGTERM", "TimeoutStopSec": "30s",
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "",
		"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
	}
	for k, v := range want {
		if !slices.Contains(keys[k], v) {
			t.Errorf("%s=%s: the unit has %q", k, v, keys[k])
		}
	}
	if !slices.Contains(keys["SystemCallFilter"], "@system-service") {
		t.Errorf("SystemCallFilter=@system-service: the unit has %q", keys["SystemCallFilter"])
	}
	if _, ok := keys["LimitNOFILE"]; !ok {
		t.Error("no LimitNOFILE")
	}
	exec := strings.Join(keys["ExecStart"], " ")
	for _, arg := range []string{installedBinary + " agent ", "--socket /run/warden/warden.sock", "--data-dir /var/lib/warden", "$WARDEN_ARGS"} {
		if !strings.Contains(exec, arg) {
			t.Errorf("ExecStart=%s: lacks %q", exec, arg)
		}
	}
	// The agent reads apps' uids from the socket and their groups from
	// /proc: a user namespace or a hidden /proc would break its access
	// policy.
	for _, k := range []string{"PrivateUsers", "ProtectProc", "DynamicUser"} {
		if _, ok := keys[k]; ok {
			t.Errorf("%s= would break the agent's access policy", k)
		}
	}
}

// TestSysusers creates the user with systemd-sysusers in a scratch root.
func TestSysusers(t *testing.T) {
	sysusers := deploytest.Tool(t, "systemd-sysusers")
	root := t.TempDir()
	conf, err := os.ReadFile("warden.sysusers")
	if err != nil {
		t.Fatal(err)
	}
	// Where the unit's comment says to install it.
	dir := filepath.Join(root, "usr", "lib", "sysusers.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "warden.conf"), conf, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sysusers, "--root="+root, "warden.conf").CombinedOutput(); err != nil {
		t.Fatalf("systemd-sysusers: %v\n%s", err, out)
	}
	passwd, err := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^warden:x:\d+:\d+:[^:]*:/var/lib/warden:/usr/sbin/nologin$`).Match(passwd) {
		t.Fatalf("no user warden in:\n%s", passwd)
	}
	group, err := os.ReadFile(filepath.Join(root, "etc", "group"))
	if err != nil || !regexp.MustCompile(`(?m)^warden:x:\d+:`).Match(group) {
		t.Fatalf("no group warden (%v) in:\n%s", err, group)
	}
}

// TestEnvFileNamesRealVariables checks every WARDEN_* variable the
// example environment file names, set or commented out, against the ones
// `warden agent -h` documents.
func TestEnvFileNamesRealVariables(t *testing.T) {
	help, _ := exec.Command(deploytest.Binary(t), "agent", "-h").CombinedOutput()
	known := map[string]bool{"WARDEN_ARGS": true} // the unit's own
	for _, v := range regexp.MustCompile(`WARDEN_[A-Z_]+`).FindAll(help, -1) {
		known[string(v)] = true
	}
	if len(known) < 10 {
		t.Fatalf("warden agent -h names %d variables:\n%s", len(known), help)
	}
	env, err := os.ReadFile("warden.env")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range regexp.MustCompile(`(?m)^#?(WARDEN_[A-Z_]+)=`).FindAllSubmatch(env, -1) {
		n++
		if !known[string(m[1])] {
			t.Errorf("warden.env names %s, which the agent does not read", m[1])
		}
	}
	if n == 0 {
		t.Fatal("warden.env names no variable")
	}
}
