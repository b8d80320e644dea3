// The recipes: locks, read-write locks, semaphores, elections, config,
// task progress, groups, barriers, queues and counters.

import { checkTimeout, type CallOptions, type Client, type Subscription } from "./client.js";
import { fromWire, NoNodeError, NodeExistsError, NotHeldError } from "./errors.js";
import { requests } from "./requests.js";
import { Stream } from "./stream.js";
import {
  parseCounter,
  parseGroupMember,
  parseLeader,
  parseLease,
  parseMemberEvent,
  parseQueueItem,
  parseTask,
  parseTaskEvent,
  type ChangeEvent,
  type GroupMember,
  type Leader,
  type MemberEvent,
  type QueueItem,
  type TaskEvent,
  type TaskReport,
} from "./types.js";
import { str, text, toBytes, type Data, type Fields, type Uint } from "./wire.js";

/** The wait_ms of a waiting op: the timeout, or -1 (until granted; no timeoutMs or Infinity). */
export function waitMs(o: CallOptions): number {
  checkTimeout(o.timeoutMs);
  if (o.timeoutMs === undefined || o.timeoutMs === Infinity) return -1;
  return Math.round(o.timeoutMs);
}

/** The key of a grant's result: what undoing it needs, read so that it cannot fail. */
function keyOf(r: Fields): string {
  return str(r["key"]);
}

/** The range of a signed 64-bit counter. */
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Checks a counter argument: an integer (number or bigint) within int64. */
function checkInt64(v: unknown, what: string): void {
  const ok =
    typeof v === "bigint" ? v >= INT64_MIN && v <= INT64_MAX : typeof v === "number" && Number.isSafeInteger(v);
  if (!ok) throw new RangeError(`${what} must be a signed 64-bit integer (a safe-integer number or a bigint); got ${String(v)}`);
}

function tryOpts(o: CallOptions): CallOptions {
  return { ...o, timeoutMs: 0 };
}

// ---------------------------------------------------------------- locks

/**
 * A held lock (plain, read or write). `token` is the fencing token: it
 * strictly increases from one holder of the lock to the next (for a read
 * lease: above the writer before it, below the writer after it). Pass it
 * to the resource the lock guards.
 */
export class Lease {
  /** @internal */
  readonly client: Client;
  /** The lock's path. */
  readonly path: string;
  /** The lease's own node, PATH/lock-NNNNNNNNNN. */
  readonly key: string;
  /** The fencing token (the creation zxid of the lease's node). */
  readonly token: number;

  /** @internal */
  constructor(client: Client, path: string, key: string, token: number) {
    this.client = client;
    this.path = path;
    this.key = key;
    this.token = token;
  }

  /** Releases the lock; the next waiter is granted it at once. */
  async unlock(o: CallOptions = {}): Promise<void> {
    await this.client._release(this.key, requests.unlock(this.key), o);
  }

  /** Whether this lease is still the holder of its lock (exact for plain and write locks). */
  check(o: CallOptions = {}): Promise<boolean> {
    return lockCheck(this.client, this.path, this.token, o);
  }

  /** Releases the lock at the end of an `await using` block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.unlock().catch(() => undefined);
  }
}

export async function lockCheck(c: Client, path: string, token: Uint, o: CallOptions = {}): Promise<boolean> {
  const r = await c._call(requests.lockCheck(path, token), o);
  return r["held"] === true;
}

export async function acquireLease(
  c: Client,
  op: "lock" | "read_lock" | "write_lock",
  path: string,
  o: CallOptions,
): Promise<Lease> {
  const wait = waitMs(o);
  const req =
    op === "lock" ? requests.lock(path, wait) : op === "read_lock" ? requests.readLock(path, wait) : requests.writeLock(path, wait);
  const l = await c._grant(req, o, true, (res) => c._call(requests.unlock(keyOf(res))), parseLease, (l) => l.key);
  return new Lease(c, path, l.key, l.token);
}

// ------------------------------------------------------------ semaphore

/** A counting semaphore: at most `n` sessions hold one of its leases at a time. */
export class Semaphore {
  readonly path: string;
  readonly n: number;
  readonly #c: Client;

