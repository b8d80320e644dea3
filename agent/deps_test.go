package agent_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/warden-dev/warden/"

// allowed lists, for each package, the packages of ours it may import
// (directly or not). The design's direction: fsm <- cluster <- agent;
// recipes <- localapi <- agent; localapi/wire <- localapi, clients/go.
var allowed = map[string][]string{
	"fsm":           {},
	"localapi/wire": {},
	"cluster":       {"fsm"},
	"recipes":       {"fsm"},
	"localapi":      {"fsm", "recipes", "localapi/wire"},
	"clients/go":    {"localapi/wire"},
	"logging":       {},
	"zkapi":         {"fsm", "recipes", "localapi", "localapi/wire"},
	"agent":         {"fsm", "cluster", "recipes", "localapi", "localapi/wire", "logging", "zkapi"},
}

func TestDependencyDirection(t *testing.T) {
	for pkg, ok := range allowed {
		out, err := exec.Command("go", "list", "-deps", "-json", module+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		dec := json.NewDecoder(strings.NewReader(string(out)))
		for dec.More() {
			var p struct{ ImportPath string }
			if err := dec.Decode(&p); err != nil {
				t.Fatal(err)
			}
			dep, ours := strings.CutPrefix(p.ImportPath, module)
			if !ours || dep == pkg {
				continue
			}
			if !contains(ok, dep) {
				t.Errorf("%s depends on %s, which the design does not allow", pkg, dep)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
