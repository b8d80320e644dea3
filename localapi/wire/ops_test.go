package wire_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/warden-dev/warden/localapi/wire"
)

// opsFile is the op table (ops.go) as data, next to the golden frames:
// the Python and TypeScript clients' tables are generated from it (make
// generate). The golden tests' -update flag rewrites it too.
const opsFile = "../../testdata/protocol/v1-ops.json"

// TestGoldenOps keeps testdata/protocol/v1-ops.json in step with ops.go
// and the structs it names.
func TestGoldenOps(t *testing.T) {
	d, err := wire.Describe()
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(filepath.FromSlash(opsFile), got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(filepath.FromSlash(opsFile))
	if err != nil {
		t.Fatalf("%v (generate with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run `go test ./localapi/wire -run Golden -update` (or make generate) after a deliberate protocol change", opsFile)
	}
}

// constants returns the values of the package's string constants whose
// names start with prefix (Op, Code, Event), from its source.
func constants(t *testing.T, prefix string) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range pkgs["wire"].Files {
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, prefix) || i >= len(vs.Values) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, _ := strconv.Unquote(lit.Value)
						out[name.Name] = v
					}
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s constants found", prefix)
	}
	return out
}

// TestOpTableComplete: every Op, Code and Event constant of the package is
// in the table, and nothing else is.
func TestOpTableComplete(t *testing.T) {
	var ops, multi, events []string
	for _, o := range wire.Ops {
		ops = append(ops, o.Op)
	}
	for _, m := range wire.MultiOps {
		multi = append(multi, m.Op)
	}
	for _, e := range wire.Events {
		events = append(events, e.Event)
	}
	seen := map[string]bool{}
	for _, o := range ops {
		if seen[o] {
			t.Errorf("op %s is in the table twice", o)
		}
		seen[o] = true
	}
	for name, op := range constants(t, "Op") {
		if !slices.Contains(ops, op) && !slices.Contains(multi, op) {
			t.Errorf("%s (%q) is not in the op table (ops.go)", name, op)
		}
		delete(seen, op)
	}
	for op := range seen {
		t.Errorf("the op table has %q, which is no Op constant", op)
	}
	for name, ev := range constants(t, "Event") {
		if !slices.Contains(events, ev) {
			t.Errorf("%s (%q) is not in Events (ops.go)", name, ev)
		}
	}
	codes := constants(t, "Code")
	if len(codes) != len(wire.Codes) {
		t.Errorf("wire.Codes has %d codes, the package %d", len(wire.Codes), len(codes))
	}
	for name, c := range codes {
		if !slices.Contains(wire.Codes, wire.Code(c)) {
			t.Errorf("%s (%q) is not in wire.Codes", name, c)
		}
	}
	if _, err := wire.Describe(); err != nil {
		t.Fatal(err)
	}
}

// mapKeys reads a msgpack map's keys in order; the values of "ops" (a
// multi's ops) are read too, as maps of keys.
func mapKeys(d *msgpack.Decoder) (keys []string, ops [][]string, err error) {
	n, err := d.DecodeMapLen()
	if err != nil {
		return nil, nil, err
	}
	for i := 0; i < n; i++ {
		k, err := d.DecodeString()
		if err != nil {
			return nil, nil, err
		}
		keys = append(keys, k)
		if k != "ops" {
			if err := d.Skip(); err != nil {
				return nil, nil, err
			}
			continue
		}
		m, err := d.DecodeArrayLen()
		if err != nil {
			return nil, nil, err
		}
		for j := 0; j < m; j++ {
			ks, _, err := mapKeys(d)
			if err != nil {
				return nil, nil, err
			}
			ops = append(ops, ks)
		}
	}
	return keys, ops, nil
}

// subsequence reports whether keys appear in want, in want's order.
func subsequence(keys []string, want []string) bool {
	i := 0
	for _, k := range keys {
		for i < len(want) && want[i] != k {
			i++
		}
		if i == len(want) {
			return false
		}
		i++
	}
	return true
}

