// The native shapes of results and events, and their parsers from the
// decoded msgpack maps. The parsers read each type's fields as the
// protocol's table (protocol.ts, generated) lists them: decode() converts
// every field by its wire type and names it in camelCase; the types below
// must be what decode() gives (the compiler checks), and the parsers only
// add what the wire does not say (a renamed field, a bigint).

import { TYPES, type TypeName, type WireKey, type WireTypes } from "./protocol.js";
import { bin, bool, type Fields, isFields, str, toInt64, toNumber } from "./wire.js";

/** Converts a value of a wire type as this client reads it. */
function convert(type: string, v: unknown, key: string): unknown {
  switch (type) {
    case "str":
      return str(v);
    case "bin":
      return bin(v);
    case "bool":
      return bool(v);
    case "int":
    case "uint":
      return toNumber(v, key);
    case "float":
      return typeof v === "number" ? v : toNumber(v, key);
  }
  if (type.startsWith("[]")) {
    const elem = type.slice(2);
    return Array.isArray(v) ? v.map((e) => convert(elem, e, key)) : [];
  }
  return decode(type as TypeName, v);
}

/**
 * A map of the agent's as the wire type `name`, or only the properties in
 * `props`: each field converted by its type, absent ones as zero values.
 */
export function decode<N extends TypeName>(name: N, v: unknown): WireTypes[N];
export function decode<N extends TypeName, K extends keyof WireTypes[N]>(name: N, v: unknown, props: readonly K[]): Pick<WireTypes[N], K>;
export function decode(name: TypeName, v: unknown, props?: readonly string[]): Record<string, unknown> {
  const f = isFields(v) ? v : {};
  const out: Record<string, unknown> = {};
  for (const [key, type, , prop] of TYPES[name] as ReadonlyArray<readonly [string, string, string, string]>) {
    if (!props || props.includes(prop)) out[prop] = convert(type, f[key], key);
  }
  return out;
}

/** A znode's metadata. Zxids are the cluster's log positions; times are ms since the epoch. */
export interface Stat {
  czxid: number;
  mzxid: number;
  pzxid: number;
  ctime: number;
  mtime: number;
  version: number;
  cversion: number;
  aversion: number;
  ephemeralOwner: number;
  dataLength: number;
  numChildren: number;
  /** A TTL node's time to live in ms; 0 for every other node. */
  ttl: number;
}

export function parseStat(v: unknown): Stat {
  return decode("Stat", v);
}

export interface HelloResult {
  protocol: number;
  sessionId: number;
  sessionTimeoutMs: number;
  agent: string;
  secret?: Uint8Array;
  resumed: boolean;
}

export function parseHello(f: Fields): HelloResult {
  const r: HelloResult = decode("HelloResult", f, ["protocol", "sessionId", "sessionTimeoutMs", "agent", "resumed"]);
  // secret only when the session is resumable, as a copy of its own.
  const secret = f["secret" satisfies WireKey<"HelloResult">];
  if (secret instanceof Uint8Array && secret.length > 0) r.secret = new Uint8Array(secret);
  return r;
}

export interface GetResult {
  data: Uint8Array;
  stat: Stat;
}

export function parseGet(f: Fields): GetResult {
  return decode("GetResult", f, ["data", "stat"]);
}

export interface ChildrenResult {
  children: string[];
  stat: Stat;
}

export function parseChildren(f: Fields): ChildrenResult {
  return decode("ChildrenResult", f, ["children", "stat"]);
}

/** One op's outcome in a multi. `path` is set for create. */
export interface OpResult {
  path?: string;
  stat: Stat;
}

export function parseMulti(f: Fields): OpResult[] {
  const rs = f["results" satisfies WireKey<"MultiResult">];
  return (Array.isArray(rs) ? (rs as unknown[]) : []).map((r) => {
    const m = isFields(r) ? r : {};
    const o: OpResult = decode("OpResult", m, ["stat"]);
    // path only for a create.
    const path = m["path" satisfies WireKey<"OpResult">];
    if (typeof path === "string" && path !== "") o.path = path;
    return o;
  });
}

/** A grant: a lock or semaphore lease, a candidacy, a membership, a queued item. */
export interface LeaseResult {
  key: string;
  token: number;
}

export function parseLease(f: Fields): LeaseResult {
  return decode("LeaseResult", f);
}

/** A fired one-shot watch. */
export interface WatchEvent {
  type: "created" | "deleted" | "data_changed" | "children_changed" | string;
  path: string;
  zxid: number;
}

export function parseWatchEvent(f: Fields): WatchEvent {
  return decode("WatchEvent", f);
}

