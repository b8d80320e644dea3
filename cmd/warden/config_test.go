package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
)

// noEnv is an empty environment for loadAgentConfig.
func noEnvironment(string) string { return "" }

// mapEnv is an environment of the given variables only.
func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "warden.hcl")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sample is a value of f's type, in HCL and as its flag's String shows it.
func sample(t *testing.T, f *flag.Flag) (hcl, shown string) {
	t.Helper()
	switch f.Value.(flag.Getter).Get().(type) {
	case bool:
		return "true", "true"
	case int, uint64:
		return "7", "7"
	case time.Duration:
		return `"7s"`, "7s"
	case string:
		return `"czc="`, "czc=" // base64, as --encrypt wants
	case []string:
		return `["a", "b"]`, "a,b"
	}
	t.Fatalf("flag --%s has a type the config file cannot hold (%T)", f.Name, f.Value)
	return "", ""
}

// TestConfigEveryFlagHasKey: every agent flag (but --config and
// --validate) can be set from the file under its derived key, so a flag
// added later has a key without anyone writing one.
func TestConfigEveryFlagHasKey(t *testing.T) {
	n := 0
	newAgentFlags().fs.VisitAll(func(f *flag.Flag) {
		if notSettings[f.Name] {
			return
		}
		n++
		lit, shown := sample(t, f)
		key := settingKey(f.Name)
		path := writeConfig(t, key+" = "+lit+"\n")
		af, err := loadAgentConfig([]string{"--config", path}, noEnvironment)
		if err != nil {
			t.Errorf("key %s: %v", key, err)
			return
		}
		if got := af.fs.Lookup(f.Name).Value.String(); got != shown {
			t.Errorf("key %s = %s set --%s to %q, want %q", key, lit, f.Name, got, shown)
		}
	})
	if n < 30 {
		t.Fatalf("only %d agent flags: is the flag set built elsewhere?", n)
	}
}

// everySetting is one value for every agent setting, as a config file
// line and as flags. TestConfigFileEqualsFlags fails while a flag is
// missing here.
var everySetting = []struct{ key, hcl string }{
	{"dev", "false"},
	{"server", "true"},
	{"bootstrap_expect", "3"},
	{"node", `"alpha"`},
	{"bind", `"127.0.0.9"`},
	{"rpc_port", "7400"},
	{"serf_port", "7401"},
	{"http_port", "7402"},
	{"http_bind", `"127.0.0.10"`},
	{"http_tls", "true"},
	{"http_tls_verify_client", "true"},
	{"max_streams", "17"},
	{"max_conns_per_uid", "18"},
	{"access_policy", `"/etc/warden/access.hcl"`},
	{"encrypt", `"` + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef")) + `"`},
	{"tls_ca", `"/etc/warden/ca.pem"`},
	{"tls_cert", `"/etc/warden/alpha.pem"`},
	{"tls_key", `"/etc/warden/alpha-key.pem"`},
	{"tls_verify_hostname", "true"},
	{"join", `["10.0.0.1", "10.0.0.2:7401"]`},
	{"socket", `"/run/warden/alt.sock"`},
	{"data_dir", `"/var/lib/warden"`},
	{"log_level", `"debug"`},
	{"log_format", `"json"`},
	{"session_timeout", `"12s"`},
	{"min_session_timeout", `"1s"`},
	{"max_session_timeout", `"10m"`},
	{"lock_delay", `"3s"`},
	{"history_max_changes", "5000"},
	{"history_max_bytes", "1048576"},
	{"snapshot_threshold", "4096"},
	{"snapshot_interval", `"2s"`},
	{"zk_port", "2182"},
	{"zk_bind", `"127.0.0.11"`},
	{"zk_tls", "true"},
	{"zk_tls_verify_client", "true"},
	{"enable_pprof", "true"},
	{"raft_log_store", `"bolt"`},
}

// TestConfigFileEqualsFlags: a file with every key yields the very
// agent.Config that the same values given as flags do.
func TestConfigFileEqualsFlags(t *testing.T) {
	covered := map[string]bool{}
	var file strings.Builder
	var args []string
	for _, s := range everySetting {
		covered[strings.ReplaceAll(s.key, "_", "-")] = true
		file.WriteString(s.key + " = " + s.hcl + "\n")
		name := "--" + strings.ReplaceAll(s.key, "_", "-")
		switch {
		case strings.HasPrefix(s.hcl, "["):
			for _, v := range strings.Split(strings.Trim(s.hcl, "[]"), ",") {
				args = append(args, name, strings.Trim(strings.TrimSpace(v), `"`))
			}
		case s.hcl == "true" || s.hcl == "false":
			args = append(args, name+"="+s.hcl)
		default:
			args = append(args, name, strings.Trim(s.hcl, `"`))
		}
	}
	newAgentFlags().fs.VisitAll(func(f *flag.Flag) {
		if !notSettings[f.Name] && !covered[f.Name] {
			t.Errorf("everySetting lacks --%s (key %s)", f.Name, settingKey(f.Name))
		}
	})
	fromFile, err := loadAgentConfig([]string{"--config", writeConfig(t, file.String())}, noEnvironment)
	if err != nil {
		t.Fatalf("from the file: %v", err)
	}
	fromFlags, err := loadAgentConfig(args, noEnvironment)
	if err != nil {
		t.Fatalf("from flags %v: %v", args, err)
	}
	if !reflect.DeepEqual(fromFile.cfg, fromFlags.cfg) {
		t.Fatalf("the file and the flags disagree:\nfile:  %+v\nflags: %+v", *fromFile.cfg, *fromFlags.cfg)
	}
	c := fromFile.cfg
	if c.NodeName != "alpha" || c.BootstrapExpect != 3 || len(c.Join) != 2 || c.TLS == nil || !c.TLS.VerifyHostname ||
		c.LockDelay != 3*time.Second || c.SnapshotThreshold != 4096 || len(c.EncryptKey) != 16 || c.LogFormat != "json" ||
		c.ZKPort != 2182 || c.ZKBind != "127.0.0.11" || !c.ZKTLS || !c.ZKTLSVerifyClient ||
		!c.EnablePprof || c.LogStore != "bolt" {
		t.Fatalf("the file's values did not land: %+v", *c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("the sample configuration is invalid: %v", err)
	}
}

