package dist

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/warden-dev/warden/deploy/image"
	"github.com/warden-dev/warden/deploy/internal/deploytest"
)

// distDir returns the artifacts under test: $WARDEN_DIST (make dist's
// dist/, with the clients' packages), else archives and sums made here.
func distDir(t *testing.T) (dir string, full bool) {
	t.Helper()
	if d := os.Getenv("WARDEN_DIST"); d != "" {
		return d, true
	}
	dir = t.TempDir()
	root := deploytest.Root(t)
	deploytest.Run(t, root, []string{"DIST=" + dir, "VERSION=0.0.0-test"}, filepath.Join(root, "deploy", "dist.sh"), "archives", "sums")
	return dir, false
}

// checkSums verifies SHA256SUMS: it lists every other file of dir, once,
// with its digest.
func checkSums(dir string) error {
	f, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		return err
	}
	defer f.Close()
	listed := map[string]bool{}
	var errs []error
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 {
			errs = append(errs, fmt.Errorf("SHA256SUMS: bad line %q", sc.Text()))
			continue
		}
		if listed[name] {
			errs = append(errs, fmt.Errorf("SHA256SUMS lists %s twice", name))
		}
		listed[name] = true
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != sum {
			errs = append(errs, fmt.Errorf("%s: sha256 %x, SHA256SUMS says %s", name, h, sum))
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() != "SHA256SUMS" && !listed[e.Name()] {
			errs = append(errs, fmt.Errorf("SHA256SUMS does not list %s", e.Name()))
		}
	}
	if len(listed) == 0 {
		errs = append(errs, errors.New("SHA256SUMS is empty"))
	}
	return errors.Join(errs...)
}

