import { randomUUID } from "node:crypto";
import type { SyncPostgres } from "./sync-postgres.js";

/**
 * PostgresStore's tables, as SqliteStore's (src/store/sqlite-store.ts) with
 * PostgreSQL's types: BIGINT for seqs, cursors and times, BYTEA for encoded
 * Protobuf, and TEXT ids in the "C" collation, which compares UTF-8 bytes:
 * member pages are in that order (CONV-10), and a key's order never depends
 * on the server's locale.
 *
 * Migrations: entry i takes a schema from version i to i + 1, in one
 * transaction with the version bump in `meta`. Append steps; never edit a
 * released one.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL);
  -- CUR-7: one cluster-wide cursor counter. Every writing transaction locks this row first (FOR UPDATE) and holds it
  -- to COMMIT: writers on every node are serialised in one lock order, and cursor order is commit order.
  CREATE TABLE counters (name TEXT COLLATE "C" PRIMARY KEY, value BIGINT NOT NULL);
  INSERT INTO counters (name, value) VALUES ('cursor', 0);
  -- head_cursor is kept here rather than derived from MAX(cursor), so trimming old entries never lets a cursor be reused (CUR-2).
  CREATE TABLE users (
    user_id TEXT COLLATE "C" PRIMARY KEY, head_cursor BIGINT NOT NULL DEFAULT 0, presence_hidden BOOLEAN NOT NULL DEFAULT false
  );
  -- last_seq likewise: a seq is never reassigned (SEQ-2), even once retention drops events. It is the gapless
  -- per-conversation counter (a SEQUENCE would leave gaps on rollback). member_count: every event of a large
  -- conversation asks for it. read_fan_out_from: its first seq under read fan-out, 0 under write fan-out.
  -- last_position: the cursor of its newest published event.
  CREATE TABLE conversations (
    conversation_id TEXT COLLATE "C" PRIMARY KEY, kind INTEGER NOT NULL, title TEXT NOT NULL, owner_user_id TEXT COLLATE "C" NOT NULL,
    last_seq BIGINT NOT NULL DEFAULT 0, member_count BIGINT NOT NULL DEFAULT 0,
    read_fan_out_from BIGINT NOT NULL DEFAULT 0, last_position BIGINT NOT NULL DEFAULT 0,
    history_visibility INTEGER NOT NULL DEFAULT 0, history_events BIGINT NOT NULL DEFAULT 0
  );
  -- id is the join order: an upsert keeps it, as replacing a record keeps its place among the members (writers are
  -- serialised, so identity order is the order the joins committed). since_position: the server-wide position when
  -- the membership's interval began; its stream carries the conversation's events published after it. read_fan_out
  -- mirrors the conversation's, so that a user's read-fan-out memberships are one index range.
  CREATE TABLE memberships (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users,
    role INTEGER NOT NULL, first_visible_seq BIGINT NOT NULL, last_visible_seq BIGINT NOT NULL,
    since_position BIGINT NOT NULL DEFAULT 0, read_fan_out BOOLEAN NOT NULL DEFAULT false,
    UNIQUE (conversation_id, user_id)
  );
  CREATE INDEX memberships_current ON memberships (conversation_id, last_visible_seq, id);
  CREATE INDEX memberships_of_user ON memberships (user_id, id);
  CREATE INDEX memberships_read_fan_out ON memberships (user_id) WHERE read_fan_out;
  CREATE TABLE direct_pairs (
    user_low TEXT COLLATE "C" NOT NULL, user_high TEXT COLLATE "C" NOT NULL, conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations,
    PRIMARY KEY (user_low, user_high)
  );
  -- The event as its Protobuf encoding, so unknown fields survive byte for byte (MSG-7). position: its cursor in
  -- its readers' streams once published (read fan-out), else NULL. edit_target (ACT-3, ACT-4) and thread_root
  -- (THR-2) index what a redaction and a thread read look for.
  CREATE TABLE events (
    conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations, seq BIGINT NOT NULL, event BYTEA NOT NULL,
    position BIGINT, edit_target BIGINT, thread_root BIGINT,
    PRIMARY KEY (conversation_id, seq)
  );
  CREATE INDEX events_by_position ON events (conversation_id, position) WHERE position IS NOT NULL;
  CREATE INDEX events_edits ON events (conversation_id, edit_target) WHERE edit_target IS NOT NULL;
  CREATE INDEX events_threads ON events (conversation_id, thread_root, seq) WHERE thread_root IS NOT NULL;
  -- field is the UserEvent body field the entry becomes: a reference (conversation_id, seq) for events, else the body's encoding.
  -- No foreign key to users: the user row is written in the same statement, and this is the hottest insert.
  CREATE TABLE user_entries (
    user_id TEXT COLLATE "C" NOT NULL, cursor BIGINT NOT NULL, field INTEGER NOT NULL,
    conversation_id TEXT COLLATE "C", seq BIGINT, body BYTEA,
    PRIMARY KEY (user_id, cursor),
    CHECK ((body IS NULL) = (conversation_id IS NOT NULL AND seq IS NOT NULL))
  );
  -- created_at_ms is the wall-clock time of the insert, for an operator; expiry (IDEM-4) goes by server_time_ms.
  -- The primary key is the permanent deduplication (IDEM-2).
  CREATE TABLE dedup_keys (
    scope TEXT COLLATE "C" NOT NULL, user_id TEXT COLLATE "C" NOT NULL, device_id TEXT COLLATE "C" NOT NULL, key TEXT COLLATE "C" NOT NULL,
    conversation_id TEXT COLLATE "C" NOT NULL, seq BIGINT NOT NULL, message_id TEXT NOT NULL, server_time_ms BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (scope, user_id, device_id, key)
  );
  CREATE INDEX dedup_keys_by_age ON dedup_keys (server_time_ms);
  CREATE TABLE receive_modes (
    user_id TEXT COLLATE "C" NOT NULL, conversation_id TEXT COLLATE "C" NOT NULL, mode INTEGER NOT NULL, PRIMARY KEY (user_id, conversation_id)
  );
  -- The Store keys a thread's marker and a delivered position as "conversation NUL suffix" (threadMarkerKey,
  -- deliveredMarkerKey); TEXT cannot hold NUL, so the key is kept split: marker is the suffix, '' for the
  -- conversation's own read marker (READ-1).
  CREATE TABLE read_markers (
    user_id TEXT COLLATE "C" NOT NULL, conversation_id TEXT COLLATE "C" NOT NULL, marker TEXT COLLATE "C" NOT NULL, seq BIGINT NOT NULL,
    PRIMARY KEY (user_id, conversation_id, marker)
  );
  -- PSH-1: devices' push registrations, kept while they are away.
  CREATE TABLE push_registrations (
    user_id TEXT COLLATE "C" NOT NULL, device_id TEXT COLLATE "C" NOT NULL, push_service TEXT NOT NULL, push_token TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id)
  );
  -- HID-1: events a user hid from its own devices.
  CREATE TABLE hidden_events (
    user_id TEXT COLLATE "C" NOT NULL, conversation_id TEXT COLLATE "C" NOT NULL, seq BIGINT NOT NULL,
    PRIMARY KEY (user_id, conversation_id, seq)
  );
  `,
];

export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Bring the connection's schema (its search_path) up to date, one step per
 * transaction. Several nodes may open a fresh schema at once: each step runs
 * under a transaction-scoped advisory lock named after the schema and
 * re-reads the version inside it, so exactly one node applies it.
 */