  /** @internal */
  constructor(c: Client, path: string, n: number) {
    this.#c = c;
    this.path = path;
    this.n = n;
  }

  /** Takes a lease, waiting (first come, first served) until one is free. */
  async acquire(o: CallOptions = {}): Promise<SemaphoreLease> {
    const c = this.#c;
    const l = await c._grant(
      requests.semaphoreAcquire(this.path, this.n, waitMs(o)),
      o,
      true,
      (res) => c._call(requests.semaphoreRelease(keyOf(res))),
      parseLease,
      (l) => l.key,
    );
    return new SemaphoreLease(c, this.path, l.key, l.token);
  }

  /** Takes a lease only if one is free now; otherwise throws TimeoutError. */
  tryAcquire(o: CallOptions = {}): Promise<SemaphoreLease> {
    return this.acquire(tryOpts(o));
  }
}

/** One held lease of a semaphore. */
export class SemaphoreLease {
  readonly path: string;
  readonly key: string;
  readonly token: number;
  readonly #c: Client;

  /** @internal */
  constructor(c: Client, path: string, key: string, token: number) {
    this.#c = c;
    this.path = path;
    this.key = key;
    this.token = token;
  }

  /** Gives the lease back. */
  async release(o: CallOptions = {}): Promise<void> {
    await this.#c._release(this.key, requests.semaphoreRelease(this.key), o);
  }
}

// ------------------------------------------------------------- election

/** A won election, held until resign() or the end of the session. */
export class Leadership {
  readonly path: string;
  /** This candidate's node, PATH/n-NNNNNNNNNN. */
  readonly key: string;
  /** The fencing token: strictly increasing from one leader to the next. */
  readonly token: number;
  readonly #c: Client;

  /** @internal */
  constructor(c: Client, path: string, key: string, token: number) {
    this.#c = c;
    this.path = path;
    this.key = key;
    this.token = token;
  }

  /** Gives up leadership; the next candidate is elected at once. */
  async resign(o: CallOptions = {}): Promise<void> {
    await this.#c._release(this.key, requests.resign(this.key, this.token), o);
  }

  /** Replaces the leader's value, which observers then see. */
  async proclaim(value: Data, o: CallOptions = {}): Promise<void> {
    await this.#c._call(requests.proclaim(this.key, toBytes(value), this.token), o);
  }
}

/** An election at a path: campaign, resign, proclaim, leader, observe. */
export class Election {
  readonly path: string;
  /** The leadership this object won, until it resigns. */
  leadership: Leadership | null = null;
  readonly #c: Client;

  /** @internal */
  constructor(c: Client, path: string) {
    this.#c = c;
    this.path = path;
  }

  /**
   * Enters the election with value and resolves once elected (candidates
   * are elected in the order they entered). timeoutMs is the longest wait
   * (then TimeoutError); aborting withdraws the candidacy, and a candidacy
   * elected just as the abort arrived is resigned.
   */
  async campaign(value?: Data, o: CallOptions = {}): Promise<Leadership> {
    const c = this.#c;
    const l = await c._grant(
      requests.campaign(this.path, toBytes(value), waitMs(o)),
      o,
      true,
      // The raw token (a bigint when over 2^53), so that undoing cannot fail.
      (res) => c._call(requests.resign(keyOf(res), typeof res["token"] === "bigint" || typeof res["token"] === "number" ? res["token"] : undefined)),
      parseLease,
      (l) => l.key,
    );
    this.leadership = new Leadership(c, this.path, l.key, l.token);
    return this.leadership;
  }

  /** Resigns the leadership won by campaign(). */
  async resign(o: CallOptions = {}): Promise<void> {
    const l = this.leadership;
    if (!l) return;
    await l.resign(o);
    this.leadership = null;
  }

  /** Replaces the value of the leadership won by campaign(). */
  async proclaim(value: Data, o: CallOptions = {}): Promise<void> {
    if (!this.leadership) throw new NotHeldError("not_held", "this election object does not lead: campaign first");
    await this.leadership.proclaim(value, o);
  }

