package wire

import "testing"

func TestDefaultSocketPathFor(t *testing.T) {
	for _, c := range []struct {
		euid       int
		runtimeDir string
		want       string
	}{
		{0, "", "/run/warden/warden.sock"},
		{0, "/run/user/0", "/run/warden/warden.sock"}, // root ignores XDG_RUNTIME_DIR
		{1000, "/run/user/1000", "/run/user/1000/warden/warden.sock"},
		{1000, "", "/tmp/warden-1000/warden.sock"},
		{1000, "relative/dir", "/tmp/warden-1000/warden.sock"}, // not absolute: ignored, as the XDG spec says
	} {
		if got := DefaultSocketPathFor(c.euid, c.runtimeDir); got != c.want {
			t.Errorf("DefaultSocketPathFor(%d, %q) = %q, want %q", c.euid, c.runtimeDir, got, c.want)
		}
	}
}
