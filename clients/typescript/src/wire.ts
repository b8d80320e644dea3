// The wire format of the Warden local protocol, version 1: length-prefixed
// frames holding one msgpack map each.
//
// Requests are encoded by hand, not by a generic msgpack encoder, because
// the protocol's byte form is exact: keys in a fixed order, empty values
// left out, integers in their smallest form, `percent` always as float64,
// and `data`/`secret` as bin. The keys, their order and their types come
// from the protocol's tables (protocol.ts, generated). Replies and events
// are decoded with @msgpack/msgpack.

import { Decoder } from "@msgpack/msgpack";
import { PROTOCOL_VERSION as VERSION, REQUEST_FIELDS, TYPES, type MultiOpFields, type RequestFields } from "./protocol.js";

/** The protocol version this client speaks. */
export const PROTOCOL_VERSION = VERSION;
/** The largest frame body either side may send: 4 MiB. */
export const MAX_FRAME_SIZE = 4 * 1024 * 1024;
/** The largest data a znode may hold: 1 MiB. */
export const MAX_DATA_SIZE = 1024 * 1024;

/** An unsigned 64-bit value given by the app: a number or a bigint. */
export type Uint = number | bigint;

/**
 * One op of a multi, as sent. Written out (not the generated
 * MultiOpFields) because it is also what the public op builders return;
 * the checks below keep it to the protocol's keys.
 */
export interface WireOp {
  op: string;
  path: string;
  data?: Uint8Array;
  version?: number;
  ephemeral?: boolean;
  sequential?: boolean;
  container?: boolean;
  ttl_ms?: number;
}

/**
 * A request, without its id: `op` and the fields of the protocol's table
 * (protocol.ts). Every op uses the fields it needs. The fields whose omit
 * rule is "nil" (`version`, `wait_ms`, `expect`, `value`) are sent whenever
 * they are defined, even as 0 or -1; every other field is left out when
 * empty, zero or false.
 */
export interface Request extends RequestFields {
  op: string;
}

// Compile-time checks: WireOp has exactly the keys of a multi's op, with
// types the encoder takes.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
export type _WireOpKeys = Assert<Same<keyof WireOp, keyof MultiOpFields>>;
export type _WireOpTypes = Assert<WireOp extends MultiOpFields ? true : false>;

type Kind = "str" | "bin" | "int" | "optint" | "bool" | "float" | "ops" | "strs";

/** How the encoder writes a value of a wire type with an omit rule. */
function kindOf(type: string, omit: string): Kind {
  switch (type) {
    case "str":
    case "bin":
    case "bool":
    case "float":
      return type;
    case "int":
    case "uint":
      return omit === "nil" ? "optint" : "int";
    case "[]Op":
      return "ops";
    case "[]str":
      return "strs";
  }
  throw new Error(`protocol.ts: no encoding for the wire type ${type}`);
}

/** The always-written keys (id, op) first, then every field with its kind, in the order of the agent's encoder. */
function fieldsOf(table: ReadonlyArray<readonly [string, string, string, ...unknown[]]>, always: readonly string[]) {
  table.slice(0, always.length).forEach(([k, , omit], i) => {
    if (k !== always[i] || omit !== "never") throw new Error(`protocol.ts: expected ${always.join(", ")} first`);
  });
  return table.slice(always.length).map(([k, type, omit]) => [k, kindOf(type, omit)] as const);
}

// The key order of the agent's own encoder, which defines the byte form.
const REQUEST_KINDS = fieldsOf(REQUEST_FIELDS, ["id", "op"]) as ReadonlyArray<readonly [keyof RequestFields, Kind]>;
const OP_KINDS = fieldsOf(TYPES.Op, ["op", "path"]) as ReadonlyArray<readonly [keyof WireOp, Kind]>;

