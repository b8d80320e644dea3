// Streams: one-shot watches, subscriptions, observed elections, watched
// jobs and groups. The agent numbers each by a "sub" id; its events are
// queued here as they arrive (the socket reader never waits for the app)
// and handed out through an async iterator.

import { onAbort as watchAbort } from "./abort.js";
import { BadArgumentsError, ConnectionClosedError, SessionLostError } from "./errors.js";
import type { Fields, Request } from "./wire.js";

/** What a stream needs from the client that owns it. */
export interface StreamOwner {
  unsubscribe(sub: number): Promise<void>;
  forgetStream(sub: number, stream: RawStream): void;
}

/**
 * The raw events of one stream, before they are parsed. A stream with
 * `reopen` outlives the connection it was opened on: when a resumable
 * session's connection drops it is detached (the events not handed out
 * yet are dropped) and opened again after the resume with the request
 * `reopen` builds then, under a new id.
 */
export class RawStream {
  /** The stream's id at the agent; 0 while it is detached. */
  sub: number;
  /** Builds the request that opens the stream again after a resume; absent, the stream ends with its connection. */
  readonly reopen: (() => Request) | undefined;
  private owner: StreamOwner;
  private queue: Fields[] = [];
  private head = 0;
  /** Every next() waiting for an event (several may wait at once). */
  private waiters = new Set<() => void>();
  private err: Error | null = null;
  #closed = false;

  constructor(owner: StreamOwner, sub: number, reopen?: () => Request) {
    this.owner = owner;
    this.sub = sub;
    this.reopen = reopen;
  }

  /** Whether the stream was closed by its owner (or has ended quietly). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Called by the reader for each event of the stream. */
  push(body: Fields): void {
    if (this.#closed) return;
    this.queue.push(body);
    this.wake();
  }

  /** Ends the stream; next() throws err once the queue is drained (null: ends quietly). */
  end(err: Error | null): void {
    if (this.err === null && !this.#closed) this.err = err;
    if (err === null) this.#closed = true;
    this.wake();
  }

  /** The connection dropped: forgets the events not handed out, and waits to be opened again. */
  detach(): void {
    this.sub = 0;
    this.queue = [];
    this.head = 0;
  }

  /** Opened again, as sub. */
  attach(sub: number): this {
    this.sub = sub;
    return this;
  }

  private wake(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  /** The next event's body, or null once the stream was closed by its owner. */
  async next(signal?: AbortSignal): Promise<Fields | null> {
    for (;;) {
      if (this.head < this.queue.length) {
        const b = this.queue[this.head]!;
        this.queue[this.head++] = undefined as unknown as Fields;
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        return b;
      }
      if (this.err) throw this.err;
      if (this.#closed) return null;
      signal?.throwIfAborted();
      await new Promise<void>((resolve) => {
        const waiter = (): void => {
          unwatch();
          resolve();
        };
        // An abort removes only this call's waiter; the loop then throws.
        const onAbort = (): void => {
          this.waiters.delete(waiter);
          resolve();
        };
        this.waiters.add(waiter);
        const unwatch = signal ? watchAbort(signal, onAbort) : () => undefined;
      });
    }
  }

  /** Unsubscribes at the agent and ends the stream. */
  async close(): Promise<void> {
    if (this.#closed) return;
    const hadErr = this.err !== null;
    this.#closed = true;
    this.queue = [];
    this.head = 0;
    this.owner.forgetStream(this.sub, this);
    this.wake();
    // Ended with its connection, or detached: there is nothing to unsubscribe.
    if (hadErr || this.sub === 0) return;
    try {
      await this.owner.unsubscribe(this.sub);
    } catch (e) {
      if (e instanceof BadArgumentsError) return; // already ended at the agent
      if (e instanceof ConnectionClosedError || e instanceof SessionLostError) return; // and the stream with it
      throw e;
    }
  }

  /** Forgets a stream the agent has ended (a fired one-shot watch). */
  forget(): void {
    this.#closed = true;
    this.owner.forgetStream(this.sub, this);
  }
}

/** Returned by a stream's parser for an event the app does not see. */
export const SKIP: unique symbol = Symbol("skip");

/**
 * A typed stream of events: iterate it with `for await`. Breaking out of
 * the loop (or calling close()) unsubscribes. When the connection ends the
 * iteration throws ConnectionClosedError (or SessionLostError).
 */
export class Stream<T> implements AsyncIterable<T> {
  /** Resolves once the agent has started the stream; rejects with its error. */
  readonly ready: Promise<void>;
  private raw: RawStream | null = null;
  private parse: (body: Fields) => T | typeof SKIP;
  private signal: AbortSignal | undefined;
  private closing = false;
  private unwatch: (() => void) | null = null;

  constructor(start: Promise<RawStream>, parse: (body: Fields) => T | typeof SKIP, signal?: AbortSignal) {
    this.parse = parse;
    this.signal = signal;
    this.ready = start.then((raw) => {
      this.raw = raw;
      if (this.closing) void raw.close().catch(() => undefined);
      if (signal && !this.closing) {
        if (signal.aborted) void raw.close().catch(() => undefined);
        else {
          this.unwatch = watchAbort(signal, () => void this.close().catch(() => undefined));
        }
      }
    });
    // An error surfaces from ready or from iteration; never unhandled.
    this.ready.catch(() => undefined);
  }

  /** The stream's id at the agent (0 until ready). */
  get sub(): number {
    return this.raw?.sub ?? 0;
  }

  /** The next event, or undefined once the stream is closed. */
  async next(): Promise<T | undefined> {
    await this.ready;
    for (;;) {
      const body = await this.raw!.next(this.signal);
      if (body === null) return undefined;
      const v = this.parse(body);
      if (v !== SKIP) return v;
    }
  }

  /** Ends the stream and unsubscribes at the agent. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.unwatch) {
      // Many streams may share one signal: do not leave a callback per stream on it.
      this.unwatch();
      this.unwatch = null;
    }
    if (this.raw) await this.raw.close();
    else await this.ready.then(() => this.raw?.close(), () => undefined);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    try {
      for (;;) {
        const v = await this.next();
        if (v === undefined) return;
        yield v;
      }
    } finally {
      await this.close().catch(() => undefined);
    }
  }
}
