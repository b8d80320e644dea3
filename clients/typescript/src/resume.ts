// The automatic resume of a resumable session whose connection dropped:
// reconnect within the session timeout, take the session up again, and
// remove what the grant requests in flight at the drop left queued.

import {
  BadArgumentsError,
  ConnectionClosedError,
  NoNodeError,
  SessionExpiredError,
  SessionLostError,
  UnsupportedVersionError,
  WardenError,
  fromWire,
} from "./errors.js";
import type { Conn } from "./conn.js";
import { requests } from "./requests.js";
import { parseChildren, parseStat } from "./types.js";
import type { Fields, Request } from "./wire.js";

/** What the resume needs from the client. */
export interface ResumeHost {
  /** The session's id and secret. */
  token(): { sessionId: number; secret: Uint8Array | undefined };
  /** The session timeout, in ms: how long the resume may take. */
  timeoutMs(): number;
  /** Why the client ended, once it has (close() during the resume). */
  terminal(): WardenError | null;
  /**
   * Dials the agent and sends hello. The connection is not the client's
   * yet (but close() ends it): adopt or abandon it.
   */
  connect(hello: Request, signal: AbortSignal): Promise<Conn>;
  /** Makes conn the client's connection. */
  adopt(conn: Conn): void;
  /** Closes a connection that was not adopted. */
  abandon(conn: Conn): void;
  /** The session could not be resumed: the client ends with err. */
  lose(err: SessionLostError): void;
}

/**
 * The grant requests that queue a contender node at the agent. When a
 * resumable session's connection drops while one waits, the node stays
 * (the session lives on): the client removes it after the resume.
 */
const RECLAIM_OPS: ReadonlySet<string> = new Set(["lock", "read_lock", "write_lock", "semaphore_acquire", "campaign"]);

/** A grant request in flight (see RECLAIM_OPS). */
interface GrantRequest {
  op: string;
  path: string;
}

/** PATH/name, for a PATH that may be the root. */
function childPath(path: string, name: string): string {
  return path.endsWith("/") ? `${path}${name}` : `${path}/${name}`;
}

/** Resumes one client's session each time its connection drops. */
export class Resumer {
  /** The keys of the grants handed to the app and not given back (lock, semaphore and election leases). */
  readonly holds = new Set<string>();
  /** The grant requests that were in flight when a connection dropped: their nodes are removed after the resume. */
  readonly #toReclaim = new Map<string, GrantRequest>();
  readonly #host: ResumeHost;
  #running: Promise<void> | null = null;
  #resumes = 0;

  constructor(host: ResumeHost) {
    this.#host = host;
  }

  /** The resume in progress, if any: resolves once it has ended, either way. */
  get running(): Promise<void> | null {
    return this.#running;
  }

  /** How many times the session was resumed. */
  get resumes(): number {
    return this.#resumes;
  }

  /** The connection dropped: remembers its grant requests in flight, and starts the resume. */
  dropped(conn: Conn): void {
    for (const req of conn.inFlight()) {
      if (RECLAIM_OPS.has(req.op) && typeof req.path === "string") {
        this.#toReclaim.set(`${req.op}\0${req.path}`, { op: req.op, path: req.path });
      }
    }
    this.#running = this.#run().finally(() => {
      this.#running = null;
    });
  }

  async #run(): Promise<void> {
    const host = this.#host;
    const deadline = Date.now() + host.timeoutMs();
    let delay = 20;
    let lastErr: unknown = null;
    while (!host.terminal()) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      let conn: Conn | null = null;
      try {
        const signal = AbortSignal.timeout(left);
        const { sessionId, secret } = host.token();
        conn = await host.connect(requests.hello({ sessionId, secret }), signal);
        // Before `connected` and before any waiting call goes on: remove
        // what the grant requests in flight at the drop left queued.
        await this.#reclaim(conn, sessionId, signal);
        if (host.terminal()) {
          host.abandon(conn);
          return;
        }
        if (conn.ended) throw new ConnectionClosedError("the connection to the warden agent closed during the resume");
        this.#resumes++;
        host.adopt(conn);
        return;
      } catch (e) {
        if (conn) host.abandon(conn);
        if (host.terminal()) return;
        lastErr = e;
        if (e instanceof SessionExpiredError || e instanceof UnsupportedVersionError || e instanceof BadArgumentsError) break;
      }
      await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(deadline - Date.now(), 0))));
      delay = Math.min(delay * 2, 500);
    }
    if (host.terminal()) return;
    const why =
      lastErr instanceof SessionExpiredError
        ? `the session could not be resumed: ${lastErr.message}`
        : `the session could not be resumed within its timeout${lastErr instanceof Error ? `: ${lastErr.message}` : ""}`;
    host.lose(new SessionLostError(why, { cause: lastErr }));
  }

  /**
   * Removes the contender nodes that grant requests in flight at a drop
   * left queued at the agent: under each remembered path, every candidate
   * node (lock-*, n-*, a semaphore's _lock/lock-* and leases/lease-*) that
   * belongs to this session and is not a grant held by the app. no_node is
   * ignored (the node went meanwhile); any other failure fails the resume
   * attempt, which is retried, and the remembered paths with it.
   */
  async #reclaim(conn: Conn, sessionId: number, signal: AbortSignal): Promise<void> {
    const call = async (req: Request): Promise<Fields | null> => {
      const out = await conn.exchange(req, signal);
      if (!out.msg.error) return out.msg.result ?? {};
      const e = fromWire(out.msg.error);
      if (e instanceof NoNodeError) return null;
      // A plain WardenError: the attempt fails and is retried within the session timeout.
      throw new WardenError(e.code, `removing what a dropped request left queued: ${req.op} ${req.path}: ${e.message}`, undefined, { cause: e });
    };
    for (const [k, g] of [...this.#toReclaim]) {
      const dirs: Array<[string, string]> =
        g.op === "campaign"
          ? [[g.path, "n-"]]
          : g.op === "semaphore_acquire"
            ? [[childPath(g.path, "_lock"), "lock-"], [childPath(g.path, "leases"), "lease-"]]
            : [[g.path, "lock-"]];
      for (const [dir, prefix] of dirs) {
        const r = await call(requests.children(dir));
        if (!r) continue;
        for (const name of parseChildren(r).children) {
          if (!name.startsWith(prefix)) continue;
          const node = childPath(dir, name);
          if (this.holds.has(node)) continue;
          const ex = await call(requests.exists(node));
          if (!ex || ex["exists"] !== true) continue;
          if (parseStat(ex["stat"]).ephemeralOwner !== sessionId) continue;
          await call(requests.delete(node, -1));
        }
      }
      this.#toReclaim.delete(k);
    }
  }
}
