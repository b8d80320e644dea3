// The client's tables come from the protocol's (src/protocol.ts, generated
// from testdata/protocol/v1-ops.json by `make generate`): the error
// classes, the request keys and the result types.

import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

import { ERROR_CLASSES as ERROR_CLASS_NAMES, OPS, REQUEST_FIELDS, TYPES, PROTOCOL_VERSION } from "../src/protocol.js";
import { ERROR_CLASSES, fromWire } from "../src/errors.js";
import { requests, ops } from "../src/requests.js";
import { decodeRaw, encodeRequest } from "../src/wire.js";
import { decode, parseCounter, parseLeader, parseTaskEvent } from "../src/types.js";
import { repoRoot } from "./helpers.js";

interface Desc {
  protocol: number;
  request: Array<{ key: string; type: string; omit: string }>;
  ops: Array<{ op: string; request: Array<{ key: string; type: string; required: boolean }>; result: string; errors: string[] }>;
  types: Array<{ name: string; fields: Array<{ key: string; type: string; omit: string }> }>;
  codes: string[];
}

const desc = JSON.parse(fs.readFileSync(path.join(repoRoot, "testdata", "protocol", "v1-ops.json"), "utf8")) as Desc;

test("protocol.ts says what v1-ops.json says", () => {
  // The Go test of the generator compares the file byte for byte; this
  // checks what the client reads from it.
  assert.equal(PROTOCOL_VERSION, desc.protocol);
  assert.deepEqual(REQUEST_FIELDS, desc.request.map((f) => [f.key, f.type, f.omit]));
  assert.deepEqual(Object.keys(OPS), desc.ops.map((o) => o.op));
  for (const o of desc.ops) {
    const spec = OPS[o.op as keyof typeof OPS];
    assert.deepEqual(spec.request, o.request.map((f) => [f.key, f.type, f.required]), o.op);
    assert.equal(spec.result, o.result, o.op);
    assert.deepEqual(spec.errors, o.errors, o.op);
  }
  assert.deepEqual(
    Object.fromEntries(Object.entries(TYPES).map(([n, fs]) => [n, fs.map(([k, t, o]) => [k, t, o])])),
    Object.fromEntries(desc.types.map((t) => [t.name, t.fields.map((f) => [f.key, f.type, f.omit])])),
  );
  assert.deepEqual(Object.keys(ERROR_CLASS_NAMES), desc.codes);
});

test("every error code has its class, named as the table says", () => {
  assert.deepEqual(Object.keys(ERROR_CLASSES), Object.keys(ERROR_CLASS_NAMES));
  for (const [code, name] of Object.entries(ERROR_CLASS_NAMES)) {
    const e = fromWire({ code, message: "m" });
    assert.equal(e.constructor.name, name);
    assert.equal(e.code, code);
    assert.ok(e instanceof ERROR_CLASSES[code]!);
  }
});

test("builders write only their op's fields, in the table's order", () => {
  const built = [
    requests.hello({ client: "a", sessionId: 7, secret: new Uint8Array([1]), reclaim: true, holds: ["/l/c-1"] }),
    requests.report("j", "t", 5, "m", "s", new Uint8Array([1])),
    requests.proclaim("/k", new Uint8Array([1]), 3),
    requests.barrierEnter("/b", 2, "m", -1),
    requests.semaphoreAcquire("/s", 2, 0),
    requests.counterCas("/c", 0, 1),
    requests.multi([ops.create("/a", new Uint8Array([1]), { ephemeral: true }), ops.check("/a", 0)]),
  ];
  for (const r of built) {
    const keys = OPS[r.op as keyof typeof OPS].request.map(([k]) => k as string);
    const body = decodeRaw(encodeRequest(1, r).subarray(4)) as Record<string, unknown>;
    const got = Object.keys(body).slice(2);
    assert.deepEqual(Object.keys(body).slice(0, 2), ["id", "op"]);
    assert.deepEqual(got, keys.filter((k) => got.includes(k)), r.op);
  }
});

test("decode converts by the table's types; the parsers keep their own semantics", () => {
  assert.deepEqual(decode("GroupMember", { member: "w1" }), { member: "w1", data: new Uint8Array(0) });
  assert.deepEqual(decode("Stat", null, ["czxid", "numChildren"]), { czxid: 0, numChildren: 0 });
  const l = parseLeader({ key: "/e/c-1", data: new Uint8Array([7]), token: 3 });
  assert.deepEqual([l.key, [...l.value], l.token], ["/e/c-1", [7], 3]);
  const ev = parseTaskEvent({ task: { task: "t", percent: 12.5 }, removed: true });
  assert.equal(ev.task.percent, 12.5);
  assert.equal(ev.removed, true);
  assert.equal(parseCounter({ value: 2n ** 62n, version: 1 }).value, 2n ** 62n);
  assert.throws(() => decode("Stat", { czxid: 2n ** 60n }), RangeError);
});