func TestChecksums(t *testing.T) {
	dir, _ := distDir(t)
	if err := checkSums(dir); err != nil {
		t.Fatal(err)
	}
	// The check itself must catch a file that changed after summing, and
	// one that was never summed.
	bad := t.TempDir()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(e.Name(), "-linux-amd64.tar.gz") {
			b = append(b, 0)
		}
		if err := os.WriteFile(filepath.Join(bad, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(bad, "extra"), nil, 0o644)
	err := checkSums(bad)
	if err == nil || !strings.Contains(err.Error(), "-linux-amd64.tar.gz: sha256") || !strings.Contains(err.Error(), "does not list extra") {
		t.Fatalf("checkSums on a tampered copy = %v", err)
	}
}

// archiveName is warden-VERSION-linux-ARCH.tar.gz.
var archiveName = regexp.MustCompile(`^warden-([0-9][^/]*)-linux-(amd64|arm64)\.tar\.gz$`)

func TestArchives(t *testing.T) {
	dir, _ := distDir(t)
	root := deploytest.Root(t)
	unit, err := os.ReadFile(filepath.Join(root, "deploy", "systemd", "warden.service"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"README.md", "warden", "warden.env", "warden.service", "warden.sysusers"}
	if _, err := os.Stat(filepath.Join(root, "LICENSE")); err == nil {
		want = append(want, "LICENSE")
	}
	slices.Sort(want)
	entries, _ := os.ReadDir(dir)
	seen := map[string]bool{}
	for _, e := range entries {
		m := archiveName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		version, arch := m[1], m[2]
		seen[arch] = true
		t.Run(arch, func(t *testing.T) {
			top := strings.TrimSuffix(e.Name(), ".tar.gz")
			files := readTarGz(t, filepath.Join(dir, e.Name()))
			var names []string
			for name, f := range files {
				if name == top {
					continue
				}
				rel, ok := strings.CutPrefix(name, top+"/")
				if !ok {
					t.Errorf("%s is outside the archive's folder %s/", name, top)
					continue
				}
				names = append(names, rel)
				if f.hdr.Uid != 0 || f.hdr.Gid != 0 {
					t.Errorf("%s belongs to %d:%d, want 0:0", name, f.hdr.Uid, f.hdr.Gid)
				}
			}
			slices.Sort(names)
			if !slices.Equal(names, want) {
				t.Fatalf("the archive holds %q, want %q", names, want)
			}
			bin := files[top+"/warden"]
			if bin.hdr.Mode&0o111 != 0o111 {
				t.Errorf("warden: mode %o, not executable", bin.hdr.Mode)
			}
			p := filepath.Join(t.TempDir(), "warden")
			if err := os.WriteFile(p, bin.body, 0o755); err != nil {
				t.Fatal(err)
			}
			got, err := image.Arch(p) // static, linux
			if err != nil || got != arch {
				t.Fatalf("warden: %v, arch %q; want a static linux/%s binary", err, got, arch)
			}
			if !bytes.Contains(bin.body, []byte(version)) {
				t.Errorf("the binary does not carry its version %s", version)
			}
			if !bytes.Equal(files[top+"/warden.service"].body, unit) {
				t.Error("warden.service differs from deploy/systemd/warden.service")
			}
			if arch == runtime.GOARCH {
				out, err := exec.Command(p, "help").CombinedOutput()
				if err != nil || !strings.Contains(string(out), "run an agent") {
					t.Errorf("warden help: %v\n%s", err, out)
				}
			}
		})
	}
	for _, arch := range []string{"amd64", "arm64"} {
		if !seen[arch] {
			t.Errorf("no archive for linux/%s in %s", arch, dir)
		}
	}
}

// TestClientPackages checks the Python wheel and sdist and the npm
// tarball that make dist adds.
func TestClientPackages(t *testing.T) {
	dir, full := distDir(t)
	if !full {
		t.Skip("WARDEN_DIST unset: only the archives were made (make test-deploy runs make dist)")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	one := func(pattern string) string {
		t.Helper()
		re := regexp.MustCompile(pattern)
		var m []string
		for _, e := range entries {
			if re.MatchString(e.Name()) {
				m = append(m, filepath.Join(dir, e.Name()))
			}
		}
		if len(m) != 1 {
			t.Fatalf("%d files match %s in %s, want 1", len(m), pattern, dir)
		}
		return m[0]
	}
	// The wheel: the package, typed, and its metadata.
	zr, err := zip.OpenReader(one(`^warden_client-.*-py3-none-any\.whl$`))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	metadata := ""
	for _, f := range zr.File {
		names = append(names, f.Name)
		if strings.HasSuffix(f.Name, ".dist-info/METADATA") {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			metadata = string(b)
		}
	}
	for _, n := range []string{"warden/__init__.py", "warden/py.typed"} {
		if !slices.Contains(names, n) {
			t.Errorf("the wheel lacks %s (it has %q)", n, names)
		}
	}
	if !strings.Contains(metadata, "Name: warden-client") || !strings.Contains(metadata, "Requires-Dist: msgpack") {
		t.Errorf("the wheel's METADATA:\n%s", metadata)
	}
	// The sdist: sources and PKG-INFO.
	sdist := readTarGz(t, one(`^warden[-_]client-.*\.tar\.gz$`))
	hasSuffix := func(files map[string]file, s string) bool {
		for n := range files {
			if strings.HasSuffix(n, s) {
				return true
			}
		}
		return false
	}
	for _, s := range []string{"/PKG-INFO", "/pyproject.toml", "/warden/__init__.py"} {
		if !hasSuffix(sdist, s) {
			t.Errorf("the sdist lacks *%s", s)
		}
	}
	// The npm tarball: the built package.
	npm := readTarGz(t, one(`^warden-client-.*\.tgz$`))
	var pkg struct{ Name, Main string }
	if err := json.Unmarshal(npm["package/package.json"].body, &pkg); err != nil || pkg.Name != "@warden/client" {
		t.Fatalf("package/package.json: %v, name %q", err, pkg.Name)
	}
	for _, n := range []string{"package/" + strings.TrimPrefix(pkg.Main, "./"), "package/dist/index.d.ts"} {
		if _, ok := npm[n]; !ok {
			t.Errorf("the npm tarball lacks %s", n)
		}
	}
}

type file struct {
	hdr  *tar.Header
	body []byte
}

// readTarGz returns a .tar.gz's entries by name (directories with a
// trailing slash trimmed).
func readTarGz(t *testing.T, p string) map[string]file {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	out := map[string]file{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out[strings.TrimSuffix(h.Name, "/")] = file{h, b}
	}
}
