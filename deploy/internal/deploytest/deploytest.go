// Package deploytest gives the deploy module's tests the repository's
// root, a static warden binary, and the external tools they need (failing
// when a tool is missing where the tests must run, skipping elsewhere).
package deploytest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// mainModule is the module path of the repository's root go.mod.
const mainModule = "github.com/warden-dev/warden"

// Root returns the repository's root: the nearest parent directory whose
// go.mod declares the main module.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if f, err := os.Open(filepath.Join(dir, "go.mod")); err == nil {
			sc := bufio.NewScanner(f)
			sc.Scan()
			f.Close()
			if strings.TrimSpace(sc.Text()) == "module "+mainModule {
				return dir
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod of %s above the working directory", mainModule)
		}
		dir = parent
	}
}

// Required reports whether missing tools must fail the tests: under CI
// (CI set) and under make test-deploy (WARDEN_DEPLOY_REQUIRE=1), whose
// setup installs them.
func Required() bool {
	return os.Getenv("CI") != "" || os.Getenv("WARDEN_DEPLOY_REQUIRE") == "1"
}

// Tool returns the path of an external command, failing the test when it
// is missing and Required, else skipping it.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if Required() {
		t.Fatalf("%s is missing (deploy/setup.sh installs it)", name)
	}
	t.Skipf("%s is missing (deploy/setup.sh installs it; WARDEN_DEPLOY_REQUIRE=1 makes this a failure)", name)
	return ""
}

// Binary returns a static warden binary for this machine's architecture:
// $WARDEN_BIN when set, else one built into a temporary directory.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("WARDEN_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	out := filepath.Join(t.TempDir(), "warden")
	Run(t, Root(t), []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + runtime.GOARCH},
		"go", "build", "-o", out, "./cmd/warden")
	return out
}

// Run runs a command in dir with extra environment variables, failing the
// test with its output if it fails, and returns its standard output.
func Run(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}
