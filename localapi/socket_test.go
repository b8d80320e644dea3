package localapi

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// nobody is the uid that plays another local user.
const nobody = 65534

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test gives files to another uid (65534) with chown")
	}
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one with %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not say %q", err, p)
		}
	}
}

func modeOf(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode() & (os.ModePerm | os.ModeSticky)
}

func TestCheckSocketMakesItsDirectory(t *testing.T) {
	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	// An explicit socket: the directory is made 0750, whatever the umask.
	if err := CheckSocket(filepath.Join(base, "run", "w.sock"), false); err != nil {
		t.Fatal(err)
	}
	if m := modeOf(t, filepath.Join(base, "run")); m != 0o750 {
		t.Fatalf("socket directory mode %v, want 0750", m)
	}
	// ... but not its parents.
	wantErr(t, CheckSocket(filepath.Join(base, "a", "b", "w.sock"), false), filepath.Join(base, "a", "b"), "its parent must exist")
	if _, err := os.Stat(filepath.Join(base, "a")); err == nil {
		t.Fatal("the missing parent was created for an explicit socket")
	}
	// The default socket: parents too.
	if err := CheckSocket(filepath.Join(base, "a", "b", "w.sock"), true); err != nil {
		t.Fatal(err)
	}
	if m := modeOf(t, filepath.Join(base, "a", "b")); m != 0o750 {
		t.Fatalf("socket directory mode %v, want 0750", m)
	}
	// In a directory every user may write (like /tmp), 0700.
	shared := filepath.Join(base, "shared")
	if err := os.Mkdir(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o1777); err != nil {
		t.Fatal(err)
	}
	if err := CheckSocket(filepath.Join(shared, "warden-1", "w.sock"), true); err != nil {
		t.Fatal(err)
	}
	if m := modeOf(t, filepath.Join(shared, "warden-1")); m != 0o700 {
		t.Fatalf("socket directory in a shared directory has mode %v, want 0700", m)
	}
}

func TestCheckSocketRefusesUnsafeDirectory(t *testing.T) {
	for _, mode := range []os.FileMode{0o777, 0o777 | os.ModeSticky} {
		dir := t.TempDir()
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		want := "mode 0777"
		if mode&os.ModeSticky != 0 {
			want = "mode 1777"
		}
		wantErr(t, CheckSocket(filepath.Join(dir, "w.sock"), false), "refusing the socket directory "+dir, "every user may write it", want)
	}
	t.Run("OwnedByAnotherUser", func(t *testing.T) {
		needRoot(t)
		dir := t.TempDir()
		if err := os.Chown(dir, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		wantErr(t, CheckSocket(filepath.Join(dir, "w.sock"), false), "refusing the socket directory "+dir, "belongs to uid 65534")
		// Also when it is made to look like the directory the agent
		// would create: another user got there first.
		if err := os.Chmod(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		wantErr(t, CheckSocket(filepath.Join(dir, "w.sock"), true), "belongs to uid 65534")
	})
	t.Run("LinkOwnedByAnotherUser", func(t *testing.T) {
		needRoot(t)
		base := t.TempDir()
		good := filepath.Join(base, "good")
		link := filepath.Join(base, "link")
		if err := os.Mkdir(good, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(good, link); err != nil {
			t.Fatal(err)
		}
		if err := CheckSocket(filepath.Join(link, "w.sock"), false); err != nil {
			t.Fatalf("a link of the agent's own user to a good directory: %v", err)
		}
		if err := os.Lchown(link, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		wantErr(t, CheckSocket(filepath.Join(link, "w.sock"), false), "symbolic link belongs to uid 65534")
	})
}

func TestCheckSocketPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.sock")

	// A regular file: refused and left alone.
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantErr(t, CheckSocket(path, false), "refusing to listen on "+path, "regular file")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the file was removed: %v", err)
	}
	os.Remove(path)

	// A live socket of our own: another agent.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, CheckSocket(path, false), "another agent is listening on "+path)

	// The same socket once nobody listens: stale, to be replaced.
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if stale, err := checkSocket(path, false); err != nil || !stale {
		t.Fatalf("a stale socket of our own: stale %v, err %v; want stale", stale, err)
	}

	t.Run("AnotherUsersSocket", func(t *testing.T) {
		needRoot(t)
		if err := os.Chown(path, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		wantErr(t, CheckSocket(path, false), "refusing to listen on "+path, "a socket owned by uid 65534")
		if _, err := os.Lstat(path); err != nil {
			t.Fatalf("the other user's socket was removed: %v", err)
		}
	})
}
