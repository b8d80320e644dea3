package zkcompat

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestCurator runs the Curator project's tests (curator/, Maven:
// InterProcessMutex, LeaderLatch, CuratorCache) against a 3-server
// target of each kind. The first run downloads Curator and Maven's
// plugins into ~/.m2.
func TestCurator(t *testing.T) {
	for _, kind := range Kinds(t) {
		t.Run(kind, func(t *testing.T) {
			if _, err := exec.LookPath("mvn"); err != nil {
				t.Fatalf("mvn is not installed (systest/zkcompat/install.sh installs Debian's maven): %v", err)
			}
			tg := Start(t, kind, 3)
			runTool(t, filepath.Join(here(t), "curator"), 10*time.Minute, []string{"ZK_HOSTS=" + tg.Hosts()},
				"mvn", "-B", "--no-transfer-progress", "test")
		})
	}
}
