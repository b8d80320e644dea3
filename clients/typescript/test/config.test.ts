// Config: get/set with versions, and a subscription that sees every update in order.

import { before, after } from "node:test";
import * as assert from "node:assert/strict";

import { BadVersionError, NodeExistsError, NoNodeError, type Client } from "../src/index.js";
import { Agent, agentTest, within } from "./helpers.js";

let agent: Agent;
let c: Client;
let writer: Client;
const A = (): Agent => agent;

before(async () => {
  agent = new Agent({ node: "config" });
  await agent.start();
  c = await agent.connect({ name: "reader" });
  writer = await agent.connect({ name: "writer" });
});
after(async () => {
  await agent?.stop();
});

agentTest(A, "config: get and set with versions, creating parents", async () => {
  const cfg = c.config("/config/app/db");
  await assert.rejects(cfg.get(), NoNodeError);
  assert.equal(await cfg.set("v0"), 0);
  assert.equal(await cfg.set("v1", { version: 0 }), 1);
  await assert.rejects(cfg.set("v2", { version: 0 }), BadVersionError);
  await assert.rejects(cfg.set("v2", { version: "absent" }), NodeExistsError);
  const v = await cfg.get();
  assert.equal(v.text, "v1");
  assert.equal(v.version, 1);
});

agentTest(A, "config subscription sees 200 updates in order, then resumes from a zxid on a new connection", async () => {
  const path = "/config/stream";
  const cfg = c.config(path);
  await writer.config(path).set("initial");
  const sub = cfg.subscribe();
  await sub.ready;
  const first = await within(sub.next(), 5000, "the current value");
  assert.ok(first);
  assert.equal(first.text, "initial");
  assert.ok(first.resync && first.synced);

  const N = 200;
  const writes = (async () => {
    for (let i = 0; i < N; i++) await writer.config(path).set(`value-${i}`);
  })();
  const got: string[] = [];
  const zxids: number[] = [];
  let resumeAt = 0;
  while (got.length < N) {
    const u = await within(sub.next(), 10000, `update ${got.length}`);
    assert.ok(u, "the subscription ended early");
    assert.equal(u.deleted, false);
    assert.equal(u.resync, false);
    got.push(u.text);
    zxids.push(u.zxid);
    assert.equal(u.version, got.length, "versions have no gaps");
    if (got.length === 120) resumeAt = u.zxid;
  }
  await writes;
  assert.deepEqual(got, Array.from({ length: N }, (_, i) => `value-${i}`));
  for (let i = 1; i < zxids.length; i++) assert.ok(zxids[i]! > zxids[i - 1]!, "zxids increase");
  assert.equal(sub.lastZxid, zxids[N - 1]);
  await sub.close();

  // Resume on a new connection after update 120: exactly the rest follow, no resync.
  const fresh = await agent.connect({ name: "resumer" });
  const again = fresh.config(path).subscribe({ fromZxid: resumeAt });
  const rest: string[] = [];
  for await (const u of again) {
    assert.equal(u.resync, false, "no resync while the agent has the history");
    rest.push(u.text);
    if (rest.length === N - 120) break;
  }
  assert.deepEqual(rest, got.slice(120));
  await fresh.close();
});
