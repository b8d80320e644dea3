// Arguments, concurrent waits, state reporting, close() during a resume,
// and listeners on shared signals, against a real agent.

import { before, after } from "node:test";
import * as assert from "node:assert/strict";
import { getEventListeners } from "node:events";

import { BadArgumentsError, ConnectionClosedError, TimeoutError, op, type Client, type SessionState } from "../src/index.js";
import { Agent, agentTest, deferred, within } from "./helpers.js";

let agent: Agent;
let c: Client;
const A = (): Agent => agent;

before(async () => {
  agent = new Agent({ node: "calls" });
  await agent.start();
  c = await agent.connect({ name: "calls" });
});
after(async () => {
  await agent?.stop();
});

agentTest(A, "timeoutMs and version are checked up front; Infinity and values above 2^31 ms wait as asked", async () => {
  for (const bad of [-1, NaN, "10" as unknown as number, 2 ** 60]) {
    await assert.rejects(c.ping({ timeoutMs: bad }), BadArgumentsError, String(bad));
    await assert.rejects(c.lock("/calls/l", { timeoutMs: bad }), BadArgumentsError, String(bad));
  }
  await c.create("/calls", "");
  await assert.rejects(c.set("/calls", "x", { version: 1.5 }), BadArgumentsError);
  await assert.rejects(c.delete("/calls", { version: -2 }), BadArgumentsError);
  assert.throws(() => op.set("/calls", "x", 0.5), BadArgumentsError);
  await assert.rejects(c.counter("/calls/n").add(1.5), RangeError);

  // Infinity: no limit, at the agent nor in the client.
  const holder = await agent.connect();
  const held = await holder.lock("/calls/l");
  const forever = c.lock("/calls/l", { timeoutMs: Infinity });
  // Above what setTimeout takes: the backstop must not fire at once.
  const long = c.readLock("/calls/l", { timeoutMs: 2 ** 31 + 5 });
  const longSync = c.sync({ timeoutMs: 2 ** 32 });
  await longSync;
  await holder.sync();
  await held.unlock();
  // The two waits run side by side at the agent, so either may be first in
  // line: the write lock keeps the read lock out, and the other way round.
  // Take whichever comes, let it go, then the other must come.
  const tagged = [forever.then((l) => ({ l, which: "lock" })), long.then((l) => ({ l, which: "read lock" }))];
  const first = await within(Promise.race(tagged), 5000, "a waiter after the holder let go");
  await first.l.unlock();
  const [lockWait, readWait] = tagged;
  const second = await within(first.which === "lock" ? readWait! : lockWait!, 5000, "the other waiter");
  await second.l.unlock();
  await holder.close();
});

agentTest(A, "counters over 2^53 come back as bigint, exact; within it as number", async () => {
  const k = c.counter("/calls/big");
  assert.equal(await k.add(2n ** 60n), 2n ** 60n);
  assert.equal(await k.add(1), 2n ** 60n + 1n);
  assert.equal(await k.get(), 2n ** 60n + 1n);
  assert.deepEqual(await k.compareAndSet(2n ** 60n + 1n, 5), { swapped: true, value: 5 });
  assert.equal(await k.add(-(2n ** 62n)), 5n - 2n ** 62n);
  await assert.rejects(k.add(2n ** 63n), RangeError);
});

agentTest(A, "two concurrent waits on one watch both get the event; aborting one leaves the other waiting", async () => {
  await c.create("/calls/w", "1");
  const { watch } = await c.get("/calls/w", { watch: true });
  const ac = new AbortController();
  const first = watch.wait();
  const aborted = watch.wait({ signal: ac.signal });
  const third = watch.wait();
  ac.abort();
  await assert.rejects(aborted, (e: Error) => e.name === "AbortError");
  await c.set("/calls/w", "2");
  const [e1, e3] = await within(Promise.all([first, third]), 5000, "both waits");
  assert.equal(e1.type, "data_changed");
  assert.deepEqual(e3, e1);
  assert.deepEqual(await watch.wait(), e1, "a later wait gets it too");
});

agentTest(A, "two concurrent next() on a stream each get one event", async () => {
  const sub = c.subscribe("/calls/s");
  await sub.ready;
  for (;;) if ((await sub.next())!.type === "synced") break;
  const a = sub.next();
  const b = sub.next();
  await c.create("/calls/s", "x");
  await c.set("/calls/s", "y");
  const got = await within(Promise.all([a, b]), 5000, "both next()");
  assert.deepEqual(got.map((e) => e!.type).sort(), ["created", "data_changed"]);
  await sub.close();
});

