package localapi_test

// Access control between local users, tested as the attacks it stops:
// an agent as root, the attacker the warden CLI run as nobody.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// nobody is the user the attacks below run as.
const nobody = 65534

// shared starts an agent whose socket other users can reach, as an
// operator would set it up for several apps' users.
func shared(t *testing.T, extra ...string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	dir := agenttest.SocketDir(t)
	sock := filepath.Join(dir, "w.sock")
	agenttest.StartProc(t, t.TempDir(), sock, extra...)
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	return sock
}

// asNobody runs the warden CLI as another user and returns its output and
// exit status.
func asNobody(t *testing.T, sock string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(agenttest.Binary(t), args...)
	cmd.Env = append(os.Environ(), "WARDEN_SOCKET="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	}
	t.Fatalf("warden %v: %v", args, err)
	return "", 0
}

func dialAs(t *testing.T, sock string) *warden.Client {
	t.Helper()
	c, err := warden.Dial(context.Background(), warden.Options{Socket: sock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestOtherUsersCannotTouchWhatAnAppHolds performs the attacks of one
// local user on another's app, with no policy file: deleting or rewriting
// its lock contender node (the next waiter would get the lock while the
// holder is never told), deleting its group membership, and squatting a
// lock with a persistent lock-0000000000. Each fails with
// permission_denied, and the holder still holds.
func TestOtherUsersCannotTouchWhatAnAppHolds(t *testing.T) {
	sock := shared(t)
	ctx := context.Background()
	holder := dialAs(t, sock)
	lease, err := holder.Lock(ctx, "/jobs/nightly")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Join(ctx, "web", "host-1", nil); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"rm", lease.Key},
		{"set", lease.Key, "mine now"},
		{"rm", "/warden/groups/web/host-1"},
		{"create", "/jobs/nightly/lock-0000000000"},
		{"create", "--sequential", "/jobs/nightly/lock-"},
	} {
		out, code := asNobody(t, sock, args...)
		if code == 0 || !strings.Contains(out, "permission denied") {
			t.Errorf("warden %v as another user: exit %d, %q; want permission denied", args, code, out)
		}
	}
	if held, err := holder.CheckToken(ctx, "/jobs/nightly", lease.Token); err != nil || !held {
		t.Fatalf("the holder lost its lock (held=%v, err=%v)", held, err)
	}
	members, _, err := holder.Children(ctx, "/warden/groups/web")
	if err != nil || len(members) != 1 {
		t.Fatalf("the group lost its member: %v, %v", members, err)
	}
	// What is not another app's is the other user's to use: its own
	// nodes, and locks in line like anyone.
	for _, args := range [][]string{
		{"create", "/jobs/notes", "x"},
		{"set", "/jobs/notes", "y"},
		{"rm", "/jobs/notes"},
		{"lock", "--timeout", "5s", "/jobs/other", "--", "true"},
	} {
		if out, code := asNobody(t, sock, args...); code != 0 {
			t.Errorf("warden %v as another user: exit %d, %s", args, code, out)
		}
	}
	// The agent's own user is admin: it may clear what a stuck app holds.
	if err := holder.Delete(ctx, "/warden/groups/web/host-1", warden.AnyVersion); err != nil {
		t.Errorf("the agent's user could not delete a member node: %v", err)
	}
}

// TestAccessPolicy: with a policy file, a user gets only what it grants;
// refusals name the op, the path and the levels; sessions list the peer's
// uid and gid.
func TestAccessPolicy(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "access")
	if err := os.WriteFile(policy, []byte("uid:65534 read /\nuid:65534 write /scratch\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := shared(t, "--access-policy", policy)
	ctx := context.Background()
	root := dialAs(t, sock)
	if _, err := root.Create(ctx, "/config", []byte("v1"), warden.Persistent); err != nil {
		t.Fatal(err)
	}
	if out, code := asNobody(t, sock, "get", "/config"); code != 0 || strings.TrimSpace(out) != "v1" {
		t.Errorf("read granted, but get: exit %d, %q", code, out)
	}
	for _, args := range [][]string{
		{"set", "/config", "v2"},
		{"create", "/other", "x"},
		{"lock", "--timeout", "5s", "/config/lock", "--", "true"},
		{"task", "j", "t", "--", "true"},
	} {
		out, code := asNobody(t, sock, args...)
		if code == 0 || !strings.Contains(out, "permission denied") || !strings.Contains(out, "uid 65534 may not") {
			t.Errorf("warden %v without write: exit %d, %q; want permission denied", args, code, out)
		}
	}
	if out, code := asNobody(t, sock, "create", "/scratch", "x"); code != 0 {
		t.Errorf("write granted on /scratch, but create: exit %d, %s", code, out)
	}
	if data, _, err := root.Get(ctx, "/config"); err != nil || string(data) != "v1" {
		t.Fatalf("/config is %q, %v after refused writes", data, err)
	}

	// The session list shows who holds what.
	out, code := asNobody(t, sock, "lock", "--timeout", "5s", "/scratch/l", "--", agenttest.Binary(t), "sessions", "--json")
	if code != 0 {
		t.Fatalf("lock and list sessions as another user: exit %d, %s", code, out)
	}
	var ss []warden.SessionInfo
	if err := json.Unmarshal([]byte(out), &ss); err != nil {
		t.Fatalf("sessions --json: %v in %q", err, out)
	}
	found := false
	for _, s := range ss {
		if s.Uid == nobody && s.Gid == nobody && s.Pid > 0 {
			found = true
		}
	}
	if !found {
		t.Errorf("no session of uid/gid %d in %+v", nobody, ss)
	}
}

// TestOperatorOpsNeedAdminOnRoot: backing up, restoring and removing peers
// need admin on "/": another user with write on the whole tree is refused,
// and one the policy gives admin on "/" may save a snapshot.
func TestOperatorOpsNeedAdminOnRoot(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "access")
	if err := os.WriteFile(policy, []byte("uid:65534 write /\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := shared(t, "--access-policy", policy)
	// A directory the other user can reach and write (t.TempDir's
	// parents are private).
	dir, err := os.MkdirTemp("", "warden-snap-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "s.snap")
	for _, args := range [][]string{
		{"snapshot", "save", file},
		{"operator", "remove-peer", "proc"},
		{"force-leave", "proc"},
	} {
		out, code := asNobody(t, sock, args...)
		if code == 0 || !strings.Contains(out, "needs admin on /") {
			t.Errorf("warden %v with write on /: exit %d, %q; want permission denied", args, code, out)
		}
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("a refused save left %s (%v)", file, err)
	}
	// The agent's own user (root here) saves; nobody may not restore it.
	if out, err := exec.Command(agenttest.Binary(t), "snapshot", "save", "--socket", sock, file).CombinedOutput(); err != nil {
		t.Fatalf("save as root: %v\n%s", err, out)
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := asNobody(t, sock, "snapshot", "restore", "--force", file); code == 0 || !strings.Contains(out, "needs admin on /") {
		t.Errorf("restore with write on /: exit %d, %q; want permission denied", code, out)
	}

	// With admin on "/" (another agent, another policy), nobody saves.
	admin := filepath.Join(t.TempDir(), "access")
	if err := os.WriteFile(admin, []byte("uid:65534 admin /\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sock2 := shared(t, "--access-policy", admin)
	file2 := filepath.Join(dir, "t.snap")
	if out, code := asNobody(t, sock2, "snapshot", "save", file2); code != 0 {
		t.Errorf("save with admin on /: exit %d, %s", code, out)
	}
	if _, err := os.Stat(file2); err != nil {
		t.Errorf("save with admin on /: %v", err)
	}
}
