// Config: get/set with versions, a subscription that sees every update in
// order, and the agent's folded resyncs.

import { before, after } from "node:test";
import * as assert from "node:assert/strict";

import { BadVersionError, NodeExistsError, NoNodeError, type Client, type ConfigUpdate, type SessionState } from "../src/index.js";
import { Agent, agentTest, deferred, within } from "./helpers.js";

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

agentTest(A, "config: a resume whose history is gone brings a folded resync: the nodes that exist, then the known ones that went, as deleted", async () => {
  // An agent that keeps only 4 changes: the subscription cannot be replayed after a restart.
  const own = new Agent({ node: "fold", sessionTimeout: "15s", extra: ["--history-max-changes", "4"] });
  await own.start();
  try {
    const disconnected = deferred<void>();
    const resumed = deferred<void>();
    const states: SessionState[] = [];
    const rc = await own.connect({
      resumable: true,
      sessionTimeoutMs: 15000,
      onSessionState: (s) => {
        states.push(s);
        if (s === "disconnected") disconnected.resolve();
        if (s === "connected" && states.includes("disconnected")) resumed.resolve();
      },
    });
    const w = await own.connect({ name: "writer" });
    await w.config("/cfg/a").set("a0");
    await w.config("/cfg/b").set("b0");
    const sub = rc.config("/cfg").subscribe({ recursive: true });
    const row = (u: ConfigUpdate): [string, string, boolean, boolean, boolean] => [u.path, u.text, u.resync, u.deleted, u.synced];
    const take = async (n: number, what: string): Promise<Array<ReturnType<typeof row>>> => {
      const out: Array<ReturnType<typeof row>> = [];
      while (out.length < n) {
        const u = await within(sub.next(), 10000, what);
        assert.ok(u, "the subscription ended");
        out.push(row(u));
      }
      return out;
    };
    assert.deepEqual(await take(3, "the initial state"), [
      ["/cfg", "", true, false, false],
      ["/cfg/a", "a0", true, false, false],
      ["/cfg/b", "b0", true, false, true],
    ]);
    // Changes the app has not read when the connection drops: more than the agent keeps.
    await w.delete("/cfg/b");
    for (let i = 1; i <= 6; i++) await w.config("/cfg/a").set(`a${i}`);
    await rc.sync();
    await w.close();

    await own.kill();
    await within(disconnected.promise, 5000, "disconnected");
    await own.start();
    await within(resumed.promise, 20000, "the resume");
    // Opened again after the last update read, with the paths it reported: one update per event.
    assert.deepEqual(await take(3, "the resync"), [
      ["/cfg", "", true, false, false],
      ["/cfg/a", "a6", true, false, false],
      ["/cfg/b", "", true, true, true],
    ]);
    const w2 = await own.connect({ name: "writer2" });
    await w2.config("/cfg/c").set("c0");
    assert.deepEqual(await take(1, "the next change"), [["/cfg/c", "c0", false, false, false]]);

    // A folded subscription of nothing: one deleted update of its own path, ending the resync.
    const none = w2.config("/nothing/here").subscribe();
    assert.deepEqual(row((await within(none.next(), 5000, "the empty state"))!), ["/nothing/here", "", true, true, true]);
    await none.close();
    await sub.close();
    await rc.close();
    await w2.close();
  } finally {
    await own.stop();
  }
});
