// Request builders: the one place each op's request is shaped. The client
// sends exactly what these return (with an id), and the golden-frame tests
// build their requests through them too.

import { PROTOCOL_VERSION, type Request, type Uint, type WireOp } from "./wire.js";

export interface HelloArgs {
  protocol?: number;
  sessionTimeoutMs?: number;
  client?: string;
  resumable?: boolean;
  heartbeat?: boolean;
  sessionId?: Uint;
  secret?: Uint8Array;
  noSession?: boolean;
}

export interface CreateFlags {
  ephemeral?: boolean;
  sequential?: boolean;
  container?: boolean;
}

/** The scope of a subscription. */
export type Scope = "node" | "children" | "subtree";

function flags(f: CreateFlags): CreateFlags {
  const out: CreateFlags = {};
  if (f.ephemeral) out.ephemeral = true;
  if (f.sequential) out.sequential = true;
  if (f.container) out.container = true;
  return out;
}

export const requests = {
  hello(a: HelloArgs = {}): Request {
    const r: Request = { op: "hello", protocol: a.protocol ?? PROTOCOL_VERSION };
    if (a.sessionTimeoutMs) r.session_timeout_ms = Math.round(a.sessionTimeoutMs);
    if (a.client) r.client = a.client;
    if (a.resumable) r.resumable = true;
    if (a.heartbeat) r.heartbeat = true;
    if (a.sessionId) r.session_id = a.sessionId;
    if (a.secret) r.secret = a.secret;
    if (a.noSession) r.no_session = true;
    return r;
  },
  ping: (): Request => ({ op: "ping" }),
  create(path: string, data: Uint8Array | undefined, f: CreateFlags = {}): Request {
    return { op: "create", path, ...(data ? { data } : {}), ...flags(f) };
  },
  get(path: string, watch = false): Request {
    return watch ? { op: "get", path, watch: true } : { op: "get", path };
  },
  set(path: string, data: Uint8Array | undefined, version: number): Request {
    return { op: "set", path, ...(data ? { data } : {}), version };
  },
  delete(path: string, version: number): Request {
    return { op: "delete", path, version };
  },
  exists(path: string, watch = false): Request {
    return watch ? { op: "exists", path, watch: true } : { op: "exists", path };
  },
  children(path: string, watch = false): Request {
    return watch ? { op: "children", path, watch: true } : { op: "children", path };
  },
  multi(ops: WireOp[]): Request {
    return { op: "multi", ops };
  },
  sync: (): Request => ({ op: "sync" }),
  lock(path: string, waitMs: number): Request {
    return { op: "lock", path, wait_ms: waitMs };
  },
  unlock(key: string): Request {
    return { op: "unlock", key };
  },
  lockCheck(path: string, token: Uint): Request {
    return { op: "lock_check", path, token };
  },
  cancel(target: Uint): Request {
    return { op: "cancel", target };
  },
  status: (): Request => ({ op: "status" }),
  members: (): Request => ({ op: "members" }),
  sessions: (): Request => ({ op: "sessions" }),
  subscribe(path: string, scope?: Scope, fromZxid?: Uint): Request {
    const r: Request = { op: "subscribe", path };
    if (scope) r.scope = scope;
    if (fromZxid) r.from_zxid = fromZxid;
    return r;
  },
  unsubscribe(sub: Uint): Request {
    return { op: "unsubscribe", sub };
  },
  campaign(path: string, data: Uint8Array | undefined, waitMs: number): Request {
    return { op: "campaign", path, ...(data ? { data } : {}), wait_ms: waitMs };
  },
  resign(key: string, token?: Uint): Request {
    return { op: "resign", key, ...(token ? { token } : {}) };
  },
  proclaim(key: string, data: Uint8Array | undefined, token?: Uint): Request {
    return { op: "proclaim", key, ...(data ? { data } : {}), ...(token ? { token } : {}) };
  },
  leader(path: string): Request {
    return { op: "leader", path };
  },
  observe(path: string): Request {
    return { op: "observe", path };
  },
  report(job: string, task: string, percent: number, message?: string, state?: string, data?: Uint8Array): Request {
    const r: Request = { op: "report", job, task };
    if (state) r.state = state;
    r.percent = percent;
    if (message) r.message = message;
    if (data) r.data = data;
    return r;
  },
  progressGet(job: string): Request {
    return { op: "progress_get", job };
  },
  progressWatch(job: string): Request {
    return { op: "progress_watch", job };
  },
  join(group: string, member: string, data?: Uint8Array): Request {
    return { op: "join", group, member, ...(data ? { data } : {}) };
  },
  leave(group: string, member: string): Request {
    return { op: "leave", group, member };
  },
  membersOf(group: string): Request {
    return { op: "members_of", group };
  },
  groupWatch(group: string): Request {
    return { op: "group_watch", group };
  },
  readLock(path: string, waitMs: number): Request {
    return { op: "read_lock", path, wait_ms: waitMs };
  },
  writeLock(path: string, waitMs: number): Request {
    return { op: "write_lock", path, wait_ms: waitMs };
  },
  semaphoreAcquire(path: string, count: number, waitMs: number): Request {
    return { op: "semaphore_acquire", path, count, wait_ms: waitMs };
  },
  semaphoreRelease(key: string): Request {
    return { op: "semaphore_release", key };
  },
  barrierSet(path: string): Request {
    return { op: "barrier_set", path };
  },
  barrierRemove(path: string): Request {
    return { op: "barrier_remove", path };
  },
  barrierWait(path: string, waitMs: number): Request {
    return { op: "barrier_wait", path, wait_ms: waitMs };
  },
  barrierEnter(path: string, count: number, member: string, waitMs: number): Request {
    return { op: "barrier_enter", path, count, member, wait_ms: waitMs };
  },
  barrierLeave(path: string, member: string, waitMs: number): Request {
    return { op: "barrier_leave", path, member, wait_ms: waitMs };
  },
  queuePut(path: string, data?: Uint8Array): Request {
    return { op: "queue_put", path, ...(data ? { data } : {}) };
  },
  queueTake(path: string, waitMs: number): Request {
    return { op: "queue_take", path, wait_ms: waitMs };
  },
  counterAdd(path: string, delta: Uint): Request {
    return { op: "counter_add", path, delta };
  },
  counterGet(path: string): Request {
    return { op: "counter_get", path };
  },
  counterCas(path: string, expect: Uint, value: Uint): Request {
    return { op: "counter_cas", path, expect, value };
  },
};

/** Builders for the ops of a multi. */
export const ops = {
  create(path: string, data?: Uint8Array, f: CreateFlags = {}): WireOp {
    return { op: "create", path, ...(data ? { data } : {}), ...flags(f) };
  },
  delete(path: string, version = -1): WireOp {
    return { op: "delete", path, version };
  },
  set(path: string, data: Uint8Array | undefined, version = -1): WireOp {
    return { op: "set", path, ...(data ? { data } : {}), version };
  },
  check(path: string, version = -1): WireOp {
    return { op: "check", path, version };
  },
};
