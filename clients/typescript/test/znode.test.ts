// Raw znode ops, multi, watches, subscribe, and the smaller recipes, against a real agent.

import { before, after } from "node:test";
import * as assert from "node:assert/strict";

import {
  BadArgumentsError,
  BadVersionError,
  NoNodeError,
  NodeExistsError,
  NotEmptyError,
  TimeoutError,
  op,
  text,
  type ChildrenResult,
  type Client,
  type Stat,
  type Watch,
} from "../src/index.js";
import { Agent, agentTest, within } from "./helpers.js";

let agent: Agent;
let c: Client;
const A = (): Agent => agent;

before(async () => {
  agent = new Agent({ node: "znode" });
  await agent.start();
  c = await agent.connect({ name: "znode-test" });
});
after(async () => {
  await agent?.stop();
});

agentTest(A, "raw ops: create, get, set with version, exists, children, delete", async () => {
  assert.equal(await c.create("/app", "root"), "/app");
  assert.equal(await c.create("/app/config", new Uint8Array([1, 2, 3])), "/app/config");
  const g = await c.get("/app/config");
  assert.deepEqual([...g.data], [1, 2, 3]);
  assert.equal(g.stat.version, 0);
  assert.equal(g.stat.dataLength, 3);
  const st = await c.set("/app/config", "v1", { version: 0 });
  assert.equal(st.version, 1);
  assert.equal(text((await c.get("/app/config")).data), "v1");
  await assert.rejects(c.set("/app/config", "v2", { version: 0 }), BadVersionError);
  await assert.rejects(c.create("/app/config"), NodeExistsError);
  await assert.rejects(c.get("/missing"), NoNodeError);
  const seq = await c.create("/app/w-", "x", { ephemeral: true, sequential: true });
  assert.match(seq, /^\/app\/w-\d{10}$/);
  const ex = await c.exists(seq);
  assert.ok(ex);
  assert.equal(ex.ephemeralOwner, c.sessionId);
  assert.equal(await c.exists("/nope"), null);
  assert.deepEqual(await c.children("/app"), ["config", seq.slice(5)]);
  await assert.rejects(c.delete("/app"), NotEmptyError);
  await c.delete(seq);
  await c.delete("/app/config", { version: 1 });
  assert.deepEqual(await c.children("/app"), []);
  const empty = await c.get("/app");
  assert.equal(text(empty.data), "root");
  assert.ok((await c.sync()) > 0);
  await c.ping();
});

agentTest(A, "multi: all or nothing, with the failing op's index", async () => {
  await c.create("/m", "");
  const rs = await c.multi([op.check("/m", 0), op.create("/m/a", "x"), op.set("/m", "y", 0), op.create("/m/s-", "", { sequential: true })]);
  assert.equal(rs.length, 4);
  assert.equal(rs[1]!.path, "/m/a");
  assert.equal(rs[2]!.stat.version, 1);
  assert.match(rs[3]!.path!, /^\/m\/s-\d{10}$/);
  const err = await c.multi([op.create("/m/b"), op.create("/m/a")]).catch((e) => e);
  assert.ok(err instanceof NodeExistsError);
  assert.equal(err.index, 1);
  assert.equal(await c.exists("/m/b"), null, "nothing applied");
});

agentTest(A, "one-shot watches fire once with the change", async () => {
  await c.create("/w", "1");
  const g = await c.get("/w", { watch: true });
  assert.equal(text(g.data), "1");
  const ex = await c.exists("/w/new", { watch: true });
  assert.equal(ex.stat, null);
  const ch = await c.children("/w", { watch: true });
  assert.deepEqual(ch.children, []);
  await c.set("/w", "2");
  const e1 = await within(g.watch.wait(), 5000, "get watch");
  assert.equal(e1.type, "data_changed");
  assert.equal(e1.path, "/w");
  await c.create("/w/new");
  assert.equal((await within(ex.watch.wait(), 5000, "exists watch")).type, "created");
  assert.equal((await within(ch.watch.wait(), 5000, "children watch")).type, "children_changed");
  // A watch that is stopped never fires, and the agent no longer has it.
  const g2 = await c.get("/w", { watch: true });
  await g2.watch.stop();
  await c.set("/w", "3");
  await c.sync();
  await assert.rejects(g2.watch.wait(), (e: Error) => (e as { code?: string }).code === "watch_stopped");
  await assert.rejects(c.request("unsubscribe", { sub: g2.watch.sub }), (e: Error) => (e as { code?: string }).code === "bad_arguments");
});

agentTest(A, "watch known only at run time: the result type is the union, and matches what comes back", async () => {
  await c.create("/wt", "");
  for (const flag of [false, true]) {
    const ex: Stat | null | { stat: Stat | null; watch: Watch } = await c.exists("/wt", { watch: flag });
    // @ts-expect-error with a boolean watch, the result may carry a watch
    const narrow: Stat | null = await c.exists("/wt", { watch: flag });
    void narrow;
    const ch: string[] | (ChildrenResult & { watch: Watch }) = await c.children("/wt", { watch: flag });
    // @ts-expect-error with a boolean watch, the result may be the names only
    const wide: ChildrenResult & { watch: Watch } = await c.children("/wt", { watch: flag });
    void wide;
    const g = await c.get("/wt", { watch: flag });
    assert.equal(ex !== null && "watch" in ex, flag);
    assert.equal(!Array.isArray(ch), flag);
    assert.equal(g.watch !== undefined, flag);
    if (ex !== null && "watch" in ex) await ex.watch.stop();
    if (!Array.isArray(ch)) await ch.watch.stop();
    await g.watch?.stop();
  }
});

