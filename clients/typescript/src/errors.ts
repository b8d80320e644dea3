// Errors. Every error code of the protocol has its own class, all derived
// from WardenError, so apps can `catch (e) { if (e instanceof NoNodeError) ... }`
// or match on `e.code`. Which class each code has comes from the protocol's
// table (protocol.ts).

import { ERROR_CLASSES as ERROR_CLASS_NAMES, type ErrorClassName, type ErrorCode } from "./protocol.js";
import type { WireError } from "./wire.js";

/** The base of every error this client throws for the agent or the session. */
export class WardenError extends Error {
  /** The protocol's stable error code (section 8), or a client-side code. */
  readonly code: string;
  /** For an error of a multi: the 0-based position of the failing op. */
  readonly index: number | undefined;

  constructor(code: string, message?: string, index?: number, options?: { cause?: unknown }) {
    super(message || code, options);
    this.code = code;
    this.index = index;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** The node does not exist (for create: its parent does not). */
export class NoNodeError extends WardenError {}
/** The node already exists. */
export class NodeExistsError extends WardenError {}
/** The node's version differs from the one given. */
export class BadVersionError extends WardenError {}
/** The node has children. */
export class NotEmptyError extends WardenError {}
/** The parent is ephemeral; ephemeral nodes cannot have children. */
export class NoChildrenForEphemeralsError extends WardenError {}
/** The request is malformed or an argument is invalid. */
export class BadArgumentsError extends WardenError {}
/** The session no longer exists in the cluster. */
export class SessionExpiredError extends WardenError {}
/** Not done within its deadline (a lock wait ran out, a try failed, ...). */
export class TimeoutError extends WardenError {}
/** The cluster cannot take the write now. */
export class UnavailableError extends WardenError {}
/** Data over 1 MiB, a reply over 4 MiB, or a frame over 4 MiB. */
export class TooLargeError extends WardenError {}
/** The agent does not know this op. */
export class UnknownOpError extends WardenError {}
/** The caller may not do this (reserved; not sent in protocol version 1). */
export class PermissionDeniedError extends WardenError {}
/** The request was canceled. */
export class CanceledError extends WardenError {}
/** The lock (or candidacy, lease, membership) is not held by this session. */
export class NotHeldError extends WardenError {}
/** The first request was not hello, or the op needs a session. */
export class NoSessionError extends WardenError {}
/** The agent does not speak the protocol version asked for. */
export class UnsupportedVersionError extends WardenError {}
/** A frame was empty, not a msgpack map, or not decodable as one. */
export class BadFrameError extends WardenError {}
/** The connection already has 1024 requests in flight. */
export class TooManyRequestsError extends WardenError {}
/** A bug in the agent. */
export class InternalError extends WardenError {}

/**
 * The connection to the agent ended (or could not be made). For a
 * session that is not resumable, the session has ended with it. A request
 * that fails with it while a resumable session reconnects may be retried.
 */
export class ConnectionClosedError extends WardenError {
  constructor(message = "connection to the warden agent closed", options?: { cause?: unknown }, code = "connection_closed") {
    super(code, message, undefined, options);
  }
}

/**
 * The connection dropped and the client is resuming its resumable
 * session: a call made meanwhile was not sent, and one in flight at the
 * drop may or may not have taken effect. Retry once the session is
 * `connected` again (see `Client.waitConnected`). Its code is
 * `disconnected`.
 */
export class DisconnectedError extends ConnectionClosedError {
  constructor(message = "the connection to the warden agent dropped; the session is being resumed", options?: { cause?: unknown }) {
    super(message, options, "disconnected");
  }
}

/**
 * The client refused to connect: the socket belongs to another user than
 * root or the expected one ($WARDEN_SOCKET_OWNER, else the process's own),
 * so it may not be the agent's. Its code is `socket_owner`.
 */
export class SocketOwnerError extends ConnectionClosedError {
  /** The socket. */
  readonly path: string;
  /** The uid that owns it. */
  readonly owner: number;
  /** The uid that should own it (root always may). */
  readonly expected: number;

  constructor(path: string, owner: number, expected: number) {
    super(
      `refusing to connect to ${path}: the socket belongs to uid ${owner}, not to uid ${expected} or root, ` +
        "so it may not be the warden agent's (set WARDEN_SOCKET_OWNER to the agent's user if it runs as another one)",
      undefined,
      "socket_owner",
    );
    this.path = path;
    this.owner = owner;
    this.expected = expected;
  }
}

/**
 * The session is lost: the agent said so, or a resumable session could not
 * be resumed. Nothing it held may be relied on any more.
 */
export class SessionLostError extends WardenError {
  constructor(message = "the warden session is lost", options?: { cause?: unknown }) {
    super("session_lost", message, undefined, options);
  }
}

type ErrorClass = new (code: string, message?: string, index?: number) => WardenError;

// Every class the protocol's table names (protocol.ts), by name: the type
// makes sure none is missing or extra.
const byName: Readonly<Record<ErrorClassName, ErrorClass>> = {
  NoNodeError,
  NodeExistsError,
  BadVersionError,
  NotEmptyError,
  NoChildrenForEphemeralsError,
  BadArgumentsError,
  SessionExpiredError,
  TimeoutError,
  UnavailableError,
  TooLargeError,
  UnknownOpError,
  PermissionDeniedError,
  CanceledError,
  NotHeldError,
  NoSessionError,
  UnsupportedVersionError,
  BadFrameError,
  TooManyRequestsError,
  InternalError,
};

/** The class for each error code of protocol version 1. */
export const ERROR_CLASSES: Readonly<Record<string, ErrorClass>> = Object.fromEntries(
  (Object.entries(ERROR_CLASS_NAMES) as Array<[ErrorCode, ErrorClassName]>).map(([code, name]) => [code, byName[name]]),
);

/** Turns an error map from the agent into its class; unknown codes give a plain WardenError. */
export function fromWire(e: WireError): WardenError {
  const cls = ERROR_CLASSES[e.code] ?? WardenError;
  return new cls(e.code, e.message, e.index);
}
