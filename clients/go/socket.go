package warden

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"github.com/warden-dev/warden/localapi/wire"
)

// SocketPath resolves the socket the way Dial does: explicit, else
// $WARDEN_SOCKET, else wire.DefaultSocketPath().
func SocketPath(explicit string) string {
	if explicit != "" {
		return explicit
	}
	if env := os.Getenv(wire.SocketEnv); env != "" {
		return env
	}
	return wire.DefaultSocketPath()
}

// SocketOwnerError is Dial's refusal of a socket that belongs to another
// user than the expected one. It matches ErrSocketOwner with errors.Is.
type SocketOwnerError struct {
	Path     string // the socket
	Owner    int    // the uid that owns it
	Expected int    // the uid that should own it (root always may)
}

func (e *SocketOwnerError) Error() string {
	return fmt.Sprintf("warden: refusing to connect to %s: the socket belongs to uid %d, not to uid %d or root, so it may not be the warden agent's (set %s to the agent's user if it runs as another one)",
		e.Path, e.Owner, e.Expected, wire.SocketOwnerEnv)
}

// Is makes errors.Is(err, ErrSocketOwner) hold.
func (e *SocketOwnerError) Is(target error) bool { return target == ErrSocketOwner }

// ExpectedSocketOwner is the uid an agent's socket must belong to (root
// always may): $WARDEN_SOCKET_OWNER, a uid or a user name, else this
// process's effective uid.
func ExpectedSocketOwner() (int, error) {
	v := os.Getenv(wire.SocketOwnerEnv)
	if v == "" {
		return os.Geteuid(), nil
	}
	if uid, err := strconv.Atoi(v); err == nil && uid >= 0 {
		return uid, nil
	}
	u, err := user.Lookup(v)
	if err != nil {
		return 0, fmt.Errorf("warden: %s=%q is neither a uid nor a known user: %w", wire.SocketOwnerEnv, v, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return 0, fmt.Errorf("warden: %s=%q: user has a non-numeric uid %q", wire.SocketOwnerEnv, v, u.Uid)
	}
	return uid, nil
}

// CheckSocketOwner returns a *SocketOwnerError if the socket at path (a
// symbolic link is followed) belongs to neither the expected owner (see
// ExpectedSocketOwner) nor root. A path that cannot be examined (it does
// not exist, say) passes: connecting to it fails with its own error.
func CheckSocketOwner(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	want, err := ExpectedSocketOwner()
	if err != nil {
		return err
	}
	if owner := int(st.Uid); owner != want && owner != 0 {
		return &SocketOwnerError{Path: path, Owner: owner, Expected: want}
	}
	return nil
}
