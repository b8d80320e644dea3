// Elections: failover when the leader's process is killed, and the
// election object's proclaim, leader, observe and resign.

import { before, after } from "node:test";
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as readline from "node:readline";

import { text, TimeoutError, type Client, type Leader } from "../src/index.js";
import { Agent, agentTest, within } from "./helpers.js";

let agent: Agent;
let c: Client;
let watcher: Client;
const A = (): Agent => agent;
const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "candidate.js");

before(async () => {
  agent = new Agent({ node: "elect" });
  await agent.start();
  c = await agent.connect({ name: "candidate-b" });
  watcher = await agent.connect({ name: "watcher" });
});
after(async () => {
  await agent?.stop();
});

agentTest(A, "election: the waiting candidate is elected when the leader's process is SIGKILLed", async () => {
  const epath = "/warden/elections/failover";
  const child = spawn(process.execPath, [fixture, agent.socket, epath, "child-value"], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const lines = readline.createInterface({ input: child.stdout! });
    const line = await within(
      new Promise<string>((resolve, reject) => {
        lines.once("line", resolve);
        child.once("exit", (code) => reject(new Error(`candidate exited with ${code}`)));
      }),
      20000,
      "the child to be elected",
    );
    const m = /^elected (\d+)$/.exec(line);
    assert.ok(m, `child said ${JSON.stringify(line)}`);
    const childToken = Number(m[1]);

    const obs = watcher.election(epath).observe();
    await obs.ready;
    const first = await within(obs.next(), 5000, "the first observed leader");
    assert.equal(text(first!.value), "child-value");
    assert.equal(first!.token, childToken);

    const mine = c.election(epath);
    let elected = false;
    const campaign = mine.campaign("parent-value").then((l) => {
      elected = true;
      return l;
    });
    // While the child leads, our candidate waits.
    const now = await watcher.election(epath).leader();
    assert.equal(now?.token, childToken);
    assert.equal(elected, false);

    child.kill("SIGKILL");
    const lead = await within(campaign, 10000, "the parent to be elected after the SIGKILL");
    assert.ok(lead.token > childToken, `token ${lead.token} after ${childToken}`);
    const next = (await within(obs.next(), 5000, "the observer to see the new leader")) as Leader;
    assert.equal(text(next.value), "parent-value");
    assert.equal(next.token, lead.token);

    // Proclaim changes the value observers see; resign leaves nobody leading.
    await mine.proclaim("parent-v2");
    const p = await within(obs.next(), 5000, "proclaim");
    assert.equal(text(p!.value), "parent-v2");
    assert.equal(p!.token, lead.token);
    assert.equal(text((await watcher.election(epath).leader())!.value), "parent-v2");
    await mine.resign();
    assert.equal(await within(obs.next(), 5000, "resign"), null);
    assert.equal(await watcher.election(epath).leader(), null);
    await obs.close();
  } finally {
    child.kill("SIGKILL");
  }
});

agentTest(A, "election: a try while someone leads times out; aborting withdraws the candidacy", async () => {
  const epath = "/warden/elections/try";
  const e1 = c.election(epath);
  const l1 = await e1.campaign("one");
  await assert.rejects(watcher.election(epath).campaign("two", { timeoutMs: 0 }), TimeoutError);
  const ac = new AbortController();
  const kids = await c.children(epath, { watch: true });
  assert.equal(kids.children.length, 1);
  const waiting = watcher.election(epath).campaign("three", { signal: ac.signal });
  // Abort only once the candidacy is in the tree.
  await within(kids.watch.wait(), 5000, "the waiting candidate's node");
  assert.equal((await c.children(epath)).length, 2);
  ac.abort();
  await assert.rejects(waiting, (e: Error) => e.name === "AbortError");
  // The aborted candidacy is withdrawn: only the leader's node is left.
  assert.deepEqual(await c.children(epath), [l1.key.slice(epath.length + 1)]);
  await l1.resign();
  assert.equal(await c.election(epath).leader(), null);
  assert.deepEqual(await c.children(epath).catch(() => []), []);
});