agentTest(A, "a signal shared by many calls and streams has one listener on it while they run, none after they end", async () => {
  const ac = new AbortController();
  await Promise.all(Array.from({ length: 20 }, () => c.ping({ signal: ac.signal, timeoutMs: 5000 })));
  assert.equal(getEventListeners(ac.signal, "abort").length, 0);
  const streams = Array.from({ length: 20 }, (_, i) => c.subscribe(`/calls/many${i}`, { signal: ac.signal }));
  await Promise.all(streams.map((s) => s.ready));
  assert.equal(getEventListeners(ac.signal, "abort").length, 1);
  await Promise.all(streams.map((s) => s.close()));
  assert.equal(getEventListeners(ac.signal, "abort").length, 0);
});

agentTest(A, "100 concurrent calls on one signal: no MaxListenersExceededWarning, and one abort ends them all", async () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => void warnings.push(w);
  process.on("warning", onWarning);
  try {
    const holder = await agent.connect({ name: "signal-holder" });
    const held = await holder.lock("/calls/shared-signal");
    const ac = new AbortController();
    // 60 lock waits (timed by the agent), 20 streams and 20 one-shot
    // watches, all on ac.signal at once.
    const waits = Array.from({ length: 60 }, () => c.lock("/calls/shared-signal", { signal: ac.signal, timeoutMs: 30000 }));
    const streams = Array.from({ length: 20 }, (_, i) => c.subscribe(`/calls/shared${i}`, { signal: ac.signal }));
    await Promise.all(streams.map((s) => s.ready));
    await c.create("/calls/shared-w", "");
    const watches = await Promise.all(Array.from({ length: 20 }, () => c.exists("/calls/shared-w", { watch: true })));
    const watchWaits = watches.map((w) => w.watch.wait({ signal: ac.signal }));
    // Every wait is queued at the agent once it lists 61 contenders.
    const deadline = Date.now() + 10000;
    while ((await c.children("/calls/shared-signal")).length < 61) {
      assert.ok(Date.now() < deadline, "60 lock waits queued at the agent");
    }
    assert.equal(getEventListeners(ac.signal, "abort").length, 1);
    ac.abort();
    for (const r of await Promise.allSettled([...waits, ...watchWaits])) {
      assert.equal(r.status, "rejected");
      assert.equal((r as PromiseRejectedResult).reason.name, "AbortError");
    }
    await Promise.all(streams.map((s) => s.close()));
    // The aborted waits left nothing queued: the holder is alone in line.
    assert.equal((await c.children("/calls/shared-signal")).length, 1);
    await held.unlock();
    await holder.close();
    // Warnings are emitted on a later tick: let them come.
    await new Promise((r) => setImmediate(r));
    const leaks = warnings.filter((w) => w.name === "MaxListenersExceededWarning");
    assert.deepEqual(leaks.map((w) => w.message), []);
  } finally {
    process.off("warning", onWarning);
  }
});

agentTest(A, "state: connected as connect() resolves, closed once; each state reported once", async () => {
  const states: SessionState[] = [];
  const k = await agent.connect({ onSessionState: (s) => states.push(s) });
  assert.equal(k.state, "connected");
  assert.deepEqual(states, ["connected"]);
  await k.ping(); // the agent's own connected event has come by now
  assert.deepEqual(states, ["connected"]);
  await k.close();
  await k.close();
  assert.deepEqual(states, ["connected", "closed"]);
  assert.equal(k.state, "closed");
});

agentTest(A, "close() during a resume wakes what waits for it: waitConnected, and a grant wait in flight at the drop", async () => {
  const own = new Agent({ node: "closing" });
  await own.start();
  try {
    const disconnected = deferred<void>();
    const states: SessionState[] = [];
    const k = await own.connect({
      resumable: true,
      sessionTimeoutMs: 15000,
      onSessionState: (s) => {
        states.push(s);
        if (s === "disconnected") disconnected.resolve();
      },
    });
    const holder = await own.connect();
    await holder.lock("/calls/closing");
    const granted = k.lock("/calls/closing").then(() => null, (e: unknown) => e);
    await k.sync(); // the lock request is at the agent
    await own.kill(); // not restarted: the client keeps trying
    await within(disconnected.promise, 5000, "disconnected");
    const connected = k.waitConnected().then(() => null, (e: unknown) => e);
    await k.close();
    for (const [what, p] of [["waitConnected", connected], ["the lock wait", granted]] as const) {
      const e = await within(p, 2000, `${what} to fail`);
      assert.ok(e instanceof ConnectionClosedError, `${what}: ${String(e)}`);
      assert.equal(e.code, "connection_closed", `${what}: ${e.message}`);
    }
    await within(k.done, 2000, "done");
    assert.deepEqual(states, ["connected", "disconnected", "closed"]);
  } finally {
    await own.stop();
  }
});

agentTest(A, "a waiting call with a small timeoutMs still times out (at the agent)", async () => {
  const holder = await agent.connect();
  const held = await holder.lock("/calls/t");
  await assert.rejects(c.lock("/calls/t", { timeoutMs: 50 }), TimeoutError);
  await held.unlock();
  await holder.close();
});
