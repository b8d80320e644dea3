package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warden-dev/warden/localapi/wire"
)

// root is the repository's root, from this package's directory.
const root = "../../../.."

// TestGeneratedFilesAreCurrent fails when a committed generated file
// differs from what the generator writes from testdata/protocol/v1-ops.json:
// run `make generate`.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	d, err := load(filepath.Join(root, descFile))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]byte{pythonFile: Python(d), tsFile: TypeScript(d)} {
		got, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Fatalf("%v (run make generate)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run make generate", path)
		}
	}
}

// TestDescriptionIsCurrent: the description the files come from is the
// wire package's (its golden test checks the same from the other side).
func TestDescriptionIsCurrent(t *testing.T) {
	d, err := wire.Describe()
	if err != nil {
		t.Fatal(err)
	}
	want, err := d.JSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, descFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run make generate", descFile)
	}
}

func TestNames(t *testing.T) {
	for in, want := range map[string]string{"rpc_addr": "rpcAddr", "session_timeout_ms": "sessionTimeoutMs", "key": "key"} {
		if got := camel(in); got != want {
			t.Errorf("camel(%q) = %q, want %q", in, got, want)
		}
	}
	for code, want := range map[wire.Code]string{wire.CodeNoNode: "NoNodeError", wire.CodeTimeout: "TimeoutError",
		wire.CodeNoChildrenForEphemerals: "NoChildrenForEphemeralsError"} {
		if got := errorClass(code); got != want {
			t.Errorf("errorClass(%q) = %q, want %q", code, got, want)
		}
	}
	// Python's own TimeoutError is a builtin: the client's class is another.
	if got := pythonErrorClass(wire.CodeTimeout); got != "OperationTimeoutError" {
		t.Errorf("pythonErrorClass(timeout) = %q", got)
	}
}

// TestEveryTypeRenders: every type of the description appears in both
// files, and every op.
func TestEveryTypeRenders(t *testing.T) {
	d, err := wire.Describe()
	if err != nil {
		t.Fatal(err)
	}
	py, ts := string(Python(d)), string(TypeScript(d))
	for _, ty := range d.Types {
		if !strings.Contains(py, `"`+ty.Name+`": (`) || !strings.Contains(ts, "  "+ty.Name+": [") {
			t.Errorf("type %s is missing from a generated file", ty.Name)
		}
	}
	for _, o := range d.Ops {
		if !strings.Contains(py, `"`+o.Op+`": OpSpec(`) || !strings.Contains(ts, "  "+o.Op+": {") {
			t.Errorf("op %s is missing from a generated file", o.Op)
		}
	}
}
