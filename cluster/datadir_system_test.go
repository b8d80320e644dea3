package cluster_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-dev/warden/agent/agenttest"
	warden "github.com/warden-dev/warden/clients/go"
)

// TestDataDirPrivateAndDamageRefused: an agent's data dir is 0700 and
// every file in it 0600, snapshots included. An agent refuses to start,
// with one error naming the file, on a raft.db that is missing, emptied or
// half cut off beside snapshots, and on a compacted log whose snapshots
// are gone; --recover starts on the emptied raft.db from the snapshot.
func TestDataDirPrivateAndDamageRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	sock := filepath.Join(agenttest.SocketDir(t), "w.sock")
	args := []string{"--snapshot-threshold", "64", "--snapshot-interval", "100ms"}
	p := agenttest.StartProc(t, dir, sock, args...)
	c := p.Dial(t, warden.Options{Name: "writer"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Two snapshots: the log was compacted after the first.
	for i := 0; ; i++ {
		if _, err := c.Create(ctx, fmt.Sprintf("/k%04d", i), []byte("v"), warden.Persistent); err != nil {
			t.Fatal(err)
		}
		if m, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*", "meta.json")); len(m) >= 2 {
			break
		}
	}
	c.Close()
	p.Kill()

	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if d.Type().IsRegular() || d.IsDir() {
			if got := fi.Mode().Perm(); got != want {
				t.Errorf("%s is %v, want %v", path, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	db := filepath.Join(dir, "raft.db")
	good, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	snaps := filepath.Join(dir, "snapshots")
	for _, tc := range []struct {
		name, want string
		damage     func()
	}{
		{"emptied raft.db", "raft.db is empty", func() { write(t, db, nil) }},
		{"deleted raft.db", "raft.db is missing", func() { os.Remove(db) }},
		// Cut inside the pages bolt uses: the file may be longer than
		// they are (bolt grows it ahead), and a cut past them loses nothing.
		{"half raft.db", "raft.db is damaged", func() { write(t, db, good[:boltUsed(t, good)/2]) }},
		{"no snapshots", "holds no snapshot", func() {
			if err := os.Rename(snaps, snaps+".away"); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		tc.damage()
		out, err := runAgent(t, dir, sock, args...)
		if err == nil || !strings.Contains(out, tc.want) || !strings.Contains(out, "--recover") {
			t.Errorf("%s: want a refusal saying %q and naming --recover, got %v:\n%s", tc.name, tc.want, err, out)
		}
		write(t, db, good)
		if _, err := os.Stat(snaps + ".away"); err == nil {
			// The refused agent may have made an empty snapshots dir.
			if err := os.RemoveAll(snaps); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(snaps+".away", snaps); err != nil {
				t.Fatal(err)
			}
		}
	}

	// --recover accepts the loss and starts from the snapshot.
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	write(t, db, nil)
	p = agenttest.StartProc(t, dir, sock, append(args, "--recover")...)
	c = p.Dial(t, warden.Options{Name: "reader"})
	if _, ok, err := c.Exists(ctx, "/k0000"); err != nil || !ok {
		t.Fatalf("after --recover, /k0000 from the snapshot: %v %v", ok, err)
	}
}

// boltUsed is how many bytes of a bolt file its pages use: the larger
// high-water page id of its two meta pages times the page size (the meta
// page is a 16-byte header, then magic, version, page size, flags, root
// bucket, free list, high-water page id, ...; little-endian).
func boltUsed(t *testing.T, b []byte) int {
	t.Helper()
	used := 0
	psize := int(binary.LittleEndian.Uint32(b[16+8:]))
	for page := 0; page < 2 && (page+1)*psize <= len(b); page++ {
		m := b[page*psize+16:]
		if binary.LittleEndian.Uint32(m) == 0xED0CDAED {
			used = max(used, int(binary.LittleEndian.Uint64(m[40:]))*psize)
		}
	}
	if used == 0 || used > len(b) {
		t.Fatalf("raft.db: no usable bolt metadata (used %d of %d bytes)", used, len(b))
	}
	return used
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// runAgent runs a dev agent on dir that is expected to exit, and returns
// its output.
func runAgent(t *testing.T, dir, sock string, extra ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"agent", "--dev", "--node", "proc", "--socket", sock, "--data-dir", dir, "--log-level", "warn"}, extra...)
	cmd := exec.CommandContext(ctx, agenttest.Binary(t), args...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(out), fmt.Errorf("still running after 30 s: %w", io.ErrNoProgress)
	}
	return string(out), err
}
