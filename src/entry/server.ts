/**
 * imwire/server and @imwire/protocol/server: every connection of one server
 * as a sans-I/O state machine, the synchronous store it writes through, and
 * the in-memory store. Portable: the SQLite store and the reference server on
 * Node sockets are in imwire/node-server.
 */
export { ServerMachine, newServerMachine, type ServerMachineFactory } from "../machines/server/server-machine.js";
export { defaultServerOptions, serverOptions, type ServerOptions } from "../machines/server/options.js";
export type { ConnectionId, ServerDeps, ServerOutput, TokenCheck } from "../machines/server/types.js";
export type { DedupKey, DedupRecord, NewEvent, Store, StoredConversation, StoredMembership, StoredUserEntry, StoredUserEntryBody } from "../store/store.js";
export { MemoryStore } from "../store/memory-store.js";
