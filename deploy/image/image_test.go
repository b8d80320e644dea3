package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/warden-dev/warden/deploy/image"
	"github.com/warden-dev/warden/deploy/internal/deploytest"
)

// imageTarball returns the image under test: $WARDEN_IMAGE (make image's
// bin/warden-image.tar under make test-deploy), else one built here from
// a static binary.
func imageTarball(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("WARDEN_IMAGE"); p != "" {
		return p
	}
	img, err := image.Build(image.Config{Binary: deploytest.Binary(t), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "warden-image.tar")
	if err := image.Write(out, "warden:test", img); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestImageTarball(t *testing.T) {
	if err := image.Check(imageTarball(t)); err != nil {
		t.Fatalf("the image is broken:\n%v", err)
	}
}

// TestCheckCatchesBrokenImages makes sure Check is not blind: images
// broken in one way each must each be refused, naming what is wrong.
func TestCheckCatchesBrokenImages(t *testing.T) {
	bin := deploytest.Binary(t)
	good, err := image.Build(image.Config{Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := good.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, want string
		edit       func(c *v1.Config)
	}{
		{"root user", "must not run as root", func(c *v1.Config) { c.User = "0:0" }},
		{"no user", "must not run as root", func(c *v1.Config) { c.User = "" }},
		{"no gossip port", "7301/udp is not exposed", func(c *v1.Config) { delete(c.ExposedPorts, "7301/udp") }},
		{"no data volume", "/var/lib/warden is not a volume", func(c *v1.Config) { delete(c.Volumes, image.DataDir) }},
		{"no socket default", "environment lacks WARDEN_SOCKET", func(c *v1.Config) { c.Env = c.Env[:1] }},
		{"other entrypoint", "entrypoint", func(c *v1.Config) { c.Entrypoint = []string{"/bin/sh"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cf.Config.DeepCopy()
			tc.edit(c)
			bad, err := mutate.Config(good, *c)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(t.TempDir(), "bad.tar")
			if err := image.Write(p, "warden:bad", bad); err != nil {
				t.Fatal(err)
			}
			err = image.Check(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check = %v, want an error saying %q", err, tc.want)
			}
		})
	}
	t.Run("tampered config", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "good.tar")
		if err := image.Write(p, "warden:good", good); err != nil {
			t.Fatal(err)
		}
		tampered := rewriteTar(t, p, func(name string, b []byte) []byte {
			if strings.HasPrefix(name, "sha256:") {
				return bytes.Replace(b, []byte(`"User":"10001:10001"`), []byte(`"User":"0:0:::::::"`), 1)
			}
			return b
		})
		if err := image.Check(tampered); err == nil || !strings.Contains(err.Error(), "hashes to") {
			t.Fatalf("Check = %v, want a digest mismatch", err)
		}
	})
	t.Run("dynamic binary", func(t *testing.T) {
		if _, err := image.Build(image.Config{Binary: "/bin/sh"}); !errors.Is(err, image.ErrNotStatic) {
			t.Fatalf("Build(/bin/sh) = %v, want ErrNotStatic", err)
		}
		if _, err := image.Build(image.Config{Binary: "/etc/passwd"}); !errors.Is(err, image.ErrNotLinux) {
			t.Fatalf("Build(/etc/passwd) = %v, want ErrNotLinux", err)
		}
	})
}

// rewriteTar copies a tarball, passing each file through edit.
func rewriteTar(t *testing.T, src string, edit func(name string, b []byte) []byte) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dst := src + ".edited"
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	tr, tw := tar.NewReader(in), tar.NewWriter(out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		b = edit(h.Name, b)
		h.Size = int64(len(b))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestImageRunsUnderPodman loads the image into podman, runs the agent
// with a host directory as its socket volume, and talks to it through
// the socket from outside the container.
func TestImageRunsUnderPodman(t *testing.T) {
	podman := deploytest.Tool(t, "podman")
	deploytest.Tool(t, "runc")
	tarball := imageTarball(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, podman, args...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	out, err := run("load", "-q", "-i", tarball)
	if err != nil {
		t.Fatalf("podman load: %v\n%s", err, out)
	}
	_, ref, ok := strings.Cut(out, "Loaded image: ")
	if ref = strings.TrimSpace(ref); !ok || ref == "" {
		t.Fatalf("podman load said %q, not which image it loaded", out)
	}
	t.Cleanup(func() { exec.Command(podman, "rmi", "-f", ref).Run() })
	sockDir := t.TempDir()
	// The agent, as uid 10001, refuses a socket directory it cannot
	// write or that others may write: the volume is its own, 0750.
	if err := os.Chown(sockDir, image.UID, image.GID); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sockDir, 0o750); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("warden-image-test-%d", os.Getpid())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		exec.CommandContext(ctx, podman, "rm", "-f", "-v", name).Run()
	})
	// runc, not crun: crun refuses hosts with a hybrid cgroup hierarchy.
	// The ulimits are below the host's: podman's defaults are above them,
	// and raising a limit needs CAP_SYS_RESOURCE, which a container host
	// in a sandbox may lack. --network none: the socket is all we use.
	out, err = run("--runtime", "runc", "run", "-d", "--name", name, "--network", "none",
		"--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
		"-v", sockDir+":"+image.SocketDir, ref, "--dev", "--node", "imagetest")
	if err != nil {
		t.Fatalf("podman run: %v\n%s", err, out)
	}
	bin := deploytest.Binary(t)
	wardenCLI := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "WARDEN_SOCKET="+filepath.Join(sockDir, "warden.sock"), fmt.Sprintf("WARDEN_SOCKET_OWNER=%d", image.UID))
		b, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(b)), err
	}
	var st struct{ Node, Role, Leader string }
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := wardenCLI("status", "--json", "--op-timeout", "2s")
		if err == nil && json.Unmarshal([]byte(out), &st) == nil && st.Leader != "" {
			break
		}
		if time.Now().After(deadline) {
			logs, _ := run("logs", name)
			t.Fatalf("the agent in the container did not answer on %s: %v %s\ncontainer log:\n%s", sockDir, err, out, logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st.Node != "imagetest" || st.Leader != "imagetest" {
		t.Fatalf("status: %+v, want node and leader imagetest", st)
	}
	// A write from the host, read back by the CLI inside the container
	// (which finds the socket through the image's WARDEN_SOCKET).
	if out, err := wardenCLI("create", "/from-host", "hello"); err != nil {
		t.Fatalf("create: %v %s", err, out)
	}
	if out, err := run("exec", name, "warden", "get", "/from-host"); err != nil || out != "hello" {
		t.Fatalf("warden get inside the container: %q, %v; want hello", out, err)
	}
	// SIGTERM (podman stop) ends the agent cleanly.
	if out, err := run("stop", "-t", "20", name); err != nil {
		t.Fatalf("podman stop: %v %s", err, out)
	}
	if out, err := run("inspect", name, "--format", "{{.State.ExitCode}}"); err != nil || out != "0" {
		logs, _ := run("logs", name)
		t.Fatalf("exit code after SIGTERM: %q (%v), want 0\n%s", out, err, logs)
	}
}
