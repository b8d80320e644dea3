// The engine of a client: the session over its connections (the first,
// and for a resumable session those that resume it), its states, and the
// sending of requests. The znode ops (znode.ts), the recipes and the
// Client (client.ts) are built on it.

import { Conn, type Outcome, type SendOptions } from "./conn.js";
import {
  ConnectionClosedError,
  DisconnectedError,
  fromWire,
  NotHeldError,
  SessionLostError,
  TimeoutError,
  UnsupportedVersionError,
  WardenError,
} from "./errors.js";
import { callSignal, checkTimeout, raceAbort, type CallOptions, type ConnectOptions, type ResumeToken, type SessionState } from "./options.js";
import { requests, withTimeout } from "./requests.js";
import { Resumer } from "./resume.js";
import { socketPath } from "./socket.js";
import { RawStream, type StreamOwner } from "./stream.js";
import { parseHello, type HelloResult } from "./types.js";
import type { Fields, Message, Request } from "./wire.js";

let warnedUnhandled = false;

/** The grants whose key the app then holds: a resuming hello names them (see Resumer). */
const LEASE_OPS: ReadonlySet<string> = new Set(["lock", "read_lock", "write_lock", "semaphore_acquire", "campaign"]);

/**
 * The grant waits that are sent again after a resume when the connection
 * dropped while they waited: their place in line is gone (the agent
 * removes it on the resume), so they queue anew.
 */
const REQUEUED_OPS: ReadonlySet<string> = new Set([...LEASE_OPS, "queue_take"]);

/** A grant wait sent again after a resume: with what is left of its wait, or TimeoutError once nothing is. */
function requeued(req: Request, start: number): Request {
  const w = req.wait_ms;
  if (typeof w !== "number" || w <= 0) return req; // -1 waits until granted; 0 tries once
  const left = Math.ceil(w - (Date.now() - start));
  if (left <= 0) throw new TimeoutError("timeout", `${req.op} was not granted within ${w} ms`);
  return { ...req, wait_ms: left };
}

/**
 * A connection to the local Warden agent and the session it carries:
 * what every request goes through. Clients are made with `connect()`.
 */
export class Engine implements StreamOwner {
  readonly #opts: ConnectOptions;
  readonly #path: string;
  #conn: Conn | null = null;
  #dialing: Conn | null = null;
  #sessionId = 0;
  #secret: Uint8Array | undefined;
  #timeoutMs = 0;
  #agent = "";
  #protocol = 0;
  #state: SessionState = "closed";
  #terminal: WardenError | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  readonly #resumer: Resumer;
  #closedResolve!: () => void;
  /** Resolves (and is replaced) at every change of state or connection; see #notify. */
  #changed: Promise<void>;
  #changedResolve!: () => void;
  /** Resolves once the client has ended for good (closed, lost). */
  readonly done: Promise<void>;

