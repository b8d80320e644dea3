// The client: one connection to the local agent carrying one session, and
// for a resumable session the reconnects that carry it on.

import * as net from "node:net";

import {
  ConnectionClosedError,
  fromWire,
  SessionExpiredError,
  SessionLostError,
  TimeoutError,
  TooLargeError,
  UnsupportedVersionError,
  WardenError,
  BadArgumentsError,
  NoNodeError,
  NotHeldError,
} from "./errors.js";
import { requests, ops as requestsOps, type CreateFlags, type Scope } from "./requests.js";
import { RawStream, Stream, type StreamOwner } from "./stream.js";
import {
  acquireLease,
  Barrier,
  Config,
  Counter,
  DoubleBarrier,
  Election,
  Group,
  lockCheck,
  Membership,
  progress,
  Queue,
  Semaphore,
  Task,
  watchProgress,
  type Lease,
} from "./recipes.js";
import type { GroupMember, HelloResult, MemberEvent, TaskEvent, TaskReport } from "./types.js";
import {
  parseChange,
  parseChildren,
  parseGet,
  parseHello,
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
import { checkSocketOwner, socketPath } from "./socket.js";
import {
  decodeMessage,
  encodeRequest,
  FrameReader,
  toBytes,
  toNumber,
  FrameTooLargeError,
  type Data,
  type Fields,
  type Message,
  type Request,
  type Uint,
  type WireOp,
} from "./wire.js";

/** Options of every call that may wait. */
export interface CallOptions {
  /** Aborting it cancels the request at the agent (protocol 11.3) and rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * The longest the call may take, in ms: a non-negative number, or
   * Infinity (the default: no limit). Anything else (negative, NaN, not a
   * number, above 2^53) is refused with BadArgumentsError. For calls that
   * wait for a grant (lock, campaign, acquire, take, barrier waits) it is
   * passed to the agent as `wait_ms`, which then answers TimeoutError; for
   * the others the client cancels the request and rejects with
   * TimeoutError. (A client-side limit above 2^31 - 1 ms, about 24.8
   * days, is not timed by the client.)
   */
  timeoutMs?: number;
}

/**
 * Session states: `connected`, `suspended` and `lost` come from the
 * agent; `disconnected` (a resumable session's connection dropped, the
 * client is resuming it) and `closed` (the connection ended for good) are
 * the client's own. Future agents may add states: treat unknown ones as
 * informational.
 */
export type SessionState = "connected" | "suspended" | "lost" | "disconnected" | "closed" | (string & {});

/** What a resumable session needs to be taken up again. Keep it private. */
export interface ResumeToken {
  sessionId: number;
  secret: Uint8Array;
}

export interface ConnectOptions {
  /**
   * The agent's socket; default $WARDEN_SOCKET, then defaultSocketPath().
   * It must belong to root or to the expected user ($WARDEN_SOCKET_OWNER,
   * else this process's), or connect fails with SocketOwnerError before
   * connecting.
   */
  socket?: string;
  /** The session timeout to ask for, in ms; default the agent's (10 s). */
  sessionTimeoutMs?: number;
  /** A name for this client, recorded on the session for operators. */
  name?: string;
  /** Ask for a session that outlives its connection for its timeout; the client then resumes it by itself after a drop. */
  resumable?: boolean;
  /** Ask the agent to end the session if this client goes silent for a timeout; the client pings every third of it. */
  heartbeat?: boolean;
  /**
   * How often a heartbeat session pings, in ms; default a third of the
   * granted timeout. Setting it above the timeout makes the agent end the
   * session (for testing what an app does on `lost`).
   */
  heartbeatIntervalMs?: number;
  /** Take up an earlier resumable session instead of opening one. */
  resume?: ResumeToken;
  /** Connect without a session, for read-only tools. */
  noSession?: boolean;
  /** Called with every session state (see SessionState). It must return quickly. */
  onSessionState?: (state: SessionState, info: { sessionId: number }) => void;
  /** Abort the connect (and handshake). */
  signal?: AbortSignal;
  /** The longest connect and hello may take, in ms (default 30000). */
  timeoutMs?: number;
  /**
   * Automatic resume of a resumable session after its connection drops
   * (default true). When false, a drop ends the client with
   * ConnectionClosedError; resume by hand with `resume: client.resumeToken`.
   */
  autoResume?: boolean;
  /** The protocol version to state in hello. Only for tests of version negotiation. */
  protocol?: number;
}

interface Reply {
  msg: Message;
  stream?: RawStream;
}

interface Pending {
  resolve(r: Reply): void;
  reject(e: Error): void;
  opens: boolean;
  /** A grant request (op, path) whose contender node must be reclaimed if the connection drops while it waits. */
  grant?: GrantRequest;
}

/** A grant request in flight (see RECLAIM_OPS). */
interface GrantRequest {
  op: string;
  path: string;
}

/**
 * The grant requests that queue a contender node at the agent. When a
 * resumable session's connection drops while one waits, the node stays
 * (the session lives on): the client removes it after the resume.
 */
const RECLAIM_OPS: ReadonlySet<string> = new Set(["lock", "read_lock", "write_lock", "semaphore_acquire", "campaign"]);

/** The largest delay setTimeout takes; above it Node fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Checks a call's timeoutMs: undefined, a non-negative number or Infinity. @internal */
export function checkTimeout(ms: unknown): void {
  if (ms === undefined || ms === Infinity) return;
  if (typeof ms !== "number" || Number.isNaN(ms) || ms < 0 || ms > Number.MAX_SAFE_INTEGER) {
    throw new BadArgumentsError(
      "bad_arguments",
      `timeoutMs must be a non-negative number of ms, or Infinity to wait without limit; got ${String(ms)}`,
    );
  }
}

/** Checks a version argument: an integer, -1 (any version) or more. @internal */
export function checkVersion(v: unknown): number {
  if (v === undefined) return -1;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < -1) {
    throw new BadArgumentsError("bad_arguments", `version must be an integer, -1 (any) or more; got ${String(v)}`);
  }
  return v;
}

