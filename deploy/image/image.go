// Package image builds Warden's container image from a static warden
// binary, without a container engine: one layer (the binary, a passwd and
// group naming the user warden, the data and socket directories) and an
// OCI config that runs `warden agent` as that user. Write saves it as a
// tarball that `docker load` and `podman load` take; Check reads such a
// tarball back on its own and says what is wrong with it.
package image

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where things are in the image, and who runs the agent.
const (
	BinaryPath = "/usr/local/bin/warden"
	DataDir    = "/var/lib/warden"
	SocketDir  = "/run/warden"
	SocketPath = SocketDir + "/warden.sock"
	// UID and GID are the user and group warden. Numeric in the config, so
	// that Kubernetes' runAsNonRoot can check them without a passwd file.
	UID = 10001
	GID = 10001
)

// Ports are the agent's default ports: RPC (Raft and agent RPC), Serf
// (gossip, TCP and UDP) and HTTP (health, readiness, metrics).
var Ports = []string{"7300/tcp", "7301/tcp", "7301/udp", "7302/tcp"}

// Env is the environment the image sets: where the agent keeps its data
// and socket (the CLI inside the container finds the socket the same way),
// and an HTTP endpoint reachable from outside the container, so that
// probes work. Flags and -e override each of them.
var Env = []string{
	"PATH=/usr/local/bin:/usr/bin:/bin",
	"WARDEN_DATA_DIR=" + DataDir,
	"WARDEN_SOCKET=" + SocketPath,
	"WARDEN_HTTP_BIND=0.0.0.0",
}

// Config says what to build.
type Config struct {
	// Binary is a statically linked warden for linux (CGO_ENABLED=0).
	Binary string
	// Version labels the image (org.opencontainers.image.version).
	Version string
	// Created is the image's creation time; the zero time (the default)
	// keeps builds of the same binary identical.
	Created time.Time
}

// Errors Build reports about its binary.
var (
	ErrNotStatic = errors.New("binary is dynamically linked (build it with CGO_ENABLED=0)")
	ErrNotLinux  = errors.New("binary is not a linux executable")
)

// archOf maps an ELF machine to its GOARCH, for the architectures the
// releases ship.
var archOf = map[elf.Machine]string{elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64"}

// Arch returns the GOARCH of a static linux warden binary, or an error
// saying why the file cannot go into the image.
func Arch(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w: %v", path, ErrNotLinux, err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return "", fmt.Errorf("%s: %w (ELF type %v)", path, ErrNotLinux, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", fmt.Errorf("%s: %w", path, ErrNotStatic)
		}
	}
	arch, ok := archOf[f.Machine]
	if !ok {
		return "", fmt.Errorf("%s: unsupported architecture %v (want amd64 or arm64)", path, f.Machine)
	}
	return arch, nil
}

// Build makes the image.
func Build(cfg Config) (v1.Image, error) {
	arch, err := Arch(cfg.Binary)
	if err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(cfg.Binary)
	if err != nil {
		return nil, err
	}
	layerTar, err := rootfs(bin, cfg.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	ports := map[string]struct{}{}
	for _, p := range Ports {
		ports[p] = struct{}{}
	}
	version := cfg.Version
	if version == "" {
		version = "dev"
	}
	cf := &v1.ConfigFile{
		Architecture: arch,
		OS:           "linux",
		Created:      v1.Time{Time: cfg.Created},
		Config: v1.Config{
			Entrypoint:   []string{BinaryPath, "agent"},
			User:         fmt.Sprintf("%d:%d", UID, GID),
			ExposedPorts: ports,
			Volumes:      map[string]struct{}{DataDir: {}, SocketDir: {}},
			Env:          Env,
			WorkingDir:   DataDir,
			StopSignal:   "SIGTERM",
			Labels: map[string]string{
				"org.opencontainers.image.title":       "warden",
				"org.opencontainers.image.description": "Warden coordination agent",
				"org.opencontainers.image.version":     version,
				"org.opencontainers.image.source":      "https://github.com/warden-dev/warden",
			},
		},
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, err
	}
	return mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: cfg.Created}, CreatedBy: "warden-image: " + BinaryPath, Comment: "warden " + version},
	})
}

// Write saves img at path as a tarball tagged tag (such as warden:0.1.0),
// the format `docker load` and `podman load` read.
func Write(path, tag string, img v1.Image) error {
	ref, err := name.NewTag(tag, name.WithDefaultRegistry(""))
	if err != nil {
		return fmt.Errorf("tag %q: %w", tag, err)
	}
	return tarball.WriteToFile(path, ref, img)
}

// entry is one file or directory of the layer.
type entry struct {
	name     string
	mode     int64
	uid, gid int
	body     []byte // nil for a directory
}

// rootfs is the layer's tar: the directories, passwd and group, and the
// binary, with fixed times and owners.
func rootfs(bin []byte, mtime time.Time) ([]byte, error) {
	entries := []entry{
		{name: "etc/", mode: 0o755},
		{name: "etc/passwd", mode: 0o644, body: []byte(fmt.Sprintf(
			"root:x:0:0:root:/root:/sbin/nologin\nwarden:x:%d:%d:Warden agent:%s:/sbin/nologin\n", UID, GID, DataDir))},
		{name: "etc/group", mode: 0o644, body: []byte(fmt.Sprintf("root:x:0:\nwarden:x:%d:\n", GID))},
		{name: "tmp/", mode: 0o1777},
		{name: "usr/", mode: 0o755},
		{name: "usr/local/", mode: 0o755},
		{name: "usr/local/bin/", mode: 0o755},
		{name: BinaryPath[1:], mode: 0o755, body: bin},
		{name: "var/", mode: 0o755},
		{name: "var/lib/", mode: 0o755},
		// The agent refuses a socket directory another user may write; it
		// keeps its data private.
		{name: DataDir[1:] + "/", mode: 0o700, uid: UID, gid: GID},
		{name: "run/", mode: 0o755},
		{name: SocketDir[1:] + "/", mode: 0o750, uid: UID, gid: GID},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: mtime, Format: tar.FormatPAX}
		if e.body == nil {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
