import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import Database from "better-sqlite3";
import { ConversationKind, Role } from "../src/gen/imwire/v1/conversation_pb.js";
import { UserEventSchema } from "../src/gen/imwire/v1/delivery_pb.js";
import { ConversationEventSchema } from "../src/gen/imwire/v1/message_pb.js";
import { SCHEMA_VERSION, SqliteStore } from "../src/store/sqlite-store.js";

/**
 * SqliteStore opens files written by released versions and migrates them
 * (schema versions 1 and 2 were released before read fan-out). The schema
 * below is those versions' own, copied here so that the test does not
 * build an old file with today's code: a migration step must run against
 * what an old server really left.
 */
const RELEASED_V1 = `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
  -- head_cursor is kept here rather than derived from MAX(cursor), so trimming old entries never lets a cursor be reused (CUR-2).
  CREATE TABLE users (user_id TEXT PRIMARY KEY, head_cursor INTEGER NOT NULL DEFAULT 0) STRICT, WITHOUT ROWID;
  -- last_seq likewise: a seq is never reassigned (SEQ-2), even once retention drops events.
  CREATE TABLE conversations (
    conversation_id TEXT PRIMARY KEY, kind INTEGER NOT NULL, title TEXT NOT NULL, owner_user_id TEXT NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0
  ) STRICT;
  -- id is the join order: an upsert keeps it, as replacing a record keeps its place among the members.
  CREATE TABLE memberships (
    id INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations,
    user_id TEXT NOT NULL REFERENCES users,
    role INTEGER NOT NULL, first_visible_seq INTEGER NOT NULL, last_visible_seq INTEGER NOT NULL,
    UNIQUE (conversation_id, user_id)
  ) STRICT;
  CREATE INDEX memberships_current ON memberships (conversation_id, last_visible_seq, id);
  CREATE INDEX memberships_of_user ON memberships (user_id, id);
  CREATE TABLE direct_pairs (
    user_low TEXT NOT NULL, user_high TEXT NOT NULL, conversation_id TEXT NOT NULL REFERENCES conversations,
    PRIMARY KEY (user_low, user_high)
  ) STRICT, WITHOUT ROWID;
  -- The event as its Protobuf encoding, so unknown fields survive byte for byte (MSG-7).
  CREATE TABLE events (
    conversation_id TEXT NOT NULL REFERENCES conversations, seq INTEGER NOT NULL, event BLOB NOT NULL,
    PRIMARY KEY (conversation_id, seq)
  ) STRICT;
  -- field is the UserEvent body field the entry becomes: a reference (conversation_id, seq) for events, else the body's encoding.
  -- No foreign key to users: the cursor is allocated in users just before each insert, and this is the hottest insert.
  CREATE TABLE user_entries (
    user_id TEXT NOT NULL, cursor INTEGER NOT NULL, field INTEGER NOT NULL,
    conversation_id TEXT, seq INTEGER, body BLOB,
    PRIMARY KEY (user_id, cursor),
    CHECK ((body IS NULL) = (conversation_id IS NOT NULL AND seq IS NOT NULL))
  ) STRICT, WITHOUT ROWID;
  -- created_at_ms is the wall-clock time of the insert, for an operator; expiry (IDEM-4) goes by server_time_ms.
  CREATE TABLE dedup_keys (
    scope TEXT NOT NULL, user_id TEXT NOT NULL, device_id TEXT NOT NULL, key TEXT NOT NULL,
    conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, message_id TEXT NOT NULL, server_time_ms INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (scope, user_id, device_id, key)
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE receive_modes (
    user_id TEXT NOT NULL, conversation_id TEXT NOT NULL, mode INTEGER NOT NULL, PRIMARY KEY (user_id, conversation_id)
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE read_markers (
    user_id TEXT NOT NULL, conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (user_id, conversation_id)
  ) STRICT, WITHOUT ROWID;
    
`;
const RELEASED_V2 = "CREATE INDEX dedup_keys_by_age ON dedup_keys (server_time_ms)";