/** One socket and what is in flight on it. */
class Conn {
  readonly socket: net.Socket;
  readonly reader = new FrameReader();
  readonly pending = new Map<number, Pending>();
  readonly streams = new Map<number, RawStream>();
  handshake = true;
  ended = false;
  lastError: Error | null = null;
  fatal: WardenError | null = null;
  /**
   * Session states the agent reported before the connection became the
   * client's (during hello and the reclaim after a resume); reported
   * once it has. null once it has.
   */
  held: Array<[SessionState, number]> | null = [];
  readonly closed: Promise<void>;

  constructor(socket: net.Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
  }
}

/** What a call returns when it waited for its reply after an abort (see roundTrip). */
interface Outcome {
  msg: Message;
  stream?: RawStream;
  /** Set when the caller gave up: the reason it did. */
  aborted?: unknown;
}

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

export interface SubscribeOptions {
  /** `node` (default), `children` or `subtree`. */
  scope?: Scope;
  /** Shorthand for scope "subtree". */
  recursive?: boolean;
  /** Resume after this zxid (the last event handled); 0 starts with the current state. */
  fromZxid?: number;
  /** Aborting it ends the stream. */
  signal?: AbortSignal;
}

/**
 * A subscription: every change under a path, in zxid order. Iterate it
 * with `for await`; breaking out unsubscribes. `lastZxid` is the zxid to
 * resume from (on this or a new connection) with `fromZxid`.
 */
export class Subscription extends Stream<ChangeEvent> {
  /** The zxid of the last change event handed out (or the one resumed from). */
  lastZxid: number;

  /** @internal */
  constructor(start: Promise<RawStream>, fromZxid: number, signal?: AbortSignal) {
    super(
      start,
      (b) => {
        const ev = parseChange(b);
        if (ev.type !== "resync") this.lastZxid = Math.max(this.lastZxid, ev.zxid);
        return ev;
      },
      signal,
    );
    this.lastZxid = fromZxid;
  }
}