// TestConfigPrecedence: flags beat WARDEN_* variables, which beat the
// file, which beats the defaults.
func TestConfigPrecedence(t *testing.T) {
	path := writeConfig(t, `
node      = "from-file"
rpc_port  = 1111
serf_port = 1112
join      = ["file-a"]
lock_delay = "5s"
`)
	env := mapEnv(map[string]string{
		"WARDEN_NODE":      "from-env",
		"WARDEN_RPC_PORT":  "2222",
		"WARDEN_JOIN":      "env-a,env-b",
		"WARDEN_DATA_DIR":  "/from/env",
		"WARDEN_RECOVER":   "true", // recover has no variable
		"WARDEN_LOG_LEVEL": "",     // empty is unset
	})
	af, err := loadAgentConfig([]string{"--config", path, "--node", "from-flag"}, env)
	if err != nil {
		t.Fatal(err)
	}
	c := af.cfg
	want := []struct {
		what      string
		got, want any
	}{
		{"node (flag over env over file)", c.NodeName, "from-flag"},
		{"rpc port (env over file)", c.RPCPort, 2222},
		{"serf port (file over default)", c.SerfPort, 1112},
		{"join (env over file)", strings.Join(c.Join, ","), "env-a,env-b"},
		{"lock delay (file)", c.LockDelay, 5 * time.Second},
		{"data dir (env)", c.DataDir, "/from/env"},
		{"recover (no variable)", c.Recover, false},
		{"log level (default)", c.LogLevel, "info"},
	}
	for _, w := range want {
		if !reflect.DeepEqual(w.got, w.want) {
			t.Errorf("%s: got %v, want %v", w.what, w.got, w.want)
		}
	}
	if _, err := loadAgentConfig(nil, mapEnv(map[string]string{"WARDEN_RPC_PORT": "many"})); err == nil ||
		!strings.Contains(err.Error(), `WARDEN_RPC_PORT="many"`) {
		t.Errorf("a bad variable: %v", err)
	}
}

// TestConfigFileMistakes: each mistake is an error naming the file, the
// line and the key.
func TestConfigFileMistakes(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"typo", "server = true\ndata_dir = \"/d\"\nbootstrap_expekt = 3\n", `:3: unknown key "bootstrap_expekt"`},
		{"dash", "server = true\nbootstrap-expect = 3\n", `:2: unknown key "bootstrap-expect"`},
		{"not a setting", "validate = true\n", `:1: unknown key "validate"`},
		{"recover is for the command line", "recover = true\n", `:1: unknown key "recover"`},
		{"number as string", "node = \"a\"\nrpc_port = \"7300\"\n", `:2: key "rpc_port": want a whole number, got string`},
		{"fraction", "rpc_port = 7300.5\n", `:1: key "rpc_port": want a whole number`},
		{"out of range", "\nbootstrap_expect = 99999999999999999999\n", `:2: key "bootstrap_expect": `},
		{"bool as string", "server = \"yes\"\n", `:1: key "server": want true or false, got string`},
		{"duration as number", "\n\nlock_delay = 5\n", `:3: key "lock_delay": want a duration as a string`},
		{"bad duration", "lock_delay = \"5 parsecs\"\n", `:1: key "lock_delay": "5 parsecs" is not a duration`},
		{"list as string", "join = \"10.0.0.1\"\n", `:1: key "join": want a list of strings`},
		{"list of numbers", "join = [1]\n", `:1: key "join": want a list of strings`},
		{"variable", "node = hostname\n", `:1: key "node": Variables not allowed`},
		{"block", "server = true\ntls {\n  ca = \"x\"\n}\n", `:2: "tls" is a block`},
		{"syntax", "server = true\nnode = \n", `:2: `},
		{"twice", "node = \"a\"\nnode = \"b\"\n", `:2: Attribute redefined`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.text)
			_, err := loadAgentConfig([]string{"--config", path}, noEnvironment)
			var ue *usageError
			if !errors.As(err, &ue) || !ue.quiet {
				t.Fatalf("got %v, want an input error (exit 2)", err)
			}
			if !strings.Contains(err.Error(), path+tc.want) {
				t.Fatalf("got %q, want it to contain %q", err, path+tc.want)
			}
		})
	}
	_, err := loadAgentConfig([]string{"--config", "/no/such/warden.hcl"}, noEnvironment)
	if err == nil || !strings.Contains(err.Error(), "/no/such/warden.hcl") {
		t.Fatalf("a missing file: %v", err)
	}
}

