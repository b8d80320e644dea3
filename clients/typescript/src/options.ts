// The options of connect and of every call, their checks, and the signal
// helpers that time and abort calls.

import { onAbort as watchAbort } from "./abort.js";
import { BadArgumentsError } from "./errors.js";
import type { CreateFlags, Scope } from "./requests.js";

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
   * the others (but those that open a stream) it is passed as
   * `timeout_ms`: the agent gives up just before it and says why
   * (UnavailableError, "cluster unavailable: no leader for 5s", when the
   * cluster has no leader), and only if no answer comes in time does the
   * client cancel the request and reject with TimeoutError. (A
   * client-side limit above 2^31 - 1 ms, about 24.8 days, is not timed by
   * the client.)
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
  /** The longest connect and hello may take, in ms (default 30000); when given, the hello tells the agent (timeout_ms). */
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

export interface CreateOptions extends CallOptions, CreateFlags {}
export interface VersionOptions extends CallOptions {
  /** Only if the node has this version; -1 (default) matches any. */
  version?: number;
}
export interface WatchOptions extends CallOptions {
  /** Also set a one-shot watch. */
  watch?: boolean;
}

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

/** The wait_ms of a waiting op: the timeout, or -1 (until granted; no timeoutMs or Infinity). */
export function waitMs(o: CallOptions): number {
  checkTimeout(o.timeoutMs);
  if (o.timeoutMs === undefined || o.timeoutMs === Infinity) return -1;
  return Math.round(o.timeoutMs);
}

/** Why a signal aborted: its reason, or an AbortError. */
export function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("This operation was aborted", "AbortError");
}

/**
 * The signal of one call: the caller's, or one AbortController of the
 * call's own that the caller's signal and a timer (ms) abort. dispose()
 * removes the listener and the timer, so a long-lived signal shared by
 * many calls keeps no listener per call. A delay above what setTimeout
 * takes is not timed.
 */
export function callSignal(
  user: AbortSignal | undefined,
  ms: number | undefined,
  reason: () => unknown,
): { signal: AbortSignal | undefined; dispose(): void } {
  if (ms === undefined || ms > MAX_TIMER_MS) return { signal: user, dispose: () => undefined };
  const ac = new AbortController();
  const onAbort = (): void => ac.abort(abortError(user!));
  if (user?.aborted) ac.abort(abortError(user));
  const unwatch = user && !user.aborted ? watchAbort(user, onAbort) : () => undefined;
  const timer = setTimeout(() => ac.abort(reason()), ms);
  return {
    signal: ac.signal,
    dispose: () => {
      clearTimeout(timer);
      unwatch();
    },
  };
}

/** p, or the signal's reason if it aborts first. */
export function raceAbort<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    const unwatch = watchAbort(signal, onAbort);
    p.then(
      (v) => {
        unwatch();
        resolve(v);
      },
      (e) => {
        unwatch();
        reject(e);
      },
    );
  });
}