  /** Who leads, as this agent knows it; null when nobody does. */
  async leader(o: CallOptions = {}): Promise<Leader | null> {
    const l = parseLeader(await this.#c._call(requests.leader(this.path), o));
    return l.key === "" ? null : l;
  }

  /**
   * Follows the election: first the current leader (null when nobody
   * leads), then each change of leader or of the leader's value, in order.
   */
  observe(o: { signal?: AbortSignal } = {}): Stream<Leader | null> {
    const start = this.#c._openStream(requests.observe(this.path), o);
    return new Stream(
      start,
      (b) => {
        const l = parseLeader(b);
        return l.key === "" ? null : l;
      },
      o.signal,
    );
  }
}

// --------------------------------------------------------------- config

/** A config value and its version. */
export interface ConfigValue {
  value: Uint8Array;
  version: number;
  /** The value as UTF-8 text. */
  text: string;
}

/** One update of a config, or one node of its current state (resync). */
export interface ConfigUpdate {
  path: string;
  /** The value after the change (empty when deleted). */
  value: Uint8Array;
  /** The value as UTF-8 text. */
  text: string;
  /** The value's version (when deleted, the last one it had). */
  version: number;
  /** The resume point: subscribing again with fromZxid continues after it. */
  zxid: number;
  deleted: boolean;
  /** Part of the current state, sent when the stream starts from nothing or its history is gone. */
  resync: boolean;
  /** The last update of a resync. */
  synced: boolean;
}

export interface ConfigSetOptions extends CallOptions {
  /**
   * A version of 0 or more writes only at that version (BadVersionError;
   * NoNodeError if never set); "absent" only if never set
   * (NodeExistsError); undefined or -1 always, creating the node and its
   * missing parents if need be.
   */
  version?: number | "absent";
}

/** A configuration value kept in one znode (or a tree of them). */
export class Config {
  readonly path: string;
  readonly #c: Client;

  /** @internal */
  constructor(c: Client, path: string) {
    this.#c = c;
    this.path = path;
  }

  /** The value and its version; NoNodeError when never set. */
  async get(o: CallOptions = {}): Promise<ConfigValue> {
    const r = await this.#c.get(this.path, o);
    return { value: r.data, version: r.stat.version, text: text(r.data) };
  }

  /** Writes the value and returns its new version (a value's first version is 0). */
  async set(value: Data, o: ConfigSetOptions = {}): Promise<number> {
    const data = toBytes(value);
    if (o.version === "absent") {
      await this.#create(data, o);
      return 0;
    }
    const version = o.version ?? -1;
    for (;;) {
      try {
        const st = await this.#c.set(this.path, data, { ...o, version });
        return st.version;
      } catch (e) {
        if (!(e instanceof NoNodeError) || version !== -1) throw e;
      }
      try {
        await this.#create(data, o);
        return 0;
      } catch (e) {
        if (!(e instanceof NodeExistsError)) throw e;
        // created by someone else meanwhile: set it after all
      }
    }
  }

  async #create(data: Uint8Array | undefined, o: CallOptions): Promise<void> {
    const c = this.#c;
    try {
      await c.create(this.path, data, o);
      return;
    } catch (e) {
      if (!(e instanceof NoNodeError)) throw e;
    }
    for (let i = 1; i < this.path.length; i++) {
      if (this.path[i] !== "/") continue;
      try {
        await c.create(this.path.slice(0, i), undefined, o);
      } catch (e) {
        if (!(e instanceof NodeExistsError)) throw e;
      }
    }
    await c.create(this.path, data, o);
  }

