package wire

import (
	"os"
	"path/filepath"
	"strconv"
)

// SocketEnv names the environment variable that overrides the default
// socket, for the agent and for clients.
const SocketEnv = "WARDEN_SOCKET"

// SocketOwnerEnv names the environment variable that tells a client which
// user the agent runs as (a uid, or a user name). Without it a client
// accepts only a socket owned by its own effective uid or by root.
const SocketOwnerEnv = "WARDEN_SOCKET_OWNER"

// RuntimeDirEnv names the per-user runtime directory of the XDG base
// directory specification, where a non-root agent puts its socket.
const RuntimeDirEnv = "XDG_RUNTIME_DIR"

// DefaultSocketPath is where an agent listens and a client connects when
// neither is told otherwise (after $WARDEN_SOCKET). It is always in a
// directory that belongs to the agent's user, never directly in a
// directory every user can write:
//
//   - /run/warden/warden.sock for root (effective uid 0);
//   - $XDG_RUNTIME_DIR/warden/warden.sock for any other user;
//   - /tmp/warden-UID/warden.sock when XDG_RUNTIME_DIR is unset (or not an
//     absolute path); the agent makes that directory 0700 and refuses it
//     when it belongs to another user.
//
// The Python and TypeScript clients apply the same rule.
func DefaultSocketPath() string {
	return DefaultSocketPathFor(os.Geteuid(), os.Getenv(RuntimeDirEnv))
}

// DefaultSocketPathFor is DefaultSocketPath for a given effective uid and
// value of $XDG_RUNTIME_DIR.
func DefaultSocketPathFor(euid int, runtimeDir string) string {
	switch {
	case euid == 0:
		return "/run/warden/warden.sock"
	case runtimeDir != "" && filepath.IsAbs(runtimeDir):
		return filepath.Join(runtimeDir, "warden", "warden.sock")
	default:
		return filepath.Join("/tmp", "warden-"+strconv.Itoa(euid), "warden.sock")
	}
}
