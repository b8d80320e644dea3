package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/warden-dev/warden/localapi/wire"
)

// pythonBuiltins are exception names of Python's builtins that an error
// class must not shadow: its class gets "Operation" in front
// (OperationTimeoutError).
var pythonBuiltins = map[string]bool{
	"TimeoutError": true, "ConnectionError": true, "PermissionError": true, "InterruptedError": true,
	"FileExistsError": true, "FileNotFoundError": true, "LookupError": true, "KeyError": true,
	"ValueError": true, "TypeError": true, "RuntimeError": true, "MemoryError": true, "OSError": true,
	"SystemError": true, "NotImplementedError": true, "IndexError": true, "OverflowError": true,
}

// pythonErrorClass is the Python client's class for an error code.
func pythonErrorClass(code wire.Code) string {
	c := errorClass(code)
	if pythonBuiltins[c] {
		return "Operation" + c
	}
	return c
}

func pyStr(s string) string { return strconv.Quote(s) }

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// pyTuple is a tuple of string literals, with the trailing comma a
// one-element tuple needs.
func pyTuple[T ~string](items []T) string {
	if len(items) == 0 {
		return "()"
	}
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = pyStr(string(s))
	}
	if len(q) == 1 {
		return "(" + q[0] + ",)"
	}
	return "(" + strings.Join(q, ", ") + ")"
}

func pyOpFields(b *strings.Builder, indent string, fields []wire.OpField) {
	if len(fields) == 0 {
		b.WriteString("()")
		return
	}
	b.WriteString("(\n")
	for _, f := range fields {
		fmt.Fprintf(b, "%s    OpField(%s, %s, %s, %s),\n", indent, pyStr(f.Key), pyStr(f.Type), pyStr(f.Omit), pyBool(f.Required))
	}
	b.WriteString(indent + ")")
}

// Python renders clients/python/warden/_protocol.py.
func Python(d *wire.Description) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n", header)
	b.WriteString(`"""Protocol version 1 as tables, generated from its description
(testdata/protocol/v1-ops.json, which localapi/wire/ops.go defines): every
request key with its wire type, each op's request fields, result, events
and error codes, the fields of every result and event type, and the
exception class of each error code. ` + "``make generate``" + ` rewrites this file.

A type is "str", "bin", "int", "uint", "bool", "float", the name of a type
in TYPES, or "[]" and a type (an array of it). A field's omit says when it
is left out of a map: "never", "empty" (when it is empty, zero or false)
or "nil" (only when not given: 0 and -1 are sent).
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Tuple

`)
	fmt.Fprintf(&b, "PROTOCOL_VERSION = %d\n", d.Protocol)
	b.WriteString(`

class Field(NamedTuple):
    """A key of a map on the wire."""

    key: str
    type: str
    omit: str


class OpField(NamedTuple):
    """A request field of an op; required: the op needs it."""

    key: str
    type: str
    omit: str
    required: bool


class OpSpec(NamedTuple):
    """An op: its request fields beyond id and op in the order they are
    written, its result's type, the events it may cause, the error codes of
    its own (beyond COMMON_ERRORS), and whether a connection without a
    session may send it."""

    request: Tuple[OpField, ...]
    result: str
    events: Tuple[str, ...]
    errors: Tuple[str, ...]
    sessionless: bool


class EventSpec(NamedTuple):
    """An event: its body's type, and whether it belongs to a stream (has a sub)."""

    body: str
    stream: bool


`)
	b.WriteString("# Every request key, in the order requests are written.\nREQUEST: Tuple[Field, ...] = (\n")
	for _, f := range d.Request {
		fmt.Fprintf(&b, "    Field(%s, %s, %s),\n", pyStr(f.Key), pyStr(f.Type), pyStr(f.Omit))
	}
	b.WriteString(")\n\n")

	b.WriteString("OPS: Dict[str, OpSpec] = {\n")
	for _, o := range d.Ops {
		fmt.Fprintf(&b, "    %s: OpSpec(\n        request=", pyStr(o.Op))
		pyOpFields(&b, "        ", o.Request)
		fmt.Fprintf(&b, ",\n        result=%s,\n        events=%s,\n        errors=%s,\n        sessionless=%s,\n    ),\n",
			pyStr(o.Result), pyTuple(o.Events), pyTuple(o.Errors), pyBool(o.Sessionless))
	}
	b.WriteString("}\n\n")

	b.WriteString("# The ops of a multi: the fields of each beyond op.\nMULTI_OPS: Dict[str, Tuple[OpField, ...]] = {\n")
	for _, m := range d.MultiOps {
		fmt.Fprintf(&b, "    %s: ", pyStr(m.Op))
		pyOpFields(&b, "    ", m.Fields)
		b.WriteString(",\n")
	}
	b.WriteString("}\n\n")

	b.WriteString("EVENTS: Dict[str, EventSpec] = {\n")
	for _, e := range d.Events {
		fmt.Fprintf(&b, "    %s: EventSpec(%s, %s),\n", pyStr(e.Event), pyStr(e.Body), pyBool(e.Stream))
	}
	b.WriteString("}\n\n")

	b.WriteString("# The fields of every result, event and nested type, in the order the agent writes them.\n")
	b.WriteString("TYPES: Dict[str, Tuple[Field, ...]] = {\n")
	for _, t := range d.Types {
		if len(t.Fields) == 0 {
			fmt.Fprintf(&b, "    %s: (),\n", pyStr(t.Name))
			continue
		}
		fmt.Fprintf(&b, "    %s: (\n", pyStr(t.Name))
		for _, f := range t.Fields {
			fmt.Fprintf(&b, "        Field(%s, %s, %s),\n", pyStr(f.Key), pyStr(f.Type), pyStr(f.Omit))
		}
		b.WriteString("    ),\n")
	}
	b.WriteString("}\n\n")

	b.WriteString("# Error codes any request may get.\n")
	fmt.Fprintf(&b, "COMMON_ERRORS: Tuple[str, ...] = %s\n\n", pyTuple(d.CommonCodes))

	b.WriteString("# The exception class (in warden.errors) of every error code.\nERROR_CLASSES: Dict[str, str] = {\n")
	for _, c := range d.Codes {
		fmt.Fprintf(&b, "    %s: %s,\n", pyStr(string(c)), pyStr(pythonErrorClass(c)))
	}
	b.WriteString("}\n")
	return []byte(b.String())
}
