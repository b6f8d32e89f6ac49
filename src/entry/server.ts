/**
 * imwire/server and @imwire/protocol/server: every connection of one server
 * as a sans-I/O state machine, the synchronous store it writes through, and
 * the in-memory store. Portable: the SQLite store and the reference server on
 * Node sockets are in imwire/node-server.
 */
export { ServerMachine, newServerMachine, type ServerMachineFactory } from "../machines/server/server-machine.js";
export { defaultServerOptions, serverOptions, type ServerOptions } from "../machines/server/options.js";
export type { ConnectionId, ServerDeps, ServerOutput, TokenCheck } from "../machines/server/types.js";
export type {
  DedupKey,
  DedupRecord,
  NewEvent,
  Store,
  StoredConversation,
  StoredHistoryVisibility,
  StoredMembership,
  StoredPushRegistration,
  StoredUserEntry,
  StoredUserEntryBody,
} from "../store/store.js";
export { WriteBehindStore, type BatchSink } from "../store/write-behind-store.js";
export { applyWrite, type StoreWrite } from "../store/store-writes.js";
export { MemoryStore } from "../store/memory-store.js";
