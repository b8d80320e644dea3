// Task progress and group membership, each seen from another connection.

import { before, after } from "node:test";
import * as assert from "node:assert/strict";

import { NodeExistsError, text, type Client, type MemberEvent, type TaskEvent } from "../src/index.js";
import { Agent, agentTest, within } from "./helpers.js";

let agent: Agent;
let dashboard: Client;
const A = (): Agent => agent;

before(async () => {
  agent = new Agent({ node: "progress" });
  await agent.start();
  dashboard = await agent.connect({ name: "dashboard" });
});
after(async () => {
  await agent?.stop();
});

async function nextEvent<T>(it: AsyncIterator<T>, what: string): Promise<T> {
  const r = await within(it.next(), 10000, what);
  assert.ok(!r.done, `${what}: the stream ended`);
  return r.value;
}

agentTest(A, "progress: a report is seen by a watcher; closing the reporter removes the task", async () => {
  const worker = await agent.connect({ name: "worker" });
  const watch = dashboard.watchProgress("nightly");
  await watch.ready;
  const it = watch[Symbol.asyncIterator]();
  const task = worker.task("nightly", "compile");
  await task.report(50, "half way");
  let ev: TaskEvent = await nextEvent(it, "the first report");
  assert.equal(ev.task.task, "compile");
  assert.equal(ev.task.percent, 50);
  assert.equal(ev.task.message, "half way");
  assert.equal(ev.task.state, "running");
  assert.equal(ev.removed, false);
  await task.report(75.5, "three quarters", { state: "uploading", data: "s3" });
  // Reports may be coalesced: wait for the last one.
  do ev = await nextEvent(it, "the second report");
  while (ev.task.percent !== 75.5);
  assert.equal(ev.task.state, "uploading");
  assert.equal(text(ev.task.data), "s3");
  const tasks = await dashboard.progress("nightly");
  assert.equal(tasks.length, 1);
  assert.equal(tasks[0]!.percent, 75.5);

  await worker.closeWait();
  ev = await nextEvent(it, "the removal");
  assert.equal(ev.removed, true);
  assert.equal(ev.task.task, "compile");
  assert.deepEqual(await dashboard.progress("nightly"), []);
  await it.return!();
});

agentTest(A, "progress: a session's read right after its report sees that report (the agent writes it first)", async () => {
  const worker = await agent.connect({ name: "own-reader" });
  const task = worker.task("own", "t");
  for (let i = 0; i <= 100; i++) {
    await task.report(i, `report ${i}`);
    const tasks = await worker.progress("own");
    assert.equal(tasks.length, 1);
    assert.equal(tasks[0]!.message, `report ${i}`, `progress right after report ${i}`);
    assert.equal(tasks[0]!.percent, i);
  }
  await worker.close();
});

agentTest(A, "groups: two members listed; a watch sees one leave when its client closes", async () => {
  const w1 = await agent.connect({ name: "w1" });
  const w2 = await agent.connect({ name: "w2" });
  await w1.join("workers", "w1", "10.0.0.1");
  await w2.group("workers").join("w2", "10.0.0.2");
  await assert.rejects(dashboard.join("workers", "w1"), NodeExistsError);
  const members = await dashboard.groupMembers("workers");
  assert.deepEqual(
    members.map((m) => [m.member, text(m.data)]),
    [
      ["w1", "10.0.0.1"],
      ["w2", "10.0.0.2"],
    ],
  );
  const seen = new Map<string, string>();
  const it = dashboard.watchGroup("workers")[Symbol.asyncIterator]();
  let ev: MemberEvent = await nextEvent(it, "member 1");
  seen.set(ev.member.member, text(ev.member.data));
  ev = await nextEvent(it, "member 2");
  seen.set(ev.member.member, text(ev.member.data));
  assert.deepEqual([...seen.keys()].sort(), ["w1", "w2"]);
  await w2.close();
  ev = await nextEvent(it, "the leave");
  assert.equal(ev.left, true);
  assert.equal(ev.member.member, "w2");
  assert.deepEqual(
    (await dashboard.group("workers").members()).map((m) => m.member),
    ["w1"],
  );
  const m = await w1.group("workers").join("w1", "10.0.0.9");
  ev = await nextEvent(it, "the data change");
  assert.equal(ev.left, false);
  assert.equal(text(ev.member.data), "10.0.0.9");
  await m.leave();
  ev = await nextEvent(it, "the explicit leave");
  assert.equal(ev.left, true);
  await it.return!();
});
