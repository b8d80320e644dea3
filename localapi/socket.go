package localapi

// Where the socket may live. Apps find the agent by its socket's path, so
// whoever can put a file at that path can pose as the agent. The agent
// therefore listens only in a directory that no other user can write, and
// never talks past something it did not put there itself.

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// SocketDirMode is the mode the agent gives a socket directory it
// creates: the agent's user may write it, the socket's group (the apps)
// may reach the socket in it. A directory created directly inside a
// directory every user can write (such as /tmp) gets 0700 instead.
const SocketDirMode os.FileMode = 0o750

// CheckSocket makes sure that path can safely become the agent's socket,
// without listening: its directory exists (it is created if missing, with
// its missing parents too when parents is set; otherwise its parent must
// exist), belongs to the agent's effective uid or to root and is not
// writable by every user; and path is free or holds a socket of the
// agent's own user that nobody listens on (a stale one, which Listen
// replaces). Anything else at path is refused: another user's socket, a
// live socket, or a file of any other kind. The agent calls it at start,
// before it opens the data dir, so that it fails fast; Listen checks
// again.
func CheckSocket(path string, parents bool) error {
	_, err := checkSocket(path, parents)
	return err
}

// checkSocket is CheckSocket, also reporting whether path holds a stale
// socket of the agent's own user.
func checkSocket(path string, parents bool) (stale bool, err error) {
	if err := prepareSocketDir(filepath.Dir(path), parents); err != nil {
		return false, err
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("socket %s: %w", path, err)
	}
	owner := ownerOf(fi)
	if fi.Mode()&fs.ModeSocket == 0 {
		return false, fmt.Errorf("refusing to listen on %s: a %s owned by uid %d is already there, not a socket of this agent; remove it if you know where it came from",
			path, kindOf(fi), owner)
	}
	if me := os.Geteuid(); owner != me {
		return false, fmt.Errorf("refusing to listen on %s: a socket owned by uid %d is already there (this agent runs as uid %d), so another user may be posing as the agent; remove it if you know where it came from",
			path, owner, me)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return false, fmt.Errorf("another agent is listening on %s", path)
	}
	return true, nil
}

// prepareSocketDir creates dir if missing and refuses it unless it is a
// directory owned by the agent's effective uid or by root that not every
// user can write.
func prepareSocketDir(dir string, parents bool) error {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		parent := filepath.Dir(dir)
		if parents {
			if err := os.MkdirAll(parent, 0o755); err != nil {
				return fmt.Errorf("socket directory %s: %w", dir, err)
			}
		} else if _, err := os.Stat(parent); err != nil {
			return fmt.Errorf("socket directory %s cannot be created: %w (its parent must exist)", dir, err)
		}
		mode := SocketDirMode
		if pfi, err := os.Stat(parent); err == nil && pfi.Mode().Perm()&0o002 != 0 {
			mode = 0o700
		}
		// Mkdir, not MkdirAll: if another user made dir meanwhile, the
		// checks below see theirs and refuse it.
		if err := os.Mkdir(dir, mode); err == nil {
			// Whatever the process umask.
			if err := os.Chmod(dir, mode); err != nil {
				return fmt.Errorf("socket directory %s: %w", dir, err)
			}
		} else if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("socket directory %s: %w", dir, err)
		}
	}
	lfi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("socket directory %s: %w", dir, err)
	}
	fi := lfi
	if lfi.Mode()&fs.ModeSymlink != 0 {
		// A link is as safe as whoever may replace it: its owner.
		if err := trustedOwner(dir, "symbolic link", lfi); err != nil {
			return err
		}
		if fi, err = os.Stat(dir); err != nil {
			return fmt.Errorf("socket directory %s: %w", dir, err)
		}
	}
	if !fi.IsDir() {
		return fmt.Errorf("socket directory %s is not a directory (it is a %s)", dir, kindOf(fi))
	}
	if err := trustedOwner(dir, "directory", fi); err != nil {
		return err
	}
	if fi.Mode().Perm()&0o002 != 0 {
		return fmt.Errorf("refusing the socket directory %s: every user may write it (mode %04o, owner uid %d), so another user could put a socket of theirs in place of the agent's; use a directory that only the agent's user can write, such as /run/warden",
			dir, modeBits(fi), ownerOf(fi))
	}
	// Said now, not when listening: root's directory, say, that a
	// non-root agent may not write.
	if err := syscall.Access(dir, 0o3); err != nil { // write and search
		return fmt.Errorf("socket directory %s: this agent (uid %d) cannot create its socket there (owner uid %d, mode %04o): %w",
			dir, os.Geteuid(), ownerOf(fi), modeBits(fi), err)
	}
	return nil
}

// trustedOwner refuses fi unless it belongs to the agent's effective uid
// or to root.
func trustedOwner(dir, what string, fi fs.FileInfo) error {
	owner, me := ownerOf(fi), os.Geteuid()
	if owner == me || owner == 0 {
		return nil
	}
	return fmt.Errorf("refusing the socket directory %s: the %s belongs to uid %d (mode %04o), not to this agent's user (uid %d) or root, so that user could put a socket of theirs in place of the agent's",
		dir, what, owner, modeBits(fi), me)
}

// ownerOf is the uid that owns fi.
func ownerOf(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

// modeBits is fi's permission bits with setuid, setgid and sticky, as
// chmod writes them.
func modeBits(fi fs.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint32(st.Mode) & 0o7777
	}
	return uint32(fi.Mode().Perm())
}

// kindOf names fi's file type for an error message.
func kindOf(fi fs.FileInfo) string {
	switch m := fi.Mode(); {
	case m.IsRegular():
		return "regular file"
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	default:
		return "file"
	}
}
