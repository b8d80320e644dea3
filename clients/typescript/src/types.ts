// The native shapes of results and events, and their parsers from the
// decoded msgpack maps.

import { bin, bool, type Fields, isFields, str, toInt64, toNumber } from "./wire.js";

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
}

export function parseStat(v: unknown): Stat {
  const f = isFields(v) ? v : {};
  return {
    czxid: toNumber(f["czxid"], "czxid"),
    mzxid: toNumber(f["mzxid"], "mzxid"),
    pzxid: toNumber(f["pzxid"], "pzxid"),
    ctime: toNumber(f["ctime"], "ctime"),
    mtime: toNumber(f["mtime"], "mtime"),
    version: toNumber(f["version"], "version"),
    cversion: toNumber(f["cversion"], "cversion"),
    aversion: toNumber(f["aversion"], "aversion"),
    ephemeralOwner: toNumber(f["ephemeral_owner"], "ephemeral_owner"),
    dataLength: toNumber(f["data_length"], "data_length"),
    numChildren: toNumber(f["num_children"], "num_children"),
  };
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
  const r: HelloResult = {
    protocol: toNumber(f["protocol"], "protocol"),
    sessionId: toNumber(f["session_id"], "session_id"),
    sessionTimeoutMs: toNumber(f["session_timeout_ms"], "session_timeout_ms"),
    agent: str(f["agent"]),
    resumed: bool(f["resumed"]),
  };
  if (f["secret"] instanceof Uint8Array && f["secret"].length > 0) r.secret = new Uint8Array(f["secret"]);
  return r;
}

export interface GetResult {
  data: Uint8Array;
  stat: Stat;
}

export function parseGet(f: Fields): GetResult {
  return { data: bin(f["data"]), stat: parseStat(f["stat"]) };
}

export interface ChildrenResult {
  children: string[];
  stat: Stat;
}

export function parseChildren(f: Fields): ChildrenResult {
  const c = Array.isArray(f["children"]) ? (f["children"] as unknown[]).map(str) : [];
  return { children: c, stat: parseStat(f["stat"]) };
}

/** One op's outcome in a multi. `path` is set for create. */
export interface OpResult {
  path?: string;
  stat: Stat;
}

export function parseMulti(f: Fields): OpResult[] {
  const rs = Array.isArray(f["results"]) ? (f["results"] as unknown[]) : [];
  return rs.map((r) => {
    const m = isFields(r) ? r : {};
    const o: OpResult = { stat: parseStat(m["stat"]) };
    if (typeof m["path"] === "string" && m["path"] !== "") o.path = m["path"];
    return o;
  });
}

/** A grant: a lock or semaphore lease, a candidacy, a membership, a queued item. */
export interface LeaseResult {
  key: string;
  token: number;
}

export function parseLease(f: Fields): LeaseResult {
  return { key: str(f["key"]), token: toNumber(f["token"], "token") };
}

/** A fired one-shot watch. */
export interface WatchEvent {
  type: "created" | "deleted" | "data_changed" | "children_changed" | string;
  path: string;
  zxid: number;
}

export function parseWatchEvent(f: Fields): WatchEvent {
  return { type: str(f["type"]), path: str(f["path"]), zxid: toNumber(f["zxid"], "zxid") };
}

/** One event of a subscription. */
export interface ChangeEvent {
  type: "created" | "deleted" | "data_changed" | "resync" | "synced" | string;
  path: string;
  zxid: number;
  /** The node's data after the change (empty for deleted and synced). */
  data: Uint8Array;
  stat: Stat;
}

export function parseChange(f: Fields): ChangeEvent {
  return {
    type: str(f["type"]),
    path: str(f["path"]),
    zxid: toNumber(f["zxid"], "zxid"),
    data: bin(f["data"]),
    stat: parseStat(f["stat"]),
  };
}

/** Who leads an election. `key` is empty when nobody does. */
export interface Leader {
  key: string;
  value: Uint8Array;
  token: number;
}

export function parseLeader(f: Fields): Leader {
  return { key: str(f["key"]), value: bin(f["data"]), token: toNumber(f["token"], "token") };
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
  const f = isFields(v) ? v : {};
  const p = f["percent"];
  return {
    task: str(f["task"]),
    state: str(f["state"]),
    percent: typeof p === "number" ? p : toNumber(p, "percent"),
    message: str(f["message"]),
    data: bin(f["data"]),
    updated: toNumber(f["updated"], "updated"),
  };
}

/** A watched task's new report, or its end (removed). */
export interface TaskEvent {
  task: TaskReport;
  removed: boolean;
}

export function parseTaskEvent(f: Fields): TaskEvent {
  return { task: parseTask(f["task"]), removed: bool(f["removed"]) };
}

/** One member of a group. */
export interface GroupMember {
  member: string;
  data: Uint8Array;
}

export function parseGroupMember(v: unknown): GroupMember {
  const f = isFields(v) ? v : {};
  return { member: str(f["member"]), data: bin(f["data"]) };
}

/** A watched group's change: a member joined or changed, or left. */
export interface MemberEvent {
  member: GroupMember;
  left: boolean;
}

export function parseMemberEvent(f: Fields): MemberEvent {
  return { member: parseGroupMember(f["member"]), left: bool(f["left"]) };
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
}

export function parseStatus(f: Fields): Status {
  return {
    node: str(f["node"]),
    role: str(f["role"]),
    state: str(f["state"]),
    leader: str(f["leader"]),
    term: toNumber(f["term"], "term"),
    commitIndex: toNumber(f["commit_index"], "commit_index"),
    appliedIndex: toNumber(f["applied_index"], "applied_index"),
    sessions: toNumber(f["sessions"], "sessions"),
    znodes: toNumber(f["znodes"], "znodes"),
  };
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
  const ms = Array.isArray(f["members"]) ? (f["members"] as unknown[]) : [];
  return ms.map((v) => {
    const m = isFields(v) ? v : {};
    return {
      name: str(m["name"]),
      addr: str(m["addr"]),
      rpcAddr: str(m["rpc_addr"]),
      role: str(m["role"]),
      status: str(m["status"]),
      suffrage: str(m["suffrage"]),
      version: str(m["version"]),
    };
  });
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
}

export function parseSessions(f: Fields): SessionInfo[] {
  const ss = Array.isArray(f["sessions"]) ? (f["sessions"] as unknown[]) : [];
  return ss.map((v) => {
    const s = isFields(v) ? v : {};
    return {
      id: toNumber(s["id"], "id"),
      agent: str(s["agent"]),
      pid: toNumber(s["pid"], "pid"),
      uid: toNumber(s["uid"], "uid"),
      gid: toNumber(s["gid"], "gid"),
      client: str(s["client"]),
      timeoutMs: toNumber(s["timeout_ms"], "timeout_ms"),
      resumable: bool(s["resumable"]),
      heartbeat: bool(s["heartbeat"]),
      created: toNumber(s["created"], "created"),
    };
  });
}

/** A counter's value after an operation: a number when exact as one, else a bigint. */
export interface CounterResult {
  value: number | bigint;
  version: number;
  swapped: boolean;
}

export function parseCounter(f: Fields): CounterResult {
  return {
    value: toInt64(f["value"], "value"),
    version: toNumber(f["version"], "version"),
    swapped: bool(f["swapped"]),
  };
}

/** An item taken from a queue. */
export interface QueueItem {
  key: string;
  data: Uint8Array;
}

export function parseQueueItem(f: Fields): QueueItem {
  return { key: str(f["key"]), data: bin(f["data"]) };
}
