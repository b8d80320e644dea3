// The recipes without grants to hold: task progress, groups, barriers,
// queues and counters.

import type { Engine } from "./engine.js";
import { fromWire, NoNodeError } from "./errors.js";
import { orNull } from "./locks.js";
import { waitMs, type CallOptions } from "./options.js";
import { requests } from "./requests.js";
import { Stream } from "./stream.js";
import {
  parseCounter,
  parseGroupMember,
  parseLease,
  parseMemberEvent,
  parseQueueItem,
  parseTask,
  parseTaskEvent,
  type GroupMember,
  type MemberEvent,
  type QueueItem,
  type TaskEvent,
  type TaskReport,
} from "./types.js";
import { str, toBytes, type Data } from "./wire.js";

/** The range of a signed 64-bit counter. */
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Checks a counter argument: an integer (number or bigint) within int64. */
function checkInt64(v: unknown, what: string): void {
  const ok =
    typeof v === "bigint" ? v >= INT64_MIN && v <= INT64_MAX : typeof v === "number" && Number.isSafeInteger(v);
  if (!ok) throw new RangeError(`${what} must be a signed 64-bit integer (a safe-integer number or a bigint); got ${String(v)}`);
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
  readonly #c: Engine;

  /** @internal */
  constructor(c: Engine, job: string, name: string) {
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
   * accepted at once and written in the background, coalesced. This
   * client's progress() and watchProgress() see them all the same: the
   * agent writes them first.
   */
  async report(percent: number, message?: string, o: ReportOptions = {}): Promise<void> {
    await this.#c._call(requests.report(this.job, this.name, percent, message, o.state, toBytes(o.data)), o);
  }

  /** Ends the task (deletes its node); watchers see it removed. */
  async done(o: CallOptions = {}): Promise<void> {
    try {
      await this.#c._call(requests.delete(this.path, -1), o);
    } catch (e) {
      if (!(e instanceof NoNodeError)) throw e;
    }
  }
}

export async function progress(c: Engine, job: string, o: CallOptions = {}): Promise<TaskReport[]> {
  const r = await c._call(requests.progressGet(job), o);
  return Array.isArray(r["tasks"]) ? (r["tasks"] as unknown[]).map(parseTask) : [];
}

export function watchProgress(c: Engine, job: string, o: { signal?: AbortSignal } = {}): Stream<TaskEvent> {
  const req = requests.progressWatch(job);
  return new Stream(c._openStream(req, o, () => req), parseTaskEvent, o.signal);
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
  readonly #c: Engine;

  /** @internal */
  constructor(c: Engine, group: string, member: string, key: string, token: number) {
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
  readonly #c: Engine;

  /** @internal */
  constructor(c: Engine, name: string) {
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

  /**
   * Follows the group: each current member first, then every join, change
   * and leave. After a resume of a resumable session it starts again with
   * each current member.
   */
  watch(o: { signal?: AbortSignal } = {}): Stream<MemberEvent> {
    const req = requests.groupWatch(this.name);
    return new Stream(this.#c._openStream(req, o, () => req), parseMemberEvent, o.signal);
  }
}

// -------------------------------------------------------------- barriers

/** A barrier: holds back whoever waits on it until it is removed. */
export class Barrier {
  readonly path: string;
  readonly #c: Engine;

  /** @internal */
  constructor(c: Engine, path: string) {
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
    const out = await this.#c._roundTrip(requests.barrierWait(this.path, waitMs(o)), o, {}, true);
    if (out.msg.error) throw fromWire(out.msg.error);
  }
}

/** A double barrier: `count` members start together and finish together. */
export class DoubleBarrier {
  readonly path: string;
  readonly count: number;
  readonly member: string;
  readonly #c: Engine;

  /** @internal */
  constructor(c: Engine, path: string, count: number, member: string) {
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
  readonly #c: Engine;

  /** @internal */
  constructor(c: Engine, path: string) {
    this.#c = c;
    this.path = path;
  }

  /** Appends data and returns the item's key. */
  async put(data: Data, o: CallOptions = {}): Promise<string> {
    return this.#c._grant(requests.queuePut(this.path, toBytes(data)), o, false, "keep", (r) => str(r["key"]));
  }

  /** Removes and returns the first item, waiting for one while the queue is empty. */
  async take(o: CallOptions = {}): Promise<QueueItem> {
    return this.#c._grant(requests.queueTake(this.path, waitMs(o)), o, true, "keep", parseQueueItem);
  }

  /** Removes and returns the first item, or resolves null when the queue is empty. */
  tryTake(o: CallOptions = {}): Promise<QueueItem | null> {
    return orNull(this.take({ ...o, timeoutMs: 0 }));
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
  readonly #c: Engine;

  /** @internal */
  constructor(c: Engine, path: string) {
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