export function migrate(db: SyncPostgres): void {
  for (;;) {
    db.query("BEGIN");
    try {
      db.query("SELECT pg_advisory_xact_lock(hashtext('imwire schema ' || current_schema()))");
      const version = schemaVersion(db);
      if (version > MIGRATIONS.length) throw new Error(`store schema version ${version} is newer than this server's ${MIGRATIONS.length}`);
      if (version === MIGRATIONS.length) {
        db.query("COMMIT");
        return;
      }
      db.query(MIGRATIONS[version]!);
      // CUR-4: the epoch is born with the database, so it changes when the stored state is lost. A restored older
      // backup brings it back while losing what came later: postgres-epoch.ts renews it then (CLU-4).
      if (version === 0) db.query("INSERT INTO meta (key, value) VALUES ('epoch', $1)", [randomUUID()]);
      db.query("INSERT INTO meta (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [String(version + 1)]);
      db.query("COMMIT");
    } catch (error) {
      rollbackAfter(db, error);
    }
  }
}

/** The schema's version: 0 before the first migration made `meta`. */
export function schemaVersion(db: SyncPostgres): number {
  const exists = db.query<{ meta: string | null }>("SELECT to_regclass('meta') AS meta").rows[0]!.meta;
  if (exists === null) return 0;
  const row = db.query<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").rows[0];
  return row === undefined ? 0 : Number(row.value);
}

/** Undo the open transaction and rethrow what failed it (a connection already gone rolled back by itself). */
function rollbackAfter(db: SyncPostgres, error: unknown): never {
  try {
    db.query("ROLLBACK");
  } catch {
    // The connection is gone (StoreUnavailableError): the server rolled the transaction back with it.
  }
  throw error;
}
