// @warden/client: the TypeScript client of the Warden coordination agent.

export {
  connect,
  op,
  Client,
  Subscription,
  Watch,
  type CallOptions,
  type ConnectOptions,
  type CreateOptions,
  type VersionOptions,
  type WatchOptions,
  type SubscribeOptions,
  type SessionState,
  type ResumeToken,
  type MultiOp,
} from "./client.js";
export * from "./errors.js";
export { Lease, Semaphore, SemaphoreLease, Election, Leadership } from "./locks.js";
export { Config, ConfigSubscription, type ConfigValue, type ConfigUpdate, type ConfigSetOptions } from "./config.js";
export {
  Task,
  Membership,
  Group,
  Barrier,
  DoubleBarrier,
  Queue,
  Counter,
  PROGRESS_ROOT,
  GROUP_ROOT,
  type ReportOptions,
} from "./recipes.js";
export { Stream } from "./stream.js";
export type * from "./types.js";
export { text, PROTOCOL_VERSION, MAX_FRAME_SIZE, MAX_DATA_SIZE, type Data, type Uint } from "./wire.js";
export {
  socketPath,
  defaultSocketPath,
  expectedSocketOwner,
  checkSocketOwner,
  SOCKET_ENV,
  SOCKET_OWNER_ENV,
} from "./socket.js";