let dir: string;
let path: string;
const open: SqliteStore[] = [];
const openStore = () => {
  const store = new SqliteStore(path);
  open.push(store);
  return store;
};
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "imwire-migrate-"));
  path = join(dir, "imwire.db");
});
afterEach(() => {
  for (const store of open.splice(0)) store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A file as a released server of `version` left it, with `fill` run on it. */
function releasedFile(version: 1 | 2, fill: (db: Database.Database) => void = () => {}): void {
  const db = new Database(path);
  db.exec(RELEASED_V1);
  db.prepare("INSERT INTO meta (key, value) VALUES ('epoch', 'released-epoch')").run();
  if (version === 2) db.exec(RELEASED_V2);
  fill(db);
  db.pragma(`user_version = ${version}`);
  db.close();
}

const version = () => {
  const db = new Database(path, { readonly: true });
  try {
    return db.pragma("user_version", { simple: true });
  } finally {
    db.close();
  }
};

describe("SqliteStore schema migrations", () => {
  it("IDEM-4: brings a version-1 file up to date, adding the index dedup expiry reads by, and keeps what it held", () => {
    releasedFile(1, (db) =>
      db.prepare("INSERT INTO dedup_keys VALUES ('message', 'a', 'd', 'k', 'g', 1, 'm', 5, 0)").run(),
    );
    const key = { scope: "message", userId: "a", deviceId: "d", key: "k" } as const;
    const reopened = openStore();
    expect(reopened.dedup(key)).toEqual({ conversationId: "g", seq: 1, messageId: "m", serverTimeMs: 5 });
    expect(reopened.forgetDedupBefore(6, 10)).toBe(1);
    reopened.close();
    expect(version()).toBe(SCHEMA_VERSION);
    const check = new Database(path, { readonly: true });
    try {
      const plan = check.prepare("EXPLAIN QUERY PLAN SELECT key FROM dedup_keys WHERE server_time_ms < 10 ORDER BY server_time_ms").all() as { detail: string }[];
      expect(plan.map((row) => row.detail).join("; ")).toMatch(/USING (COVERING )?INDEX dedup_keys_by_age/);
    } finally {
      check.close();
    }
  });

  it("CUR-7 CONV-9 CUR-2 CUR-4: brings a version-2 file up to date (3: read fan-out; 4: edit targets; 5: presence sharing; 6: threads; 7: history visibility; 8: push registrations; 9: hidden events), keeping its data, backfilling member counts, and going on above its cursors", () => {
    const event = (seq: number) => toBinary(ConversationEventSchema, create(ConversationEventSchema, { seq: BigInt(seq), senderUserId: "alice", body: { case: "message", value: { messageId: `g.${seq}` } } }));
    const eventField = UserEventSchema.field.event!.number;
    releasedFile(2, (db) => {
      // As a version-2 server numbered them: cursors 1, 2, 3… per user.
      db.exec("INSERT INTO users VALUES ('alice', 3), ('bob', 2), ('carol', 1)");
      db.exec(`INSERT INTO conversations VALUES ('g', ${ConversationKind.GROUP}, 'team', 'alice', 3), ('h', ${ConversationKind.GROUP}, '', 'bob', 2)`);
      db.exec(`INSERT INTO memberships (conversation_id, user_id, role, first_visible_seq, last_visible_seq) VALUES
        ('g', 'alice', ${Role.OWNER}, 1, 0), ('g', 'carol', ${Role.MEMBER}, 1, 1), ('g', 'bob', ${Role.MEMBER}, 2, 0), ('h', 'bob', ${Role.OWNER}, 1, 2)`);
      const insertEvent = db.prepare("INSERT INTO events VALUES ('g', ?, ?)");
      for (const seq of [1, 2, 3]) insertEvent.run(seq, event(seq));
      const entry = db.prepare(`INSERT INTO user_entries VALUES (?, ?, ${eventField}, 'g', ?, NULL)`);
      for (const [user, cursor, seq] of [["alice", 1, 1], ["alice", 2, 2], ["alice", 3, 3], ["bob", 1, 2], ["bob", 2, 3], ["carol", 1, 1]] as const) entry.run(user, cursor, seq);
    });
    const store = openStore();
    expect(version()).toBe(SCHEMA_VERSION);
    expect(SCHEMA_VERSION).toBe(9);
    expect(store.epoch("alice")).toBe("released-epoch"); // CUR-4: the same stream, so the same epoch
    expect(store.conversation("g")).toEqual({ conversationId: "g", kind: ConversationKind.GROUP, title: "team", ownerUserId: "alice", readFanOutFromSeq: 0 });
    expect([store.memberCount("g"), store.memberCount("h")]).toEqual([2, 0]);
    expect(store.membersPage("g", "", 10).map((m) => m.userId)).toEqual(["alice", "bob"]);
    expect(store.events("g", 0, Infinity, Infinity).map((e) => toBinary(ConversationEventSchema, e))).toEqual([1, 2, 3].map(event));
    expect(store.userEntries("alice", 1, Infinity)).toEqual([2, 3].map((seq) => ({ cursor: seq, body: { case: "eventRef", conversationId: "g", seq } })));
    expect([store.headCursor("alice"), store.headCursor("bob")]).toEqual([3, 2]);
    // The count is kept from here on: a leave after the migration counts down from the backfilled value.
    store.setMembership({ conversationId: "g", userId: "bob", role: Role.MEMBER, firstVisibleSeq: 2, lastVisibleSeq: 3 });
    expect(store.memberCount("g")).toBe(1);
    // CUR-2: one server-wide counter now, above the highest per-user cursor the file held.
    expect(store.appendUserEntry("carol", { case: "eventRef", conversationId: "g", seq: 1 })).toBeGreaterThan(3);
    // CUR-8: a migrated membership reads the conversation's published events after its stored entries.
    store.startReadFanOut("g", 4);
    const seq = store.appendEvent("g", { senderUserId: "alice", body: { case: "message", value: { messageId: "g.4" } } });
    const position = store.publishEvent("g", seq);
    expect(store.userEntries("alice", 0, Infinity).map((e) => [e.cursor, e.body.case === "eventRef" && e.body.seq])).toEqual([[1, 1], [2, 2], [3, 3], [position, 4]]);
    expect(store.userEntries("carol", 0, Infinity).map((e) => e.cursor)).not.toContain(position);
  });
});
