package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/warden-dev/warden/localapi/wire"
)

func tsStr(s string) string { return strconv.Quote(s) }

func tsList[T ~string](items []T) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = tsStr(string(s))
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// tsInput is the TypeScript type an app gives for a wire type: integers as
// a number or a bigint (the encoder writes either exactly).
func tsInput(typ string) string {
	switch typ {
	case "str":
		return "string"
	case "bin":
		return "Uint8Array"
	case "int", "uint":
		return "number | bigint"
	case "bool":
		return "boolean"
	case "float":
		return "number"
	case "[]Op":
		return "MultiOpFields[]"
	}
	if strings.HasPrefix(typ, "[]") {
		return "Array<" + tsInput(typ[2:]) + ">"
	}
	return "unknown"
}

// tsDecoded is the TypeScript type this client decodes a wire type into:
// integers as numbers, maps as their decoded types.
func tsDecoded(typ string) string {
	switch typ {
	case "str":
		return "string"
	case "bin":
		return "Uint8Array"
	case "int", "uint", "float":
		return "number"
	case "bool":
		return "boolean"
	}
	if strings.HasPrefix(typ, "[]") {
		return "Array<" + tsDecoded(typ[2:]) + ">"
	}
	return "WireTypes[" + tsStr(typ) + "]"
}

// tsProps writes an object type's properties, optional unless required.
func tsProps(b *strings.Builder, indent string, fields []wire.OpField) {
	for _, f := range fields {
		q := "?"
		if f.Required {
			q = ""
		}
		fmt.Fprintf(b, "%s%s%s: %s;\n", indent, f.Key, q, tsInput(f.Type))
	}
}

