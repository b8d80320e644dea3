// Config values kept in znodes, and their subscriptions.

import type { Engine } from "./engine.js";
import { NoNodeError, NodeExistsError } from "./errors.js";
import type { CallOptions } from "./options.js";
import { requests } from "./requests.js";
import { SKIP, Stream } from "./stream.js";
import { parseChange } from "./types.js";
import { text, toBytes, type Data, type Request } from "./wire.js";
import { Cursor, type Znodes } from "./znode.js";

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
  /** The value's version (when deleted, the last one it had; 0 for a deleted update of a resync, which does not carry it). */
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
   * recursive it follows the whole subtree. A resumable session's config
   * subscriptions are opened again by the client after a resume, from the
   * last update handed out.
   */
  subscribe(o: { fromZxid?: number; recursive?: boolean; signal?: AbortSignal } = {}): ConfigSubscription {
    return new ConfigSubscription(this.#c, this.path, o.recursive === true, o.fromZxid ?? 0, o.signal);
  }
}

/**
 * An ordered stream of a config's updates; iterate with `for await`. The
 * agent folds every resync for it (protocol section 6.18, `fold`): each
 * event is one update, the nodes that exist, then, as deleted, the nodes
 * it had reported that are gone, the last update of a resync marked
 * synced.
 */
export class ConfigSubscription extends Stream<ConfigUpdate> {
  readonly #at: { last: number };

  /** @internal */
  constructor(c: Engine, path: string, tree: boolean, from: number, signal?: AbortSignal) {
    const scope = tree ? "subtree" : "node";
    const at = { last: from };
    const cursor = new Cursor(from);
    // The paths the app was told exist: after a resume, the agent reports those gone as deleted.
    const known = new Set<string>();
    const reopen = (): Request => {
      const z = cursor.reopenFrom();
      return requests.subscribe(path, scope, z, true, [...known]);
    };
    super(
      c._openStream(requests.subscribe(path, scope, from, true), signal ? { signal } : {}, reopen),
      (b) => {
        const ev = parseChange(b);
        let resync = false;
        let deleted: boolean;
        switch (ev.type) {
          case "resync":
            resync = true;
            deleted = ev.deleted;
            cursor.resync(ev.zxid, ev.synced);
            break;
          case "created":
          case "data_changed":
          case "deleted":
            if (ev.zxid <= from) return SKIP; // replayed again by an agent catching up: handled before
            if (cursor.replayed(ev.zxid)) return SKIP; // handed out before the resume
            deleted = ev.type === "deleted";
            cursor.change(ev.zxid);
            break;
          default:
            return SKIP;
        }
        if (deleted) known.delete(ev.path);
        else known.add(ev.path);
        at.last = ev.zxid;
        return {
          path: ev.path,
          value: deleted ? new Uint8Array(0) : ev.data,
          text: deleted ? "" : text(ev.data),
          version: ev.stat.version,
          zxid: ev.zxid,
          deleted,
          resync,
          synced: resync && ev.synced,
        };
      },
      signal,
    );
    this.#at = at;
  }

  /** The zxid of the last update handed out (or the one resumed from): where to resume. */
  get lastZxid(): number {
    return this.#at.last;
  }
  set lastZxid(zxid: number) {
    this.#at.last = zxid;
  }
}
