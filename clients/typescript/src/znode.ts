// The znode ops (create, get, set, delete, exists, children, multi, sync),
// the cluster's views (status, members, sessions), one-shot watches and
// subscriptions.

import { Engine } from "./engine.js";
import { fromWire, WardenError } from "./errors.js";
import { checkVersion, raceAbort, type CallOptions, type CreateOptions, type SubscribeOptions, type VersionOptions, type WatchOptions } from "./options.js";
import { requests, ops as requestsOps, type CreateFlags, type Scope } from "./requests.js";
import { RawStream, SKIP, Stream } from "./stream.js";
import {
  parseChange,
  parseChildren,
  parseGet,
  parseMembers,
  parseMulti,
  parseSessions,
  parseStat,
  parseStatus,
  parseWatchEvent,
  type ChangeEvent,
  type ChildrenResult,
  type GetResult,
  type Member,
  type OpResult,
  type SessionInfo,
  type Stat,
  type Status,
  type WatchEvent,
} from "./types.js";
import { toBytes, toNumber, type Data, type Fields, type Request, type WireOp } from "./wire.js";

/** A handle for a one-shot watch set by get, exists or children. */
export class Watch {
  private raw: RawStream;
  private fired: Promise<WatchEvent> | null = null;

  /** @internal */
  constructor(raw: RawStream) {
    this.raw = raw;
  }

  /** The stream's id at the agent. */
  get sub(): number {
    return this.raw.sub;
  }

  /**
   * Resolves with the event that fired the watch. It may be called any
   * number of times, concurrently: every call gets the same event.
   * Aborting a call's signal rejects that call only; the watch stays.
   */
  wait(opts: { signal?: AbortSignal } = {}): Promise<WatchEvent> {
    if (!this.fired) {
      this.fired = this.raw.next().then((b) => {
        if (b === null) throw new WardenError("watch_stopped", "the watch was stopped");
        this.raw.forget(); // a watch fires once; the agent has ended it
        return parseWatchEvent(b);
      });
      this.fired.catch(() => undefined); // surfaced through the callers' promises
    }
    return raceAbort(this.fired, opts.signal);
  }

  /** Removes a watch that has not fired. */
  stop(): Promise<void> {
    return this.raw.close();
  }
}

/**
 * Where a subscription that a resume opens again starts: right after the
 * last event handed out to the app, so that no change is missed or handed
 * out twice. One zxid may carry several changes (a multi): when only some
 * were handed out, the subscription starts again at that zxid and drops
 * the ones handed out already. A resync cut short starts over.
 * @internal
 */
export class Cursor {
  /** The zxid of the last change (or end of a resync) handed out, or the one resumed from. */
  zxid: number;
  /** How many changes at zxid were handed out. */
  #n = 0;
  /** A resync is being handed out. */
  #resync = false;
  /** After starting again at zxid: how many changes at zxid to drop. */
  #skip = 0;

  constructor(from: number) {
    this.zxid = from;
  }

  /** Starts again after zxid, as if resumed from it. */
  reset(zxid: number): void {
    this.zxid = zxid;
    this.#n = this.#skip = 0;
    this.#resync = false;
  }

  /** Whether a change at zxid, after the subscription was opened again, is one handed out before (to drop). */
  replayed(zxid: number): boolean {
    if (this.#skip > 0 && zxid === this.zxid) {
      this.#skip--;
      return true;
    }
    this.#skip = 0;
    return false;
  }

  /** A change at zxid was handed out. */
  change(zxid: number): void {
    if (zxid === this.zxid) this.#n++;
    else {
      this.zxid = zxid;
      this.#n = 1;
    }
    this.#resync = false;
  }

  /** A resync event was handed out; last: the one that ends it, the state being at zxid. */
  resync(zxid: number, last: boolean): void {
    this.#skip = 0;
    this.#resync = !last;
    if (last) {
      this.zxid = zxid;
      this.#n = 0;
    }
  }

