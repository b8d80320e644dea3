// Takes a lock N times through the TypeScript client; while holding it,
// appends a start and an end line (with the fencing token) to a shared log.
import fs from "node:fs";
import readline from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "../typescript/dist/index.js";

const [socket, path, log, count, who] = process.argv.slice(2);
const fd = fs.openSync(log, "a");
const client = await connect({ socket });
console.log("ready");
const lines = readline.createInterface({ input: process.stdin });
await new Promise((resolve) => lines.once("line", resolve)); // the test starts every app at once
lines.close();
for (let i = 0; i < Number(count); i++) {
  const lease = await client.lock(path);
  fs.writeSync(fd, `S ${who} ${lease.token}\n`);
  await sleep(2); // the work the lock protects
  fs.writeSync(fd, `E ${who} ${lease.token}\n`);
  await lease.unlock();
}
await client.close();
console.log("done");
