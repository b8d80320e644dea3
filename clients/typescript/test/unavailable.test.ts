// A call's timeout goes to the agent as timeout_ms: against a cluster that
// has lost its leader, a write with a timeout fails within it with the
// agent's reason (UnavailableError, "no leader for ..."), not with the
// client's bare TimeoutError. And sessions lists what each session holds.

import { before, after, test } from "node:test";
import * as assert from "node:assert/strict";

import { UnavailableError, WardenError, type Hold, type SessionInfo } from "../src/index.js";
import { Agent, agentTest, startServers, within } from "./helpers.js";

let agent: Agent;
const A = (): Agent => agent;

before(async () => {
  agent = new Agent({ node: "holds" });
  await agent.start();
});
after(async () => {
  await agent?.stop();
});

function holdsOf(sessions: SessionInfo[], id: number): Hold[] {
  const mine = sessions.filter((s) => s.id === id);
  assert.equal(mine.length, 1);
  return mine[0]!.holds;
}

agentTest(A, "sessions: a lock's holder shows it held, its waiter waiting", async () => {
  const path = "/t/ts-holds/lock";
  const a = await agent.connect();
  const b = await agent.connect();
  assert.deepEqual(holdsOf(await a.sessions(), a.sessionId), []);
  const lease = await a.lock(path);
  assert.deepEqual(holdsOf(await b.sessions(), a.sessionId), [{ kind: "lock", path, key: lease.key, state: "held" }]);

  const waiter = b.lock(path);
  const deadline = Date.now() + 10000;
  let waiting: Hold[] = [];
  while ((waiting = holdsOf(await a.sessions(), b.sessionId)).length === 0) {
    assert.ok(Date.now() < deadline, "the waiter's place in line never showed");
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(waiting.length, 1);
  assert.deepEqual([waiting[0]!.kind, waiting[0]!.path, waiting[0]!.state], ["lock", path, "waiting"]);
  assert.ok(waiting[0]!.key.startsWith(`${path}/`), waiting[0]!.key);

  await lease.unlock();
  const granted = await within(waiter, 10000, "the waiter's grant");
  assert.deepEqual(holdsOf(await a.sessions(), a.sessionId), []);
  assert.deepEqual(holdsOf(await a.sessions(), b.sessionId), [{ kind: "lock", path, key: granted.key, state: "held" }]);
  await granted.unlock();
});

test("timeout_ms: a write without a leader fails within its timeout, saying why", { timeout: 120000 }, async () => {
  const servers = await startServers(3);
  try {
    const survivor = servers[2]!;
    // A session opened while there was a leader.
    const c = await survivor.connect();
    await c.create("/ts-noleader-before", undefined, { timeoutMs: 10000 });
    await Promise.all(servers.slice(0, 2).map((s) => s.kill()));
    const deadline = Date.now() + 60000;
    while ((await c.status({ timeoutMs: 5000 })).noLeaderMs === 0) {
      assert.ok(Date.now() < deadline, "the survivor never knew it had no leader");
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal((await c.status()).leader, "");

    let start = Date.now();
    const err = await c.create("/ts-noleader", undefined, { timeoutMs: 2000 }).then(
      () => assert.fail("created without a leader"),
      (e: unknown) => e,
    );
    let took = Date.now() - start;
    assert.ok(err instanceof UnavailableError, `not UnavailableError: ${String(err)}`);
    assert.match(err.message, /no leader for/);
    assert.ok(took < 2000, `the agent answered after ${took} ms, not before the 2000 ms timeout`);

    // A grant wait carries its own deadline (wait_ms): it says why too.
    start = Date.now();
    const lockErr = await c.lock("/ts-noleader-lock", { timeoutMs: 2000 }).then(
      () => assert.fail("locked without a leader"),
      (e: unknown) => e,
    );
    took = Date.now() - start;
    assert.ok(lockErr instanceof WardenError && /no leader for/.test(lockErr.message), String(lockErr));
    assert.ok(took < 3000, `the lock wait ended after ${took} ms`);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
});
