package agent

import (
	"runtime"
	"runtime/debug"
	"strconv"

	"github.com/warden-dev/warden/localapi/wire"
)

// Version is the agent's version, advertised to other agents.
var Version = "0.1.0-dev"

// buildLabels are the labels of warden_build_info.
type buildLabels struct {
	Version, Commit, GoVersion, Protocol string
}

// currentBuild describes this binary: Version, the VCS revision Go
// stamped into it ("unknown" without one, "-dirty" appended for a modified
// tree), the Go version and the local protocol's version. It is the one
// place warden_build_info reads, to be swapped for a shared BuildInfo
// when the agent has one.
func currentBuild() buildLabels {
	b := buildLabels{Version: Version, Commit: "unknown", GoVersion: runtime.Version(),
		Protocol: strconv.Itoa(wire.ProtocolVersion)}
	if info, ok := debug.ReadBuildInfo(); ok {
		var rev, modified string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			b.Commit = rev
			if modified == "true" {
				b.Commit += "-dirty"
			}
		}
	}
	return b
}
