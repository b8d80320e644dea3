// One connection to the agent: its socket, the frames read from it, and
// the requests and streams in flight on it. What a connection's end means
// for the session is the engine's business (engine.ts).

import * as net from "node:net";

import { BadArgumentsError, ConnectionClosedError, fromWire, TooLargeError, WardenError } from "./errors.js";
import { onAbort as watchAbort } from "./abort.js";
import { abortError } from "./options.js";
import { requests } from "./requests.js";
import { checkSocketOwner } from "./socket.js";
import type { RawStream } from "./stream.js";
import { decodeMessage, encodeRequest, FrameReader, FrameTooLargeError, toNumber, type Message, type Request } from "./wire.js";

/** A reply, and the stream it started (for ops that start one). */
export interface Reply {
  msg: Message;
  stream?: RawStream;
}

/** What a call returns when it waited for its reply after an abort (see exchange). */
export interface Outcome extends Reply {
  /** Set when the caller gave up: the reason it did. */
  aborted?: unknown;
}

/** How a request is sent: what to do with its reply before anyone else sees it. */
export interface SendOptions {
  /**
   * For an op that starts a stream: called with the stream's id when the
   * reply arrives, before the next frame is read (its first event may be
   * that frame). It returns the stream that receives the events.
   */
  opens?: (sub: number) => RawStream;
  /** Called with the reply as soon as it is read. */
  onReply?: (m: Message) => void;
  /** With a signal that aborts: still wait for the reply after sending cancel, and return it marked `aborted`. */
  awaitCancel?: boolean;
}

interface Pending {
  req: Request;
  resolve(r: Reply): void;
  reject(e: Error): void;
  opts: SendOptions;
}

/** What a connection tells its owner. */
export interface ConnOwner {
  /** A `session` event: its state, and the session it names (undefined when it names none). */
  sessionEvent(conn: Conn, state: string, sessionId: number | undefined): void;
  /** The connection ended (the socket closed, a bad frame, a connection-level error). Called once. */
  connEnded(conn: Conn, err: WardenError): void;
}

/** One socket and what is in flight on it. */
export class Conn {
  readonly socket: net.Socket;
  readonly pending = new Map<number, Pending>();
  readonly streams = new Map<number, RawStream>();
  /** True until the hello has been answered. */
  handshake = true;
  ended = false;
  /**
   * Session states the agent reported before the connection became the
   * client's (during hello); reported once it has. null once it has.
   */
  held: Array<[string, number | undefined]> | null = [];
  /** Resolves once the socket has closed. */
  readonly closed: Promise<void>;
  readonly #owner: ConnOwner;
  readonly #reader = new FrameReader();
  #nextId = 1;
  #lastError: Error | null = null;
  #fatal: WardenError | null = null;
  /** What requests sent after the end fail with (set by failAll). */
  #failure: Error | null = null;

  constructor(socket: net.Socket, owner: ConnOwner) {
    this.socket = socket;
    this.#owner = owner;
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    this.#attach();
  }

