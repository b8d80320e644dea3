package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// Description is protocol version 1 as data: the op table with every
// field's wire type, and the result and event types read from the structs
// by reflection. It is what testdata/protocol/v1-ops.json holds, and what
// the Python and TypeScript clients' tables are generated from.
//
// A type is a scalar (str, bin, int, uint, bool, float), the name of a
// type in Types, or "[]" followed by a type (an array of it). A field's
// omit says when the sender leaves it out: "never", "empty" (when it is
// empty, zero or false) or "nil" (only when not given: 0 and -1 are sent).
type Description struct {
	Protocol int    `json:"protocol"`
	About    string `json:"about"`
	// Request is every key of a request, in the order they are written.
	Request  []Field       `json:"request"`
	Ops      []OpDesc      `json:"ops"`
	MultiOps []MultiOpDesc `json:"multi_ops"`
	Events   []EventDesc   `json:"events"`
	// Codes is every error code; CommonCodes may answer any request.
	Codes       []Code     `json:"codes"`
	CommonCodes []Code     `json:"common_codes"`
	Types       []TypeDesc `json:"types"`
}

// Field is one key of a map on the wire.
type Field struct {
	Key  string `json:"key"`
	Type string `json:"type"`
	Omit string `json:"omit"`
}

// OpField is one request field of an op.
type OpField struct {
	Key      string `json:"key"`
	Type     string `json:"type"`
	Omit     string `json:"omit"`
	Required bool   `json:"required"`
}

// OpDesc is one op.
type OpDesc struct {
	Op          string    `json:"op"`
	Request     []OpField `json:"request"`
	Result      string    `json:"result"`
	Events      []string  `json:"events"`
	Errors      []Code    `json:"errors"`
	Sessionless bool      `json:"sessionless"`
}

// MultiOpDesc is one op of a multi: the keys of its map beyond op.
type MultiOpDesc struct {
	Op     string    `json:"op"`
	Fields []OpField `json:"fields"`
}

// EventDesc is one event.
type EventDesc struct {
	Event  string `json:"event"`
	Body   string `json:"body"`
	Stream bool   `json:"stream"`
}

// TypeDesc is a map type: its fields in the order the agent writes them.
type TypeDesc struct {
	Name   string  `json:"name"`
	Fields []Field `json:"fields"`
}

const about = "Warden local protocol, version 1, as data (docs/protocol.md is the specification). " +
	"Generated from localapi/wire (ops.go) by `go test ./localapi/wire -run Golden -update`. " +
	"A type is str, bin, int, uint, bool, float, the name of an entry of types, or [] and a type (an array). " +
	"omit: never (always sent), empty (left out when empty, zero or false), nil (left out only when not given)."

// Describe builds the description from Ops, MultiOps, Events, Codes and
// the structs they name. It fails when the table and the structs disagree:
// an unknown key, or request fields out of Request's order.
func Describe() (*Description, error) {
	d := &Description{Protocol: ProtocolVersion, About: about, Codes: Codes, CommonCodes: CommonCodes}
	types := map[string][]Field{}
	request, err := structFields(reflect.TypeFor[Request](), types)
	if err != nil {
		return nil, err
	}
	d.Request = request
	if _, err := structFields(reflect.TypeFor[Error](), types); err != nil {
		return nil, err
	}
	for _, op := range Ops {
		fields, err := opFields(op.Op, withTimeout(op.Request, request), request)
		if err != nil {
			return nil, err
		}
		result, err := typeName(op.Result, types)
		if err != nil {
			return nil, fmt.Errorf("op %s: %w", op.Op, err)
		}
		d.Ops = append(d.Ops, OpDesc{Op: op.Op, Request: fields, Result: result,
			Events: nonNil(op.Events), Errors: opErrors(op), Sessionless: op.Sessionless})
	}
	multiOp, err := structFields(reflect.TypeFor[Op](), types)
	if err != nil {
		return nil, err
	}
	for _, m := range MultiOps {
		fields, err := opFields("multi "+m.Op, m.Fields, multiOp[1:]) // op itself comes first
		if err != nil {
			return nil, err
		}
		d.MultiOps = append(d.MultiOps, MultiOpDesc{Op: m.Op, Fields: fields})
	}
	for _, e := range Events {
		body, err := typeName(e.Body, types)
		if err != nil {
			return nil, fmt.Errorf("event %s: %w", e.Event, err)
		}
		d.Events = append(d.Events, EventDesc{Event: e.Event, Body: body, Stream: e.Stream})
	}
	delete(types, "Request") // described as Request above, per op in Ops
	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		d.Types = append(d.Types, TypeDesc{Name: n, Fields: types[n]})
	}
	return d, nil
}

// withTimeout adds timeout_ms, which every op reads (an op that opens a
// stream ignores it), to an op's fields, in the order of all.
func withTimeout(specs []FieldSpec, all []Field) []FieldSpec {
	at := slices.IndexFunc(all, func(f Field) bool { return f.Key == "timeout_ms" })
	out := make([]FieldSpec, 0, len(specs)+1)
	added := false
	for _, s := range specs {
		if !added && slices.IndexFunc(all, func(f Field) bool { return f.Key == s.Key }) > at {
			out, added = append(out, opt("timeout_ms")), true
		}
		out = append(out, s)
	}
	if !added {
		out = append(out, opt("timeout_ms"))
	}
	return out
}

