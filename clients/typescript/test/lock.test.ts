// Locks with fencing tokens: two connections contend for one lock.

import { before, after } from "node:test";
import * as assert from "node:assert/strict";

import { TimeoutError, NotHeldError, type Client, type Lease } from "../src/index.js";
import { Agent, agentTest, within } from "./helpers.js";

let agent: Agent;
let a: Client;
let b: Client;
const A = (): Agent => agent;

before(async () => {
  agent = new Agent({ node: "locks" });
  await agent.start();
  a = await agent.connect({ name: "a" });
  b = await agent.connect({ name: "b" });
});
after(async () => {
  await agent?.stop();
});

agentTest(A, "lock: mutual exclusion between two connections, tokens strictly increase", async () => {
  const path = "/locks/excl";
  let inside = 0;
  let maxInside = 0;
  const tokens: number[] = [];
  const worker = async (c: Client, rounds: number): Promise<void> => {
    for (let i = 0; i < rounds; i++) {
      const lease = await c.lock(path);
      inside++;
      maxInside = Math.max(maxInside, inside);
      tokens.push(lease.token);
      assert.ok(await lease.check(), "the holder's token is current");
      await new Promise((r) => setImmediate(r)); // let the other side's grant in if it could come
      inside--;
      await lease.unlock();
    }
  };
  await within(Promise.all([worker(a, 15), worker(b, 15)]), 30000, "30 lock cycles");
  assert.equal(maxInside, 1, "never two holders at once");
  assert.equal(tokens.length, 30);
  for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]! > tokens[i - 1]!, `token ${tokens[i]} after ${tokens[i - 1]}`);
});

agentTest(A, "lock: try resolves null while held, timeout passes wait_ms, a stale token is not current", async () => {
  const path = "/locks/try";
  const held = await a.lock(path);
  assert.equal(await b.tryLock(path), null);
  const t0 = Date.now();
  await assert.rejects(b.lock(path, { timeoutMs: 300 }), TimeoutError);
  const waited = Date.now() - t0;
  assert.ok(waited >= 250 && waited < 5000, `waited ${waited} ms`);
  // A waiter is granted the lock on unlock, with a higher token; the old one is stale.
  const next = b.lock(path, { timeoutMs: 10000 });
  await held.unlock();
  const lease = await within(next, 10000, "grant after unlock");
  assert.ok(lease.token > held.token);
  assert.equal(await a.lockCheck(path, held.token), false, "the stale token is not current");
  assert.equal(await held.check(), false);
  assert.equal(await a.lockCheck(path, lease.token), true);
  await assert.rejects(a.unlock(lease.key), NotHeldError, "another session's lease is not ours to unlock");
  await lease.unlock();
  assert.equal(await a.lockCheck(path, lease.token), false);
});

agentTest(A, "lock: aborting a wait cancels it at the agent and leaves no contender", async () => {
  const path = "/locks/abort";
  const held = await a.lock(path);
  const ac = new AbortController();
  const waiting = b.lock(path, { signal: ac.signal });
  // The waiter's contender node appears: then abort.
  for (let i = 0; (await a.children(path)).length < 2; i++) {
    assert.ok(i < 500, "the waiter's contender never appeared");
    await a.sync();
  }
  ac.abort();
  await assert.rejects(waiting, (e: Error) => e.name === "AbortError");
  await held.unlock();
  // The canceled contender is gone: a try succeeds at once.
  const l: Lease | null = await b.tryLock(path);
  assert.ok(l, "the lock is free");
  await l.unlock();
});

agentTest(A, "lock: abort racing a grant never leaves the lock held", async () => {
  const path = "/locks/race";
  for (let i = 0; i < 20; i++) {
    const held = await a.lock(path);
    const ac = new AbortController();
    const waiting = b.lock(path, { signal: ac.signal }).then(
      (l) => l,
      () => null,
    );
    await held.unlock(); // grant and abort race
    ac.abort();
    const got = await waiting;
    if (got) await got.unlock();
  }
  // Whatever won each race, nobody holds the lock now.
  const l = await a.tryLock(path);
  assert.ok(l, "the lock is free");
  await l.unlock();
});