  /**
   * Follows the config: the current value first (one update marked resync
   * and synced; deleted if the node does not exist), then every change in
   * order. With fromZxid it resumes after that zxid instead; with
   * recursive it follows the whole subtree.
   */
  subscribe(o: { fromZxid?: number; recursive?: boolean; signal?: AbortSignal } = {}): ConfigSubscription {
    const sub = this.#c.subscribe(this.path, {
      scope: o.recursive ? "subtree" : "node",
      ...(o.fromZxid !== undefined ? { fromZxid: o.fromZxid } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    return new ConfigSubscription(sub, this.path, o.recursive === true, o.fromZxid ?? 0);
  }
}

/** An ordered stream of a config's updates; iterate with `for await`. */
export class ConfigSubscription implements AsyncIterable<ConfigUpdate> {
  readonly #sub: Subscription;
  readonly #root: string;
  readonly #tree: boolean;
  readonly #from: number;
  #known = new Map<string, number>();
  #batch: ChangeEvent[] = [];
  #ready: ConfigUpdate[] = [];
  /** The zxid of the last update handed out (or the one resumed from): where to resume. */
  lastZxid: number;

  /** @internal */
  constructor(sub: Subscription, root: string, tree: boolean, from: number) {
    this.#sub = sub;
    this.#root = root;
    this.#tree = tree;
    this.#from = from;
    this.lastZxid = from;
  }

  /** Resolves once the agent has started the stream. */
  get ready(): Promise<void> {
    return this.#sub.ready;
  }

