/**
 * imwire/node-server: the reference server (the server machine on TCP/TLS
 * and WebSocket, a real clock, SQLite), its parts for embedding, and the
 * reference token scheme. Node only; loads better-sqlite3 and ws.
 */
export { startReferenceServer, type ListenAddress, type ReferenceServer, type ReferenceServerOptions } from "../server/reference-server.js";
export { ServerRunner, type ServerRunnerOptions } from "../server/server-runner.js";
export { SqliteStore, SCHEMA_VERSION, type SqliteStoreOptions } from "../store/sqlite-store.js";
export type { Logger, LogFields } from "../server/logger.js";
export { issueToken, verifyToken, type TokenClaims } from "../auth/hmac-token.js";
export { FileJournal, JournalCorrupt, type JournalOpened } from "../store/journal/file-journal.js";
