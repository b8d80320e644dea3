package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
)

// Check reads an image tarball (as Write makes it, or docker save) on its
// own, without the library that wrote it, and reports everything wrong
// with it as a Warden image: digests that do not match the blobs, an
// entrypoint other than `warden agent`, a root or missing user, a missing
// port, volume or environment default, or a binary that is absent, not
// executable, or not a static linux executable.
func Check(tarball string) error {
	blobs, err := readTar(tarball)
	if err != nil {
		return err
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(blobs["manifest.json"], &manifest); err != nil {
		return fmt.Errorf("manifest.json: %w", err)
	}
	if len(manifest) != 1 {
		return fmt.Errorf("manifest.json: %d images, want 1", len(manifest))
	}
	m := manifest[0]
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(m.RepoTags) == 0 {
		fail("the image has no tag")
	}
	rawConfig, ok := blobs[m.Config]
	if !ok {
		return fmt.Errorf("config %s is not in the tarball", m.Config)
	}
	if want := strings.TrimPrefix(m.Config, "sha256:"); sha(rawConfig) != want {
		fail("config %s: its content hashes to %s", m.Config, sha(rawConfig))
	}
	var cf struct {
		Architecture, OS string
		Config           struct {
			Entrypoint   []string
			Cmd          []string
			User         string
			ExposedPorts map[string]struct{}
			Volumes      map[string]struct{}
			Env          []string
		} `json:"config"`
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(rawConfig, &cf); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if cf.OS != "linux" || (cf.Architecture != "amd64" && cf.Architecture != "arm64") {
		fail("platform %s/%s, want linux/amd64 or linux/arm64", cf.OS, cf.Architecture)
	}
	if got := strings.Join(append(cf.Config.Entrypoint, cf.Config.Cmd...), " "); got != BinaryPath+" agent" {
		fail("entrypoint and cmd %q, want %q", got, BinaryPath+" agent")
	}
	if uid, _, _ := strings.Cut(cf.Config.User, ":"); uid == "" || uid == "0" || uid == "root" {
		fail("user %q: the agent must not run as root", cf.Config.User)
	}
	for _, p := range Ports {
		if _, ok := cf.Config.ExposedPorts[p]; !ok {
			fail("port %s is not exposed", p)
		}
	}
	for _, v := range []string{DataDir, SocketDir} {
		if _, ok := cf.Config.Volumes[v]; !ok {
			fail("%s is not a volume", v)
		}
	}
	for _, e := range Env {
		if !slices.Contains(cf.Config.Env, e) {
			fail("environment lacks %s", e)
		}
	}
	if len(m.Layers) != len(cf.RootFS.DiffIDs) {
		return errors.Join(append(errs, fmt.Errorf("%d layers but %d diff_ids", len(m.Layers), len(cf.RootFS.DiffIDs)))...)
	}
	files := map[string]*tar.Header{}
	var binary []byte
	for i, name := range m.Layers {
		blob, ok := blobs[name]
		if !ok {
			fail("layer %s is not in the tarball", name)
			continue
		}
		layer, err := uncompress(blob)
		if err != nil {
			fail("layer %s: %v", name, err)
			continue
		}
		if got := "sha256:" + sha(layer); got != cf.RootFS.DiffIDs[i] {
			fail("layer %s: content %s, but the config says %s", name, got, cf.RootFS.DiffIDs[i])
		}
		tr := tar.NewReader(bytes.NewReader(layer))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return errors.Join(append(errs, fmt.Errorf("layer %s: %w", name, err))...)
			}
			p := "/" + strings.TrimSuffix(path.Clean(h.Name), "/")
			files[p] = h
			if p == BinaryPath {
				if binary, err = io.ReadAll(tr); err != nil {
					return err
				}
			}
		}
	}
	if h := files[BinaryPath]; h == nil {
		fail("%s is not in the image", BinaryPath)
	} else {
		if h.Typeflag != tar.TypeReg || h.Mode&0o111 != 0o111 {
			fail("%s: mode %o, want a regular file everyone may execute", BinaryPath, h.Mode)
		}
		if err := checkELF(binary, cf.Architecture); err != nil {
			fail("%s: %v", BinaryPath, err)
		}
	}
	for _, d := range []string{DataDir, SocketDir} {
		h := files[d]
		switch {
		case h == nil:
			fail("%s is not in the image", d)
		case h.Typeflag != tar.TypeDir || h.Uid != UID || h.Mode&0o002 != 0:
			fail("%s: want a directory of uid %d that others may not write (type %c, uid %d, mode %o)", d, UID, h.Typeflag, h.Uid, h.Mode)
		}
	}
	return errors.Join(errs...)
}

// checkELF says whether b is a static linux executable for arch.
func checkELF(b []byte, arch string) error {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("not an ELF executable: %w", err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return ErrNotStatic
		}
	}
	if archOf[f.Machine] != arch {
		return fmt.Errorf("built for %v, the image is %s", f.Machine, arch)
	}
	return nil
}

// readTar returns every regular file of a tarball by name.
func readTar(p string) (map[string][]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if out[h.Name], err = io.ReadAll(tr); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", p, h.Name, err)
		}
	}
}

// uncompress returns a layer's tar, gunzipped if it is compressed.
func uncompress(b []byte) ([]byte, error) {
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		return b, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
