// Request builders: the one place each op's request is shaped. The client
// sends exactly what these return (with an id), and the golden-frame tests
// build their requests through them too. Each builder goes through req(),
// whose types come from the protocol's op table (protocol.ts): a builder
// can only name fields of its op, and must give the ones the op needs.

import { BadArgumentsError } from "./errors.js";
import { MULTI_OPS, OPS, type MultiOpFields, type OpName, type OpRequests } from "./protocol.js";
import { PROTOCOL_VERSION, type Request, type Uint, type WireOp } from "./wire.js";

export interface HelloArgs {
  protocol?: number;
  sessionTimeoutMs?: number;
  client?: string;
  resumable?: boolean;
  heartbeat?: boolean;
  sessionId?: Uint;
  secret?: Uint8Array;
  /** With sessionId: have the agent delete the session's places in line that are not in holds. */
  reclaim?: boolean;
  /** With reclaim: the keys of the leases the client holds. */
  holds?: string[];
  noSession?: boolean;
}

/** The request of op: its fields in the op's order, those left undefined left out. */
function req<O extends OpName>(op: O, fields: OpRequests[O]): Request {
  const r: Record<string, unknown> = { op };
  const f = fields as Record<string, unknown>;
  for (const [k] of OPS[op].request) if (f[k] !== undefined) r[k] = f[k];
  return r as unknown as Request;
}

/**
 * req with timeout_ms, the caller's timeout (ms, at least 1), in its op's
 * key order: the agent then gives up just before the caller does and says
 * why (UnavailableError when the cluster has no leader). req itself for an
 * op without the field (unknown to the table), a grant wait (its wait_ms
 * is its deadline), and a request that has a timeout_ms already.
 */
export function withTimeout(r: Request, ms: number): Request {
  const spec = (OPS as Record<string, { request: ReadonlyArray<readonly [string, ...unknown[]]> }>)[r.op];
  if (!spec || r.wait_ms !== undefined || r.timeout_ms !== undefined) return r;
  if (!spec.request.some(([k]) => k === "timeout_ms")) return r;
  const f = r as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { op: r.op };
  for (const [k] of spec.request) {
    if (k === "timeout_ms") out[k] = Math.max(Math.ceil(ms), 1); // up: never before the caller's deadline
    else if (f[k] !== undefined) out[k] = f[k];
  }
  for (const [k, v] of Object.entries(f)) if (!(k in out)) out[k] = v; // fields the table lacks (request())
  return out as unknown as Request;
}

type MultiOpName = keyof typeof MULTI_OPS;

/** A multi's op: its fields in the op's order, those left undefined left out. */
function multiOp(op: MultiOpName, fields: Omit<MultiOpFields, "op">): WireOp {
  const o: Record<string, unknown> = { op };
  const f = fields as Record<string, unknown>;
  for (const [k] of MULTI_OPS[op]) if (f[k] !== undefined) o[k] = f[k];
  return o as unknown as WireOp;
}

export interface CreateFlags {
  ephemeral?: boolean;
  sequential?: boolean;
  container?: boolean;
  /**
   * Make a TTL node: the cluster deletes it once this many **milliseconds**
   * have passed since its last change (its creation or last set, which
   * restarts the countdown) and it has no children. Positive, at most
   * 2^40-1; a fraction is rounded up. Only for a persistent node
   * (sequential or not): not with ephemeral or container.
   */
  ttl?: number;
}

/** The largest TTL a node may have, in ms (2^40-1, as ZooKeeper's). */
export const MAX_TTL_MS = 2 ** 40 - 1;

/** The ttl_ms of a TTL: whole ms, rounded up; BadArgumentsError unless positive and at most MAX_TTL_MS. */
function ttlMs(ttl: unknown): number {
  if (typeof ttl !== "number" || !(ttl > 0) || Math.ceil(ttl) > MAX_TTL_MS) {
    throw new BadArgumentsError("bad_arguments", `ttl must be a positive number of ms, at most ${MAX_TTL_MS}; got ${String(ttl)}`);
  }
  return Math.ceil(ttl);
}

type WireFlags = Pick<MultiOpFields, "ephemeral" | "sequential" | "container" | "ttl_ms">;

/** The scope of a subscription. */
export type Scope = "node" | "children" | "subtree";

function flags(f: CreateFlags): WireFlags {
  const out: WireFlags = {};
  if (f.ephemeral) out.ephemeral = true;
  if (f.sequential) out.sequential = true;
  if (f.container) out.container = true;
  if (f.ttl !== undefined) out.ttl_ms = ttlMs(f.ttl);
  return out;
}

