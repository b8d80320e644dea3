package warden_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
	"github.com/warden-dev/warden/localapi/wire"
)

func TestSocketPathDefault(t *testing.T) {
	t.Setenv(wire.SocketEnv, "")
	if got, want := warden.SocketPath(""), wire.DefaultSocketPath(); got != want {
		t.Fatalf("SocketPath(\"\") = %q, want %q", got, want)
	}
	t.Setenv(wire.SocketEnv, "/x/env.sock")
	if got := warden.SocketPath(""); got != "/x/env.sock" {
		t.Fatalf("SocketPath with $%s = %q", wire.SocketEnv, got)
	}
	if got := warden.SocketPath("/x/explicit.sock"); got != "/x/explicit.sock" {
		t.Fatalf("SocketPath(explicit) = %q", got)
	}
}

// A socket that belongs to someone other than the expected user is
// refused before the client connects to it. As root, the socket is given
// to uid 65534; as any other user, the client is told to expect another
// uid than its own.
func TestDialRefusesSocketOfAnotherUser(t *testing.T) {
	sock := filepath.Join(agenttest.SocketDir(t), "w.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	owner, expected := os.Geteuid(), os.Geteuid()
	if owner == 0 {
		owner = 65534
		if err := os.Chown(sock, owner, owner); err != nil {
			t.Fatal(err)
		}
		t.Setenv(wire.SocketOwnerEnv, "")
	} else {
		expected = owner + 1
		t.Setenv(wire.SocketOwnerEnv, strconv.Itoa(expected))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = warden.Dial(ctx, warden.Options{Socket: sock, NoSession: true})
	var oe *warden.SocketOwnerError
	if !errors.Is(err, warden.ErrSocketOwner) || !errors.As(err, &oe) {
		t.Fatalf("Dial: %v; want ErrSocketOwner", err)
	}
	if oe.Path != sock || oe.Owner != owner || oe.Expected != expected {
		t.Fatalf("SocketOwnerError %+v; want path %s, owner %d, expected %d", oe, sock, owner, expected)
	}
	for _, w := range []string{sock, "uid " + strconv.Itoa(owner), "not to uid " + strconv.Itoa(expected)} {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not say %q", err, w)
		}
	}
	// Nothing connected: the first connection the impostor accepts is a
	// marker made now.
	marker, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer marker.Close()
	if _, err := marker.Write([]byte{'M'}); err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 1)
	if n, _ := c.Read(b); n != 1 || b[0] != 'M' {
		t.Fatal("the client connected to the socket it refused")
	}

	// Expecting the socket's owner, the check passes.
	t.Setenv(wire.SocketOwnerEnv, strconv.Itoa(owner))
	if err := warden.CheckSocketOwner(sock); err != nil {
		t.Fatalf("%s=%d: %v", wire.SocketOwnerEnv, owner, err)
	}
	t.Setenv(wire.SocketOwnerEnv, "no-such-user-here")
	if err := warden.CheckSocketOwner(sock); err == nil || !strings.Contains(err.Error(), "neither a uid nor a known user") {
		t.Fatalf("an unknown owner name: %v", err)
	}
}
