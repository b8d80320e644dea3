package cluster

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestKeyringFile: the keyring file is read in both the compact form
// earlier agents wrote and Serf's indented form, written in Serf's form
// with mode 0600, and a bad file or key is refused with its path.
func TestKeyringFile(t *testing.T) {
	dir := t.TempDir()
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 16)
	b1, b2 := base64.StdEncoding.EncodeToString(k1), base64.StdEncoding.EncodeToString(k2)
	for name, text := range map[string]string{
		"compact":  `["` + b1 + `","` + b2 + `"]`,
		"indented": "[\n  \"" + b1 + "\",\n  \"" + b2 + "\"\n]",
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		keys, err := readKeyring(path)
		if err != nil || len(keys) != 2 || !bytes.Equal(keys[0], k1) || !bytes.Equal(keys[1], k2) {
			t.Fatalf("%s: %v, %v", name, keys, err)
		}
	}

	path := filepath.Join(dir, keyringFile)
	if err := writeKeyring(path, [][]byte{k2, k1}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if want := "[\n  \"" + b2 + "\",\n  \"" + b1 + "\"\n]"; string(got) != want {
		t.Fatalf("wrote %q; want Serf's format %q", got, want)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}

	for name, text := range map[string]string{"empty": `[]`, "not json": `k1`, "short key": `["AAEC"]`} {
		bad := filepath.Join(dir, "bad")
		_ = os.WriteFile(bad, []byte(text), 0o600)
		if _, err := readKeyring(bad); err == nil {
			t.Errorf("%s: read without error", name)
		}
	}
	if _, err := decodeGossipKey("AAEC"); !errors.Is(err, ErrBadGossipKey) {
		t.Errorf("a 3-byte key: %v", err)
	}
}