/** A growable byte buffer for the encoder. */
class Writer {
  buf: Buffer;
  pos = 0;
  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  str(s: string): void {
    const n = Buffer.byteLength(s, "utf8");
    if (n < 32) this.u8(0xa0 | n);
    else if (n < 0x100) {
      this.u8(0xd9);
      this.u8(n);
    } else if (n < 0x10000) {
      this.u8(0xda);
      this.u16(n);
    } else {
      this.u8(0xdb);
      this.u32(n);
    }
    this.ensure(n);
    this.buf.write(s, this.pos, n, "utf8");
    this.pos += n;
  }
  bin(b: Uint8Array): void {
    const n = b.length;
    if (n < 0x100) {
      this.u8(0xc4);
      this.u8(n);
    } else if (n < 0x10000) {
      this.u8(0xc5);
      this.u16(n);
    } else {
      this.u8(0xc6);
      this.u32(n);
    }
    this.bytes(b);
  }
  bool(v: boolean): void {
    this.u8(v ? 0xc3 : 0xc2);
  }
  float64(v: number): void {
    this.ensure(9);
    this.buf[this.pos++] = 0xcb;
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }
  /** An integer in its smallest msgpack form. */
  int(v: number | bigint): void {
    if (typeof v === "number") {
      if (!Number.isInteger(v)) throw new RangeError(`not an integer: ${v}`);
      if (v >= 0) {
        if (v < 0x80) this.u8(v);
        else if (v < 0x100) {
          this.u8(0xcc);
          this.u8(v);
        } else if (v < 0x10000) {
          this.u8(0xcd);
          this.u16(v);
        } else if (v < 0x100000000) {
          this.u8(0xce);
          this.u32(v);
        } else {
          this.big(BigInt(v));
        }
      } else {
        if (v >= -32) this.u8(v & 0xff);
        else if (v >= -0x80) {
          this.u8(0xd0);
          this.u8(v & 0xff);
        } else if (v >= -0x8000) {
          this.u8(0xd1);
          this.u16(v & 0xffff);
        } else if (v >= -0x80000000) {
          this.u8(0xd2);
          this.u32(v >>> 0);
        } else {
          this.big(BigInt(v));
        }
      }
      return;
    }
    if (v >= 0n && v < 0x100000000n) return this.int(Number(v));
    if (v < 0n && v >= -0x80000000n) return this.int(Number(v));
    this.big(v);
  }
  private big(v: bigint): void {
    this.ensure(9);
    if (v >= 0n) {
      if (v > 0xffffffffffffffffn) throw new RangeError(`integer out of uint64 range: ${v}`);
      this.buf[this.pos++] = 0xcf;
      this.buf.writeBigUInt64BE(v, this.pos);
    } else {
      if (v < -0x8000000000000000n) throw new RangeError(`integer out of int64 range: ${v}`);
      this.buf[this.pos++] = 0xd3;
      this.buf.writeBigInt64BE(v, this.pos);
    }
    this.pos += 8;
  }
  mapHeader(n: number): void {
    if (n < 16) this.u8(0x80 | n);
    else {
      this.u8(0xde);
      this.u16(n);
    }
  }
  arrayHeader(n: number): void {
    if (n < 16) this.u8(0x90 | n);
    else if (n < 0x10000) {
      this.u8(0xdc);
      this.u16(n);
    } else {
      this.u8(0xdd);
      this.u32(n);
    }
  }
}

function present(kind: Kind, v: unknown): boolean {
  if (v === undefined || v === null) return false;
  switch (kind) {
    case "optint":
      return true;
    case "str":
      return v !== "";
    case "bin":
      return (v as Uint8Array).length > 0;
    case "int":
    case "float":
      return v !== 0 && v !== 0n;
    case "bool":
      return v === true;
    case "ops":
    case "strs":
      return (v as unknown[]).length > 0;
  }
}

function writeValue(w: Writer, kind: Kind, v: unknown): void {
  switch (kind) {
    case "str":
      w.str(v as string);
      return;
    case "bin":
      w.bin(v as Uint8Array);
      return;
    case "int":
    case "optint":
      w.int(v as number | bigint);
      return;
    case "bool":
      w.bool(v as boolean);
      return;
    case "float":
      w.float64(v as number);
      return;
    case "ops": {
      const ops = v as WireOp[];
      w.arrayHeader(ops.length);
      for (const op of ops) writeOp(w, op);
      return;
    }
    case "strs": {
      const ss = v as string[];
      w.arrayHeader(ss.length);
      for (const s of ss) w.str(s);
      return;
    }
  }
}

