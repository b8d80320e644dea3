// Each error code that a real agent can be made to return arrives as its own class.

import { before, after } from "node:test";
import * as assert from "node:assert/strict";

import {
  BadArgumentsError,
  BadVersionError,
  CanceledError,
  ConnectionClosedError,
  NoChildrenForEphemeralsError,
  NoNodeError,
  NodeExistsError,
  NoSessionError,
  NotEmptyError,
  NotHeldError,
  SessionExpiredError,
  TimeoutError,
  TooLargeError,
  UnknownOpError,
  UnsupportedVersionError,
  WardenError,
  connect,
  type Client,
} from "../src/index.js";
import { fromWire } from "../src/errors.js";
import { requests } from "../src/requests.js";
import { Agent, agentTest } from "./helpers.js";

let agent: Agent;
let c: Client;
let other: Client;
const A = (): Agent => agent;

before(async () => {
  agent = new Agent({ node: "errors" });
  await agent.start();
  c = await agent.connect({ name: "errors" });
  other = await agent.connect({ name: "other" });
});
after(async () => {
  await agent?.stop();
});

async function expectCode<T extends WardenError>(p: Promise<unknown>, cls: new (...a: any[]) => T, code: string): Promise<T> {
  const e = await p.then(
    () => assert.fail(`expected ${cls.name}`),
    (err: unknown) => err,
  );
  assert.ok(e instanceof cls, `${(e as Error)?.constructor?.name}: ${(e as Error)?.message} is not ${cls.name}`);
  assert.ok(e instanceof WardenError);
  assert.equal(e.code, code);
  assert.ok(e.message.length > 0);
  return e;
}

agentTest(A, "errors: znode codes", async () => {
  await expectCode(c.get("/nope"), NoNodeError, "no_node");
  await c.create("/e", "");
  await expectCode(c.create("/e"), NodeExistsError, "node_exists");
  await expectCode(c.set("/e", "x", { version: 5 }), BadVersionError, "bad_version");
  await c.create("/e/kid");
  await expectCode(c.delete("/e"), NotEmptyError, "not_empty");
  await c.create("/eph", "", { ephemeral: true });
  await expectCode(c.create("/eph/kid"), NoChildrenForEphemeralsError, "no_children_for_ephemerals");
  await expectCode(c.get("relative/path"), BadArgumentsError, "bad_arguments");
  await expectCode(c.create("/e/big", new Uint8Array(1024 * 1024 + 1)), TooLargeError, "too_large");
  const e = await expectCode(c.request("frobnicate"), UnknownOpError, "unknown_op");
  assert.match(e.message, /frobnicate/);
});

agentTest(A, "errors: lock codes (not_held, timeout, canceled)", async () => {
  const gone = await c.lock("/locks/none");
  await c.unlock(gone.key);
  await expectCode(c.unlock(gone.key), NotHeldError, "not_held");
  const held = await other.lock("/locks/err");
  assert.equal(await c.tryLock("/locks/err"), null, "a try that fails is null, not a timeout");
  await expectCode(c.lock("/locks/err", { timeoutMs: 50 }), TimeoutError, "timeout");
  // canceled: the agent's own reply to a cancelled lock, as the client receives it.
  const ac = new AbortController();
  const out = c._roundTrip(requests.lock("/locks/err", -1), { signal: ac.signal }, { awaitCancel: true });
  await c.sync(); // the lock request is at the agent
  ac.abort();
  const r = await out;
  assert.ok(r.aborted !== undefined);
  assert.ok(r.msg.error);
  const ce = fromWire(r.msg.error);
  assert.ok(ce instanceof CanceledError);
  assert.equal(ce.code, "canceled");
  await held.unlock();
});

agentTest(A, "errors: session and connection codes", async () => {
  // unsupported_version: hello with protocol 99.
  const uv = await expectCode(connect({ socket: agent.socket, protocol: 99 }), UnsupportedVersionError, "unsupported_version");
  assert.match(uv.message, /protocol version 99/);
  // session_expired: resuming with a wrong secret.
  const r = await agent.connect({ resumable: true });
  const token = r.resumeToken!;
  assert.equal(token.secret.length, 16);
  const wrong = new Uint8Array(token.secret);
  wrong[0] = wrong[0]! ^ 0xff;
  await expectCode(connect({ socket: agent.socket, resume: { sessionId: token.sessionId, secret: wrong } }), SessionExpiredError, "session_expired");
  // no_session: a write on a connection without a session.
  const ro = await agent.connect({ noSession: true });
  assert.equal(ro.sessionId, 0);
  assert.deepEqual(await ro.children("/"), (await c.children("/")));
  await expectCode(ro.join("g", "m"), NoSessionError, "no_session");
  // A closed client fails at once with ConnectionClosedError.
  await ro.close();
  await expectCode(ro.get("/"), ConnectionClosedError, "connection_closed");
  // A connect to nowhere is a clear ConnectionClosedError.
  await expectCode(connect({ socket: `${agent.dir}/nobody.sock` }), ConnectionClosedError, "connection_closed");
});
