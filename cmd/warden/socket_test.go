package main

import (
	"context"
	"errors"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/localapi/wire"
)

// These tests play another local user who tries to pose as the agent:
// they put a file or a socket of theirs where the agent's socket goes,
// or make the socket's directory writable by everyone.

// otherUID is the uid that plays the other user (nobody).
const otherUID = 65534

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test gives files to another uid (65534) with chown, or runs an agent as that uid")
	}
}

// agentArgs are a dev agent's arguments on socket.
func agentArgs(t *testing.T, socket string) []string {
	return []string{"agent", "--dev", "--node", "proc", "--socket", socket, "--data-dir", t.TempDir(), "--log-level", "warn"}
}

// refused starts an agent on socket and waits for it to exit at start;
// it returns the agent's output, which must contain every one of want.
func refused(t *testing.T, socket string, want ...string) string {
	t.Helper()
	p := agenttest.Launch(t, nil, agentArgs(t, socket))
	select {
	case <-p.Exited():
	case <-time.After(30 * time.Second):
		t.Fatalf("the agent did not refuse to start on %s within 30s", socket)
	}
	out, err := os.ReadFile(p.Log.Name())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if !strings.Contains(string(out), w) {
			t.Fatalf("the agent's output does not say %q:\n%s", w, out)
		}
	}
	if strings.Contains(string(out), "is ready") {
		t.Fatalf("the agent started:\n%s", out)
	}
	return string(out)
}

// impostor listens on path as if it were the agent, as otherUID, and
// records the first byte of every connection it accepts.
type impostor struct {
	ln    *net.UnixListener
	first chan byte // 0 for a connection that sent nothing
}

func listenImpostor(t *testing.T, path string) *impostor {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, otherUID, otherUID); err != nil {
		t.Fatal(err)
	}
	im := &impostor{ln: ln, first: make(chan byte, 16)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			b := make([]byte, 1)
			if n, _ := c.Read(b); n == 0 {
				b[0] = 0
			}
			c.Close()
			im.first <- b[0]
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return im
}