function writeOp(w: Writer, op: WireOp): void {
  let n = 2;
  for (const [k, kind] of OP_KINDS) if (present(kind, op[k])) n++;
  w.mapHeader(n);
  w.str("op");
  w.str(op.op);
  w.str("path");
  w.str(op.path);
  for (const [k, kind] of OP_KINDS) {
    const v = op[k];
    if (!present(kind, v)) continue;
    w.str(k);
    writeValue(w, kind, v);
  }
}

/**
 * Encodes a request with its id as one whole frame, length prefix
 * included. A body over 4 MiB throws a RangeError: the agent would close
 * the connection.
 */
export function encodeRequest(id: Uint, req: Request): Buffer {
  const w = new Writer();
  w.u32(0); // the length, filled in below
  let n = 2;
  for (const [k, kind] of REQUEST_KINDS) if (present(kind, req[k])) n++;
  w.mapHeader(n);
  w.str("id");
  w.int(id);
  w.str("op");
  w.str(req.op);
  for (const [k, kind] of REQUEST_KINDS) {
    const v = req[k];
    if (!present(kind, v)) continue;
    w.str(k);
    writeValue(w, kind, v);
  }
  const body = w.pos - 4;
  if (body > MAX_FRAME_SIZE) {
    throw new FrameTooLargeError(`request of ${body} bytes is over the 4 MiB frame limit`);
  }
  w.buf.writeUInt32BE(body, 0);
  return w.buf.subarray(0, w.pos);
}

/** A request too large for one frame (the only size error of the encoder; others are bad arguments). */
export class FrameTooLargeError extends RangeError {
  override name = "FrameTooLargeError";
}

/** A frame the reader refuses: the stream cannot be trusted any more. */
export class FrameError extends Error {
  override name = "FrameError";
}

/**
 * Splits a byte stream into frame bodies. Feed it chunks as they arrive,
 * however they are cut; it returns the complete bodies. A length of 0 or
 * over 4 MiB throws a FrameError before anything is allocated.
 */
export class FrameReader {
  // Unread chunks are chunks[head..]; the consumed ones before head are
  // dropped now and then, so that a frame arriving in many small pieces
  // costs linear time (Array.shift on a long array would not).
  private chunks: Buffer[] = [];
  private head = 0;
  private buffered = 0;
  private need = -1; // the body length of the frame being read, once known

  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    if (chunk.length === 0) return out;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.need < 0) {
        if (this.buffered < 4) break;
        const n = this.peekLength();
        if (n === 0) throw new FrameError("empty frame from agent");
        if (n > MAX_FRAME_SIZE) throw new FrameError(`frame of ${n} bytes from agent is over the 4 MiB limit`);
        this.need = n;
        this.consume(4);
      }
      if (this.buffered < this.need) break;
      out.push(this.consume(this.need));
      this.need = -1;
    }
    if (this.head > 0 && (this.head === this.chunks.length || this.head >= 1024)) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  /** How many bytes of an unfinished frame are buffered. */
  get pending(): number {
    return this.buffered + (this.need >= 0 ? 4 : 0);
  }

  private peekLength(): number {
    const first = this.chunks[this.head]!;
    if (first.length >= 4) return first.readUInt32BE(0);
    const hdr = Buffer.alloc(4);
    let i = 0;
    for (let k = this.head; k < this.chunks.length && i < 4; k++) {
      const c = this.chunks[k]!;
      for (let j = 0; j < c.length && i < 4; j++) hdr[i++] = c[j]!;
    }
    return hdr.readUInt32BE(0);
  }

  private consume(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[this.head]!;
    if (first.length > n) {
      this.chunks[this.head] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.head++;
      return first;
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[this.head]!;
      const take = Math.min(c.length, n - off);
      c.copy(out, off, 0, take);
      off += take;
      if (take === c.length) this.head++;
      else this.chunks[this.head] = c.subarray(take);
    }
    return out;
  }
}

