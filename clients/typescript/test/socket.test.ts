// Where the client looks for the agent, and its refusal of a socket that
// belongs to another user (someone posing as the agent).

import { test, before, after } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import { once } from "node:events";
import * as path from "node:path";

import {
  ConnectionClosedError,
  SocketOwnerError,
  SOCKET_ENV,
  SOCKET_OWNER_ENV,
  connect,
  defaultSocketPath,
  socketPath,
} from "../src/index.js";
import { defaultSocketPathFor } from "../src/socket.js";
import { Agent, agentTest, deferred, within } from "./helpers.js";

const OTHER_UID = 65534;
const euid = process.geteuid!();

/**
 * Makes the socket at p belong to someone the client does not expect: as
 * root, gives it to uid 65534; as another user, tells the client to
 * expect another uid. Returns [owner, expected].
 */
function disown(p: string): [number, number] {
  if (euid === 0) {
    fs.chownSync(p, OTHER_UID, OTHER_UID);
    delete process.env[SOCKET_OWNER_ENV];
    return [OTHER_UID, 0];
  }
  process.env[SOCKET_OWNER_ENV] = String(euid + 1);
  return [euid, euid + 1];
}

let agent: Agent;
const A = (): Agent => agent;

before(async () => {
  agent = new Agent({ node: "socket" });
  await agent.start();
});
after(async () => {
  delete process.env[SOCKET_OWNER_ENV];
  await agent?.stop();
});

test("the default socket is in a directory of the agent's user", () => {
  assert.equal(defaultSocketPathFor(0, undefined), "/run/warden/warden.sock");
  assert.equal(defaultSocketPathFor(0, "/run/user/0"), "/run/warden/warden.sock");
  assert.equal(defaultSocketPathFor(1000, "/run/user/1000"), "/run/user/1000/warden/warden.sock");
  assert.equal(defaultSocketPathFor(1000, undefined), "/tmp/warden-1000/warden.sock");
  assert.equal(defaultSocketPathFor(1000, "relative"), "/tmp/warden-1000/warden.sock");
  const saved = process.env[SOCKET_ENV];
  try {
    delete process.env[SOCKET_ENV];
    assert.equal(socketPath(), defaultSocketPath());
    process.env[SOCKET_ENV] = "/x/env.sock";
    assert.equal(socketPath(), "/x/env.sock");
    assert.equal(socketPath("/x/explicit.sock"), "/x/explicit.sock");
  } finally {
    if (saved === undefined) delete process.env[SOCKET_ENV];
    else process.env[SOCKET_ENV] = saved;
  }
});

test("connect refuses a socket of another user and never reaches it", async () => {
  const dir = fs.mkdtempSync("/tmp/wts-");
  const p = path.join(dir, "s.sock");
  // The impostor records the first bytes of each connection it accepts.
  const firstBytes: string[] = [];
  const first = deferred<void>();
  const server = net.createServer((s) => {
    s.once("data", (b) => {
      firstBytes.push(b.toString());
      s.destroy();
      first.resolve();
    });
    s.once("end", () => {
      firstBytes.push("");
      first.resolve();
    });
  });
  server.listen(p);
  await once(server, "listening");
  try {
    const [owner, expected] = disown(p);
    const e = await connect({ socket: p, timeoutMs: 5000 }).then(
      () => assert.fail("connected to a socket of another user"),
      (err: unknown) => err,
    );
    assert.ok(e instanceof SocketOwnerError, `${String(e)} is not a SocketOwnerError`);
    assert.ok(e instanceof ConnectionClosedError);
    assert.equal(e.code, "socket_owner");
    assert.deepEqual([e.path, e.owner, e.expected], [p, owner, expected]);
    assert.match(e.message, new RegExp(`${p}.*uid ${owner}.*${SOCKET_OWNER_ENV}`));
    // Nothing connected: the first connection the impostor sees is a
    // marker made now.
    const marker = net.createConnection({ path: p });
    marker.write("M");
    await within(first.promise, 10000, "the marker connection");
    marker.destroy();
    assert.deepEqual(firstBytes, ["M"]);
  } finally {
    delete process.env[SOCKET_OWNER_ENV];
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

agentTest(A, "the owner check with a real agent, and WARDEN_SOCKET_OWNER", async () => {
  try {
    const [owner] = disown(agent.socket);
    await assert.rejects(connect({ socket: agent.socket, timeoutMs: 5000 }), SocketOwnerError);
    // Told which user the agent runs as, the client connects.
    process.env[SOCKET_OWNER_ENV] = String(owner);
    const c = await agent.connect({ noSession: true });
    assert.equal((await c.status()).node, "socket");
    process.env[SOCKET_OWNER_ENV] = "no-such-user-here";
    await assert.rejects(connect({ socket: agent.socket, timeoutMs: 5000 }), /neither a uid nor a user/);
  } finally {
    delete process.env[SOCKET_OWNER_ENV];
  }
});
