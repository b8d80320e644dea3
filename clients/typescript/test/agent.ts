// Real dev agents for tests and the benchmark: find or build the warden
// binary, start agents on their own socket and data dir, kill them.

import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

import { connect, type Client, type ConnectOptions } from "../src/index.js";

const here = path.dirname(fileURLToPath(import.meta.url));
/** The client's own directory (dist-test/test -> ../..). */
export const clientDir = path.resolve(here, "..", "..");
/** The repository root (clients/typescript -> ../..). */
export const repoRoot = path.resolve(clientDir, "..", "..");

let binPath: string | null = null;

/** The warden binary: $WARDEN_BIN, else built once per test run. */
export function wardenBin(): string {
  if (binPath) return binPath;
  const env = process.env["WARDEN_BIN"];
  if (env) {
    binPath = path.resolve(env);
    return binPath;
  }
  // Test files run in child processes of one `node --test`: share the build by its pid.
  const dir = path.join(os.tmpdir(), `warden-ts-bin-${process.ppid}`);
  const bin = path.join(dir, "warden");
  if (!fs.existsSync(bin)) {
    removeStaleBuilds();
    fs.mkdirSync(dir, { recursive: true });
    const tmp = `${bin}.${process.pid}`;
    execFileSync("go", ["build", "-o", tmp, "./cmd/warden"], { cwd: repoRoot, stdio: "inherit" });
    fs.renameSync(tmp, bin);
  }
  binPath = bin;
  return bin;
}

/** Removes binaries built for earlier test runs whose runner has exited. */
function removeStaleBuilds(): void {
  for (const name of fs.readdirSync(os.tmpdir())) {
    const m = /^warden-ts-bin-(\d+)$/.exec(name);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
    }
  }
}

export interface AgentOptions {
  node?: string;
  /** false: not a dev agent; extra makes it a server or replica of a cluster (see startServers). */
  dev?: boolean;
  sessionTimeout?: string;
  extra?: string[];
}

/** A dev agent process with its own socket and data dir. */
export class Agent {
  readonly dir: string;
  readonly socket: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly node: string;
  private opts: AgentOptions;
  private proc: ChildProcess | null = null;
  private clients: Client[] = [];

  constructor(opts: AgentOptions = {}) {
    this.dir = fs.mkdtempSync("/tmp/wts-");
    this.socket = path.join(this.dir, "w.sock");
    this.dataDir = path.join(this.dir, "data");
    this.logFile = path.join(this.dir, "agent.log");
    this.node = opts.node ?? "ts1";
    this.opts = opts;
  }

  /** Starts the agent and waits (up to 30 s) for its socket. */
  async start(): Promise<void> {
    try {
      fs.unlinkSync(this.socket); // a stale socket file left by a killed agent
    } catch {
      /* none */
    }
    const args = ["agent", ...(this.opts.dev === false ? [] : ["--dev"]), "--node", this.node, "--socket", this.socket, "--data-dir", this.dataDir, "--log-level", "warn"];
    if (this.opts.sessionTimeout) args.push("--session-timeout", this.opts.sessionTimeout);
    args.push(...(this.opts.extra ?? []));
    const log = fs.openSync(this.logFile, "a");
    const proc = spawn(wardenBin(), args, { stdio: ["ignore", log, log] });
    fs.closeSync(log);
    this.proc = proc;
    let exited: string | null = null;
    proc.once("exit", (code, sig) => (exited = `agent exited (${code ?? sig})`));
    const deadline = Date.now() + (this.opts.dev === false ? 60000 : 30000);
    while (!fs.existsSync(this.socket)) {
      if (exited) throw new Error(`${exited}\n${this.log()}`);
      if (Date.now() > deadline) throw new Error(`agent socket did not appear within 30 s\n${this.log()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** SIGKILLs the agent and waits for it to be gone. */
  async kill(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once("exit", r));
    p.kill("SIGKILL");
    await gone;
  }

  /** Connects a client (closed by stop()). */
  async connect(opts: ConnectOptions = {}): Promise<Client> {
    const c = await connect({ socket: this.socket, ...opts });
    this.clients.push(c);
    return c;
  }

  log(): string {
    try {
      return fs.readFileSync(this.logFile, "utf8");
    } catch {
      return "(no agent log)";
    }
  }

  /** Closes every client, kills the agent and removes its files. */
  async stop(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close().catch(() => undefined)));
    await this.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A cluster of n server agents (bootstrap-expect n) on loopback addresses
 * of their own, every one joining the first. Resolves once every socket is
 * open, which an agent does only once it has a leader and is caught up.
 */
export async function startServers(n: number): Promise<Agent[]> {
  const base = `127.${20 + (process.pid % 200)}.241`; // the Go harness counts 127.B.N from N = 0
  const servers: Agent[] = [];
  for (let i = 0; i < n; i++) {
    const ip = `${base}.${i + 1}`;
    const extra = ["--server", "--bootstrap-expect", String(n), "--bind", ip, "--join", `${base}.1`, "--http-port", "-2", "--lock-delay", "200ms"];
    servers.push(new Agent({ node: `server${i + 1}`, dev: false, extra }));
  }
  const started = await Promise.allSettled(servers.map((s) => s.start()));
  const failed = started.find((r) => r.status === "rejected");
  if (failed) {
    await Promise.all(servers.map((s) => s.stop()));
    throw (failed as PromiseRejectedResult).reason;
  }
  return servers;
}
