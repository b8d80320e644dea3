// The frame reader and the request encoder on their own.

import { test } from "node:test";
import * as assert from "node:assert/strict";

import { encodeRequest, FrameError, FrameReader, MAX_FRAME_SIZE, decodeMessage } from "../src/wire.js";
import { requests } from "../src/requests.js";

function frame(body: number[]): Buffer {
  const b = Buffer.alloc(4 + body.length);
  b.writeUInt32BE(body.length, 0);
  Buffer.from(body).copy(b, 4);
  return b;
}

test("frame reader: frames cut anywhere and several per chunk", () => {
  // Three frames: {} , {"id":1}, and one of 70000 bytes of body.
  const big = Buffer.alloc(70000, 0xc0);
  big[0] = 0x80;
  const all = Buffer.concat([frame([0x80]), frame([0x81, 0xa2, 0x69, 0x64, 0x01]), frame([...big])]);
  for (const cut of [1, 2, 3, 4, 5, 7, 1000, all.length]) {
    const r = new FrameReader();
    const got: Buffer[] = [];
    for (let i = 0; i < all.length; i += cut) got.push(...r.push(all.subarray(i, i + cut)));
    assert.equal(got.length, 3, `cut ${cut}`);
    assert.deepEqual([...got[0]!], [0x80]);
    assert.deepEqual([...got[1]!], [0x81, 0xa2, 0x69, 0x64, 0x01]);
    assert.equal(got[2]!.length, 70000);
    assert.equal(r.pending, 0);
  }
});

test("frame reader: refuses a length of 0 and one over 4 MiB", () => {
  assert.throws(() => new FrameReader().push(Buffer.from([0, 0, 0, 0])), FrameError);
  const hdr = Buffer.alloc(4);
  hdr.writeUInt32BE(MAX_FRAME_SIZE + 1, 0);
  assert.throws(() => new FrameReader().push(hdr), FrameError);
  // Exactly 4 MiB is allowed: the header alone is accepted and waits for the body.
  hdr.writeUInt32BE(MAX_FRAME_SIZE, 0);
  const r = new FrameReader();
  assert.deepEqual(r.push(hdr), []);
});

test("decoder: a body that is not a map is refused", () => {
  assert.throws(() => decodeMessage(Buffer.from([0x91, 0x01])), FrameError);
  assert.throws(() => decodeMessage(Buffer.from([0xc1])), FrameError);
});

test("encoder: percent is always float64, integers in their smallest form, data as bin", () => {
  const f = encodeRequest(300, requests.report("j", "t", 50, undefined, undefined, new TextEncoder().encode("x")));
  const hex = f.toString("hex");
  assert.ok(hex.includes("a770657263656e74cb4049000000000000"), "percent 50 as float64");
  assert.ok(hex.includes("a26964cd012c"), "id 300 as uint16");
  assert.ok(hex.includes("a464617461c40178"), "data as bin 8");
  const neg = encodeRequest(1, requests.counterAdd("/c", -300)).toString("hex");
  assert.ok(neg.includes("a564656c7461d1fed4"), "delta -300 as int16");
  const big = encodeRequest(1, requests.lockCheck("/l", 2n ** 63n)).toString("hex");
  assert.ok(big.includes("a5746f6b656ecf8000000000000000"), "token 2^63 as uint64");
});

test("encoder: refuses a frame over 4 MiB before sending", () => {
  assert.throws(() => encodeRequest(1, requests.set("/x", new Uint8Array(MAX_FRAME_SIZE), -1)), RangeError);
});
