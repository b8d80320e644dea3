// A peer that answers what no agent would (ids and numbers over 2^53): the
// client must fail the call or the connection cleanly, never crash the
// process, and never keep a grant it could not hand out.

import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";

import { encode } from "@msgpack/msgpack";

import { connect, SessionLostError, type SessionState } from "../src/index.js";
import { decodeRaw, FrameReader, isFields, type Fields } from "../src/wire.js";
import { deferred, within } from "./helpers.js";

const HUGE = 2n ** 60n;

/**
 * A Unix-socket server speaking the frame format; `answer` gives each
 * request's result (or null: no reply), or with `frames` whole messages to
 * send instead.
 */
async function peer(answer: (req: Fields) => Fields | null | { frames: Fields[] }): Promise<{ socket: string; requests: Fields[]; seen: (op: string) => Promise<Fields>; close: () => Promise<void> }> {
  const dir = fs.mkdtempSync("/tmp/wts-peer-");
  const socket = path.join(dir, "p.sock");
  const requests: Fields[] = [];
  const waiting = new Map<string, (r: Fields) => void>();
  const conns = new Set<net.Socket>();
  const server = net.createServer((s) => {
    conns.add(s);
    s.on("close", () => conns.delete(s));
    s.on("error", () => undefined);
    const reader = new FrameReader();
    s.on("data", (chunk: Buffer) => {
      for (const body of reader.push(chunk)) {
        const req = decodeRaw(body);
        if (!isFields(req)) continue;
        requests.push(req);
        waiting.get(String(req["op"]))?.(req);
        const result = answer(req);
        if (result === null) continue;
        const msgs = "frames" in result && Array.isArray(result["frames"]) ? (result["frames"] as Fields[]) : [{ id: req["id"], result }];
        for (const m of msgs) {
          const out = Buffer.from(encode(m, { useBigInt64: true }));
          const frame = Buffer.alloc(4 + out.length);
          frame.writeUInt32BE(out.length, 0);
          out.copy(frame, 4);
          s.write(frame);
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    socket,
    requests,
    seen: (op) => {
      const r = requests.find((q) => q["op"] === op);
      if (r) return Promise.resolve(r);
      return new Promise((resolve) => waiting.set(op, resolve));
    },
    close: async () => {
      for (const s of conns) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const hello: Fields = { protocol: 1, session_id: 7, session_timeout_ms: 10000, agent: "peer" };

test("a reply with a stream id over 2^53 ends the connection cleanly; the call fails, the process goes on", async () => {
  const p = await peer((req) => {
    if (req["op"] === "hello") return hello;
    if (req["op"] === "subscribe") return { sub: HUGE };
    return {};
  });
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown): void => void uncaught.push(e);
  process.on("uncaughtException", onUncaught);
  try {
    const states: SessionState[] = [];
    const lost = deferred<void>();
    const c = await connect({ socket: p.socket, onSessionState: (s) => { states.push(s); if (s === "lost") lost.resolve(); } });
    assert.equal(c.state, "connected", "connected from the hello reply");
    const sub = c.subscribe("/x");
    const e = await within(sub.ready.then(() => null, (err: unknown) => err), 5000, "the subscribe to fail");
    assert.ok(e instanceof SessionLostError, String(e));
    assert.match(e.message, /bad frame from the agent: sub \d+ does not fit/);
    await within(lost.promise, 5000, "lost");
    await assert.rejects(c.ping(), SessionLostError);
    assert.deepEqual(states, ["connected", "lost"]);
    assert.deepEqual(uncaught, []);
    await c.close();
    assert.deepEqual(states, ["connected", "lost"], "close() after lost reports nothing");
  } finally {
    process.off("uncaughtException", onUncaught);
    await p.close();
  }
});

test("frames with an id or a sub over 2^53 match nothing and are ignored; the connection goes on", async () => {
  const p = await peer((req) => {
    if (req["op"] === "hello") return hello;
    // Before the real reply: a reply and an event whose ids fit no JavaScript number.
    return { frames: [{ id: HUGE, result: {} }, { id: 0, event: "watch", sub: HUGE, body: {} }, { id: req["id"], result: {} }] };
  });
  try {
    const c = await connect({ socket: p.socket });
    await within(c.ping(), 5000, "the ping");
    await within(c.ping(), 5000, "a second ping");
    assert.equal(c.error, null);
    assert.equal(c.state, "connected");
    await c.close();
  } finally {
    await p.close();
  }
});

test("a lock granted with a token over 2^53 fails with RangeError and is released, not leaked", async () => {
  const p = await peer((req) => {
    if (req["op"] === "hello") return hello;
    if (req["op"] === "lock") return { key: "/l/c-0000000001", token: HUGE };
    if (req["op"] === "campaign") return { key: "/e/c-0000000001", token: HUGE };
    return {};
  });
  try {
    const c = await connect({ socket: p.socket });
    await assert.rejects(c.lock("/l"), RangeError);
    const unlock = await within(p.seen("unlock"), 5000, "the unlock");
    assert.equal(unlock["key"], "/l/c-0000000001");
    await assert.rejects(c.election("/e").campaign("v"), RangeError);
    const resign = await within(p.seen("resign"), 5000, "the resign");
    assert.equal(resign["key"], "/e/c-0000000001");
    assert.equal(resign["token"], HUGE, "resigned with the exact token");
    assert.equal(c.error, null, "the connection goes on");
    await c.ping();
    await c.close();
  } finally {
    await p.close();
  }
});

test("timeout_ms: a call's timeoutMs goes to the agent in the op's key order; not a grant wait's, nor a call without one", async () => {
  const p = await peer((req) => {
    if (req["op"] === "hello") return hello;
    if (req["op"] === "lock") return { key: "/l/k-1", token: 1 };
    if (req["op"] === "create") return { path: String(req["path"]) };
    return {};
  });
  try {
    const c = await connect({ socket: p.socket, timeoutMs: 5000 });
    const h = await p.seen("hello");
    assert.ok(typeof h["timeout_ms"] === "number" && h["timeout_ms"] > 4000 && h["timeout_ms"] <= 5000, String(h["timeout_ms"]));
    const body = (r: Fields): string[] => Object.keys(r).filter((k) => k !== "id");
    await c.create("/a", "x", { timeoutMs: 2500 });
    await c.create("/b");
    const creates = p.requests.filter((r) => r["op"] === "create");
    assert.deepEqual(body(creates[0]!), ["op", "path", "data", "timeout_ms"]);
    assert.equal(creates[0]!["timeout_ms"], 2500);
    assert.deepEqual(body(creates[1]!), ["op", "path"]);
    await c.ping({ timeoutMs: 0.4 }).catch(() => undefined); // the client may give up first: only the frame counts
    assert.equal((await p.seen("ping"))["timeout_ms"], 1); // at least 1 ms
    await c.lock("/l", { timeoutMs: 3000 });
    const lock = await p.seen("lock");
    assert.equal(lock["wait_ms"], 3000);
    assert.ok(!("timeout_ms" in lock));
    await c.close();
  } finally {
    await p.close();
  }
});