// opFields looks each field up in all (the fields of Request or Op) and
// checks that they come in its order.
func opFields(op string, specs []FieldSpec, all []Field) ([]OpField, error) {
	out := []OpField{}
	last := -1
	for _, s := range specs {
		i := slices.IndexFunc(all, func(f Field) bool { return f.Key == s.Key })
		if i < 0 {
			return nil, fmt.Errorf("op %s: no request field %q", op, s.Key)
		}
		if i <= last {
			return nil, fmt.Errorf("op %s: field %q is out of the order requests are written in", op, s.Key)
		}
		last = i
		f := all[i]
		out = append(out, OpField{Key: f.Key, Type: f.Type, Omit: f.Omit, Required: s.Required})
	}
	return out, nil
}

// opErrors is the op's codes, with permission_denied for an op that names
// a path and no_session for one that needs a session, in the order of
// Codes.
func opErrors(op OpSpec) []Code {
	has := map[Code]bool{}
	for _, c := range op.Errors {
		has[c] = true
	}
	for _, f := range op.Request {
		switch f.Key {
		case "path", "key", "ops", "job", "group":
			has[CodePermissionDenied] = true
		}
	}
	if !op.Sessionless && op.Op != OpHello {
		has[CodeNoSession] = true
	}
	out := []Code{}
	for _, c := range Codes {
		if has[c] {
			out = append(out, c)
		}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// typeName is the name of the struct v points to, described into types.
func typeName(v any, types map[string][]Field) (string, error) {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return "", fmt.Errorf("%T is not a pointer to a struct", v)
	}
	if _, err := structFields(t.Elem(), types); err != nil {
		return "", err
	}
	return t.Elem().Name(), nil
}

// structFields describes a struct's msgpack fields, in order, and adds it
// and every struct it holds to types.
func structFields(t reflect.Type, types map[string][]Field) ([]Field, error) {
	if f, ok := types[t.Name()]; ok {
		return f, nil
	}
	fields := []Field{}
	types[t.Name()] = fields // a placeholder, against cycles
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := sf.Tag.Get("msgpack")
		if !sf.IsExported() || tag == "-" {
			continue
		}
		key, opts, _ := strings.Cut(tag, ",")
		if key == "" {
			return nil, fmt.Errorf("%s.%s has no msgpack key", t.Name(), sf.Name)
		}
		ft := sf.Type
		omit := "never"
		if strings.Contains(","+opts+",", ",omitempty,") {
			omit = "empty"
			if ft.Kind() == reflect.Pointer {
				omit = "nil"
			}
		}
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		typ, err := wireType(ft, types)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t.Name(), sf.Name, err)
		}
		fields = append(fields, Field{Key: key, Type: typ, Omit: omit})
	}
	types[t.Name()] = fields
	return fields, nil
}

func wireType(t reflect.Type, types map[string][]Field) (string, error) {
	switch t.Kind() {
	case reflect.String:
		return "str", nil
	case reflect.Bool:
		return "bool", nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "int", nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "uint", nil
	case reflect.Float32, reflect.Float64:
		return "float", nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "bin", nil
		}
		elem, err := wireType(t.Elem(), types)
		if err != nil {
			return "", err
		}
		return "[]" + elem, nil
	case reflect.Struct:
		if _, err := structFields(t, types); err != nil {
			return "", err
		}
		return t.Name(), nil
	}
	return "", fmt.Errorf("no wire type for %s", t)
}

// JSON is the description as testdata/protocol/v1-ops.json holds it:
// indented, with every object or array that holds no other on one line.
func (d *Description) JSON() ([]byte, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	n, err := readNode(dec)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	n.write(&out, "")
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// node is a JSON value with its object keys in order.
type node struct {
	delim  json.Delim // '{', '[' or 0 for a scalar
	keys   []string
	elems  []*node
	scalar []byte
}

func readNode(dec *json.Decoder) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		b, err := json.Marshal(tok)
		return &node{scalar: b}, err
	}
	n := &node{delim: d}
	for dec.More() {
		if d == '{' {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, k.(string))
		}
		e, err := readNode(dec)
		if err != nil {
			return nil, err
		}
		n.elems = append(n.elems, e)
	}
	_, err = dec.Token() // the closing delimiter
	return n, err
}

func (n *node) write(w *bytes.Buffer, indent string) {
	if n.delim == 0 {
		w.Write(n.scalar)
		return
	}
	open, end := "{", "}"
	if n.delim == '[' {
		open, end = "[", "]"
	}
	flat := true
	for _, e := range n.elems {
		flat = flat && e.delim == 0
	}
	w.WriteString(open)
	for i, e := range n.elems {
		if flat {
			if i > 0 {
				w.WriteString(", ")
			}
		} else {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString("\n" + indent + "  ")
		}
		if n.keys != nil {
			k, _ := json.Marshal(n.keys[i])
			w.Write(k)
			w.WriteString(": ")
		}
		e.write(w, indent+"  ")
	}
	if !flat && len(n.elems) > 0 {
		w.WriteString("\n" + indent)
	}
	w.WriteString(end)
}