export interface CreateOptions extends CallOptions, CreateFlags {}
export interface VersionOptions extends CallOptions {
  /** Only if the node has this version; -1 (default) matches any. */
  version?: number;
}
export interface WatchOptions extends CallOptions {
  /** Also set a one-shot watch. */
  watch?: boolean;
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

let warnedUnhandled = false;

/**
 * A connection to the local Warden agent and the session it carries. Make
 * one with `connect()`. Every method may be called concurrently: requests
 * are pipelined on the one connection and answered independently.
 */
export class Client implements StreamOwner {
  readonly #opts: ConnectOptions;
  readonly #path: string;
  #conn: Conn | null = null;
  #dialing: Conn | null = null;
  #nextId = 1;
  #sessionId = 0;
  #secret: Uint8Array | undefined;
  #timeoutMs = 0;
  #agent = "";
  #protocol = 0;
  #state: SessionState = "closed";
  #terminal: WardenError | null = null;
  #reconnect: Promise<void> | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #resumes = 0;
  /** The keys of the grants handed to the app and not given back (lock, semaphore and election leases). */
  readonly #holds = new Set<string>();
  /** The grant requests that were in flight when a connection dropped: their nodes are removed after the resume. */
  readonly #toReclaim = new Map<string, GrantRequest>();
  #closedResolve!: () => void;
  /** Resolves once the client has ended for good (closed, lost). */
  readonly done: Promise<void>;

