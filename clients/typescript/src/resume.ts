// The automatic resume of a resumable session whose connection dropped:
// reconnect within the session timeout, take the session up again with a
// hello that tells the agent which grants the app holds (the agent then
// removes the session's other places in line), and open the streams again.

import { BadArgumentsError, SessionExpiredError, SessionLostError, UnsupportedVersionError, fromWire, type WardenError } from "./errors.js";
import type { Conn } from "./conn.js";
import { requests } from "./requests.js";
import type { RawStream } from "./stream.js";
import type { Request } from "./wire.js";

/** What the resume needs from the client. */
export interface ResumeHost {
  /** The session's id and secret. */
  token(): { sessionId: number; secret: Uint8Array | undefined };
  /** The session timeout, in ms: how long the resume may take. */
  timeoutMs(): number;
  /** Why the client ended, once it has (close() during the resume). */
  terminal(): WardenError | null;
  /**
   * Dials the agent and sends hello. The connection is not the client's
   * yet (but close() ends it): adopt or abandon it. timeoutMs, the
   * attempt's limit, goes to the agent as the hello's timeout_ms.
   */
  connect(hello: Request, signal: AbortSignal, timeoutMs: number): Promise<Conn>;
  /** Makes conn the client's connection (and reports `connected`). */
  adopt(conn: Conn): void;
  /** Closes a connection that was not adopted. */
  abandon(conn: Conn): void;
  /** The session could not be resumed: the client ends with err. */
  lose(err: SessionLostError): void;
  /** Ends the stream sub at the agent (a stream closed while it was being opened again). */
  unsubscribe(sub: number): Promise<void>;
}

/** The longest one attempt to resume may take (connect and hello). */
const ATTEMPT_MS = 10000;

/** Resumes one client's session each time its connection drops. */
export class Resumer {
  /**
   * The keys of the grants the app holds (locks, read and write locks,
   * semaphore leases, candidacies): a resuming hello names them, and the
   * agent removes the session's other places in line.
   */
  readonly holds = new Set<string>();
  /** The streams of a dropped connection that are opened again after the resume. */
  readonly #detached = new Set<RawStream>();
  readonly #host: ResumeHost;
  #running: Promise<void> | null = null;
  #resumes = 0;

  constructor(host: ResumeHost) {
    this.#host = host;
  }

  /** The resume in progress, if any: resolves once it has ended, either way. */
  get running(): Promise<void> | null {
    return this.#running;
  }

  /** How many times the session was resumed. */
  get resumes(): number {
    return this.#resumes;
  }

  /**
   * The connection dropped: takes its streams that can be opened again
   * off it (they wait, keeping their place, for the resume), and starts
   * the resume. What is left on conn is the caller's to fail.
   */
  dropped(conn: Conn): void {
    for (const [sub, s] of [...conn.streams]) {
      if (!s.reopen) continue;
      conn.streams.delete(sub);
      s.detach();
      this.#detached.add(s);
    }
    if (this.#running) return;
    const run: Promise<void> = this.#run().finally(() => {
      if (this.#running === run) this.#running = null;
    });
    this.#running = run;
  }

  /** A stream was closed by the app: it is no longer opened again. */
  forget(s: RawStream): void {
    this.#detached.delete(s);
  }

  /** The client ended: the streams waiting for the resume end with err. */
  end(err: Error): void {
    const streams = [...this.#detached];
    this.#detached.clear();
    for (const s of streams) s.end(err);
  }

  async #run(): Promise<void> {
    const host = this.#host;
    let deadline = Date.now() + host.timeoutMs();
    let delay = 20;
    let lastErr: unknown = null;
    while (!host.terminal()) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        const { sessionId, secret } = host.token();
        // The holds as the hello goes out: the app's leases, nothing else.
        const hello = requests.hello({ sessionId, secret, reclaim: true, holds: [...this.holds] });
        const conn = await host.connect(hello, AbortSignal.timeout(Math.min(left, ATTEMPT_MS)), Math.min(left, ATTEMPT_MS));
        if (conn.ended) {
          // Resumed, and dropped again at once: the agent started the
          // session's timeout afresh when the connection closed.
          host.abandon(conn);
          deadline = Date.now() + host.timeoutMs();
          continue;
        }
        this.#resumes++;
        this.#running = null; // over: a drop from now on starts a new resume
        this.#reopen(conn); // first, so that app calls made on `connected` come after
        host.adopt(conn);
        return;
      } catch (e) {
        if (host.terminal()) return;
        lastErr = e;
        if (e instanceof SessionExpiredError || e instanceof UnsupportedVersionError || e instanceof BadArgumentsError) break;
      }
      await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(deadline - Date.now(), 0))));
      delay = Math.min(delay * 2, 500);
    }
    if (host.terminal()) return;
    this.#running = null;
    const why =
      lastErr instanceof SessionExpiredError
        ? `the session could not be resumed: ${lastErr.message}`
        : `the session could not be resumed within its timeout${lastErr instanceof Error ? `: ${lastErr.message}` : ""}`;
    host.lose(new SessionLostError(why, { cause: lastErr }));
  }

  /**
   * Opens every detached stream again on conn, each with the request it
   * builds now (a subscription: from the last event the app was handed).
   * A stream the agent refuses ends with the agent's error; one whose
   * request the connection takes down with it stays detached, for the
   * next resume.
   */
  #reopen(conn: Conn): void {
    for (const s of this.#detached) {
      let sub = 0;
      conn
        .exchange(s.reopen!(), undefined, {
          opens: (n) => {
            sub = n;
            this.#detached.delete(s);
            return s.attach(n);
          },
        })
        .then(
          (out) => {
            if (out.msg.error) {
              this.#detached.delete(s);
              s.end(fromWire(out.msg.error));
            } else if (s.closed && sub !== 0) {
              // Closed by the app while it was being opened again.
              conn.streams.delete(sub);
              this.#host.unsubscribe(sub).catch(() => undefined);
            }
          },
          () => undefined,
        );
    }
  }
}
