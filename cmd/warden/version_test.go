package main

import (
	"encoding/json"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/warden-dev/warden/agent"
	"github.com/warden-dev/warden/localapi/wire"
)

// TestVersion: warden version and warden --version print the version,
// the commit, the Go version and the protocol version; --json the same as
// an object.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := runBinary(t, nil, args...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("warden %v: %+v", args, r)
		}
		for _, want := range []string{"warden " + agent.Version + "\n", "commit ", "go        " + runtime.Version() + "\n",
			"protocol  " + strconv.Itoa(wire.ProtocolVersion) + "\n"} {
			if !strings.Contains(r.stdout, want) {
				t.Fatalf("warden %v does not say %q:\n%s", args, want, r.stdout)
			}
		}
	}
	r := runBinary(t, nil, "version", "--json")
	var v struct {
		Version   string `json:"version"`
		GoVersion string `json:"go_version"`
		Protocol  int    `json:"protocol"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != 0 {
		t.Fatalf("warden version --json: %+v (%v)", r, err)
	}
	if v.Version != agent.Version || v.GoVersion != runtime.Version() || v.Protocol != wire.ProtocolVersion {
		t.Fatalf("warden version --json: %+v", v)
	}
	if r := runBinary(t, nil, "version", "extra"); r.code != 2 || r.stdout != "" {
		t.Fatalf("warden version extra: %+v", r)
	}
	b := agent.BuildInfo()
	if b.Version != agent.Version || b.GoVersion != runtime.Version() || b.Protocol != wire.ProtocolVersion {
		t.Fatalf("agent.BuildInfo() = %+v", b)
	}
}

// TestHelp: asking for help (warden -h, --help, help, help VERB, and every
// verb's -h and --help) prints to standard output and exits 0; mistakes
// print the usage to standard error and exit 2.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		r := runBinary(t, nil, args...)
		if r.code != 0 || r.stderr != "" || !strings.HasPrefix(r.stdout, "usage: warden <command>") || !strings.Contains(r.stdout, "  version ") {
			t.Fatalf("warden %v: %+v", args, r)
		}
	}
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, args := range [][]string{{n, "-h"}, {n, "--help"}, {"help", n}} {
			r := runBinary(t, nil, args...)
			if r.code != 0 || r.stderr != "" || !strings.HasPrefix(r.stdout, "usage: warden "+n+" ") {
				t.Errorf("warden %v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
			}
		}
	}
	for _, args := range [][]string{{}, {"nonsense"}, {"get"}, {"agent", "--no-such-flag"}, {"lock", "--timeout", "soon", "/l", "--", "true"}} {
		r := runBinary(t, nil, args...)
		if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "usage") && !strings.Contains(r.stderr, "warden help") {
			t.Errorf("warden %v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
}