// TypeScript renders clients/typescript/src/protocol.ts.
func TypeScript(d *wire.Description) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "// %s\n", header)
	b.WriteString(`//
// Protocol version 1 as tables, generated from its description
// (testdata/protocol/v1-ops.json, which localapi/wire/ops.go defines): every
// request key with its wire type, each op's request fields, result, events
// and error codes, the fields of every result and event type, and the error
// class of each error code. ` + "`make generate`" + ` rewrites this file.
//
// A type is "str", "bin", "int", "uint", "bool", "float", the name of a type
// in TYPES, or "[]" and a type (an array of it).

`)
	fmt.Fprintf(&b, "/** The protocol version these tables describe. */\nexport const PROTOCOL_VERSION = %d;\n\n", d.Protocol)
	b.WriteString(`/** When a field is left out of a map: never, when it is empty (empty, zero or false), or only when not given (nil: 0 and -1 are sent). */
export type OmitRule = "never" | "empty" | "nil";

/** A key of a map on the wire: its key, its type, when it is left out. */
export type FieldSpec = readonly [key: string, type: string, omit: OmitRule];

/** An op: its request fields beyond id and op, in the order they are written (key, type, whether the op needs it), its result's type, the events it may cause, its error codes beyond COMMON_ERRORS, and whether a connection without a session may send it. */
export interface OpSpec {
  readonly request: ReadonlyArray<readonly [key: string, type: string, required: boolean]>;
  readonly result: string;
  readonly events: readonly string[];
  readonly errors: readonly string[];
  readonly sessionless: boolean;
}

/** Every request key, in the order requests are written. */
export const REQUEST_FIELDS = [
`)
	for _, f := range d.Request {
		fmt.Fprintf(&b, "  [%s, %s, %s],\n", tsStr(f.Key), tsStr(f.Type), tsStr(f.Omit))
	}
	b.WriteString("] as const satisfies readonly FieldSpec[];\n\n")

	b.WriteString("/** Every op. */\nexport const OPS = {\n")
	for _, o := range d.Ops {
		fmt.Fprintf(&b, "  %s: {\n", o.Op)
		if len(o.Request) == 0 {
			b.WriteString("    request: [],\n")
		} else {
			b.WriteString("    request: [\n")
			for _, f := range o.Request {
				fmt.Fprintf(&b, "      [%s, %s, %t],\n", tsStr(f.Key), tsStr(f.Type), f.Required)
			}
			b.WriteString("    ],\n")
		}
		fmt.Fprintf(&b, "    result: %s,\n    events: %s,\n    errors: %s,\n    sessionless: %t,\n  },\n",
			tsStr(o.Result), tsList(o.Events), tsList(o.Errors), o.Sessionless)
	}
	b.WriteString("} as const satisfies Record<string, OpSpec>;\n\n")
	b.WriteString("/** An op's name. */\nexport type OpName = keyof typeof OPS;\n\n")

	b.WriteString("/** Each op's request fields as an app gives them (beyond op). */\nexport interface OpRequests {\n")
	for _, o := range d.Ops {
		if len(o.Request) == 0 {
			fmt.Fprintf(&b, "  %s: Record<string, never>;\n", o.Op)
			continue
		}
		fmt.Fprintf(&b, "  %s: {\n", o.Op)
		tsProps(&b, "    ", o.Request)
		b.WriteString("  };\n")
	}
	b.WriteString("}\n\n")

	b.WriteString("/** Every request field as an app gives it (beyond id and op). */\nexport interface RequestFields {\n")
	for _, f := range d.Request {
		if f.Omit == "never" {
			continue
		}
		fmt.Fprintf(&b, "  %s?: %s;\n", f.Key, tsInput(f.Type))
	}
	b.WriteString("}\n\n")

	b.WriteString("/** An op of a multi as an app gives it. */\nexport interface MultiOpFields {\n")
	for _, t := range d.Types {
		if t.Name != "Op" {
			continue
		}
		for _, f := range t.Fields {
			q := "?"
			if f.Omit == "never" {
				q = ""
			}
			fmt.Fprintf(&b, "  %s%s: %s;\n", f.Key, q, tsInput(f.Type))
		}
	}
	b.WriteString("}\n\n")

	b.WriteString("/** The ops of a multi: the fields of each beyond op (key, type, whether it needs it). */\nexport const MULTI_OPS = {\n")
	for _, m := range d.MultiOps {
		fmt.Fprintf(&b, "  %s: [\n", m.Op)
		for _, f := range m.Fields {
			fmt.Fprintf(&b, "    [%s, %s, %t],\n", tsStr(f.Key), tsStr(f.Type), f.Required)
		}
		b.WriteString("  ],\n")
	}
	b.WriteString("} as const;\n\n")

	b.WriteString("/** Every event: its body's type, and whether it belongs to a stream (has a sub). */\nexport const EVENTS = {\n")
	for _, e := range d.Events {
		fmt.Fprintf(&b, "  %s: { body: %s, stream: %t },\n", e.Event, tsStr(e.Body), e.Stream)
	}
	b.WriteString("} as const;\n\n")

	b.WriteString("/** The fields of every result, event and nested type, in the order the agent writes them: key, type, omit, and this client's property name. */\nexport const TYPES = {\n")
	for _, t := range d.Types {
		if len(t.Fields) == 0 {
			fmt.Fprintf(&b, "  %s: [],\n", t.Name)
			continue
		}
		fmt.Fprintf(&b, "  %s: [\n", t.Name)
		for _, f := range t.Fields {
			fmt.Fprintf(&b, "    [%s, %s, %s, %s],\n", tsStr(f.Key), tsStr(f.Type), tsStr(f.Omit), tsStr(camel(f.Key)))
		}
		b.WriteString("  ],\n")
	}
	b.WriteString("} as const satisfies Record<string, ReadonlyArray<readonly [key: string, type: string, omit: OmitRule, prop: string]>>;\n\n")
	b.WriteString("/** A type's name. */\nexport type TypeName = keyof typeof TYPES;\n\n")
	b.WriteString("/** A wire key of a type. */\nexport type WireKey<N extends TypeName> = (typeof TYPES)[N][number][0];\n\n")

	b.WriteString("/** Every type as this client decodes it: camelCase properties, integers as numbers. */\nexport interface WireTypes {\n")
	for _, t := range d.Types {
		if len(t.Fields) == 0 {
			fmt.Fprintf(&b, "  %s: Record<string, never>;\n", t.Name)
			continue
		}
		fmt.Fprintf(&b, "  %s: {\n", t.Name)
		for _, f := range t.Fields {
			fmt.Fprintf(&b, "    %s: %s;\n", camel(f.Key), tsDecoded(f.Type))
		}
		b.WriteString("  };\n")
	}
	b.WriteString("}\n\n")

	fmt.Fprintf(&b, "/** Error codes any request may get. */\nexport const COMMON_ERRORS = %s as const;\n\n", tsList(d.CommonCodes))
	b.WriteString("/** The error class (errors.ts) of every error code. */\nexport const ERROR_CLASSES = {\n")
	for _, c := range d.Codes {
		fmt.Fprintf(&b, "  %s: %s,\n", c, tsStr(errorClass(c)))
	}
	b.WriteString("} as const;\n\n")
	b.WriteString("/** An error code of the protocol. */\nexport type ErrorCode = keyof typeof ERROR_CLASSES;\n\n")
	b.WriteString("/** The name of an error class. */\nexport type ErrorClassName = (typeof ERROR_CLASSES)[ErrorCode];\n")
	return []byte(b.String())
}
