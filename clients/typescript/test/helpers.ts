// Test support: agents (see agent.ts) and small waiting helpers.

import { test, type TestContext } from "node:test";

import type { Agent } from "./agent.js";

export { Agent, startServers, wardenBin, repoRoot, clientDir, type AgentOptions } from "./agent.js";

/** A test that prints the agent's log when it fails. */
export function agentTest(agent: () => Agent, name: string, fn: (t: TestContext) => Promise<void>, timeoutMs = 60000): void {
  test(name, { timeout: timeoutMs }, async (t) => {
    try {
      await fn(t);
    } catch (e) {
      process.stderr.write(`--- agent log for "${name}" ---\n${agent().log()}\n--- end of agent log ---\n`);
      throw e;
    }
  });
}


/** Rejects p if it does not settle within ms. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** A promise with its resolve exposed. */
export function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