  /** @internal use connect() */
  constructor(opts: ConnectOptions) {
    this.#opts = opts;
    this.#path = socketPath(opts.socket);
    this.done = new Promise((r) => (this.#closedResolve = r));
  }

  /** The session's id (0 for a connection without a session). */
  get sessionId(): number {
    return this.#sessionId;
  }
  /** The session timeout the agent granted, in ms. */
  get sessionTimeoutMs(): number {
    return this.#timeoutMs;
  }
  /** The name of the agent this client talks to. */
  get agent(): string {
    return this.#agent;
  }
  /** The protocol version the agent speaks on this connection. */
  get protocol(): number {
    return this.#protocol;
  }
  /** The socket path. */
  get socket(): string {
    return this.#path;
  }
  /** The last session state reported. */
  get state(): SessionState {
    return this.#state;
  }
  /** How many times the session was resumed after its connection dropped. */
  get resumes(): number {
    return this.#resumes;
  }
  /** Why the client ended, once it has; null while it is usable. */
  get error(): WardenError | null {
    return this.#terminal;
  }
  /** The id and secret that resume this session, or null when it is not resumable. */
  get resumeToken(): ResumeToken | null {
    if (!this.#secret) return null;
    return { sessionId: this.#sessionId, secret: new Uint8Array(this.#secret) };
  }

  // ---------------------------------------------------------------- setup

  /** @internal */
  async open(): Promise<void> {
    const o = this.#opts;
    const hello = requests.hello({
      protocol: o.protocol,
      sessionTimeoutMs: o.sessionTimeoutMs,
      client: o.name,
      resumable: o.resumable,
      heartbeat: o.heartbeat,
      sessionId: o.resume?.sessionId,
      secret: o.resume?.secret,
      noSession: o.noSession,
    });
    checkTimeout(o.timeoutMs);
    const ms = o.timeoutMs ?? 30000;
    const { signal, dispose } = callSignal(o.signal, ms, () => new TimeoutError("timeout", `connect did not finish within ${ms} ms`));
    let conn: Conn;
    let res: HelloResult;
    try {
      conn = await this.#dial(signal);
      res = await this.#handshake(conn, hello, signal);
    } finally {
      dispose();
    }
    this.#dialing = null;
    if (this.#terminal || conn.ended) {
      conn.socket.destroy();
      throw this.#terminal ?? new ConnectionClosedError("the connection to the warden agent closed right after hello");
    }
    this.#sessionId = res.sessionId;
    this.#timeoutMs = res.sessionTimeoutMs;
    this.#agent = res.agent;
    this.#protocol = res.protocol;
    this.#secret = res.secret;
    this.#adopt(conn);
    if (o.heartbeat && this.#timeoutMs > 0) {
      this.#heartbeat = setInterval(() => {
        if (this.#conn && !this.#reconnect) this.ping().catch(() => undefined);
      }, o.heartbeatIntervalMs ?? Math.max(Math.floor(this.#timeoutMs / 3), 1));
      this.#heartbeat.unref();
    }
  }

  /** Makes conn the client's connection and reports `connected`, then what the agent reported meanwhile. */
  #adopt(conn: Conn): void {
    this.#conn = conn;
    const held = conn.held ?? [];
    conn.held = null;
    this.#setState("connected");
    for (const [state, sid] of held) this.#setState(state, sid);
  }

  #dial(signal: AbortSignal | undefined): Promise<Conn> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      try {
        checkSocketOwner(this.#path);
      } catch (e) {
        return reject(e);
      }
      const socket = net.createConnection({ path: this.#path });
      const conn = new Conn(socket);
      this.#dialing = conn;
      this.#attach(conn);
      const onAbort = (): void => {
        socket.destroy();
        reject(abortError(signal!));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      socket.once("connect", () => {
        signal?.removeEventListener("abort", onAbort);
        resolve(conn);
      });
      socket.once("error", (e) => {
        signal?.removeEventListener("abort", onAbort);
        reject(new ConnectionClosedError(`cannot connect to the warden agent at ${this.#path}: ${e.message}`, { cause: e }));
      });
      // Destroyed before it connected (close() during a reconnect): settle all the same.
      socket.once("close", () => {
        signal?.removeEventListener("abort", onAbort);
        reject(this.#terminal ?? new ConnectionClosedError(`the connection to the warden agent at ${this.#path} closed while connecting`));
      });
    });
  }

  async #handshake(conn: Conn, hello: Request, signal: AbortSignal | undefined) {
    try {
      const out = await this.#exchange(conn, hello, signal, false, false);
      const m = out.msg;
      if (m.error) {
        const e = fromWire(m.error);
        if (e instanceof UnsupportedVersionError) {
          e.message = `the warden agent does not speak protocol version ${hello.protocol}: ${m.error.message}`;
        }
        throw e;
      }
      const res = parseHello(m.result ?? {});
      conn.handshake = false;
      return res;
    } catch (e) {
      conn.socket.destroy();
      if (this.#dialing === conn) this.#dialing = null;
      throw e;
    }
  }

  #attach(conn: Conn): void {
    const s = conn.socket;
    s.on("data", (chunk: Buffer) => {
      if (conn.ended) return;
      let bodies: Buffer[];
      try {
        bodies = conn.reader.push(chunk);
      } catch (e) {
        this.#connLost(conn, new ConnectionClosedError(`connection closed: ${(e as Error).message}`, { cause: e }));
        return;
      }
      for (const b of bodies) {
        // Nothing in a frame may escape from this listener: a frame that
        // cannot be decoded or dispatched ends the connection instead.
        try {
          this.#dispatch(conn, decodeMessage(b));
        } catch (e) {
          this.#connLost(conn, new ConnectionClosedError(`connection closed: a bad frame from the agent: ${(e as Error).message}`, { cause: e }));
          return;
        }
        if (conn.ended) return;
      }
    });
    s.on("error", (e) => {
      conn.lastError = e;
    });
    s.on("close", () => {
      const why = conn.fatal
        ? `connection closed by the agent: ${conn.fatal.code}: ${conn.fatal.message}`
        : conn.lastError
          ? `connection to the warden agent closed: ${conn.lastError.message}`
          : "connection to the warden agent closed";
      this.#connLost(conn, new ConnectionClosedError(why, { cause: conn.fatal ?? conn.lastError ?? undefined }));
    });
  }

  #dispatch(conn: Conn, m: Message): void {
    if (m.id !== 0) {
      const p = conn.pending.get(m.id);
      if (!p) return; // a request the caller gave up on
      let stream: RawStream | undefined;
      if (p.opens && !m.error && m.result) {
        // Register the stream before reading on: its first event may be the very next frame.
        // (A sub that is not a safe integer throws here, with the request still pending:
        // the connection ends and the request fails with it.)
        const sub = toNumber(m.result["sub"] ?? m.result["watch"] ?? 0, "sub");
        if (sub !== 0) {
          stream = new RawStream(this, sub);
          conn.streams.set(sub, stream);
        }
      }
      conn.pending.delete(m.id);
      p.resolve(stream ? { msg: m, stream } : { msg: m });
      return;
    }
    if (m.event) {
      if (m.sub) {
        conn.streams.get(m.sub)?.push(m.body ?? {});
        return;
      }
      if (m.event === "session") {
        const body = m.body ?? {};
        const state = typeof body["state"] === "string" ? body["state"] : "";
        let sid = this.#sessionId;
        try {
          sid = toNumber(body["session_id"], "session_id");
        } catch {
          /* keep ours */
        }
        if (state === "lost") {
          this.#terminal ??= new SessionLostError("the warden agent reports the session lost");
          this.#setState("lost", sid);
          this.#failAll(conn, this.#terminal);
          this.#finish();
        } else if (state) {
          if (conn.held) conn.held.push([state, sid]);
          else if (conn === this.#conn) this.#setState(state, sid);
        }
      }
      return; // unknown events are ignored
    }
    if (m.error) {
      // A connection-level error: the agent is closing the connection.
      conn.fatal = fromWire(m.error);
      this.#connLost(
        conn,
        new ConnectionClosedError(`connection closed by the agent: ${m.error.code}: ${m.error.message}`, { cause: conn.fatal }),
      );
    }
  }

  /** Records and reports a state: only a change is reported. */
  #setState(state: SessionState, sessionId = this.#sessionId): void {
    if (state === this.#state) return;
    this.#state = state;
    const cb = this.#opts.onSessionState;
    if (!cb) return;
    try {
      cb(state, { sessionId });
    } catch (e) {
      if (!warnedUnhandled) {
        warnedUnhandled = true;
        process.emitWarning(`warden: onSessionState threw: ${(e as Error).message}`);
      }
    }
  }

  #failAll(conn: Conn, err: Error): void {
    const pending = [...conn.pending.values()];
    conn.pending.clear();
    const streams = [...conn.streams.values()];
    conn.streams.clear();
    for (const p of pending) p.reject(err);
    for (const s of streams) s.end(err);
  }

  #connLost(conn: Conn, err: WardenError): void {
    if (conn.ended) return;
    conn.ended = true;
    conn.socket.destroy();
    const current = !conn.handshake && conn === this.#conn;
    const o = this.#opts;
    const resuming = current && !this.#terminal && !!this.#secret && !o.noSession &&
      o.autoResume !== false && this.#timeoutMs > 0;
    if (current && !this.#terminal && !resuming && !o.noSession) {
      // The connection was the session: with it gone, the agent ends the
      // session (or the leader expires it), so nothing it held counts.
      this.#terminal = new SessionLostError(`the connection to the warden agent ended, and the session with it (${err.message})`, { cause: err });
    }
    if (resuming) {
      // Grant requests waiting now fail, but their contender nodes stay
      // with the session: remember them, to remove after the resume.
      for (const p of conn.pending.values()) {
        if (p.grant) this.#toReclaim.set(`${p.grant.op}\0${p.grant.path}`, p.grant);
      }
    }
    this.#failAll(conn, this.#terminal ?? err);
    if (!current) return;
    this.#conn = null;
    if (resuming) {
      this.#setState("disconnected");
      this.#startReconnect();
      return;
    }
    if (this.#terminal instanceof SessionLostError) {
      this.#setState("lost");
    } else {
      this.#terminal ??= err;
      this.#setState("closed");
    }
    this.#finish();
  }

  #finish(): void {
    if (this.#heartbeat) {
      clearInterval(this.#heartbeat);
      this.#heartbeat = null;
    }
    this.#closedResolve();
  }

  #startReconnect(): void {
    const deadline = Date.now() + this.#timeoutMs;
    this.#reconnect = (async () => {
      let delay = 20;
      let lastErr: unknown = null;
      while (!this.#terminal) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        try {
          const signal = AbortSignal.timeout(left);
          const conn = await this.#dial(signal);
          if (this.#terminal) {
            conn.socket.destroy();
            return;
          }
          await this.#handshake(conn, requests.hello({ sessionId: this.#sessionId, secret: this.#secret }), signal);
          if (this.#terminal) {
            conn.socket.destroy();
            return;
          }
          // Before `connected` and before any waiting call goes on: remove
          // what the grant requests in flight at the drop left queued.
          this.#dialing = conn; // close() ends it meanwhile
          await this.#reclaim(conn, signal);
          this.#dialing = null;
          if (this.#terminal) {
            conn.socket.destroy();
            return;
          }
          if (conn.ended) throw new ConnectionClosedError("the connection to the warden agent closed during the resume");
          this.#resumes++;
          this.#adopt(conn);
          return;
        } catch (e) {
          if (this.#dialing) {
            this.#dialing.socket.destroy();
            this.#dialing = null;
          }
          lastErr = e;
          if (e instanceof SessionExpiredError || e instanceof UnsupportedVersionError || e instanceof BadArgumentsError) break;
        }
        await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(deadline - Date.now(), 0))));
        delay = Math.min(delay * 2, 500);
      }
      if (this.#terminal) return;
      const why =
        lastErr instanceof SessionExpiredError
          ? `the session could not be resumed: ${lastErr.message}`
          : `the session could not be resumed within its timeout${lastErr instanceof Error ? `: ${lastErr.message}` : ""}`;
      this.#terminal = new SessionLostError(why, { cause: lastErr });
      this.#setState("lost");
      this.#finish();
    })().finally(() => {
      this.#reconnect = null;
    });
  }

  /**
   * Removes the contender nodes that grant requests in flight at a drop
   * left queued at the agent: under each remembered path, every candidate
   * node (lock-*, n-*, a semaphore's _lock/lock-* and leases/lease-*) that
   * belongs to this session and is not a grant held by the app. no_node is
   * ignored (the node went meanwhile); any other failure fails the resume
   * attempt, which is retried, and the remembered paths with it.
   */
  async #reclaim(conn: Conn, signal: AbortSignal): Promise<void> {
    const call = async (req: Request): Promise<Fields | null> => {
      const out = await this.#exchange(conn, req, signal, false, false);
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
          if (this.#holds.has(node)) continue;
          const ex = await call(requests.exists(node));
          if (!ex || ex["exists"] !== true) continue;
          if (parseStat(ex["stat"]).ephemeralOwner !== this.#sessionId) continue;
          await call(requests.delete(node, -1));
        }
      }
      this.#toReclaim.delete(k);
    }
  }

  /** Records a grant handed to the app (see #reclaim). @internal */
  _hold(key: string): void {
    this.#holds.add(key);
  }

  /** Gives back a grant by its key with req (unlock, release, resign): forgotten once done or not held. @internal */
  async _release(key: string, req: Request, o: CallOptions): Promise<void> {
    try {
      await this._call(req, o);
    } catch (e) {
      if (e instanceof NotHeldError) this.#holds.delete(key);
      throw e;
    }
    this.#holds.delete(key);
  }

  /**
   * Ends the connection, and with it the session: its ephemeral nodes go
   * and its locks pass on at once. A resumable session is only detached:
   * it keeps what it holds until resumed or until its timeout passes.
   */
  async close(): Promise<void> {
    if (!this.#terminal) {
      this.#terminal = new ConnectionClosedError("the client was closed");
      this.#setState("closed");
    }
    const conns = [this.#conn, this.#dialing].filter((c): c is Conn => c !== null);
    for (const c of conns) {
      this.#connLost(c, this.#terminal);
    }
    this.#finish();
    await Promise.all(conns.map((c) => c.closed));
  }

  /**
   * Closes the connection once the agent has finished with the session:
   * reports it accepted are written and the session is closed (its tasks,
   * members and ephemeral nodes gone) before this resolves.
   */
  async closeWait(opts: { timeoutMs?: number } = {}): Promise<void> {
    const conn = this.#conn;
    if (!conn || this.#terminal) return this.close();
    this.#terminal = new ConnectionClosedError("the client was closed");
    conn.socket.end(); // half-close: the agent finishes, then closes its side
    const timer = new Promise<void>((r) => setTimeout(r, opts.timeoutMs ?? 30000).unref());
    await Promise.race([conn.closed, timer]);
    this.#setState("closed");
    await this.close();
  }

  // ------------------------------------------------------------ requests

  /** Waits for a usable connection: through a resume in progress, if any. */
  async #ready(signal?: AbortSignal): Promise<Conn> {
    for (;;) {
      if (this.#terminal) throw this.#terminal;
      if (this.#reconnect) {
        // close() wakes the waiters at once (done), whatever the resume is doing.
        await raceAbort(Promise.race([this.#reconnect, this.done]), signal);
        continue;
      }
      if (this.#conn) return this.#conn;
      throw new ConnectionClosedError("not connected");
    }
  }

  /**
   * Sends req on conn and waits for its reply. When the signal aborts first
   * it sends `cancel`; with awaitCancel it then still waits for the reply
   * (a lock may have been granted just before the cancel arrived) and
   * returns it with `aborted` set, otherwise it rejects with the reason.
   */
  #exchange(conn: Conn, req: Request, signal: AbortSignal | undefined, awaitCancel: boolean, opens: boolean): Promise<Outcome> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (conn.ended) return Promise.reject(this.#terminal ?? new ConnectionClosedError());
    const id = this.#nextId++;
    let frame: Buffer;
    try {
      frame = encodeRequest(id, req);
    } catch (e) {
      if (e instanceof FrameTooLargeError) return Promise.reject(new TooLargeError("too_large", e.message));
      return Promise.reject(new BadArgumentsError("bad_arguments", `${req.op}: ${(e as Error).message}`, undefined, { cause: e }));
    }
    const grant = RECLAIM_OPS.has(req.op) && typeof req.path === "string" ? { op: req.op, path: req.path } : undefined;
    const reply = new Promise<Reply>((resolve, reject) =>
      conn.pending.set(id, grant ? { resolve, reject, opens, grant } : { resolve, reject, opens }),
    );
    conn.socket.write(frame);
    if (!signal) return reply;
    return new Promise<Outcome>((resolve, reject) => {
      const onAbort = (): void => {
        const reason = abortError(signal);
        if (!conn.ended) {
          try {
            conn.socket.write(encodeRequest(this.#nextId++, requests.cancel(id)));
          } catch {
            /* the connection is going */
          }
        }
        if (!awaitCancel) {
          conn.pending.delete(id);
          reject(reason);
          return;
        }
        reply.then(
          (r) => resolve({ ...r, aborted: reason }),
          () => reject(reason),
        );
      };
      signal.addEventListener("abort", onAbort, { once: true });
      reply.then(
        (r) => {
          signal.removeEventListener("abort", onAbort);
          if (!signal.aborted) resolve(r);
        },
        (e) => {
          signal.removeEventListener("abort", onAbort);
          if (!signal.aborted) reject(e);
        },
      );
    });
  }

  /**
   * Sends a request and waits for its reply message (error replies are
   * returned, not thrown). See CallOptions for signal and timeoutMs;
   * `waits` marks an op whose timeout goes to the agent as wait_ms.
   * @internal
   */
  async _roundTrip(req: Request, o: CallOptions = {}, awaitCancel = false, opens = false, waits = false): Promise<Outcome> {
    checkTimeout(o.timeoutMs);
    let ms: number | undefined;
    if (o.timeoutMs !== undefined && o.timeoutMs !== Infinity) {
      // For a waiting op the agent times the wait itself (wait_ms); the
      // client's own deadline is only a backstop.
      ms = waits ? o.timeoutMs + 2000 : o.timeoutMs;
    }
    const limit = o.timeoutMs;
    const { signal, dispose } = callSignal(o.signal, ms, () => new TimeoutError("timeout", `${req.op} did not finish within ${limit} ms`));
    try {
      signal?.throwIfAborted();
      const conn = await this.#ready(signal);
      return await this.#exchange(conn, req, signal, awaitCancel, opens);
    } finally {
      dispose();
    }
  }

  /** Sends a request and returns its result, throwing the agent's error as its class. @internal */
  async _call(req: Request, o: CallOptions = {}): Promise<Fields> {
    const out = await this._roundTrip(req, o);
    if (out.msg.error) throw fromWire(out.msg.error);
    return out.msg.result ?? {};
  }

  /**
   * Sends a request whose success must be undone if the caller gave up
   * just as it was granted (a lock, a candidacy, a lease), and parses its
   * result. A late grant, or one whose result cannot be parsed (a token
   * over 2^53), is passed to `undo` (which must read only what cannot
   * fail, such as the key) before the call throws. With "keep" the
   * outcome is reported even to a caller that gave up. With `holds`, the
   * key it names is recorded as held (see #reclaim).
   * @internal
   */
  async _grant<T>(
    req: Request,
    o: CallOptions,
    waits: boolean,
    undo: ((result: Fields) => Promise<unknown>) | "keep",
    parse: (result: Fields) => T,
    holds?: (v: T) => string,
  ): Promise<T> {
    const out = await this._roundTrip(req, o, true, false, waits);
    if (out.msg.error) {
      if (out.aborted !== undefined) throw out.aborted;
      throw fromWire(out.msg.error);
    }
    const result = out.msg.result ?? {};
    if (out.aborted !== undefined && undo !== "keep") {
      await undo(result).catch(() => undefined);
      throw out.aborted;
    }
    let v: T;
    try {
      v = parse(result);
    } catch (e) {
      if (undo !== "keep") await undo(result).catch(() => undefined);
      throw e;
    }
    if (holds) this.#holds.add(holds(v));
    return v; // for "keep": done all the same, so reported even after an abort
  }

  /** Starts a stream; resolves with its raw events once the agent has. @internal */
  async _openStream(req: Request, o: CallOptions = {}): Promise<RawStream> {
    const out = await this._roundTrip(req, o, true, true);
    if (out.msg.error) {
      if (out.aborted !== undefined) throw out.aborted;
      throw fromWire(out.msg.error);
    }
    if (!out.stream) throw new WardenError("internal", `${req.op} started no stream`);
    if (out.aborted !== undefined) {
      await out.stream.close().catch(() => undefined);
      throw out.aborted;
    }
    return out.stream;
  }

  /** @internal (StreamOwner) */
  async unsubscribe(sub: number): Promise<void> {
    await this._call(requests.unsubscribe(sub));
  }

  /** @internal (StreamOwner) */
  forgetStream(sub: number, stream: RawStream): void {
    for (const c of [this.#conn, this.#dialing]) {
      if (c && c.streams.get(sub) === stream) c.streams.delete(sub);
    }
  }

  /**
   * Sends any request as it is and returns its result (an error reply is
   * thrown as its class). A low-level escape hatch for ops this client has
   * no method for.
   */
  request(opName: string, fields: Omit<Request, "op"> = {}, o: CallOptions = {}): Promise<Fields> {
    return this._call({ ...fields, op: opName }, o);
  }

  // ------------------------------------------------------------ znode ops

  /** Checks that the agent answers. */
  async ping(o: CallOptions = {}): Promise<void> {
    await this._call(requests.ping(), o);
  }

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
    const out = await this._roundTrip(req, o, false, true);
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
   * has them (this client's own included). Needs read access to "/"; works
   * on a connection without a session.
   */
  async sessions(o: CallOptions = {}): Promise<SessionInfo[]> {
    return parseSessions(await this._call(requests.sessions(), o));
  }

  /**
   * Streams every change under path, in zxid order, as an async iterable.
   * Without fromZxid it starts with the current state (`resync` events,
   * then `synced`); with it, it replays the changes after that zxid.
   * The request is sent at once; `await sub.ready` to know it is in place.
   */
  subscribe(path: string, o: SubscribeOptions = {}): Subscription {
    const scope: Scope | undefined = o.recursive ? "subtree" : o.scope;
    const start = this._openStream(requests.subscribe(path, scope, o.fromZxid), o.signal ? { signal: o.signal } : {});
    return new Subscription(start, o.fromZxid ?? 0, o.signal);
  }

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

  /** Acquires the lock only if it is free now; otherwise throws TimeoutError. */
  tryLock(path: string, o: CallOptions = {}): Promise<Lease> {
    return acquireLease(this, "lock", path, { ...o, timeoutMs: 0 });
  }

  /** Acquires the lock at path for reading (shared with other readers, never with a writer). */
  readLock(path: string, o: CallOptions = {}): Promise<Lease> {
    return acquireLease(this, "read_lock", path, o);
  }

  tryReadLock(path: string, o: CallOptions = {}): Promise<Lease> {
    return acquireLease(this, "read_lock", path, { ...o, timeoutMs: 0 });
  }

  /** Acquires the lock at path for writing (the same as lock). */
  writeLock(path: string, o: CallOptions = {}): Promise<Lease> {
    return acquireLease(this, "write_lock", path, o);
  }

  tryWriteLock(path: string, o: CallOptions = {}): Promise<Lease> {
    return acquireLease(this, "write_lock", path, { ...o, timeoutMs: 0 });
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

  /** The latest report of every live task of job, in task name order. */
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

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("This operation was aborted", "AbortError");
}

/** PATH/name, for a PATH that may be the root. */
function childPath(path: string, name: string): string {
  return path.endsWith("/") ? `${path}${name}` : `${path}/${name}`;
}

/**
 * The signal of one call: the caller's, or one AbortController of the
 * call's own that the caller's signal and a timer (ms) abort. dispose()
 * removes the listener and the timer, so a long-lived signal shared by
 * many calls keeps no listener per call. A delay above what setTimeout
 * takes is not timed.
 */
function callSignal(user: AbortSignal | undefined, ms: number | undefined, reason: () => unknown): { signal: AbortSignal | undefined; dispose(): void } {
  if (ms === undefined || ms > MAX_TIMER_MS) return { signal: user, dispose: () => undefined };
  const ac = new AbortController();
  const onAbort = (): void => ac.abort(abortError(user!));
  if (user?.aborted) ac.abort(abortError(user));
  else user?.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(() => ac.abort(reason()), ms);
  return {
    signal: ac.signal,
    dispose: () => {
      clearTimeout(timer);
      user?.removeEventListener("abort", onAbort);
    },
  };
}

function raceAbort<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
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