  /** @internal use connect() */
  constructor(opts: ConnectOptions) {
    this.#opts = opts;
    this.#path = socketPath(opts.socket);
    this.done = new Promise((r) => (this.#closedResolve = r));
    this.#changed = new Promise((r) => (this.#changedResolve = r));
    this.#resumer = new Resumer({
      token: () => ({ sessionId: this.#sessionId, secret: this.#secret }),
      timeoutMs: () => this.#timeoutMs,
      terminal: () => this.#terminal,
      connect: (hello, signal, timeoutMs) => this.#connect(hello, signal, timeoutMs),
      adopt: (conn) => this.#adopt(conn),
      abandon: (conn) => {
        conn.socket.destroy();
        if (this.#dialing === conn) this.#dialing = null;
      },
      lose: (err) => {
        this.#terminal = err;
        this.#setState("lost");
        this.#finish();
      },
      unsubscribe: (sub) => this.unsubscribe(sub),
    });
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
    return this.#resumer.resumes;
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
    const start = Date.now();
    try {
      // A timeout the app gave goes to the agent (which otherwise waits up
      // to 30 s for the cluster): less what dialing took.
      const tell = (r: Request): Request =>
        o.timeoutMs === undefined || o.timeoutMs === Infinity ? r : withTimeout(r, o.timeoutMs - (Date.now() - start));
      [conn, res] = await this.#dialHello(hello, signal, tell);
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
        if (this.#conn) this.ping().catch(() => undefined);
      }, o.heartbeatIntervalMs ?? Math.max(Math.floor(this.#timeoutMs / 3), 1));
      this.#heartbeat.unref();
    }
  }

  /** Checks that the agent answers. */
  async ping(o: CallOptions = {}): Promise<void> {
    await this._call(requests.ping(), o);
  }

  /** Makes conn the client's connection and reports `connected`, then what the agent reported meanwhile. */
  #adopt(conn: Conn): void {
    if (this.#dialing === conn) this.#dialing = null;
    this.#conn = conn;
    this.#notify();
    const held = conn.held ?? [];
    conn.held = null;
    this.#setState("connected");
    for (const [state, sid] of held) this.#setState(state, sid);
  }

  /** Dials the agent and sends hello. The connection stays #dialing (close() ends it) until adopted. */
  async #dialHello(hello: Request, signal: AbortSignal | undefined, tell?: (r: Request) => Request): Promise<[Conn, HelloResult]> {
    const conn = await Conn.dial(
      this.#path,
      this,
      signal,
      () => this.#terminal,
      (c) => (this.#dialing = c),
    );
    try {
      if (tell) hello = tell(hello);
      const out = await conn.exchange(hello, signal);
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
      return [conn, res];
    } catch (e) {
      conn.socket.destroy();
      if (this.#dialing === conn) this.#dialing = null;
      throw e;
    }
  }

  /** #dialHello for a resume: the connection, checked to still be wanted. */
  async #connect(hello: Request, signal: AbortSignal, timeoutMs: number): Promise<Conn> {
    const start = Date.now();
    const [conn] = await this.#dialHello(hello, signal, (r) => withTimeout(r, timeoutMs - (Date.now() - start)));
    if (this.#terminal) {
      conn.socket.destroy();
      throw this.#terminal;
    }
    return conn;
  }

  /** @internal (ConnOwner) */
  sessionEvent(conn: Conn, state: string, sid: number | undefined): void {
    const id = sid ?? this.#sessionId;
    if (state === "lost") {
      this.#terminal ??= new SessionLostError("the warden agent reports the session lost");
      this.#setState("lost", id);
      conn.failAll(this.#terminal);
      this.#finish();
    } else if (conn.held) conn.held.push([state, id]);
    else if (conn === this.#conn) this.#setState(state, id);
  }

  /** @internal (ConnOwner) */
  connEnded(conn: Conn, err: WardenError): void {
    const current = !conn.handshake && conn === this.#conn;
    const o = this.#opts;
    const resuming = current && !this.#terminal && !!this.#secret && !o.noSession && o.autoResume !== false && this.#timeoutMs > 0;
    if (current && !this.#terminal && !resuming && !o.noSession) {
      // The connection was the session: with it gone, the agent ends the
      // session (or the leader expires it), so nothing it held counts.
      this.#terminal = new SessionLostError(`the connection to the warden agent ended, and the session with it (${err.message})`, { cause: err });
    }
    if (resuming) {
      // The session lives on. Its streams wait for the resume; grant waits
      // in flight are sent again after it (see _roundTrip); every other
      // request in flight fails, its outcome unknown.
      this.#resumer.dropped(conn);
      conn.failAll(new DisconnectedError(`${err.message}; the session is being resumed`, { cause: err }));
    } else {
      conn.failAll(this.#terminal ?? err);
    }
    if (!current) return;
    this.#conn = null;
    if (resuming) {
      this.#setState("disconnected");
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

  /** Records and reports a state: only a change is reported. */
  #setState(state: SessionState, sessionId = this.#sessionId): void {
    this.#notify();
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

  /** Wakes whoever waits for a change of state or connection (waitConnected). */
  #notify(): void {
    const resolve = this.#changedResolve;
    this.#changed = new Promise((r) => (this.#changedResolve = r));
    resolve();
  }

  #finish(): void {
    if (this.#heartbeat) {
      clearInterval(this.#heartbeat);
      this.#heartbeat = null;
    }
    this.#resumer.end(this.#terminal ?? new ConnectionClosedError("the client was closed"));
    this.#closedResolve();
  }

  /**
   * Resolves once the session is connected: at once when it is, else
   * after the resume in progress (or once `suspended` is over). Rejects
   * with the client's error if it ends first, with TimeoutError after
   * timeoutMs, and with the signal's reason when it aborts.
   */
  async waitConnected(o: CallOptions = {}): Promise<void> {
    checkTimeout(o.timeoutMs);
    const ms = o.timeoutMs === Infinity ? undefined : o.timeoutMs;
    const { signal, dispose } = callSignal(o.signal, ms, () => new TimeoutError("timeout", `the session was not connected within ${ms} ms`));
    try {
      for (;;) {
        if (this.#terminal) throw this.#terminal;
        if (this.#conn && this.#state === "connected") return;
        await raceAbort(Promise.race([this.#changed, this.done]), signal);
      }
    } finally {
      dispose();
    }
  }

  /** Gives back a grant by its key with req (unlock, release, resign): forgotten once done or not held. @internal */
  async _release(key: string, req: Request, o: CallOptions): Promise<void> {
    try {
      await this._call(req, o);
    } catch (e) {
      if (e instanceof NotHeldError) this.#resumer.holds.delete(key);
      throw e;
    }
    this.#resumer.holds.delete(key);
  }

  /**
   * Gives back a grant nobody will use (one granted as its caller gave
   * up, a lease at the end of an `await using` block), quietly. It is
   * forgotten first, so a resume under way has the agent remove it; when
   * the request meets a resume, it is sent again once that is done (the
   * resume may have kept it). Other errors are ignored: a session that
   * ended holds nothing, and not_held means it is gone already.
   * @internal
   */
  async _drop(key: string, req: Request): Promise<void> {
    this.#resumer.holds.delete(key);
    for (;;) {
      try {
        await this._call(req);
        return;
      } catch (e) {
        if (!(e instanceof DisconnectedError)) return;
      }
      try {
        await this.#afterResume(undefined);
      } catch {
        return;
      }
    }
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
    for (const c of conns) c.end(this.#terminal);
    this.#finish(); // also ends the streams waiting for a resume
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

  /** The connection to send on. While a resume is under way a call fails at once, with DisconnectedError. */
  #live(): Conn {
    if (this.#terminal) throw this.#terminal;
    if (this.#conn) return this.#conn;
    if (this.#resumer.running) throw new DisconnectedError();
    throw new ConnectionClosedError("not connected");
  }

  /** The connection once the resume under way (and any that follows it) is done. */
  async #afterResume(signal: AbortSignal | undefined): Promise<Conn> {
    for (;;) {
      if (this.#terminal) throw this.#terminal;
      if (this.#conn) return this.#conn;
      const running = this.#resumer.running;
      if (!running) throw new ConnectionClosedError("not connected");
      // close() wakes the waiters at once (done), whatever the resume is doing.
      await raceAbort(Promise.race([running, this.done]), signal);
    }
  }

  /**
   * Sends a request and waits for its reply message (error replies are
   * returned, not thrown). See CallOptions for signal and timeoutMs;
   * `waits` marks an op whose timeout goes to the agent as wait_ms.
   *
   * A grant wait (REQUEUED_OPS) in flight when the connection drops is
   * sent again once the session is resumed, with what is left of its
   * wait; any other request then fails with DisconnectedError. The key of
   * a lease granted is recorded as held as soon as the reply is read.
   * @internal
   */
  async _roundTrip(req: Request, o: CallOptions = {}, send: SendOptions = {}, waits = false): Promise<Outcome> {
    checkTimeout(o.timeoutMs);
    let ms: number | undefined;
    if (o.timeoutMs !== undefined && o.timeoutMs !== Infinity) {
      // For a waiting op the agent times the wait itself (wait_ms); the
      // client's own deadline is only a backstop.
      ms = waits ? o.timeoutMs + 2000 : o.timeoutMs;
    }
    const limit = o.timeoutMs;
    const { signal, dispose } = callSignal(o.signal, ms, () => new TimeoutError("timeout", `${req.op} did not finish within ${limit} ms`));
    const start = Date.now();
    if (ms !== undefined && !waits && !send.opens) {
      // The agent is told the deadline (a stream has none; a grant's is
      // its wait_ms) and answers why it failed just before it passes.
      req = withTimeout(req, ms);
    }
    if (LEASE_OPS.has(req.op)) send = { ...send, onReply: (m) => this.#held(m) };
    try {
      signal?.throwIfAborted();
      let conn = this.#live();
      let r = req;
      for (;;) {
        try {
          return await conn.exchange(r, signal, send);
        } catch (e) {
          if (!(e instanceof DisconnectedError) || !REQUEUED_OPS.has(req.op)) throw e;
        }
        conn = await this.#afterResume(signal);
        r = requeued(req, start);
      }
    } finally {
      dispose();
    }
  }

  /** Records the key of a lease granted, before anyone can see the grant. */
  #held(m: Message): void {
    const key = m.error ? undefined : m.result?.["key"];
    if (typeof key === "string" && key !== "") this.#resumer.holds.add(key);
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
   * outcome is reported even to a caller that gave up.
   * @internal
   */
  async _grant<T>(
    req: Request,
    o: CallOptions,
    waits: boolean,
    undo: ((result: Fields) => Promise<unknown>) | "keep",
    parse: (result: Fields) => T,
  ): Promise<T> {
    const out = await this._roundTrip(req, o, { awaitCancel: true }, waits);
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
    return v; // for "keep": done all the same, so reported even after an abort
  }

  /**
   * Starts a stream; resolves with its raw events once the agent has.
   * With reopen, the stream is opened again with the request it builds
   * after each resume of the session (see RawStream).
   * @internal
   */
  async _openStream(req: Request, o: CallOptions = {}, reopen?: () => Request): Promise<RawStream> {
    const out = await this._roundTrip(req, o, { awaitCancel: true, opens: (sub) => new RawStream(this, sub, reopen) });
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
    this.#resumer.forget(stream);
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
}