agentTest(A, "subscribe: resync, synced, then changes in order; break unsubscribes", async () => {
  await c.create("/sub", "a");
  const other = await agent.connect();
  const sub = c.subscribe("/sub", { recursive: true });
  await sub.ready;
  const seen: string[] = [];
  let n = 0;
  for await (const ev of sub) {
    // (deleted events carry the node's last data, though the protocol page says none: not checked)
    seen.push(ev.type === "deleted" ? `${ev.type}:${ev.path}` : `${ev.type}:${ev.path}:${text(ev.data)}`);
    if (ev.type === "synced") {
      await other.set("/sub", "b");
      await other.create("/sub/kid", "k");
      await other.delete("/sub/kid");
    }
    if (ev.type !== "resync" && ev.type !== "synced") n++;
    if (n === 3) break;
  }
  assert.deepEqual(seen, ["resync:/sub:a", "synced:/sub:", "data_changed:/sub:b", "created:/sub/kid:k", "deleted:/sub/kid"]);
  assert.ok(sub.lastZxid > 0);
  // Broken out of: the agent no longer has the stream.
  await assert.rejects(c.request("unsubscribe", { sub: sub.sub }), (e: Error) => (e as { code?: string }).code === "bad_arguments");
});

agentTest(A, "status and members describe the dev agent", async () => {
  const s = await c.status();
  assert.equal(s.node, "znode");
  assert.equal(s.role, "server");
  assert.equal(s.state, "Leader");
  assert.ok(s.sessions >= 1);
  const ms = await c.members();
  assert.equal(ms.length, 1);
  assert.equal(ms[0]!.name, "znode");
  assert.equal(ms[0]!.suffrage, "voter");
});

agentTest(A, "counter, queue, barrier, double barrier, semaphore, read-write lock", async () => {
  const other = await agent.connect();
  // Counter.
  const k = c.counter("/cnt/a");
  assert.equal(await k.get(), 0);
  assert.equal(await k.add(5), 5);
  assert.equal(await k.add(-7), -2);
  assert.deepEqual(await k.compareAndSet(-2, 100), { swapped: true, value: 100 });
  assert.deepEqual(await k.compareAndSet(1, 2), { swapped: false, value: 100 });
  // Queue: FIFO, a take waits for a put.
  const q = c.queue("/q/jobs");
  await q.put("one");
  await q.put(new Uint8Array([2]));
  assert.equal(text((await q.take()).data), "one");
  assert.deepEqual([...(await other.queue("/q/jobs").take()).data], [2]);
  assert.equal(await q.tryTake(), null, "an empty queue: null");
  const waiting = q.take({ timeoutMs: 10000 });
  await other.queue("/q/jobs").put("late");
  assert.equal(text((await within(waiting, 10000, "take")).data), "late");
  // Barrier.
  const b = c.barrier("/bar/x");
  await b.set();
  await assert.rejects(other.barrier("/bar/x").wait({ timeoutMs: 100 }), TimeoutError);
  const released = other.barrier("/bar/x").wait();
  await b.remove();
  await within(released, 5000, "barrier release");
  // Double barrier of two.
  const e1 = c.doubleBarrier("/dbar", 2, "a").enter();
  const e2 = other.doubleBarrier("/dbar", 2, "b").enter();
  await within(Promise.all([e1, e2]), 10000, "enter");
  await within(Promise.all([c.doubleBarrier("/dbar", 2, "a").leave(), other.doubleBarrier("/dbar", 2, "b").leave()]), 10000, "leave");
  // Semaphore of one.
  const sem = c.semaphore("/sem", 1);
  const l1 = await sem.acquire();
  assert.equal(await other.semaphore("/sem", 1).tryAcquire(), null, "no lease free: null");
  await l1.release();
  const l2 = await other.semaphore("/sem", 1).tryAcquire();
  assert.ok(l2 && l2.token > l1.token);
  await l2.release();
  // Read-write lock: two readers share it, a writer waits.
  const r1 = await c.readLock("/rw");
  const r2 = await other.readLock("/rw");
  assert.equal(await c.tryWriteLock("/rw"), null, "readers hold it: null");
  await r1.unlock();
  await r2.unlock();
  const w = await c.tryWriteLock("/rw");
  assert.ok(w, "free: granted");
  assert.equal(await other.tryReadLock("/rw"), null, "a writer holds it: null");
  await w.unlock();
});

agentTest(A, "a TTL node shows its ttl in stat and is deleted once it has passed", async () => {
  const path = await c.create("/ttl-", "x", { sequential: true, ttl: 1000 });
  const g = await c.get(path, { watch: true });
  assert.equal(g.stat.ttl, 1000);
  assert.equal((await c.exists("/"))!.ttl, 0);
  const ev = await within(g.watch.wait(), 15_000, "the TTL node's deletion");
  assert.equal(ev.type, "deleted");
  assert.ok(Date.now() >= g.stat.mtime + 1000, "deleted before its TTL passed");
  assert.equal(await c.exists(path), null);
  const [r] = await c.multi([op.create("/ttl-multi", "", { ttl: 90_000.5 })]);
  assert.equal(r!.stat.ttl, 90_001);
  for (const ttl of [0, -1, NaN, Infinity, 2 ** 40]) {
    await assert.rejects(c.create("/ttl-bad", "", { ttl }), BadArgumentsError, `ttl ${ttl}`);
  }
  await assert.rejects(c.create("/ttl-bad", "", { ephemeral: true, ttl: 1000 }), BadArgumentsError);
  assert.equal(await c.exists("/ttl-bad"), null);
});
