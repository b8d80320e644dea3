// Where the agent's socket is, and whether it belongs to the expected user.
//
// The default socket is in a directory of the agent's user, never directly
// in a directory every user can write (the Go code's
// wire.DefaultSocketPath is the same rule):
//
//   - /run/warden/warden.sock for root (effective uid 0);
//   - $XDG_RUNTIME_DIR/warden/warden.sock for any other user;
//   - /tmp/warden-UID/warden.sock when XDG_RUNTIME_DIR is unset or not an
//     absolute path.
//
// Before connecting, the client checks that the socket belongs to root or
// to the expected user: $WARDEN_SOCKET_OWNER (a uid, or a user name listed
// in /etc/passwd), else the process's own effective uid. Whoever can put a
// socket at the path could otherwise pose as the agent.

import * as fs from "node:fs";
import * as path from "node:path";

import { SocketOwnerError, WardenError } from "./errors.js";

/** The environment variable naming the agent's socket. */
export const SOCKET_ENV = "WARDEN_SOCKET";
/** The environment variable naming the user the agent runs as (a uid or a user name). */
export const SOCKET_OWNER_ENV = "WARDEN_SOCKET_OWNER";
const RUNTIME_DIR_ENV = "XDG_RUNTIME_DIR";

/** This process's effective uid (-1 where there is none, as on Windows). */
function euid(): number {
  return process.geteuid?.() ?? -1;
}

/** The default socket for an effective uid and a value of $XDG_RUNTIME_DIR. */
export function defaultSocketPathFor(uid: number, runtimeDir: string | undefined): string {
  if (uid === 0) return "/run/warden/warden.sock";
  if (runtimeDir && path.isAbsolute(runtimeDir)) return path.join(runtimeDir, "warden", "warden.sock");
  return `/tmp/warden-${uid}/warden.sock`;
}

/** Where the agent listens when neither it nor the app is told otherwise. */
export function defaultSocketPath(): string {
  return defaultSocketPathFor(euid(), process.env[RUNTIME_DIR_ENV]);
}

/** Resolves the socket path the way connect does: explicit, else $WARDEN_SOCKET, else defaultSocketPath(). */
export function socketPath(explicit?: string): string {
  if (explicit) return explicit;
  const env = process.env[SOCKET_ENV];
  if (env) return env;
  return defaultSocketPath();
}

/**
 * The uid the agent's socket must belong to (root always may):
 * $WARDEN_SOCKET_OWNER, a uid or a user name listed in /etc/passwd, else
 * this process's effective uid.
 */
export function expectedSocketOwner(): number {
  const v = process.env[SOCKET_OWNER_ENV];
  if (!v) return euid();
  if (/^\d+$/.test(v)) return Number(v);
  let passwd = "";
  try {
    passwd = fs.readFileSync("/etc/passwd", "utf8");
  } catch {
    /* no user database: the name is unknown */
  }
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f.length >= 3 && f[0] === v && /^\d+$/.test(f[2]!)) return Number(f[2]);
  }
  throw new WardenError("bad_socket_owner", `${SOCKET_OWNER_ENV}=${JSON.stringify(v)} is neither a uid nor a user in /etc/passwd`);
}

/**
 * Throws SocketOwnerError unless the socket at socketPath (a symbolic link
 * is followed) belongs to root or to expectedSocketOwner(). A path that
 * cannot be examined passes: connecting to it fails with its own error.
 */
export function checkSocketOwner(socketPath: string): void {
  let owner: number;
  try {
    owner = fs.statSync(socketPath).uid;
  } catch {
    return;
  }
  const expected = expectedSocketOwner();
  if (owner !== expected && owner !== 0) throw new SocketOwnerError(socketPath, owner, expected);
}