  /**
   * Connects to the socket at path (after checking its owner). Rejects
   * with the signal's reason when it aborts first, and with
   * ConnectionClosedError when the connect fails or the socket is
   * destroyed first (then with `destroyed()`, if it gives an error).
   */
  static dial(path: string, owner: ConnOwner, signal: AbortSignal | undefined, destroyed: () => Error | null, onSocket: (c: Conn) => void): Promise<Conn> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      try {
        checkSocketOwner(path);
      } catch (e) {
        return reject(e);
      }
      const socket = net.createConnection({ path });
      const conn = new Conn(socket, owner);
      onSocket(conn);
      const onAbort = (): void => {
        socket.destroy();
        reject(abortError(signal!));
      };
      const unwatch = signal ? watchAbort(signal, onAbort) : () => undefined;
      socket.once("connect", () => {
        unwatch();
        resolve(conn);
      });
      socket.once("error", (e) => {
        unwatch();
        reject(new ConnectionClosedError(`cannot connect to the warden agent at ${path}: ${e.message}`, { cause: e }));
      });
      // Destroyed before it connected (close() during a reconnect): settle all the same.
      socket.once("close", () => {
        unwatch();
        reject(destroyed() ?? new ConnectionClosedError(`the connection to the warden agent at ${path} closed while connecting`));
      });
    });
  }

  #attach(): void {
    const s = this.socket;
    s.on("data", (chunk: Buffer) => {
      if (this.ended) return;
      let bodies: Buffer[];
      try {
        bodies = this.#reader.push(chunk);
      } catch (e) {
        this.end(new ConnectionClosedError(`connection closed: ${(e as Error).message}`, { cause: e }));
        return;
      }
      for (const b of bodies) {
        // Nothing in a frame may escape from this listener: a frame that
        // cannot be decoded or dispatched ends the connection instead.
        try {
          this.#dispatch(decodeMessage(b));
        } catch (e) {
          this.end(new ConnectionClosedError(`connection closed: a bad frame from the agent: ${(e as Error).message}`, { cause: e }));
          return;
        }
        if (this.ended) return;
      }
    });
    s.on("error", (e) => {
      this.#lastError = e;
    });
    s.on("close", () => {
      const fatal = this.#fatal;
      const why = fatal
        ? `connection closed by the agent: ${fatal.code}: ${fatal.message}`
        : this.#lastError
          ? `connection to the warden agent closed: ${this.#lastError.message}`
          : "connection to the warden agent closed";
      this.end(new ConnectionClosedError(why, { cause: fatal ?? this.#lastError ?? undefined }));
    });
  }

  #dispatch(m: Message): void {
    if (m.id !== 0) {
      const p = this.pending.get(m.id);
      if (!p) return; // a request the caller gave up on
      let stream: RawStream | undefined;
      if (p.opts.opens && !m.error && m.result) {
        // Register the stream before reading on: its first event may be the very next frame.
        // (A sub that is not a safe integer throws here, with the request still pending:
        // the connection ends and the request fails with it.)
        const sub = toNumber(m.result["sub"] ?? m.result["watch"] ?? 0, "sub");
        if (sub !== 0) {
          stream = p.opts.opens(sub);
          this.streams.set(sub, stream);
        }
      }
      this.pending.delete(m.id);
      p.opts.onReply?.(m);
      p.resolve(stream ? { msg: m, stream } : { msg: m });
      return;
    }
    if (m.event) {
      if (m.sub) {
        this.streams.get(m.sub)?.push(m.body ?? {});
        return;
      }
      if (m.event === "session") {
        const body = m.body ?? {};
        const state = typeof body["state"] === "string" ? body["state"] : "";
        let sid: number | undefined;
        try {
          sid = toNumber(body["session_id"], "session_id");
        } catch {
          /* the owner's own */
        }
        if (state) this.#owner.sessionEvent(this, state, sid);
      }
      return; // unknown events are ignored
    }
    if (m.error) {
      // A connection-level error: the agent is closing the connection.
      this.#fatal = fromWire(m.error);
      this.end(new ConnectionClosedError(`connection closed by the agent: ${m.error.code}: ${m.error.message}`, { cause: this.#fatal }));
    }
  }

  /** Ends the connection (once): destroys the socket and tells the owner. */
  end(err: WardenError): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.destroy();
    this.#owner.connEnded(this, err);
  }

  /** The requests in flight. */
  inFlight(): Request[] {
    return [...this.pending.values()].map((p) => p.req);
  }

  /** Fails every request in flight and ends every stream with err; later requests fail with it too. */
  failAll(err: Error): void {
    this.#failure = err;
    const pending = [...this.pending.values()];
    this.pending.clear();
    const streams = [...this.streams.values()];
    this.streams.clear();
    for (const p of pending) p.reject(err);
    for (const s of streams) s.end(err);
  }

  /**
   * Sends req and waits for its reply. When the signal aborts first it
   * sends `cancel`; with awaitCancel it then still waits for the reply (a
   * lock may have been granted just before the cancel arrived) and
   * returns it with `aborted` set, otherwise it rejects with the reason.
   */
  exchange(req: Request, signal: AbortSignal | undefined, opts: SendOptions = {}): Promise<Outcome> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.ended) return Promise.reject(this.#failure ?? new ConnectionClosedError());
    const id = this.#nextId++;
    let frame: Buffer;
    try {
      frame = encodeRequest(id, req);
    } catch (e) {
      if (e instanceof FrameTooLargeError) return Promise.reject(new TooLargeError("too_large", e.message));
      return Promise.reject(new BadArgumentsError("bad_arguments", `${req.op}: ${(e as Error).message}`, undefined, { cause: e }));
    }
    const reply = new Promise<Reply>((resolve, reject) => this.pending.set(id, { req, resolve, reject, opts }));
    this.socket.write(frame);
    if (!signal) return reply;
    return new Promise<Outcome>((resolve, reject) => {
      const onAbort = (): void => {
        const reason = abortError(signal);
        if (!this.ended) {
          try {
            this.socket.write(encodeRequest(this.#nextId++, requests.cancel(id)));
          } catch {
            /* the connection is going */
          }
        }
        if (!opts.awaitCancel) {
          this.pending.delete(id);
          reject(reason);
          return;
        }
        reply.then(
          (r) => resolve({ ...r, aborted: reason }),
          () => reject(reason),
        );
      };
      const unwatch = watchAbort(signal, onAbort);
      reply.then(
        (r) => {
          unwatch();
          if (!signal.aborted) resolve(r);
        },
        (e) => {
          unwatch();
          if (!signal.aborted) reject(e);
        },
      );
    });
  }
}
