// A resumable session survives an agent restart and keeps its lock.

import { before, after } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";

import { ConnectionClosedError, SessionLostError, TimeoutError, type SessionState } from "../src/index.js";
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

agentTest(A, "resume: SIGKILL and restart the agent; the client resumes by itself and still holds its lock", async () => {
  const states: SessionState[] = [];
  const disconnected = deferred<void>();
  let reconnected = deferred<void>();
  const c = await agent.connect({
    resumable: true,
    sessionTimeoutMs: 15000,
    name: "resumer",
    onSessionState: (s) => {
      states.push(s);
      if (s === "disconnected") disconnected.resolve();
      if (s === "connected" && states.includes("disconnected")) reconnected.resolve();
    },
  });
  const sessionId = c.sessionId;
  assert.ok(c.resumeToken);
  const lease = await c.lock("/locks/resume");
  assert.ok(await lease.check());

  // A request in flight when the connection drops fails with a connection error.
  await c.barrier("/barriers/resume").set();
  const inFlight = c.barrier("/barriers/resume").wait().then(() => null, (e: unknown) => e);
  await c.sync();

  await agent.kill();
  await within(disconnected.promise, 5000, "disconnected");
  assert.ok((await within(inFlight, 5000, "the in-flight call to fail")) instanceof ConnectionClosedError);

  await agent.start();
  await within(reconnected.promise, 20000, "the session to be resumed");
  assert.equal(c.sessionId, sessionId);
  assert.equal(c.resumes, 1);
  assert.ok(await lease.check(), "the lease is still current, same key and token");
  assert.ok(await c.lockCheck("/locks/resume", lease.token));

  const other = await agent.connect({ name: "other" });
  await assert.rejects(other.tryLock("/locks/resume"), TimeoutError);
  await lease.unlock();
  const mine = await other.tryLock("/locks/resume");
  assert.ok(mine.token > lease.token);
  await mine.unlock();
  await c.barrier("/barriers/resume").remove();
  assert.deepEqual(states, ["connected", "disconnected", "connected"]);
  await c.close();
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
  await agent.kill();
  await within(disconnected.promise, 5000, "disconnected");
  fs.rmSync(agent.dataDir, { recursive: true, force: true }); // a fresh cluster: the session never existed there
  await agent.start();
  await within(lost.promise, 20000, "lost");
  assert.deepEqual(states, ["connected", "disconnected", "lost"]);
  const e = await c.ping().catch((err: unknown) => err);
  assert.ok(e instanceof SessionLostError, String(e));
  assert.match(e.message, /could not be resumed/);
});

agentTest(A, "resume: what a lock request in flight left queued is removed after the resume, so it blocks nobody", async () => {
  const lpath = "/locks/reclaim";
  const watch = (name: string) => {
    const states: SessionState[] = [];
    const disconnected = deferred<void>();
    const resumed = deferred<void>();
    const opts = {
      resumable: true,
      sessionTimeoutMs: 15000,
      name,
      onSessionState: (s: SessionState) => {
        states.push(s);
        if (s === "disconnected") disconnected.resolve();
        if (s === "connected" && states.includes("disconnected")) resumed.resolve();
      },
    };
    return { states, disconnected, resumed, opts };
  };
  const wa = watch("a");
  const wb = watch("b");
  const a = await agent.connect(wa.opts);
  const b = await agent.connect(wb.opts);
  const held = await b.lock(lpath);

  // A waits in line: its contender node is in the tree.
  const queued = await b.children(lpath, { watch: true });
  const waiting = a.lock(lpath).then(() => null, (e: unknown) => e);
  assert.equal((await within(queued.watch.wait(), 5000, "A's contender node")).type, "children_changed");
  const mine = async (c: typeof a): Promise<string[]> => {
    const out: string[] = [];
    for (const name of await b.children(lpath)) {
      const st = await b.exists(`${lpath}/${name}`);
      if (st && st.ephemeralOwner === c.sessionId) out.push(name);
    }
    return out;
  };
  assert.equal((await mine(a)).length, 1);

  await agent.kill();
  await within(Promise.all([wa.disconnected.promise, wb.disconnected.promise]), 5000, "both disconnected");
  const err = await within(waiting, 5000, "A's waiting lock to fail");
  assert.ok(err instanceof ConnectionClosedError, String(err));

  await agent.start();
  await within(Promise.all([wa.resumed.promise, wb.resumed.promise]), 20000, "both sessions to be resumed");
  // Reported connected only once the reclaim is done: nothing of A's is left under the lock.
  assert.deepEqual(await mine(a), []);
  assert.deepEqual(await mine(b), [held.key.slice(lpath.length + 1)], "B's lease is kept");
  assert.ok(await held.check());

  await held.unlock();
  const third = await agent.connect({ name: "third" });
  const got = await third.tryLock(lpath); // would be TimeoutError behind an orphan of A
  assert.ok(got.token > held.token);
  await got.unlock();
  const retry = await a.tryLock(lpath); // A's retry is safe too
  await retry.unlock();
  assert.deepEqual(wa.states, ["connected", "disconnected", "connected"]);
  assert.deepEqual(wb.states, ["connected", "disconnected", "connected"]);
  await a.close();
  await b.close();
});
