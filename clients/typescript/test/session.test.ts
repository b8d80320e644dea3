// Session states: connected, lost (a missed heartbeat), and the end of the connection.

import { before, after } from "node:test";
import * as assert from "node:assert/strict";

import { ConnectionClosedError, SessionLostError, type SessionState } from "../src/index.js";
import { Agent, agentTest, deferred, within } from "./helpers.js";

let agent: Agent;
const A = (): Agent => agent;

before(async () => {
  agent = new Agent({ node: "session" });
  await agent.start();
});
after(async () => {
  await agent?.stop();
});

agentTest(A, "session: the callback hears connected; close() reports closed and fails later calls", async () => {
  const states: Array<[SessionState, number]> = [];
  const connected = deferred<void>();
  const c = await agent.connect({
    onSessionState: (s, info) => {
      states.push([s, info.sessionId]);
      if (s === "connected") connected.resolve();
    },
  });
  await within(connected.promise, 5000, "connected");
  assert.deepEqual(states[0], ["connected", c.sessionId]);
  assert.equal(c.state, "connected");
  assert.ok(c.sessionTimeoutMs > 0);
  assert.equal(c.agent, "session");
  await c.close();
  assert.equal(c.state, "closed");
  await assert.rejects(c.ping(), ConnectionClosedError);
});

agentTest(A, "session: a missed heartbeat makes the agent report lost; pending and later calls fail with SessionLostError", async () => {
  const holder = await agent.connect();
  const held = await holder.lock("/locks/hb");
  const lost = deferred<void>();
  const states: SessionState[] = [];
  const c = await agent.connect({
    heartbeat: true,
    sessionTimeoutMs: 500,
    heartbeatIntervalMs: 60000, // never in time: the agent ends the session
    onSessionState: (s) => {
      states.push(s);
      if (s === "lost") lost.resolve();
    },
  });
  const waiting = c.lock("/locks/hb").then(() => null, (e: unknown) => e);
  await within(lost.promise, 10000, "lost");
  assert.ok((await within(waiting, 5000, "the pending lock to fail")) instanceof SessionLostError);
  await assert.rejects(c.ping(), SessionLostError);
  await within(c.done, 5000, "the client to end");
  // (a dev agent may also report suspended/connected under load before the end)
  assert.equal(states[0], "connected");
  assert.equal(states.at(-1), "lost");
  assert.equal(states.filter((s) => s === "lost").length, 1, "lost reported once (event and connection end)");
  assert.ok(!states.includes("closed") && !states.includes("disconnected"), states.join());
  await held.unlock();
});

agentTest(A, "session: a heartbeat session that pings outlives several timeouts", async () => {
  const states: SessionState[] = [];
  // 1.5 s: long enough that a busy machine does not delay a ping (one
  // every 500 ms) past the timeout.
  const c = await agent.connect({ heartbeat: true, sessionTimeoutMs: 1500, onSessionState: (s) => states.push(s) });
  // Two timeouts of silence from the app: only the client's pings keep it.
  await new Promise((r) => setTimeout(r, 3200));
  await c.ping();
  assert.equal(states[0], "connected");
  assert.ok(!states.includes("lost") && !states.includes("closed"), states.join());
  assert.equal(c.error, null);
  await c.close();
});

agentTest(A, "session: when the agent dies, a non-resumable client reports lost; pending and later calls fail with SessionLostError", async () => {
  const own = new Agent({ node: "dies" });
  await own.start();
  try {
    const holder = await own.connect();
    await holder.lock("/locks/x");
    const lost = deferred<void>();
    const states: string[] = [];
    const c = await own.connect({ onSessionState: (s) => { states.push(s); if (s === "lost") lost.resolve(); } });
    const waiting = c.lock("/locks/x").then(() => null, (e: unknown) => e);
    await c.sync();
    await own.kill();
    assert.ok((await within(waiting, 5000, "the pending lock to fail")) instanceof SessionLostError);
    await within(lost.promise, 5000, "lost");
    await within(c.done, 5000, "the client to end");
    assert.deepEqual(states, ["connected", "lost"]);
    await assert.rejects(c.ping(), SessionLostError);
  } finally {
    await own.stop();
  }
});

agentTest(A, "session: sessions() lists this client's session with its pid and uid, also to a connection without a session", async () => {
  const before = Date.now();
  const c = await agent.connect({ name: "ts-sessions", sessionTimeoutMs: 7000, heartbeat: true });
  const ro = await agent.connect({ noSession: true });
  for (const lister of [c, ro]) {
    const sessions = await lister.sessions();
    assert.deepEqual(
      sessions.map((s) => s.id),
      sessions.map((s) => s.id).sort((a, b) => a - b),
      "sorted by id",
    );
    const mine = sessions.filter((s) => s.id === c.sessionId);
    assert.equal(mine.length, 1, JSON.stringify(sessions));
    const s = mine[0]!;
    assert.equal(s.pid, process.pid);
    assert.equal(s.uid, process.geteuid!());
    assert.equal(s.gid, process.getegid!());
    assert.equal(s.agent, "session");
    assert.equal(s.client, "ts-sessions");
    assert.equal(s.timeoutMs, 7000);
    assert.equal(s.heartbeat, true);
    assert.equal(s.resumable, false);
    assert.ok(s.created >= before - 5000 && s.created <= Date.now() + 5000, String(s.created));
  }
  // Closing the client ends its (not resumable) session.
  await c.close();
  const deadline = Date.now() + 10000;
  while ((await ro.sessions()).some((s) => s.id === c.sessionId)) {
    assert.ok(Date.now() < deadline, "the closed session is still listed");
    await new Promise((r) => setTimeout(r, 20));
  }
  await ro.close();
});