  /** The next update, or undefined once closed. */
  async next(): Promise<ConfigUpdate | undefined> {
    for (;;) {
      const u = this.#ready.shift();
      if (u) {
        this.lastZxid = u.zxid;
        return u;
      }
      const ev = await this.#sub.next();
      if (ev === undefined) return undefined;
      switch (ev.type) {
        case "resync":
          this.#batch.push(ev);
          continue;
        case "synced":
          this.#ready = this.#resynced(ev.zxid);
          this.#batch = [];
          continue;
        case "created":
        case "data_changed":
        case "deleted":
          break;
        default:
          continue;
      }
      if (ev.zxid <= this.#from) continue; // replayed again by an agent catching up: handled before
      const deleted = ev.type === "deleted";
      const out: ConfigUpdate = {
        path: ev.path,
        value: deleted ? new Uint8Array(0) : ev.data,
        text: deleted ? "" : text(ev.data),
        version: ev.stat.version,
        zxid: ev.zxid,
        deleted,
        resync: false,
        synced: false,
      };
      if (deleted) this.#known.delete(ev.path);
      else if (this.#tree) this.#known.set(ev.path, ev.stat.version);
      this.lastZxid = out.zxid;
      return out;
    }
  }

  #resynced(zxid: number): ConfigUpdate[] {
    const out: ConfigUpdate[] = [];
    const present = new Set<string>();
    for (const ev of this.#batch) {
      present.add(ev.path);
      out.push({ path: ev.path, value: ev.data, text: text(ev.data), version: ev.stat.version, zxid, deleted: false, resync: true, synced: false });
    }
    if (this.#tree) {
      const gone = [...this.#known.keys()].filter((p) => !present.has(p)).sort().reverse();
      for (const p of gone) {
        out.push({ path: p, value: new Uint8Array(0), text: "", version: this.#known.get(p)!, zxid, deleted: true, resync: true, synced: false });
      }
      this.#known = new Map(this.#batch.map((ev) => [ev.path, ev.stat.version]));
    }
    if (out.length === 0) {
      out.push({ path: this.#root, value: new Uint8Array(0), text: "", version: 0, zxid, deleted: true, resync: true, synced: false });
    }
    out[out.length - 1]!.synced = true;
    return out;
  }

  /** Ends the subscription. */
  close(): Promise<void> {
    return this.#sub.close();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ConfigUpdate> {
    try {
      for (;;) {
        const u = await this.next();
        if (u === undefined) return;
        yield u;
      }
    } finally {
      await this.close().catch(() => undefined);
    }
  }
}

// ------------------------------------------------------------- progress

/** Where jobs live: a task's node is PROGRESS_ROOT/JOB/TASK. */
export const PROGRESS_ROOT = "/warden/progress";

export interface ReportOptions extends CallOptions {
  /** The task's state; default "running". */
  state?: string;
  /** Small data (up to 64 KiB). */
  data?: Data;
}

/** One task of a job, to report progress for. Nothing is sent until a report. */
export class Task {
  readonly job: string;
  readonly name: string;
  readonly #c: Client;

  /** @internal */
  constructor(c: Client, job: string, name: string) {
    this.#c = c;
    this.job = job;
    this.name = name;
  }

  /** The task's node. */
  get path(): string {
    return `${PROGRESS_ROOT}/${this.job}/${this.name}`;
  }

  /**
   * Reports the task percent (0 to 100) done, with a message. The first
   * report creates the task, owned by this session; later ones are
   * accepted at once and written in the background, coalesced.
   */
  async report(percent: number, message?: string, o: ReportOptions = {}): Promise<void> {
    await this.#c._call(requests.report(this.job, this.name, percent, message, o.state, toBytes(o.data)), o);
  }

  /** Ends the task (deletes its node); watchers see it removed. */
  async done(o: CallOptions = {}): Promise<void> {
    try {
      await this.#c.delete(this.path, o);
    } catch (e) {
      if (!(e instanceof NoNodeError)) throw e;
    }
  }
}

export async function progress(c: Client, job: string, o: CallOptions = {}): Promise<TaskReport[]> {
  const r = await c._call(requests.progressGet(job), o);
  return Array.isArray(r["tasks"]) ? (r["tasks"] as unknown[]).map(parseTask) : [];
}

export function watchProgress(c: Client, job: string, o: { signal?: AbortSignal } = {}): Stream<TaskEvent> {
  return new Stream(c._openStream(requests.progressWatch(job), o), parseTaskEvent, o.signal);
}

// ---------------------------------------------------------------- groups

/** Where groups live: a member's node is GROUP_ROOT/GROUP/MEMBER. */
export const GROUP_ROOT = "/warden/groups";

/** This session's membership of a group, held until leave() or the end of the session. */
export class Membership {
  readonly group: string;
  readonly member: string;
  readonly key: string;
  readonly token: number;
  readonly #c: Client;

  /** @internal */
  constructor(c: Client, group: string, member: string, key: string, token: number) {
    this.#c = c;
    this.group = group;
    this.member = member;
    this.key = key;
    this.token = token;
  }

  /** Replaces the member's data (a join with the same id). */
  async update(data: Data, o: CallOptions = {}): Promise<void> {
    await this.#c._call(requests.join(this.group, this.member, toBytes(data)), o);
  }

  /** Ends the membership. */
  async leave(o: CallOptions = {}): Promise<void> {
    await this.#c._call(requests.leave(this.group, this.member), o);
  }
}

/** A group: join, leave, members, watch. */
export class Group {
  readonly name: string;
  readonly #c: Client;

  /** @internal */
  constructor(c: Client, name: string) {
    this.#c = c;
    this.name = name;
  }

  /** Joins as member with data. NodeExistsError when another session holds the id. */
  async join(member: string, data?: Data, o: CallOptions = {}): Promise<Membership> {
    const c = this.#c;
    const l = await c._grant(
      requests.join(this.name, member, toBytes(data)),
      o,
      false,
      () => c._call(requests.leave(this.name, member)),
      parseLease,
    );
    return new Membership(c, this.name, member, l.key, l.token);
  }

  /** Leaves (NotHeldError when this session does not hold the id). */
  async leave(member: string, o: CallOptions = {}): Promise<void> {
    await this.#c._call(requests.leave(this.name, member), o);
  }

  /** The members, in id order. */
  async members(o: CallOptions = {}): Promise<GroupMember[]> {
    const r = await this.#c._call(requests.membersOf(this.name), o);
    return Array.isArray(r["members"]) ? (r["members"] as unknown[]).map(parseGroupMember) : [];
  }

  /** Follows the group: each current member first, then every join, change and leave. */
  watch(o: { signal?: AbortSignal } = {}): Stream<MemberEvent> {
    return new Stream(this.#c._openStream(requests.groupWatch(this.name), o), parseMemberEvent, o.signal);
  }
}

// -------------------------------------------------------------- barriers

/** A barrier: holds back whoever waits on it until it is removed. */
export class Barrier {
  readonly path: string;
  readonly #c: Client;

  /** @internal */
  constructor(c: Client, path: string) {
    this.#c = c;
    this.path = path;
  }

  async set(o: CallOptions = {}): Promise<void> {
    await this.#c._grant(requests.barrierSet(this.path), o, false, "keep", () => undefined);
  }

  async remove(o: CallOptions = {}): Promise<void> {
    await this.#c._call(requests.barrierRemove(this.path), o);
  }

  /** Resolves once the barrier is not set; timeoutMs is the longest wait (then TimeoutError). */
  async wait(o: CallOptions = {}): Promise<void> {
    const out = await this.#c._roundTrip(requests.barrierWait(this.path, waitMs(o)), o, false, false, true);
    if (out.msg.error) throw fromWire(out.msg.error);
  }
}

/** A double barrier: `count` members start together and finish together. */
export class DoubleBarrier {
  readonly path: string;
  readonly count: number;
  readonly member: string;
  readonly #c: Client;

  /** @internal */
  constructor(c: Client, path: string, count: number, member: string) {
    this.#c = c;
    this.path = path;
    this.count = count;
    this.member = member;
  }

  /** Enters, and resolves once `count` members have entered. */
  async enter(o: CallOptions = {}): Promise<void> {
    await this.#c._grant(requests.barrierEnter(this.path, this.count, this.member, waitMs(o)), o, true, "keep", () => undefined);
  }

  /** Leaves, and resolves once every member has left. */
  async leave(o: CallOptions = {}): Promise<void> {
    await this.#c._grant(requests.barrierLeave(this.path, this.member, waitMs(o)), o, true, "keep", () => undefined);
  }
}

// ----------------------------------------------------------------- queue

/** A first-in first-out queue; each item goes to exactly one taker, at most once. */
export class Queue {
  readonly path: string;
  readonly #c: Client;

  /** @internal */
  constructor(c: Client, path: string) {
    this.#c = c;
    this.path = path;
  }

  /** Appends data and returns the item's key. */
  async put(data: Data, o: CallOptions = {}): Promise<string> {
    return this.#c._grant(requests.queuePut(this.path, toBytes(data)), o, false, "keep", keyOf);
  }

  /** Removes and returns the first item, waiting for one while the queue is empty. */
  async take(o: CallOptions = {}): Promise<QueueItem> {
    return this.#c._grant(requests.queueTake(this.path, waitMs(o)), o, true, "keep", parseQueueItem);
  }

  /** Removes and returns the first item, or throws TimeoutError when the queue is empty. */
  tryTake(o: CallOptions = {}): Promise<QueueItem> {
    return this.take(tryOpts(o));
  }
}

// --------------------------------------------------------------- counter

/**
 * A shared signed 64-bit integer, updated atomically. A counter never set
 * is 0. Values are returned as a `number` when exact as one (within
 * ±(2^53 - 1)), otherwise as a `bigint`; arguments may be either.
 */
export class Counter {
  readonly path: string;
  readonly #c: Client;

  /** @internal */
  constructor(c: Client, path: string) {
    this.#c = c;
    this.path = path;
  }

  /** Adds delta and returns the new value. */
  async add(delta: number | bigint, o: CallOptions = {}): Promise<number | bigint> {
    checkInt64(delta, "delta");
    return (await this.#c._grant(requests.counterAdd(this.path, delta), o, false, "keep", parseCounter)).value;
  }

  /** The value, as this agent's replica has it. */
  async get(o: CallOptions = {}): Promise<number | bigint> {
    return parseCounter(await this.#c._call(requests.counterGet(this.path), o)).value;
  }

  /** Sets the counter to value if it is expect; returns whether it did and the value now. */
  async compareAndSet(
    expect: number | bigint,
    value: number | bigint,
    o: CallOptions = {},
  ): Promise<{ swapped: boolean; value: number | bigint }> {
    checkInt64(expect, "expect");
    checkInt64(value, "value");
    const r = await this.#c._grant(requests.counterCas(this.path, expect, value), o, false, "keep", parseCounter);
    return { swapped: r.swapped, value: r.value };
  }
}