// untouched checks that nobody connected to the impostor: it connects a
// marker itself, and the first connection accepted must be that marker
// (connections are accepted in the order they were made).
func (im *impostor) untouched(t *testing.T, path string) {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte{'M'}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case b := <-im.first:
		if b != 'M' {
			t.Fatalf("something connected to the impostor's socket before the marker (first byte %q)", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the impostor accepted nothing")
	}
}

func TestAgentRefusesSocketPathOfAnotherUser(t *testing.T) {
	needRoot(t)
	t.Run("File", func(t *testing.T) {
		sock := filepath.Join(agenttest.SocketDir(t), "w.sock")
		if err := os.WriteFile(sock, []byte("not a socket"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(sock, otherUID, otherUID); err != nil {
			t.Fatal(err)
		}
		refused(t, sock, "refusing to listen on "+sock, "regular file owned by uid 65534")
		if b, err := os.ReadFile(sock); err != nil || string(b) != "not a socket" {
			t.Fatalf("the other user's file was changed: %q, %v", b, err)
		}
	})
	t.Run("LiveSocket", func(t *testing.T) {
		sock := filepath.Join(agenttest.SocketDir(t), "w.sock")
		im := listenImpostor(t, sock)
		refused(t, sock, "refusing to listen on "+sock, "a socket owned by uid 65534", "this agent runs as uid 0")
		im.untouched(t, sock)
	})
	t.Run("StaleSocket", func(t *testing.T) {
		sock := filepath.Join(agenttest.SocketDir(t), "w.sock")
		im := listenImpostor(t, sock)
		im.ln.SetUnlinkOnClose(false)
		im.ln.Close()
		refused(t, sock, "refusing to listen on "+sock, "a socket owned by uid 65534")
		if _, err := os.Lstat(sock); err != nil {
			t.Fatalf("the other user's socket was removed: %v", err)
		}
	})
	t.Run("Directory", func(t *testing.T) {
		dir := agenttest.SocketDir(t)
		if err := os.Chown(dir, otherUID, otherUID); err != nil {
			t.Fatal(err)
		}
		refused(t, filepath.Join(dir, "w.sock"), "refusing the socket directory "+dir, "belongs to uid 65534")
	})
}

func TestAgentRefusesWorldWritableSocketDir(t *testing.T) {
	for _, mode := range []os.FileMode{0o777, 0o777 | os.ModeSticky} {
		dir := agenttest.SocketDir(t)
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		want := "(mode 0777"
		if mode&os.ModeSticky != 0 {
			want = "(mode 1777"
		}
		sock := filepath.Join(dir, "w.sock")
		refused(t, sock, "refusing the socket directory "+dir, "every user may write it", want)
		if _, err := os.Lstat(sock); err == nil {
			t.Fatal("the agent left a socket in the world-writable directory")
		}
	}
}

func TestAgentReplacesItsOwnStaleSocket(t *testing.T) {
	sock := filepath.Join(agenttest.SocketDir(t), "w.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // what an agent killed with SIGKILL leaves behind
	p := agenttest.StartProc(t, t.TempDir(), sock)
	if _, err := p.Status(); err != nil {
		t.Fatalf("status through the replaced socket: %v", err)
	}
}

// An agent of another user on its default socket, and a client that
// refuses it until told which user the agent runs as.
func TestClientRefusesSocketOfAnotherUser(t *testing.T) {
	needRoot(t)
	base := agenttest.SocketDir(t)
	if err := os.Chmod(base, 0o755); err != nil { // the other user must reach its runtime dir
		t.Fatal(err)
	}
	runtimeDir := filepath.Join(base, "xdg")
	if err := os.Mkdir(runtimeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(runtimeDir, otherUID, otherUID); err != nil {
		t.Fatal(err)
	}
	sock := wire.DefaultSocketPathFor(otherUID, runtimeDir)
	if want := filepath.Join(runtimeDir, "warden", "warden.sock"); sock != want {
		t.Fatalf("default socket %s, want %s", sock, want)
	}
	p := agenttest.LaunchAs(t, otherUID, otherUID, []string{wire.RuntimeDirEnv + "=" + runtimeDir, wire.SocketEnv + "="},
		[]string{"agent", "--dev", "--node", "other", "--data-dir", filepath.Join(runtimeDir, "data"), "--log-level", "warn"})
	p.Socket = sock
	p.WaitSocket(30 * time.Second)
	fi, err := os.Stat(filepath.Dir(sock))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o750 {
		t.Fatalf("the agent made its socket directory %v, want 0750", fi.Mode().Perm())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t.Setenv(wire.SocketOwnerEnv, "")
	_, err = warden.Dial(ctx, warden.Options{Socket: sock, NoSession: true})
	var oe *warden.SocketOwnerError
	if !errors.Is(err, warden.ErrSocketOwner) || !errors.As(err, &oe) {
		t.Fatalf("dial a socket of uid 65534 as root: %v; want ErrSocketOwner", err)
	}
	if oe.Path != sock || oe.Owner != otherUID || oe.Expected != 0 {
		t.Fatalf("SocketOwnerError %+v", oe)
	}
	for _, w := range []string{sock, "uid 65534", "not to uid 0 or root", wire.SocketOwnerEnv} {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not say %q", err, w)
		}
	}

	// The CLI refuses it too, and says why.
	e := &env{t: t, bin: agenttest.Binary(t), proc: p}
	r := e.cli("status")
	if r.code == 0 || !strings.Contains(r.stderr, "belongs to uid 65534") {
		t.Fatalf("warden status on a socket of another user: exit %d, stderr %q", r.code, r.stderr)
	}

	// Told which user the agent runs as, by uid or by name, it connects.
	owners := []string{"65534"}
	if u, err := user.Lookup("nobody"); err == nil && u.Uid == "65534" {
		owners = append(owners, "nobody")
	}
	for _, owner := range owners {
		t.Setenv(wire.SocketOwnerEnv, owner)
		c, err := warden.Dial(ctx, warden.Options{Socket: sock, NoSession: true})
		if err != nil {
			t.Fatalf("dial with %s=%s: %v", wire.SocketOwnerEnv, owner, err)
		}
		if _, err := c.Status(ctx); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
}