func loadGolden(t *testing.T) []golden {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(goldenFile))
	if err != nil {
		t.Fatal(err)
	}
	var gs []golden
	if err := json.Unmarshal(b, &gs); err != nil {
		t.Fatal(err)
	}
	return gs
}

func frameBody(t *testing.T, g golden) []byte {
	t.Helper()
	frame, err := hex.DecodeString(g.Frame)
	if err != nil {
		t.Fatal(err)
	}
	return frame[4:]
}

// TestGoldenRequestKeys: the keys of every golden request are id, op, then
// fields of its op in the table's order (which is the order every client
// writes them in); a multi's ops likewise. And every op of the table has a
// golden request.
func TestGoldenRequestKeys(t *testing.T) {
	d, err := wire.Describe()
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string][]string{}
	for _, o := range d.Ops {
		for _, f := range o.Request {
			fields[o.Op] = append(fields[o.Op], f.Key)
		}
	}
	multi := map[string][]string{}
	for _, m := range d.MultiOps {
		for _, f := range m.Fields {
			multi[m.Op] = append(multi[m.Op], f.Key)
		}
	}
	covered := map[string]bool{}
	for _, g := range loadGolden(t) {
		if g.Kind != "request" {
			continue
		}
		var body struct {
			Op  string           `json:"op"`
			Ops []map[string]any `json:"ops"`
		}
		if err := json.Unmarshal(g.Body, &body); err != nil {
			t.Fatal(err)
		}
		want, ok := fields[body.Op]
		if !ok && !slices.ContainsFunc(d.Ops, func(o wire.OpDesc) bool { return o.Op == body.Op }) {
			t.Errorf("%s: op %q is not in the table", g.Name, body.Op)
			continue
		}
		covered[body.Op] = true
		keys, ops, err := mapKeys(msgpack.NewDecoder(bytes.NewReader(frameBody(t, g))))
		if err != nil {
			t.Fatalf("%s: %v", g.Name, err)
		}
		if len(keys) < 2 || keys[0] != "id" || keys[1] != "op" {
			t.Errorf("%s: keys %v do not start with id, op", g.Name, keys)
			continue
		}
		if !subsequence(keys[2:], want) {
			t.Errorf("%s: keys %v are not fields of %s in the order of the op table (ops.go): %v", g.Name, keys[2:], body.Op, want)
		}
		for i, ks := range ops {
			name, _ := body.Ops[i]["op"].(string)
			if len(ks) < 1 || ks[0] != "op" || !subsequence(ks[1:], multi[name]) {
				t.Errorf("%s: op %d (%s) has keys %v; the table says op, then %v", g.Name, i, name, ks, multi[name])
			}
		}
	}
	for _, o := range d.Ops {
		if !covered[o.Op] {
			t.Errorf("op %s has no golden request frame", o.Op)
		}
	}
}

// TestGoldenEventKeys: every golden event's body has keys of its event's
// body type, in the type's order.
func TestGoldenEventKeys(t *testing.T) {
	d, err := wire.Describe()
	if err != nil {
		t.Fatal(err)
	}
	types := map[string][]string{}
	for _, ty := range d.Types {
		for _, f := range ty.Fields {
			types[ty.Name] = append(types[ty.Name], f.Key)
		}
	}
	bodies := map[string]string{}
	for _, e := range d.Events {
		bodies[e.Event] = e.Body
	}
	for _, g := range loadGolden(t) {
		if g.Kind != "event" {
			continue
		}
		var m wire.Message
		if err := msgpack.Unmarshal(frameBody(t, g), &m); err != nil {
			t.Fatal(err)
		}
		body, ok := bodies[m.Event]
		if !ok {
			t.Errorf("%s: event %q is not in the table", g.Name, m.Event)
			continue
		}
		keys, _, err := mapKeys(msgpack.NewDecoder(bytes.NewReader(m.Body)))
		if err != nil {
			t.Fatal(err)
		}
		if !subsequence(keys, types[body]) {
			t.Errorf("%s: body keys %v are not %s's %v in order", g.Name, keys, body, types[body])
		}
	}
}