  /** The from_zxid to open the subscription again with (0: start over with the current state). */
  reopenFrom(): number {
    this.#skip = 0;
    if (this.#resync) return 0;
    if (this.#n > 0 && this.zxid > 1) {
      this.#skip = this.#n;
      return this.zxid - 1;
    }
    return this.zxid;
  }
}

/**
 * A subscription: every change under a path, in zxid order. Iterate it
 * with `for await`; breaking out unsubscribes. `lastZxid` is the zxid to
 * resume from (on this or a new connection) with `fromZxid`. A resumable
 * session's subscriptions are opened again by the client after a resume,
 * from the last event handed out: no change is missed or handed out twice
 * (a resync cut short by the drop starts over).
 */
export class Subscription extends Stream<ChangeEvent> {
  readonly #at: Cursor;

  /** @internal */
  constructor(c: Engine, path: string, scope: Scope | undefined, fromZxid: number, signal?: AbortSignal) {
    const at = new Cursor(fromZxid);
    super(
      c._openStream(requests.subscribe(path, scope, fromZxid), signal ? { signal } : {}, () => requests.subscribe(path, scope, at.reopenFrom())),
      (b) => {
        const ev = parseChange(b);
        if (ev.type === "resync" || ev.type === "synced") at.resync(ev.zxid, ev.type === "synced");
        else if (at.replayed(ev.zxid)) return SKIP;
        else at.change(ev.zxid);
        return ev;
      },
      signal,
    );
    this.#at = at;
  }

  /** The zxid of the last change (or `synced`) handed out, or the one resumed from. */
  get lastZxid(): number {
    return this.#at.zxid;
  }
  set lastZxid(zxid: number) {
    this.#at.reset(zxid);
  }
}

/** One op of a multi: build with `op.create`, `op.delete`, `op.set`, `op.check`. */
export type MultiOp = WireOp;

/** Builders for multi ops; data may be a string (sent as UTF-8) or bytes. */
export const op = {
  create(path: string, data?: Data, flags: CreateFlags = {}): MultiOp {
    return requestsOps.create(path, toBytes(data), flags);
  },
  delete(path: string, version = -1): MultiOp {
    return requestsOps.delete(path, checkVersion(version));
  },
  set(path: string, data: Data | undefined, version = -1): MultiOp {
    return requestsOps.set(path, toBytes(data), checkVersion(version));
  },
  check(path: string, version = -1): MultiOp {
    return requestsOps.check(path, checkVersion(version));
  },
};

/** The znode ops of a client (see Client). */
export class Znodes extends Engine {
  /** Creates a node and returns its path (with the sequence suffix, for sequential nodes). */
  async create(path: string, data?: Data | null, o: CreateOptions = {}): Promise<string> {
    const r = await this._call(requests.create(path, toBytes(data), o), o);
    return typeof r["path"] === "string" ? r["path"] : path;
  }

  /** Reads a node's data and Stat; with `watch: true`, also sets a one-shot watch. */
  get(path: string, o: WatchOptions & { watch: true }): Promise<GetResult & { watch: Watch }>;
  get(path: string, o?: WatchOptions & { watch?: false }): Promise<GetResult>;
  get(path: string, o: WatchOptions): Promise<GetResult & { watch?: Watch }>;
  async get(path: string, o: WatchOptions = {}): Promise<GetResult & { watch?: Watch }> {
    if (!o.watch) return parseGet(await this._call(requests.get(path), o));
    const { result, watch } = await this.#watchCall(requests.get(path, true), o);
    return { ...parseGet(result), watch };
  }

  /** Replaces a node's data (only at `version`, if given). Returns the new Stat. */
  async set(path: string, data: Data | null | undefined, o: VersionOptions = {}): Promise<Stat> {
    const r = await this._call(requests.set(path, toBytes(data), checkVersion(o.version)), o);
    return parseStat(r["stat"]);
  }

  /** Deletes a childless node (only at `version`, if given). */
  async delete(path: string, o: VersionOptions = {}): Promise<void> {
    await this._call(requests.delete(path, checkVersion(o.version)), o);
  }

