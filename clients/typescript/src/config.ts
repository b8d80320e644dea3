// Config values kept in znodes, and their subscriptions.

import { NoNodeError, NodeExistsError } from "./errors.js";
import type { CallOptions } from "./options.js";
import type { ChangeEvent } from "./types.js";
import { text, toBytes, type Data } from "./wire.js";
import type { Subscription, Znodes } from "./znode.js";


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
  readonly #c: Znodes;

  /** @internal */
  constructor(c: Znodes, path: string) {
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
