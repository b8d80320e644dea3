// Benchmarks of the TypeScript client against its own dev agent. Prints
// one JSON line per benchmark:
//   {"client": "typescript", "bench": NAME, "n": N, "seconds": S, "per_sec": X}

import { Agent } from "../test/agent.js";
import { text } from "../src/index.js";

function line(bench: string, n: number, seconds: number): void {
  process.stdout.write(JSON.stringify({ client: "typescript", bench, n, seconds: Number(seconds.toFixed(4)), per_sec: Number((n / seconds).toFixed(1)) }) + "\n");
}

const agent = new Agent({ node: "bench" });
await agent.start();
try {
  // lock_cycle: lock + unlock on one path, sequentially.
  {
    const c = await agent.connect({ name: "bench-lock" });
    const path = "/bench/lock";
    for (let i = 0; i < 100; i++) await (await c.lock(path)).unlock();
    const N = 2000;
    let last = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) {
      const l = await c.lock(path);
      if (l.token <= last) throw new Error(`token ${l.token} after ${last}`);
      last = l.token;
      await l.unlock();
    }
    line("lock_cycle", N, Number(process.hrtime.bigint() - t0) / 1e9);
    await c.close();
  }

  // config_events: 20000 sets written first (pipelined, 32 in flight), then a
  // subscriber replays them from the zxid just before the first.
  {
    const N = 20000;
    const writer = await agent.connect({ name: "bench-writer" });
    const path = "/bench/cfg";
    await writer.create("/bench", "").catch(() => undefined);
    await writer.create(path, "start");
    const from = await writer.sync();
    const valueOfVersion = new Array<string>(N + 1);
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < N) {
        const i = next++;
        const v = `value-${i}`;
        const st = await writer.set(path, v);
        valueOfVersion[st.version] = v;
      }
    };
    await Promise.all(Array.from({ length: 32 }, lane));

    const reader = await agent.connect({ name: "bench-reader" });
    const t0 = process.hrtime.bigint();
    const sub = reader.subscribe(path, { fromZxid: from });
    let count = 0;
    let lastZxid = from;
    for await (const ev of sub) {
      if (ev.type !== "data_changed") throw new Error(`unexpected ${ev.type} event`);
      if (ev.zxid <= lastZxid) throw new Error(`zxid ${ev.zxid} after ${lastZxid}`);
      lastZxid = ev.zxid;
      count++;
      if (ev.stat.version !== count) throw new Error(`version ${ev.stat.version}, expected ${count}`);
      if (text(ev.data) !== valueOfVersion[count]) throw new Error(`version ${count} holds ${text(ev.data)}`);
      if (count === N) break;
    }
    line("config_events", N, Number(process.hrtime.bigint() - t0) / 1e9);
    await reader.close();
    await writer.close();
  }
} finally {
  await agent.stop();
}