  /** The node's Stat, or null when it does not exist; with `watch: true`, also a one-shot watch. */
  exists(path: string, o: WatchOptions & { watch: true }): Promise<{ stat: Stat | null; watch: Watch }>;
  exists(path: string, o?: WatchOptions & { watch?: false }): Promise<Stat | null>;
  /** With a `watch` known only at run time: the result is `{ stat, watch }` when it is true, the Stat or null otherwise. */
  exists(path: string, o: WatchOptions): Promise<Stat | null | { stat: Stat | null; watch: Watch }>;
  async exists(path: string, o: WatchOptions = {}): Promise<Stat | null | { stat: Stat | null; watch: Watch }> {
    if (!o.watch) {
      const r = await this._call(requests.exists(path), o);
      return r["exists"] === true ? parseStat(r["stat"]) : null;
    }
    const { result, watch } = await this.#watchCall(requests.exists(path, true), o);
    return { stat: result["exists"] === true ? parseStat(result["stat"]) : null, watch };
  }

  /** The names of a node's children, in byte order; with `watch: true`, also their parent's Stat and a one-shot watch. */
  children(path: string, o: WatchOptions & { watch: true }): Promise<ChildrenResult & { watch: Watch }>;
  children(path: string, o?: WatchOptions & { watch?: false }): Promise<string[]>;
  /** With a `watch` known only at run time: the result is `{ children, stat, watch }` when it is true, the names otherwise. */
  children(path: string, o: WatchOptions): Promise<string[] | (ChildrenResult & { watch: Watch })>;
  async children(path: string, o: WatchOptions = {}): Promise<string[] | (ChildrenResult & { watch: Watch })> {
    if (!o.watch) return parseChildren(await this._call(requests.children(path), o)).children;
    const { result, watch } = await this.#watchCall(requests.children(path, true), o);
    return { ...parseChildren(result), watch };
  }

  /** The children's names and the parent's Stat. */
  async childrenWithStat(path: string, o: CallOptions = {}): Promise<ChildrenResult> {
    return parseChildren(await this._call(requests.children(path), o));
  }

  async #watchCall(req: Request, o: CallOptions): Promise<{ result: Fields; watch: Watch }> {
    const out = await this._roundTrip(req, o, { opens: (sub) => new RawStream(this, sub) });
    if (out.msg.error) throw fromWire(out.msg.error);
    if (!out.stream) throw new WardenError("internal", `${req.op} set no watch`);
    return { result: out.msg.result ?? {}, watch: new Watch(out.stream) };
  }

  /**
   * Applies ops all or nothing. When one is refused nothing is applied and
   * the error's `index` names the op.
   */
  async multi(ops: MultiOp[], o: CallOptions = {}): Promise<OpResult[]> {
    return parseMulti(await this._call(requests.multi(ops), o));
  }

  /** Waits until this agent has applied every write committed before the call; returns the zxid reached. */
  async sync(o: CallOptions = {}): Promise<number> {
    const r = await this._call(requests.sync(), o);
    return toNumber(r["zxid"], "zxid");
  }

  /** This agent's view of the cluster. */
  async status(o: CallOptions = {}): Promise<Status> {
    return parseStatus(await this._call(requests.status(), o));
  }

  /** The cluster's agents. (Group members: `group(name).members()`.) */
  async members(o: CallOptions = {}): Promise<Member[]> {
    return parseMembers(await this._call(requests.members(), o));
  }

  /**
   * The cluster's open sessions, by id, as this agent's copy of the tree
   * has them (this client's own included), each with what it holds or
   * waits for (`holds`: locks, leaderships, memberships, other ephemeral
   * nodes). Needs read access to "/"; works on a connection without a
   * session.
   */
  async sessions(o: CallOptions = {}): Promise<SessionInfo[]> {
    return parseSessions(await this._call(requests.sessions(), o));
  }

  /**
   * Streams every change under path, in zxid order, as an async iterable.
   * Without fromZxid it starts with the current state (`resync` events,
   * then `synced`); with it, it replays the changes after that zxid.
   * The request is sent at once; `await sub.ready` to know it is in place.
   * A resumable session's subscriptions survive a resume (see Subscription).
   */
  subscribe(path: string, o: SubscribeOptions = {}): Subscription {
    const scope: Scope | undefined = o.recursive ? "subtree" : o.scope;
    return new Subscription(this, path, scope, o.fromZxid ?? 0, o.signal);
  }
}