// runBinary runs the warden binary to completion.
func runBinary(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(agenttest.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run warden %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

// TestConfigValidate: warden agent --config FILE --validate exits 0 on a
// good file, 2 with the file and line on a bad one, and 2 on a file whose
// settings do not make an agent; a bad file stops a real agent with 2.
func TestConfigValidate(t *testing.T) {
	good := writeConfig(t, "server = true\nbootstrap_expect = 3\ndata_dir = \"/var/lib/warden\"\njoin = [\"10.0.0.1\"]\n")
	if r := runBinary(t, nil, "agent", "--config", good, "--validate"); r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "ok") {
		t.Fatalf("a good file: %+v", r)
	}
	typo := writeConfig(t, "server = true\ndata_dir = \"/d\"\nbootstrap_expekt = 3\n")
	for _, args := range [][]string{{"agent", "--config", typo, "--validate"}, {"agent", "--config", typo}} {
		r := runBinary(t, nil, args...)
		if r.code != 2 || !strings.Contains(r.stderr, typo+`:3: unknown key "bootstrap_expekt"`) || strings.Contains(r.stderr, "usage:") {
			t.Fatalf("warden %v: %+v", args, r)
		}
	}
	invalid := writeConfig(t, "bootstrap_expect = 3\ndata_dir = \"/d\"\n") // not a server
	if r := runBinary(t, nil, "agent", "--config", invalid, "--validate"); r.code != 2 || !strings.Contains(r.stderr, "--bootstrap-expect needs --server") {
		t.Fatalf("a file that makes no agent: %+v", r)
	}
	// The environment completes a file, and is checked with it.
	if r := runBinary(t, []string{"WARDEN_SERVER=true"}, "agent", "--config", invalid, "--validate"); r.code != 0 {
		t.Fatalf("the file with WARDEN_SERVER=true: %+v", r)
	}
}

// TestAgentFromConfigFile starts a real agent from a config file alone
// and talks to it over the socket the file names.
func TestAgentFromConfigFile(t *testing.T) {
	sock := filepath.Join(agenttest.SocketDir(t), "w.sock")
	path := writeConfig(t, `# a dev agent
dev       = true
node      = "from-file"
socket    = "`+sock+`"
data_dir  = "`+t.TempDir()+`"
http_port = -2
log_level = "warn"
lock_delay = "250ms"
`)
	p := agenttest.Launch(t, nil, []string{"agent", "--config", path})
	p.Socket = sock
	p.WaitSocket(30 * time.Second)
	st, err := p.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Node != "from-file" || st.State != "Leader" {
		t.Fatalf("status over the file's socket: %+v", st)
	}
}

// TestExampleConfig: deploy/warden.hcl names every key (set or commented
// out) and makes a valid agent.
func TestExampleConfig(t *testing.T) {
	const path = "../../deploy/warden.hcl"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	newAgentFlags().fs.VisitAll(func(f *flag.Flag) {
		if notSettings[f.Name] {
			return
		}
		key := settingKey(f.Name)
		found := false
		for _, l := range strings.Split(string(b), "\n") {
			l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "#"))
			if strings.HasPrefix(l, key+" ") || strings.HasPrefix(l, key+"=") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s does not show the key %s", path, key)
		}
	})
	af, err := loadAgentConfig([]string{"--config", path}, noEnvironment)
	if err != nil {
		t.Fatal(err)
	}
	if err := af.cfg.Validate(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestZKFlagsAreChecked: a ZooKeeper port out of range or a --zk-bind that
// is not an IP is refused with the flag's name.
func TestZKFlagsAreChecked(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--dev", "--zk-port", "70000"}, "--zk-port"},
		{[]string{"--dev", "--zk-port", "-5"}, "--zk-port"},
		{[]string{"--dev", "--zk-port", "2181", "--zk-bind", "localhost"}, "--zk-bind"},
	} {
		af, err := loadAgentConfig(tc.args, noEnvironment)
		if err != nil {
			t.Fatal(err)
		}
		if err := af.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v; want an error naming %s", tc.args, err, tc.want)
		}
	}
	af, err := loadAgentConfig([]string{"--dev"}, noEnvironment)
	if err != nil || af.cfg.ZKPort != 0 {
		t.Fatalf("default --zk-port = %d (%v); want 0 (off)", af.cfg.ZKPort, err)
	}
}
