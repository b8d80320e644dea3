package agent

import (
	"runtime"
	"runtime/debug"

	"github.com/warden-dev/warden/localapi/wire"
)

// Version is the agent's version, advertised to other agents. Release
// builds set it: go build -ldflags "-X github.com/warden-dev/warden/agent.Version=v1.2.3"
// (make build passes `git describe --tags --always --dirty`).
var Version = "0.1.0-dev"

// commit is the revision when the build has no VCS stamp (a build outside
// a checkout, or from a git worktree, which go build does not stamp):
// make build sets it with -ldflags -X.
var commit = ""

// Build describes the running binary, for `warden version` and a
// warden_build_info metric.
type Build struct {
	Version   string // Version
	Commit    string // the VCS revision it was built from; "" when unknown
	Modified  bool   // built from a work tree with uncommitted changes
	GoVersion string // the Go release that built it
	Protocol  int    // the local protocol version it speaks (wire.ProtocolVersion)
}

// BuildInfo describes the running binary. Commit and Modified come from
// the build's VCS stamp (go build stamps it in a git checkout unless
// -buildvcs=false), else Commit from what make build passed.
func BuildInfo() Build {
	b := Build{Version: Version, Commit: commit, GoVersion: runtime.Version(), Protocol: wire.ProtocolVersion}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	return b
}
