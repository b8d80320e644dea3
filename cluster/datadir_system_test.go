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
	"github.com/warden-dev/warden/cluster"
)

// TestDataDirPrivateAndDamageRefused: an agent's data dir is 0700 and
// every file in it 0600, snapshots and log segments included. An agent
// refuses to start, with one error naming the file, on a log store (wal/
// or raft.db) that is missing, emptied or damaged beside snapshots, and on
// a compacted log whose snapshots are gone; --recover starts on the
// emptied store from the snapshot.
func TestDataDirPrivateAndDamageRefused(t *testing.T) {
	t.Run("wal", func(t *testing.T) { damageRefused(t, cluster.LogStoreWAL) })
	t.Run("bolt", func(t *testing.T) { damageRefused(t, cluster.LogStoreBolt) })
}

func damageRefused(t *testing.T, store string) {
	dir := filepath.Join(t.TempDir(), "data")
	sock := filepath.Join(agenttest.SocketDir(t), "w.sock")
	args := []string{"--snapshot-threshold", "64", "--snapshot-interval", "100ms", "--raft-log-store", store}
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

	// The store's files, kept to put back after each damage.
	name, meta := "raft.db", "raft.db"
	if store == cluster.LogStoreWAL {
		name, meta = "wal", filepath.Join("wal", "wal-meta.db")
	}
	good := readTree(t, dir, name)
	restore := func() {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
		writeTree(t, dir, good)
	}
	db := filepath.Join(dir, meta)
	snaps := filepath.Join(dir, "snapshots")
	cut := func() {
		b := good[meta]
		if store == cluster.LogStoreBolt {
			// Cut inside the pages bolt uses: the file may be longer
			// than they are (bolt grows it ahead), and a cut past them
			// loses nothing.
			write(t, db, b[:boltUsed(t, b)/2])
			return
		}
		write(t, db, b[:len(b)/3])
	}
	emptied := func() { write(t, db, nil) }
	if store == cluster.LogStoreWAL {
		emptied = func() {
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(dir, name), 0o700); err != nil {
				t.Fatal(err)
			}
		}
	}
	type damage struct {
		name, want string
		damage     func()
	}
	emptyMeta := func() { write(t, db, nil) }
	var walOnly []damage
	if store == cluster.LogStoreWAL {
		walOnly = append(walOnly, damage{"empty metadata", name + " is empty", emptyMeta})
	}
	for _, tc := range append([]damage{
		{"emptied", name + " is empty", emptied},
		{"deleted", name + " is missing", func() { os.RemoveAll(filepath.Join(dir, name)) }},
		{"cut", name + " is damaged", cut},
		{"no snapshots", "holds no snapshot", func() {
			if err := os.Rename(snaps, snaps+".away"); err != nil {
				t.Fatal(err)
			}
		}},
	}, walOnly...) {
		tc.damage()
		out, err := runAgent(t, dir, sock, args...)
		if err == nil || !strings.Contains(out, tc.want) || !strings.Contains(out, "--recover") {
			t.Errorf("%s: want a refusal saying %q and naming --recover, got %v:\n%s", tc.name, tc.want, err, out)
		}
		restore()
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

	// --recover accepts the loss and starts from the snapshot (wal/:
	// its metadata file emptied; raft.db: emptied).
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	emptyMeta()
	p = agenttest.StartProc(t, dir, sock, append(args, "--recover")...)
	c = p.Dial(t, warden.Options{Name: "reader"})
	if _, ok, err := c.Exists(ctx, "/k0000"); err != nil || !ok {
		t.Fatalf("after --recover, /k0000 from the snapshot: %v %v", ok, err)
	}
}

// TestLogStoreMigrates: a data dir's Raft log moves from raft.db to wal/
// and back when --raft-log-store asks for the other store, keeping every
// write, the term and the vote; without the flag an agent keeps the
// store its data dir holds, and the leftovers of a migration cut short
// are removed.
func TestLogStoreMigrates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	sock := filepath.Join(agenttest.SocketDir(t), "w.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	written := 0
	// run starts an agent with args, checks every earlier write and adds
	// ten, and kills it.
	run := func(args ...string) {
		t.Helper()
		p := agenttest.StartProc(t, dir, sock, args...)
		c := p.Dial(t, warden.Options{Name: "app"})
		for i := 0; i < written; i++ {
			if _, ok, err := c.Exists(ctx, fmt.Sprintf("/k%04d", i)); err != nil || !ok {
				t.Fatalf("%v: /k%04d: %v %v", args, i, ok, err)
			}
		}
		for i := 0; i < 10; i++ {
			if _, err := c.Create(ctx, fmt.Sprintf("/k%04d", written), []byte("v"), warden.Persistent); err != nil {
				t.Fatalf("%v: %v", args, err)
			}
			written++
		}
		c.Close()
		p.Kill()
	}
	has := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return err == nil
	}
	aside := func(name string) int {
		m, _ := filepath.Glob(filepath.Join(dir, name+".migrated-*"))
		return len(m)
	}
	// No snapshot: every write is in the log.
	args := []string{"--snapshot-threshold", "100000"}
	run(append(args, "--raft-log-store", "bolt")...)
	if !has("raft.db") || has("wal") {
		t.Fatal("--raft-log-store bolt made no raft.db, or a wal/")
	}
	run(args...)
	if !has("raft.db") || has("wal") {
		t.Fatal("without --raft-log-store, a data dir holding raft.db did not keep it")
	}
	// A migration cut short leaves a partial store; it goes.
	if err := os.MkdirAll(filepath.Join(dir, "wal.migrating"), 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "wal.migrating", "junk"), []byte("x"))
	run(append(args, "--raft-log-store", "wal")...)
	if has("raft.db") || !has("wal") || has("wal.migrating") || aside("raft.db") != 1 {
		t.Fatal("--raft-log-store wal did not move the log from raft.db into wal/, or left wal.migrating")
	}
	run(args...)
	if !has("wal") || has("raft.db") {
		t.Fatal("without --raft-log-store, a data dir holding wal/ did not keep it")
	}
	run(append(args, "--raft-log-store", "bolt")...)
	if !has("raft.db") || has("wal") || aside("wal") != 1 {
		t.Fatal("--raft-log-store bolt did not move the log back into raft.db")
	}
}

// readTree reads the file or directory name in dir: relative path →
// content.
func readTree(t *testing.T, dir, name string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(filepath.Join(dir, name), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// writeTree writes files (from readTree) back into dir.
func writeTree(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for rel, b := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o700); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, rel), b)
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
