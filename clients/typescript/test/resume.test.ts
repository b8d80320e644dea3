// A resumable session survives an agent restart: it keeps its locks and
// its places in line, its streams carry on, and calls made meanwhile fail
// fast.

import { before, after, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";

import { ConnectionClosedError, DisconnectedError, SessionLostError, TimeoutError, type Client, type ConnectOptions, type SessionState } from "../src/index.js";
import { Cursor } from "../src/znode.js";
import { Agent, agentTest, deferred, within } from "./helpers.js";

let agent: Agent;
const A = (): Agent => agent;

before(async () => {
  agent = new Agent({ node: "resume", sessionTimeout: "15s" });
  await agent.start();
});
after(async () => {
  await agent?.stop();
});

/** Options of a resumable client, and the states it reports. */
function resumable(name: string) {
  const states: SessionState[] = [];
  const disconnected = deferred<void>();
  const resumed = deferred<void>();
  const opts: ConnectOptions = {
    resumable: true,
    sessionTimeoutMs: 15000,
    name,
    onSessionState: (s) => {
      states.push(s);
      if (s === "disconnected") disconnected.resolve();
      if (s === "connected" && states.includes("disconnected")) resumed.resolve();
    },
  };
  return { states, disconnected, resumed, opts };
}

/** The names of the nodes under path that belong to c's session (read through reader). */
async function ownedBy(reader: Client, path: string, c: Client): Promise<string[]> {
  const out: string[] = [];
  for (const name of await reader.children(path)) {
    const st = await reader.exists(`${path}/${name}`);
    if (st && st.ephemeralOwner === c.sessionId) out.push(name);
  }
  return out;
}

/** Resolves "pending" if p has not settled within ms. */
function settledWithin<T>(p: Promise<T>, ms: number): Promise<T | "pending"> {
  return Promise.race([p, new Promise<"pending">((r) => setTimeout(() => r("pending"), ms))]);
}

agentTest(A, "resume: across a SIGKILL and restart the client keeps its lock, its one place in line and its config subscription", async () => {
  const keptPath = "/locks/kept";
  const linePath = "/locks/line";
  const cfgPath = "/config/resume";
  const wa = resumable("a");
  const wb = resumable("b");
  const a = await agent.connect(wa.opts);
  const b = await agent.connect(wb.opts);
  const before = await agent.connect({ name: "writer-before" });
  await before.config(cfgPath).set("before");

  const kept = await a.lock(keptPath);
  const other = await b.lock(linePath);
  const sub = a.config(cfgPath).subscribe();
  const first = await within(sub.next(), 5000, "the config's current value");
  assert.ok(first && first.resync && first.synced && first.text === "before");

  // A waits in line behind B.
  const queued = await b.children(linePath, { watch: true });
  const waiting = a.lock(linePath);
  waiting.catch(() => undefined); // checked below
  await within(queued.watch.wait(), 5000, "A's place in line");
  assert.equal((await ownedBy(before, linePath, a)).length, 1);
  await before.close();

  await agent.kill();
  await within(Promise.all([wa.disconnected.promise, wb.disconnected.promise]), 5000, "both disconnected");
  await agent.start();

  // Changes after the restart: some made before the clients have resumed, some after.
  const writer = await agent.connect({ name: "writer" });
  const values: string[] = [];
  const write = async (v: string): Promise<void> => {
    values.push(v);
    await writer.config(cfgPath).set(v);
  };
  for (let i = 0; i < 5; i++) await write(`after-${i}`);
  await within(Promise.all([wa.resumed.promise, wb.resumed.promise]), 20000, "both sessions to be resumed");
  for (let i = 5; i < 10; i++) await write(`after-${i}`);

  // The lock is still held, with its token.
  assert.ok(await a.lockCheck(keptPath, kept.token));
  assert.ok(await kept.check());
  assert.deepEqual(await ownedBy(writer, keptPath, a), [kept.key.slice(keptPath.length + 1)]);

  // A is still in line, with exactly one place (the old one was removed by the agent, the wait sent again).
  for (let i = 0; (await ownedBy(writer, linePath, a)).length === 0; i++) {
    assert.ok(i < 500, "A's wait was not sent again");
    await new Promise((r) => setTimeout(r, 10));
  }
  await a.sync();
  await writer.sync();
  assert.equal((await ownedBy(writer, linePath, a)).length, 1, "one place in line, no orphan");
  assert.deepEqual(await ownedBy(writer, linePath, b), [other.key.slice(linePath.length + 1)], "B's lease is kept");
  assert.equal(await settledWithin(waiting, 200), "pending", "A still waits");

  // A gets the lock when B releases it.
  await other.unlock();
  const got = await within(waiting, 10000, "A's lock after B's unlock");
  assert.ok(got.token > other.token);
  assert.ok(await got.check());

  // Every change made after the restart, exactly once, in order, and then the next.
  const seen: string[] = [];
  while (seen.length < values.length) {
    const u = await within(sub.next(), 10000, `update ${seen.length}`);
    assert.ok(u, "the subscription ended");
    assert.equal(u.resync, false, `no resync: ${JSON.stringify({ path: u.path, text: u.text })}`);
    seen.push(u.text);
  }
  assert.deepEqual(seen, values);
  await writer.config(cfgPath).set("last");
  assert.equal((await within(sub.next(), 5000, "the next update"))?.text, "last");

  assert.deepEqual(wa.states, ["connected", "disconnected", "connected"]);
  assert.deepEqual(wb.states, ["connected", "disconnected", "connected"]);
  assert.equal(a.resumes, 1);
  await sub.close();
  await got.unlock();
  await kept.unlock();
  await a.close();
  await b.close();
  await writer.close();
});

agentTest(A, "resume: calls made during the resume fail at once with DisconnectedError; waitConnected waits; observe starts again", async () => {
  const w = resumable("r1");
  const c = await agent.connect(w.opts);
  const obs = c.election("/elections/resume").observe();
  assert.equal(await within(obs.next(), 5000, "the first leader"), null);
  await c.barrier("/barriers/resume").set();
  // A request in flight that is no grant wait fails when the connection drops: its outcome is unknown.
  const inFlight = c.barrier("/barriers/resume").wait().then(() => null, (e: unknown) => e);
  await c.sync();

  await agent.kill();
  await within(w.disconnected.promise, 5000, "disconnected");
  const dropped = await within(inFlight, 5000, "the barrier wait to fail");
  assert.ok(dropped instanceof DisconnectedError, String(dropped));
  assert.ok(dropped instanceof ConnectionClosedError);

  const t0 = Date.now();
  const e = await c.ping().catch((err: unknown) => err);
  assert.ok(e instanceof DisconnectedError, String(e));
  assert.equal(e.code, "disconnected");
  await assert.rejects(c.lock("/locks/during"), DisconnectedError);
  assert.ok(Date.now() - t0 < 1000, "failed at once");
  await assert.rejects(c.waitConnected({ timeoutMs: 50 }), TimeoutError);
  const connected = c.waitConnected({ timeoutMs: 30000 });

  await agent.start();
  await within(connected, 20000, "waitConnected");
  assert.equal(c.state, "connected");
  await c.ping();
  await c.waitConnected(); // at once when connected

  // The observed election starts again with its current leader, then follows it.
  assert.equal(await within(obs.next(), 5000, "the leader again after the resume"), null);
  const candidate = await agent.connect({ name: "candidate" });
  const won = await candidate.election("/elections/resume").campaign("x");
  const l = await within(obs.next(), 5000, "the new leader");
  assert.equal(l?.key, won.key);
  await obs.close();
  await candidate.close();
  await c.barrier("/barriers/resume").remove();
  await c.close();
  await assert.rejects(c.waitConnected(), ConnectionClosedError);
});

agentTest(A, "resume: a grant wait in flight is sent again within what is left of its timeout; one aborted during the resume ends", async () => {
  const h = resumable("holder");
  const w = resumable("waiter");
  const holder = await agent.connect(h.opts);
  const c = await agent.connect(w.opts);
  const timedPath = "/locks/timed";
  const abortPath = "/locks/aborted";
  const held1 = await holder.lock(timedPath);
  const held2 = await holder.lock(abortPath);

  const t0 = Date.now();
  const timed = c.lock(timedPath, { timeoutMs: 6000 }).then(() => null, (e: unknown) => e);
  const ac = new AbortController();
  const aborted = c.lock(abortPath, { signal: ac.signal }).then(() => null, (e: unknown) => e);
  for (let i = 0; (await ownedBy(holder, timedPath, c)).length + (await ownedBy(holder, abortPath, c)).length < 2; i++) {
    assert.ok(i < 500, "the waits never queued");
    await new Promise((r) => setTimeout(r, 10));
  }

  await agent.kill();
  await within(w.disconnected.promise, 5000, "disconnected");
  ac.abort();
  const ae = await within(aborted, 1000, "the aborted wait to end");
  assert.ok(ae instanceof Error && ae.name === "AbortError", String(ae));
  await agent.start();
  await within(Promise.all([w.resumed.promise, h.resumed.promise]), 20000, "both resumed");

  const te = await within(timed, 15000, "the timed wait to end");
  const elapsed = Date.now() - t0;
  assert.ok(te instanceof TimeoutError, String(te));
  assert.ok(elapsed >= 5500 && elapsed < 9000, `the wait ended after ${elapsed} ms, not about 6000`);
  await c.sync();
  assert.deepEqual(await ownedBy(holder, abortPath, c), [], "nothing left of the aborted wait");
  assert.deepEqual(await ownedBy(holder, timedPath, c), [], "nothing left of the timed-out wait");
  assert.ok(await held1.check());
  assert.ok(await held2.check());
  await held1.unlock();
  await held2.unlock();
  await c.close();
  await holder.close();
});

agentTest(A, "resume: when the session is gone after the restart, the client reports lost and fails calls with SessionLostError", async () => {
  const lost = deferred<void>();
  const disconnected = deferred<void>();
  const states: SessionState[] = [];
  const c = await agent.connect({
    resumable: true,
    sessionTimeoutMs: 15000,
    onSessionState: (s) => {
      states.push(s);
      if (s === "disconnected") disconnected.resolve();
      if (s === "lost") lost.resolve();
    },
  });
  await c.lock("/locks/gone");
  const sub = c.subscribe("/config/gone");
  await sub.ready;
  await agent.kill();
  await within(disconnected.promise, 5000, "disconnected");
  fs.rmSync(agent.dataDir, { recursive: true, force: true }); // a fresh cluster: the session never existed there
  await agent.start();
  await within(lost.promise, 20000, "lost");
  assert.deepEqual(states, ["connected", "disconnected", "lost"]);
  const e = await c.ping().catch((err: unknown) => err);
  assert.ok(e instanceof SessionLostError, String(e));
  assert.match(e.message, /could not be resumed/);
  // The subscription waiting for the resume ends with the session.
  let ended: unknown = null;
  try {
    for (;;) if ((await within(sub.next(), 5000, "the subscription to end")) === undefined) break;
  } catch (err) {
    ended = err;
  }
  assert.ok(ended instanceof SessionLostError, String(ended));
});

test("resume: a subscription opened again starts after the last event handed out, none of a zxid's changes repeated", () => {
  const c = new Cursor(0);
  assert.equal(c.reopenFrom(), 0, "nothing handed out: the current state");
  c.resync(10, false);
  assert.equal(c.reopenFrom(), 0, "a resync cut short starts over");
  c.resync(10, true);
  assert.equal(c.reopenFrom(), 10, "after a whole resync: its zxid");
  c.change(12);
  c.change(12); // a multi's second change
  assert.equal(c.reopenFrom(), 11, "part of zxid 12 was handed out: from 11...");
  assert.equal(c.replayed(12), true, "...dropping the two changes of 12 handed out");
  assert.equal(c.replayed(12), true);
  assert.equal(c.replayed(12), false, "the third change of 12 is new");
  c.change(12);
  c.change(13);
  assert.equal(c.reopenFrom(), 12);
  assert.equal(c.replayed(13), true);
  assert.equal(c.replayed(14), false);
  c.change(14);
  assert.equal(c.reopenFrom(), 13);
  c.resync(20, false); // the history was gone: a resync replaces the replay
  assert.equal(c.replayed(14), false);
  c.resync(20, true);
  assert.equal(c.reopenFrom(), 20);
  c.reset(5);
  assert.equal(c.reopenFrom(), 5);
});
