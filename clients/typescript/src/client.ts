// The client: a connection to the local agent and the session it carries,
// with every op and recipe. The machinery is in engine.ts (connection,
// session, requests) and resume.ts; the znode ops in znode.ts; the recipes
// in locks.ts, config.ts and recipes.ts.

import { Config } from "./config.js";
import { acquireLease, Election, lockCheck, orNull, Semaphore, type Lease } from "./locks.js";
import type { CallOptions, ConnectOptions } from "./options.js";
import { Barrier, Counter, DoubleBarrier, Group, progress, Queue, Task, watchProgress, type Membership } from "./recipes.js";
import { requests } from "./requests.js";
import type { Stream } from "./stream.js";
import type { GroupMember, MemberEvent, TaskEvent, TaskReport } from "./types.js";
import type { Data, Uint } from "./wire.js";
import { Znodes } from "./znode.js";

export type { CallOptions, ConnectOptions, CreateOptions, ResumeToken, SessionState, SubscribeOptions, VersionOptions, WatchOptions } from "./options.js";
export { op, Subscription, Watch, type MultiOp } from "./znode.js";

/**
 * A connection to the local Warden agent and the session it carries. Make
 * one with `connect()`. Every method may be called concurrently: requests
 * are pipelined on the one connection and answered independently.
 */
export class Client extends Znodes {
  // --------------------------------------------------------------- locks

  /**
   * Acquires the lock at path, waiting in line (first come, first served).
   * timeoutMs is passed to the agent as the longest wait (then
   * TimeoutError). Aborting the signal cancels the wait; a lock granted
   * just as the abort arrived is released at once.
   */
  lock(path: string, o: CallOptions = {}): Promise<Lease> {
    return acquireLease(this, "lock", path, o);
  }

  /** Acquires the lock only if it is free now; otherwise resolves null. */
  tryLock(path: string, o: CallOptions = {}): Promise<Lease | null> {
    return orNull(acquireLease(this, "lock", path, { ...o, timeoutMs: 0 }));
  }

  /** Acquires the lock at path for reading (shared with other readers, never with a writer). */
  readLock(path: string, o: CallOptions = {}): Promise<Lease> {
    return acquireLease(this, "read_lock", path, o);
  }

  /** Acquires the lock for reading only if it can be had now (no writer holds it or is in line); otherwise resolves null. */
  tryReadLock(path: string, o: CallOptions = {}): Promise<Lease | null> {
    return orNull(acquireLease(this, "read_lock", path, { ...o, timeoutMs: 0 }));
  }

  /** Acquires the lock at path for writing (the same as lock). */
  writeLock(path: string, o: CallOptions = {}): Promise<Lease> {
    return acquireLease(this, "write_lock", path, o);
  }

  /** Acquires the lock for writing only if it is free now; otherwise resolves null. */
  tryWriteLock(path: string, o: CallOptions = {}): Promise<Lease | null> {
    return orNull(acquireLease(this, "write_lock", path, { ...o, timeoutMs: 0 }));
  }

  /** Whether token is the fencing token of the current holder of the lock at path. */
  lockCheck(path: string, token: Uint, o: CallOptions = {}): Promise<boolean> {
    return lockCheck(this, path, token, o);
  }

  /** Releases a lease by its key (for a session resumed by a new client). */
  async unlock(key: string, o: CallOptions = {}): Promise<void> {
    await this._release(key, requests.unlock(key), o);
  }

  /** The counting semaphore at path with n leases. */
  semaphore(path: string, n: number): Semaphore {
    return new Semaphore(this, path, n);
  }

  // ------------------------------------------------------------- recipes

  /** The election at path. */
  election(path: string): Election {
    return new Election(this, path);
  }

  /** The config value at path. */
  config(path: string): Config {
    return new Config(this, path);
  }

  /** The task `task` of `job`, to report progress for. */
  task(job: string, task: string): Task {
    return new Task(this, job, task);
  }

  /**
   * The latest report of every live task of job, in task name order, as
   * this agent knows them, this client's accepted reports included.
   */
  progress(job: string, o: CallOptions = {}): Promise<TaskReport[]> {
    return progress(this, job, o);
  }

  /** Follows the tasks of job: each current task first, then every report and every task's end. */
  watchProgress(job: string, o: { signal?: AbortSignal } = {}): Stream<TaskEvent> {
    return watchProgress(this, job, o);
  }

  /** The group `name`. */
  group(name: string): Group {
    return new Group(this, name);
  }

  /** Joins group as member with data. */
  join(group: string, member: string, data?: Data, o: CallOptions = {}): Promise<Membership> {
    return this.group(group).join(member, data, o);
  }

  /** Leaves group as member. */
  leave(group: string, member: string, o: CallOptions = {}): Promise<void> {
    return this.group(group).leave(member, o);
  }

  /** The members of group, in id order. */
  groupMembers(group: string, o: CallOptions = {}): Promise<GroupMember[]> {
    return this.group(group).members(o);
  }

  /** Follows group: each current member first, then every join, change and leave. */
  watchGroup(group: string, o: { signal?: AbortSignal } = {}): Stream<MemberEvent> {
    return this.group(group).watch(o);
  }

  /** The barrier at path. */
  barrier(path: string): Barrier {
    return new Barrier(this, path);
  }

  /** The double barrier at path for count members, as member. */
  doubleBarrier(path: string, count: number, member: string): DoubleBarrier {
    return new DoubleBarrier(this, path, count, member);
  }

  /** The queue at path. */
  queue(path: string): Queue {
    return new Queue(this, path);
  }

  /** The counter at path. */
  counter(path: string): Counter {
    return new Counter(this, path);
  }
}

/**
 * Connects to the agent and opens a session (or resumes one).
 *
 *     const client = await connect({ socket: "/run/warden.sock" });
 */
export async function connect(opts: ConnectOptions = {}): Promise<Client> {
  const c = new Client(opts);
  await c.open();
  return c;
}
