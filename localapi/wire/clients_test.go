package wire_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// recipeNodeNames matches how the agent names the nodes of its recipes: a
// contender's infix (lock-, latch-, lease-), a read-write lock's or a
// semaphore's sub-node (_lock/, leases/), however a source would spell it;
// not the agent's --lock-delay flag, which test scripts pass.
var recipeNodeNames = regexp.MustCompile("(^|[^-])lock-|latch-|lease-|_lock/|leases/")

// TestClientsKnowNoRecipeNodeNames: the node layouts of locks, elections
// and semaphores are the agent's business (it reclaims places in line and
// folds config streams), so no file of the clients — sources, tests, docs —
// names them (the files git tracks: what a build leaves is not source). A client that needed one would be re-implementing the agent.
func TestClientsKnowNoRecipeNodeNames(t *testing.T) {
	for _, bad := range []string{"PATH/lock-0000000001", `"latch-"`, "/latch-*", "leases/lease-", "_lock/", "x/latch-0000000001", "_c_x-latch-"} {
		if !recipeNodeNames.MatchString(bad) {
			t.Fatalf("the pattern misses %q", bad)
		}
	}
	if recipeNodeNames.MatchString(`"--lock-delay", "200ms"`) {
		t.Fatal("the pattern takes the --lock-delay flag for a node name")
	}
	for _, ok := range []string{"/many/parent/n-1-2", "non-negative", "run-time", "an in-flight", "lock_check", "read_lock", "unlock", "try-lock"} {
		if recipeNodeNames.MatchString(ok) {
			t.Fatalf("the pattern matches %q", ok)
		}
	}
	out, err := exec.Command("git", "-C", filepath.FromSlash("../.."), "ls-files", "-z", "clients").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v (the test reads the clients' tracked files)", err)
	}
	files := 0
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join("../..", name))
		if err != nil {
			t.Fatal(err)
		}
		files++
		for n, line := range strings.Split(string(b), "\n") {
			if recipeNodeNames.MatchString(line) {
				t.Errorf("%s:%d names a recipe node: %s", name, n+1, strings.TrimSpace(line))
			}
		}
	}
	if files < 50 {
		t.Fatalf("read only %d client files", files)
	}
}