/** A decoded msgpack map, fields as the agent sent them. */
export type Fields = Record<string, unknown>;

/** The error map of a reply. */
export interface WireError {
  code: string;
  message: string;
  index?: number;
}

/** Every frame the agent sends: a reply (id set) or an event (id 0). */
export interface Message {
  id: number;
  result?: Fields;
  error?: WireError;
  event?: string;
  sub?: number;
  body?: Fields;
}

// Integers of 64-bit width are decoded as bigint, then turned into numbers
// when they fit (see toNumber), so nothing is ever silently rounded.
const decoder = new Decoder({ useBigInt64: true });

/** Decodes one frame body into a Message. Throws a FrameError when it is not a map. */
export function decodeMessage(body: Uint8Array): Message {
  let v: unknown;
  try {
    v = decoder.decode(plain(body));
  } catch (e) {
    throw new FrameError(`undecodable frame from agent: ${(e as Error).message}`);
  }
  if (!isFields(v)) throw new FrameError("frame from agent is not a msgpack map");
  const m: Message = { id: wireKey(v["id"]) };
  const result = v["result"];
  if (isFields(result)) m.result = result;
  const err = v["error"];
  if (isFields(err)) {
    const e: WireError = { code: str(err["code"]), message: str(err["message"]) };
    if (err["index"] !== undefined && err["index"] !== null) e.index = toNumber(err["index"], "index");
    m.error = e;
  }
  if (typeof v["event"] === "string" && v["event"] !== "") m.event = v["event"];
  if (v["sub"] !== undefined && v["sub"] !== null) m.sub = wireKey(v["sub"]);
  const body2 = v["body"];
  if (isFields(body2)) m.body = body2;
  return m;
}

/** Decodes any msgpack body generically (bigints kept as bigint). */
export function decodeRaw(body: Uint8Array): unknown {
  return decoder.decode(plain(body));
}

function plain(b: Uint8Array): Uint8Array {
  return Buffer.isBuffer(b) ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : b;
}

export function isFields(v: unknown): v is Fields {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/**
 * Turns a decoded integer into a number. Zxids, tokens and session ids are
 * uint64 on the wire; they are numbers in this client, exact up to 2^53-1.
 * A larger value throws a RangeError rather than being rounded.
 */
export function toNumber(v: unknown, field = "value"): number {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new RangeError(`${field} ${v} does not fit in a JavaScript number exactly`);
    }
    return Number(v);
  }
  if (v === undefined || v === null) return 0;
  throw new FrameError(`${field}: expected an integer, got ${typeof v}`);
}

/**
 * The key of a reply id or stream id, for looking it up: the id as a
 * number, or -1 (matches nothing this client sent) when it is not a safe
 * integer. Never throws, so no frame can break the reader.
 */
export function wireKey(v: unknown): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === "number") return Number.isSafeInteger(v) ? v : -1;
  if (typeof v === "bigint") return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= 0n ? Number(v) : -1;
  return -1;
}

/**
 * Turns a decoded signed 64-bit integer (a counter's value) into a number
 * when it is exact as one (within ±(2^53 - 1)), otherwise a bigint.
 */
export function toInt64(v: unknown, field = "value"): number | bigint {
  if (typeof v === "bigint") {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) return v;
    return Number(v);
  }
  return toNumber(v, field);
}

export function str(v: unknown): string {
  if (typeof v === "string") return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString("utf8");
  return "";
}

export const EMPTY = new Uint8Array(0);

export function bin(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === "string") return new TextEncoder().encode(v);
  return EMPTY;
}

export function bool(v: unknown): boolean {
  return v === true;
}

/** Data from the app: a string is sent as its UTF-8 bytes. */
export type Data = string | Uint8Array;

export function toBytes(d: Data | undefined | null): Uint8Array | undefined {
  if (d === undefined || d === null) return undefined;
  if (typeof d === "string") return Buffer.from(d, "utf8");
  return d;
}

/** The UTF-8 text of data returned by the agent. */
export function text(data: Uint8Array | undefined | null): string {
  if (!data) return "";
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("utf8");
}