export const requests = {
  hello(a: HelloArgs = {}): Request {
    return req("hello", {
      protocol: a.protocol ?? PROTOCOL_VERSION,
      session_timeout_ms: a.sessionTimeoutMs ? Math.round(a.sessionTimeoutMs) : undefined,
      client: a.client || undefined,
      resumable: a.resumable || undefined,
      heartbeat: a.heartbeat || undefined,
      session_id: a.sessionId || undefined,
      secret: a.secret,
      reclaim: a.reclaim || undefined,
      holds: a.holds,
      no_session: a.noSession || undefined,
    });
  },
  ping: (): Request => req("ping", {}),
  create(path: string, data: Uint8Array | undefined, f: CreateFlags = {}): Request {
    return req("create", { path, data: data || undefined, ...flags(f) });
  },
  get(path: string, watch = false): Request {
    return req("get", { path, watch: watch || undefined });
  },
  set(path: string, data: Uint8Array | undefined, version: number): Request {
    return req("set", { path, data: data || undefined, version });
  },
  delete(path: string, version: number): Request {
    return req("delete", { path, version });
  },
  exists(path: string, watch = false): Request {
    return req("exists", { path, watch: watch || undefined });
  },
  children(path: string, watch = false): Request {
    return req("children", { path, watch: watch || undefined });
  },
  multi(ops: WireOp[]): Request {
    return req("multi", { ops });
  },
  sync: (): Request => req("sync", {}),
  lock(path: string, waitMs: number): Request {
    return req("lock", { path, wait_ms: waitMs });
  },
  unlock(key: string): Request {
    return req("unlock", { key });
  },
  lockCheck(path: string, token: Uint): Request {
    return req("lock_check", { path, token });
  },
  cancel(target: Uint): Request {
    return req("cancel", { target });
  },
  status: (): Request => req("status", {}),
  members: (): Request => req("members", {}),
  sessions: (): Request => req("sessions", {}),
  /** fold: the agent folds each resync (known: the paths the app knows to exist, when it resumes). */
  subscribe(path: string, scope?: Scope, fromZxid?: Uint, fold?: boolean, known?: string[]): Request {
    return req("subscribe", { path, scope: scope || undefined, from_zxid: fromZxid || undefined, fold: fold || undefined, known });
  },
  unsubscribe(sub: Uint): Request {
    return req("unsubscribe", { sub });
  },
  campaign(path: string, data: Uint8Array | undefined, waitMs: number): Request {
    return req("campaign", { path, data: data || undefined, wait_ms: waitMs });
  },
  resign(key: string, token?: Uint): Request {
    return req("resign", { key, token: token || undefined });
  },
  proclaim(key: string, data: Uint8Array | undefined, token?: Uint): Request {
    return req("proclaim", { key, data: data || undefined, token: token || undefined });
  },
  leader(path: string): Request {
    return req("leader", { path });
  },
  observe(path: string): Request {
    return req("observe", { path });
  },
  report(job: string, task: string, percent: number, message?: string, state?: string, data?: Uint8Array): Request {
    return req("report", { data: data || undefined, job, task, state: state || undefined, percent, message: message || undefined });
  },
  progressGet(job: string): Request {
    return req("progress_get", { job });
  },
  progressWatch(job: string): Request {
    return req("progress_watch", { job });
  },
  join(group: string, member: string, data?: Uint8Array): Request {
    return req("join", { data: data || undefined, group, member });
  },
  leave(group: string, member: string): Request {
    return req("leave", { group, member });
  },
  membersOf(group: string): Request {
    return req("members_of", { group });
  },
  groupWatch(group: string): Request {
    return req("group_watch", { group });
  },
  readLock(path: string, waitMs: number): Request {
    return req("read_lock", { path, wait_ms: waitMs });
  },
  writeLock(path: string, waitMs: number): Request {
    return req("write_lock", { path, wait_ms: waitMs });
  },
  semaphoreAcquire(path: string, count: number, waitMs: number): Request {
    return req("semaphore_acquire", { path, wait_ms: waitMs, count });
  },
  semaphoreRelease(key: string): Request {
    return req("semaphore_release", { key });
  },
  barrierSet(path: string): Request {
    return req("barrier_set", { path });
  },
  barrierRemove(path: string): Request {
    return req("barrier_remove", { path });
  },
  barrierWait(path: string, waitMs: number): Request {
    return req("barrier_wait", { path, wait_ms: waitMs });
  },
  barrierEnter(path: string, count: number, member: string, waitMs: number): Request {
    return req("barrier_enter", { path, wait_ms: waitMs, member, count });
  },
  barrierLeave(path: string, member: string, waitMs: number): Request {
    return req("barrier_leave", { path, wait_ms: waitMs, member });
  },
  queuePut(path: string, data?: Uint8Array): Request {
    return req("queue_put", { path, data: data || undefined });
  },
  queueTake(path: string, waitMs: number): Request {
    return req("queue_take", { path, wait_ms: waitMs });
  },
  counterAdd(path: string, delta: Uint): Request {
    return req("counter_add", { path, delta });
  },
  counterGet(path: string): Request {
    return req("counter_get", { path });
  },
  counterCas(path: string, expect: Uint, value: Uint): Request {
    return req("counter_cas", { path, expect, value });
  },
};

/** Builders for the ops of a multi. */
export const ops = {
  create(path: string, data?: Uint8Array, f: CreateFlags = {}): WireOp {
    return multiOp("create", { path, data: data || undefined, ...flags(f) });
  },
  delete(path: string, version = -1): WireOp {
    return multiOp("delete", { path, version });
  },
  set(path: string, data: Uint8Array | undefined, version = -1): WireOp {
    return multiOp("set", { path, data: data || undefined, version });
  },
  check(path: string, version = -1): WireOp {
    return multiOp("check", { path, version });
  },
};
