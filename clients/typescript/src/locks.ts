// Locks, read-write locks, semaphores and elections: the grants a session
// holds, each with its key and fencing token.

import type { Engine } from "./engine.js";
import { NotHeldError, TimeoutError } from "./errors.js";
import { waitMs, type CallOptions } from "./options.js";
import { requests } from "./requests.js";
import { Stream } from "./stream.js";
import { parseLeader, parseLease, type Leader } from "./types.js";
import { str, toBytes, type Data, type Fields, type Uint } from "./wire.js";

/** The key of a grant's result: what undoing it needs, read so that it cannot fail. */
function keyOf(r: Fields): string {
  return str(r["key"]);
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
  readonly client: Engine;
  /** The lock's path. */
  readonly path: string;
  /** The lease's key: its own node, under the lock's path. */
  readonly key: string;
  /** The fencing token (the creation zxid of the lease's node). */
  readonly token: number;

  /** @internal */
  constructor(client: Engine, path: string, key: string, token: number) {
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

  /** Releases the lock at the end of an `await using` block (quietly; through a resume, if one is under way). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.client._drop(this.key, requests.unlock(this.key));
  }
}

export async function lockCheck(c: Engine, path: string, token: Uint, o: CallOptions = {}): Promise<boolean> {
  const r = await c._call(requests.lockCheck(path, token), o);
  return r["held"] === true;
}

export async function acquireLease(
  c: Engine,
  op: "lock" | "read_lock" | "write_lock",
  path: string,
  o: CallOptions,
): Promise<Lease> {
  const wait = waitMs(o);
  const req =
    op === "lock" ? requests.lock(path, wait) : op === "read_lock" ? requests.readLock(path, wait) : requests.writeLock(path, wait);
  const l = await c._grant(req, o, true, (res) => c._drop(keyOf(res), requests.unlock(keyOf(res))), parseLease);
  return new Lease(c, path, l.key, l.token);
}

/** A try variant's result: the grant, or null when it was not free (the agent answered timeout). */
export async function orNull<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof TimeoutError) return null;
    throw e;
  }
}

// ------------------------------------------------------------ semaphore

/** A counting semaphore: at most `n` sessions hold one of its leases at a time. */
export class Semaphore {
  readonly path: string;
  readonly n: number;
  readonly #c: Engine;

  /** @internal */
  constructor(c: Engine, path: string, n: number) {
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
      (res) => c._drop(keyOf(res), requests.semaphoreRelease(keyOf(res))),
      parseLease,
    );
    return new SemaphoreLease(c, this.path, l.key, l.token);
  }

  /** Takes a lease only if one is free now; otherwise resolves null. */
  tryAcquire(o: CallOptions = {}): Promise<SemaphoreLease | null> {
    return orNull(this.acquire(tryOpts(o)));
  }
}

/** One held lease of a semaphore. */
export class SemaphoreLease {
  readonly path: string;
  readonly key: string;
  readonly token: number;
  readonly #c: Engine;

  /** @internal */
  constructor(c: Engine, path: string, key: string, token: number) {
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
  /** This candidate's key: its own node, under the election's path. */
  readonly key: string;
  /** The fencing token: strictly increasing from one leader to the next. */
  readonly token: number;
  readonly #c: Engine;

  /** @internal */
  constructor(c: Engine, path: string, key: string, token: number) {
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
  readonly #c: Engine;

  /** @internal */
  constructor(c: Engine, path: string) {
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
      (res) => c._drop(keyOf(res), requests.resign(keyOf(res), typeof res["token"] === "bigint" || typeof res["token"] === "number" ? res["token"] : undefined)),
      parseLease,
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
   * After a resume of a resumable session it starts again with the
   * current leader.
   */
  observe(o: { signal?: AbortSignal } = {}): Stream<Leader | null> {
    const req = requests.observe(this.path);
    const start = this.#c._openStream(req, o, () => req);
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