/** One event of a subscription. */
export interface ChangeEvent {
  type: "created" | "deleted" | "data_changed" | "resync" | "synced" | string;
  path: string;
  zxid: number;
  /** The node's data after the change (empty for deleted and synced). */
  data: Uint8Array;
  stat: Stat;
  /** In a folded subscription: a resync event for a path the app knew that no longer exists. */
  deleted: boolean;
  /** In a folded subscription: the last resync event (no synced event follows). */
  synced: boolean;
}

export function parseChange(f: Fields): ChangeEvent {
  return decode("ChangeEvent", f);
}

/** Who leads an election. `key` is empty when nobody does. */
export interface Leader {
  key: string;
  value: Uint8Array;
  token: number;
}

export function parseLeader(f: Fields): Leader {
  const l = decode("LeaderResult", f);
  return { key: l.key, value: l.data, token: l.token };
}

/** A task's latest report. */
export interface TaskReport {
  task: string;
  state: string;
  percent: number;
  message: string;
  data: Uint8Array;
  /** When the agent accepted the report, ms since the epoch. */
  updated: number;
}

export function parseTask(v: unknown): TaskReport {
  return decode("Task", v);
}

/** A watched task's new report, or its end (removed). */
export interface TaskEvent {
  task: TaskReport;
  removed: boolean;
}

export function parseTaskEvent(f: Fields): TaskEvent {
  return decode("TaskEvent", f);
}

/** One member of a group. */
export interface GroupMember {
  member: string;
  data: Uint8Array;
}

export function parseGroupMember(v: unknown): GroupMember {
  return decode("GroupMember", v);
}

/** A watched group's change: a member joined or changed, or left. */
export interface MemberEvent {
  member: GroupMember;
  left: boolean;
}

export function parseMemberEvent(f: Fields): MemberEvent {
  return decode("MemberEvent", f);
}

/** An agent's view of the cluster. */
export interface Status {
  node: string;
  role: string;
  state: string;
  leader: string;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  sessions: number;
  znodes: number;
  /** How long this agent has known of no leader, in ms; 0 while it knows one (and from agents that predate the field). */
  noLeaderMs: number;
}

export function parseStatus(f: Fields): Status {
  return decode("StatusResult", f);
}

/** One agent of the cluster. */
export interface Member {
  name: string;
  addr: string;
  rpcAddr: string;
  role: string;
  status: string;
  suffrage: string;
  version: string;
}

export function parseMembers(f: Fields): Member[] {
  return decode("MembersResult", f).members;
}

/**
 * One open session of the cluster, as `sessions` lists them: who opened it
 * (the app's process, as the kernel reported it to its agent) and how.
 */
export interface SessionInfo {
  id: number;
  /** The agent keeping the session alive. */
  agent: string;
  pid: number;
  uid: number;
  gid: number;
  /** The name the app gave in its hello. */
  client: string;
  timeoutMs: number;
  resumable: boolean;
  heartbeat: boolean;
  /** When it was opened, ms since the epoch. */
  created: number;
  /**
   * What the session holds or waits for: its ephemeral nodes, each read as
   * the recipe whose layout it follows, from the answering agent's
   * replica. Empty from agents that predate the field.
   */
  holds: Hold[];
}

/** One of a session's ephemeral nodes, as `sessions` reads it. */
export interface Hold {
  /** lock, read_lock, semaphore, queue_take, election, group, task, or ephemeral (a node no recipe's layout explains); other kinds may come. */
  kind: string;
  /** The recipe's path (the lock, semaphore, queue, election, or the group's or job's node); for an ephemeral, the node itself. */
  path: string;
  /** The session's node. */
  key: string;
  /** held or waiting (locks, semaphores, queue takers; groups and tasks are held), leader or candidate (elections); empty for an ephemeral. */
  state: string;
}

export function parseSessions(f: Fields): SessionInfo[] {
  return decode("SessionsResult", f).sessions;
}

/** A counter's value after an operation: a number when exact as one, else a bigint. */
export interface CounterResult {
  value: number | bigint;
  version: number;
  swapped: boolean;
}

export function parseCounter(f: Fields): CounterResult {
  const { version, swapped } = decode("CounterResult", f, ["version", "swapped"]);
  // value is an int64: a bigint when a number cannot hold it exactly.
  return { value: toInt64(f["value" satisfies WireKey<"CounterResult">], "value"), version, swapped };
}

/** An item taken from a queue. */
export interface QueueItem {
  key: string;
  data: Uint8Array;
}

export function parseQueueItem(f: Fields): QueueItem {
  return decode("QueueItem", f);
}
