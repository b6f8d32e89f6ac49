import { randomUUID } from "node:crypto";
import { closeSync, constants, fsync, openSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import Database from "better-sqlite3";
import { ConversationKind, HistoryVisibility, type Role } from "../gen/imwire/v1/conversation_pb.js";
import { ConversationEventSchema, type ConversationEvent } from "../gen/imwire/v1/message_pb.js";
import { ReceiveMode } from "../gen/imwire/v1/settings_pb.js";
import { decodeConversationEvent, encodeConversationEvent } from "../gen/imwire/v1/message_fast.js";
import { editTarget, threadRoot, tombstone } from "./tombstone.js";
import { deliveredMarkerKey, type ReceiptCounts } from "./store.js";
import { decodeBody, encodeBody } from "./entry-bodies.js";
import type { DedupKey, DedupRecord, NewConversation, NewEvent, Store, StoredConversation, StoredHistoryVisibility, StoredMembership, StoredPushRegistration, StoredUserEntry, StoredUserEntryBody } from "./store.js";

export interface SqliteStoreOptions {
  /** Wall-clock time for the created time of dedup records (for an operator; expiry goes by the server's time). */
  readonly clock?: () => number;
}

/**
 * Schema migrations: entry i takes a file from user_version i to i + 1, in the
 * same transaction as the version bump. Append steps; never edit a released one.
 */
const MIGRATIONS: readonly ((db: Database.Database) => void)[] = [
  (db) => {
    db.exec(`
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
    `);
    // CUR-4: the epoch is born with the file, so it changes exactly when the stored state is lost. (A restored
    // older copy of the file would keep it while losing what came later: restoring one must also renew it.)
    db.prepare("INSERT INTO meta (key, value) VALUES ('epoch', ?)").run(randomUUID());
  },
  // IDEM-4: keys are forgotten by the time of their first attempt, oldest first.
  (db) => db.exec("CREATE INDEX dedup_keys_by_age ON dedup_keys (server_time_ms)"),
  // Read fan-out (CUR-7, CUR-8) and paged members (CONV-10).
  (db) =>
    db.exec(`
      -- member_count: every event of a large conversation asks for it. read_fan_out_from: its first seq under read
      -- fan-out, 0 under write fan-out. last_position: the cursor of its newest published event.
      ALTER TABLE conversations ADD COLUMN member_count INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE conversations ADD COLUMN read_fan_out_from INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE conversations ADD COLUMN last_position INTEGER NOT NULL DEFAULT 0;
      UPDATE conversations SET member_count =
        (SELECT count(*) FROM memberships m WHERE m.conversation_id = conversations.conversation_id AND m.last_visible_seq = 0);
      -- since_position: the server-wide position when the membership's interval began; its stream carries the
      -- conversation's events published after it. read_fan_out mirrors the conversation's, so that a user's
      -- read-fan-out memberships are one index range, whatever its other conversations.
      ALTER TABLE memberships ADD COLUMN since_position INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE memberships ADD COLUMN read_fan_out INTEGER NOT NULL DEFAULT 0;
      CREATE INDEX memberships_read_fan_out ON memberships (user_id) WHERE read_fan_out = 1;
      -- position: the event's cursor in its readers' streams once published (read fan-out), else NULL.
      ALTER TABLE events ADD COLUMN position INTEGER;
      CREATE INDEX events_by_position ON events (conversation_id, position) WHERE position IS NOT NULL;
    `),
  // ACT-3, ACT-4: an edit's target, so that a redaction finds every edit of its message.
  (db) =>
    db.exec(`
      ALTER TABLE events ADD COLUMN edit_target INTEGER;
      CREATE INDEX events_edits ON events (conversation_id, edit_target) WHERE edit_target IS NOT NULL;
    `),
  // EPH-5: the user's presence setting.
  (db) => db.exec("ALTER TABLE users ADD COLUMN presence_hidden INTEGER NOT NULL DEFAULT 0"),
  // THR-2: a reply's thread, so that a thread is read without the rest of its conversation.
  (db) =>
    db.exec(`
      ALTER TABLE events ADD COLUMN thread_root INTEGER;
      CREATE INDEX events_threads ON events (conversation_id, thread_root, seq) WHERE thread_root IS NOT NULL;
    `),
  // HIS-1: a group's history visibility.
  (db) =>
    db.exec(`
      ALTER TABLE conversations ADD COLUMN history_visibility INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE conversations ADD COLUMN history_events INTEGER NOT NULL DEFAULT 0;
    `),
  // PSH-1: devices' push registrations, kept while they are away.
  (db) =>
    db.exec(`
      CREATE TABLE push_registrations (
        user_id TEXT NOT NULL, device_id TEXT NOT NULL, push_service TEXT NOT NULL, push_token TEXT NOT NULL,
        PRIMARY KEY (user_id, device_id)
      ) STRICT, WITHOUT ROWID;
    `),
  // HID-1: events a user hid from its own devices.
  (db) =>
    db.exec(`
      CREATE TABLE hidden_events (
        user_id TEXT NOT NULL, conversation_id TEXT NOT NULL, seq INTEGER NOT NULL,
        PRIMARY KEY (user_id, conversation_id, seq)
      ) STRICT, WITHOUT ROWID;
    `),
];

export const SCHEMA_VERSION = MIGRATIONS.length;

interface EntryRow {
  readonly cursor: number;
  readonly field: number;
  readonly conversationId: string | null;
  readonly seq: number | null;
  readonly body: Buffer | null;
}

/**
 * In a query over memberships m joined with conversations c: the position of
 * the newest published event the membership may see (its last visible one
 * for a former member), NULL when there is none.
 */
const VISIBLE_TOP = `CASE WHEN m.last_visible_seq = 0 THEN nullif(c.last_position, 0)
  ELSE (SELECT e.position FROM events e WHERE e.conversation_id = m.conversation_id AND e.seq <= m.last_visible_seq
        AND e.position IS NOT NULL ORDER BY e.seq DESC LIMIT 1) END`;

const MEMBERSHIP_COLUMNS = "conversation_id, user_id, role, first_visible_seq, last_visible_seq";
/** Membership rows come as arrays: better-sqlite3 builds those twice as fast as objects, and members() runs for every event. */
type MembershipRow = [conversationId: string, userId: string, role: Role, firstVisibleSeq: number, lastVisibleSeq: number];

function toMembership([conversationId, userId, role, firstVisibleSeq, lastVisibleSeq]: MembershipRow): StoredMembership {
  return { conversationId, userId, role, firstVisibleSeq, lastVisibleSeq };
}

/**
 * The Store on SQLite (better-sqlite3), for the reference server. Every
 * method is synchronous, like the interface; `transaction` maps onto SQLite
 * transactions, nested ones onto savepoints. Semantics follow MemoryStore,
 * including which calls bring a user into existence.
 */
export class SqliteStore implements Store {
  readonly #db: Database.Database;
  readonly #epoch: string;
  readonly #clock: () => number;
  readonly #sql: ReturnType<typeof prepare>;
  readonly #transaction: (fn: () => unknown) => unknown;
  /** Group commit (enableGroupCommit): told when a batch opens, so that someone commits it. */
  #onBatchOpened: (() => void) | undefined;
  #batchOpen = false;
  /** SQLite rolled the open batch back on its own (an I/O error, a full disk): its commit must fail. */
  #batchLost = false;
  /**
   * The last cursor handed out, server-wide (CUR-7). Kept in memory: every
   * cursor that was made durable is in a row (a user's head, an event's
   * position, a membership's start), so the highest of those is where to
   * go on after a restart; one allocated by a transaction that rolled back
   * was never revealed (SEQ-2), and may be handed out again.
   */
  #position: number;
  readonly #path: string;
  /**
   * Per user: whether any of its memberships is under read fan-out, so that
   * the streams of users with none (most one-to-one traffic) skip the merge's
   * query. Read from the file, set on the writes that make it true; a write
   * rolled back leaves a true that costs only that query.
   */
  readonly #readFanOutUsers = new Map<string, boolean>();
  /** Group commit with the fsync after COMMIT (enableGroupCommit): the write-ahead log, to fsync off the event loop. */
  #walFd: number | undefined;

  /** Open (creating or migrating) the store in `path`; ":memory:" gives a store that lives as long as this object. */
  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.#clock = options.clock ?? Date.now;
    this.#path = path;
    const db = new Database(path);
    this.#db = db;
    try {
      // Checked before anything is written, so a newer server's file is left as it was.
      const version = db.pragma("user_version", { simple: true }) as number;
      if (version > MIGRATIONS.length) throw new Error(`store schema version ${version} is newer than this server's ${MIGRATIONS.length}`);
      // A write-ahead log lets readers (an operator's inspection, say) run while the server writes.
      db.pragma("journal_mode = WAL");
      // SEQ-2: the server sends send_ack only after the transaction commits, so a commit must outlive the
      // process. NORMAL would already survive a process crash (the WAL is written before COMMIT returns), but it
      // fsyncs only at checkpoints: a power loss or OS crash could drop the last acknowledged transactions while
      // the file, and so the epoch (CUR-4), stays the same, after which seqs and cursors would be handed out
      // again for different events. FULL fsyncs the WAL at every commit, so an acknowledged event also survives
      // a power loss, on storage that honours fsync (on macOS that takes fullfsync as well). Cost: one fsync
      // per request that writes.
      db.pragma("synchronous = FULL");
      db.pragma("foreign_keys = ON");
      // One server process writes; another process that writes (an operator tool) waits rather than fails.
      db.pragma("busy_timeout = 5000");
      migrate(db, version);
      this.#epoch = db.prepare<[], string>("SELECT value FROM meta WHERE key = 'epoch'").pluck().get()!;
      this.#sql = prepare(db);
      this.#position = this.#sql.highestPosition.get()!;
    } catch (error) {
      db.close();
      throw error;
    }
    // One wrapper for every call: better-sqlite3 turns a call made inside another into a savepoint.
    // IMMEDIATE takes the write lock at BEGIN, so a transaction never fails halfway upgrading to it.
    this.#transaction = db.transaction((fn: () => unknown) => fn()).immediate;
  }

  /** Close the database; the store is unusable afterwards. */
  close(): void {
    if (this.#walFd !== undefined) closeSync(this.#walFd);
    this.#walFd = undefined;
    this.#db.close();
  }

  transaction<T>(fn: () => T): T {
    this.#openBatch();
    return this.#transaction(fn) as T;
  }

  /**
   * Group commit: from now on the first write opens one transaction, the
   * batch, and every later write and transaction() joins it (each request
   * still a savepoint of its own, so a refused request undoes only its own
   * writes) until commitBatch(): one fsync for all of them. `onBatchOpened`
   * is called when a batch opens; whoever holds the outputs that depend on
   * it commits it.
   */
  enableGroupCommit(onBatchOpened: () => void, { fsyncAfterCommit = false }: { fsyncAfterCommit?: boolean } = {}): void {
    this.#onBatchOpened = onBatchOpened;
    if (!fsyncAfterCommit || this.#path === ":memory:" || this.#path === "") return;
    // SQLite's FULL is NORMAL plus an fsync of the write-ahead log after each commit: the same fsync, done here
    // off the event loop (syncCommitted), so the next batch runs while the disk works. NORMAL still syncs the log
    // before each checkpoint and the database after it. The log lives as long as the connection (it is reset,
    // not recreated, after a checkpoint), so one descriptor, opened first, stays on the right file; fsync on
    // Linux flushes the file whichever descriptor wrote it.
    this.#walFd = openSync(`${this.#path}-wal`, constants.O_RDWR | constants.O_CREAT);
    this.#db.pragma("synchronous = NORMAL");
  }

  /**
   * With fsyncAfterCommit: resolves once every batch committed so far is
   * durable (one fsync of the log covers all of them), rejects if the fsync
   * fails. Undefined when each commit fsyncs by itself.
   */
  syncCommitted(): Promise<void> | undefined {
    const fd = this.#walFd;
    if (fd === undefined) return undefined;
    return new Promise((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve())));
  }

  /** A batch is open: writes made since the last commit are not yet durable. */
  get batchOpen(): boolean {
    return this.#batchOpen;
  }

  /** Make the open batch durable (COMMIT: one fsync with synchronous=FULL); throws, having rolled back, if it cannot. */
  commitBatch(): void {
    if (!this.#batchOpen) return;
    this.#batchOpen = false;
    const lost = this.#batchLost || !this.#db.inTransaction;
    this.#batchLost = false;
    if (lost) {
      if (this.#db.inTransaction) this.#db.exec("ROLLBACK");
      throw new Error("the batch was rolled back by SQLite before its commit");
    }
    try {
      this.#db.exec("COMMIT");
    } catch (error) {
      if (this.#db.inTransaction) this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  /** Undo the open batch. */
  rollbackBatch(): void {
    if (!this.#batchOpen) return;
    this.#batchOpen = false;
    this.#batchLost = false;
    if (this.#db.inTransaction) this.#db.exec("ROLLBACK");
  }

  #openBatch(): void {
    if (this.#onBatchOpened === undefined || this.#db.inTransaction) return;
    // Open, yet no transaction: SQLite ended it itself, and what it held is gone with it.
    if (this.#batchOpen) this.#batchLost = true;
    // IMMEDIATE, as every transaction here: the write lock from the start, so no write fails halfway upgrading to it.
    this.#db.exec("BEGIN IMMEDIATE");
    if (!this.#batchOpen) {
      this.#batchOpen = true;
      this.#onBatchOpened();
    }
  }

  addUser(userId: string): void {
    this.#openBatch();
    this.#sql.addUser.run(userId);
  }

  hasUser(userId: string): boolean {
    return this.#sql.hasUser.get(userId) !== undefined;
  }

  createConversation(conversation: NewConversation): void {
    const { conversationId, kind, title, ownerUserId, readFanOutFromSeq = 0 } = conversation;
    this.#openBatch();
    if (this.#sql.insertConversation.run(conversationId, kind, title, ownerUserId, readFanOutFromSeq).changes === 0) {
      throw new Error(`conversation ${conversationId} exists`);
    }
  }

  conversation(conversationId: string): StoredConversation | undefined {
    return this.#sql.conversation.get(conversationId);
  }

  directConversation(userA: string, userB: string): string | undefined {
    return this.#sql.directPair.get(...pair(userA, userB));
  }

  setMembership(membership: StoredMembership): void {
    const { conversationId, userId, role, firstVisibleSeq, lastVisibleSeq } = membership;
    this.#atomic(() => {
      const target = this.#sql.membershipTarget.get(conversationId);
      if (target === undefined) throw new Error(`no conversation ${conversationId}`);
      const [kind, readFanOutFrom] = target;
      const before = this.#sql.membership.get(conversationId, userId);
      this.#sql.addUser.run(userId);
      // The same interval goes on (a leave closes it) or a new one begins now (CONV-8, CUR-7).
      const continues = before !== undefined && before[4] === 0 && before[3] === firstVisibleSeq;
      const since = continues ? this.#sql.membershipSince.get(conversationId, userId)! : this.#position;
      this.#sql.upsertMembership.run(conversationId, userId, role, firstVisibleSeq, lastVisibleSeq, since, readFanOutFrom > 0 ? 1 : 0);
      if (readFanOutFrom > 0) this.#readFanOutUsers.set(userId, true);
      const delta = Number(lastVisibleSeq === 0) - Number(before !== undefined && before[4] === 0);
      if (delta !== 0) this.#sql.adjustMemberCount.run(delta, conversationId);
      // As MemoryStore: a DIRECT conversation names its pair once it has two membership records (CONV-2).
      if (kind !== ConversationKind.DIRECT) return;
      const first = this.#sql.firstMembers.all(conversationId);
      if (first.length === 2) this.#sql.setDirectPair.run(...pair(first[0]!, first[1]!), conversationId);
    });
  }

  membership(conversationId: string, userId: string): StoredMembership | undefined {
    const row = this.#sql.membership.get(conversationId, userId);
    return row === undefined ? undefined : toMembership(row);
  }

  members(conversationId: string): StoredMembership[] {
    const rows = this.#sql.members.all(conversationId);
    if (rows.length === 0) this.#mustExist(conversationId);
    return rows.map(toMembership);
  }

  memberCount(conversationId: string): number {
    const count = this.#sql.memberCount.get(conversationId);
    if (count === undefined) throw new Error(`no conversation ${conversationId}`);
    return count;
  }

  membersPage(conversationId: string, afterUserId: string, limit: number): StoredMembership[] {
    const rows = this.#sql.membersPage.all(conversationId, afterUserId, bound(limit));
    if (rows.length === 0) this.#mustExist(conversationId);
    return rows.map(toMembership);
  }

  membershipsOf(userId: string): StoredMembership[] {
    return this.#sql.membershipsOf.all(userId).map(toMembership);
  }

  appendEvent(conversationId: string, event: NewEvent): number {
    return this.#atomic(() => {
      const last = this.#sql.lastSeq.get(conversationId);
      if (last === undefined) throw new Error(`no conversation ${conversationId}`);
      const seq = last + 1;
      const stored = create(ConversationEventSchema, { ...event, seq: BigInt(seq) });
      const target = editTarget(stored);
      const root = threadRoot(stored);
      this.#sql.insertEvent.run(conversationId, seq, encodeConversationEvent(stored), target > 0 ? target : null, root > 0 ? root : null);
      this.#sql.setLastSeq.run(seq, conversationId);
      return seq;
    });
  }

  redact(conversationId: string, targetSeq: number, redactionSeq: number): void {
    this.#atomic(() => {
      for (const seq of this.#sql.redactedSeqs.all(conversationId, targetSeq, targetSeq)) {
        const before = this.event(conversationId, seq)!;
        this.#sql.replaceEvent.run(encodeConversationEvent(tombstone(before, redactionSeq)), conversationId, seq);
      }
    });
  }

  startReadFanOut(conversationId: string, fromSeq: number): void {
    this.#atomic(() => {
      if (this.#sql.startReadFanOut.run(fromSeq, conversationId).changes === 0) return;
      this.#sql.markReadFanOutMembers.run(conversationId);
      // Its members, current and former, all have a read-fan-out membership now.
      this.#readFanOutUsers.clear();
    });
  }

  publishEvent(conversationId: string, seq: number): number {
    return this.#atomic(() => {
      const position = ++this.#position;
      this.#sql.publishEvent.run(position, conversationId, seq);
      this.#sql.setLastPosition.run(position, conversationId);
      return position;
    });
  }

  lastSeq(conversationId: string): number {
    return this.#sql.lastSeq.get(conversationId) ?? 0;
  }

  events(conversationId: string, afterSeq: number, untilSeq: number, limit: number): ConversationEvent[] {
    const rows = this.#sql.events.all(conversationId, bound(afterSeq), bound(untilSeq), bound(limit));
    if (rows.length === 0) this.#mustExist(conversationId);
    return rows.map((bytes) => decodeConversationEvent(bytes));
  }

  threadEvents(conversationId: string, rootSeq: number, afterSeq: number, untilSeq: number, limit: number): ConversationEvent[] {
    return this.#sql.threadEvents.all(conversationId, rootSeq, rootSeq, bound(afterSeq), bound(untilSeq), bound(limit)).map((bytes) => decodeConversationEvent(bytes));
  }

  event(conversationId: string, seq: number): ConversationEvent | undefined {
    const bytes = this.#sql.event.get(conversationId, seq);
    return bytes === undefined ? undefined : decodeConversationEvent(bytes);
  }

  epoch(userId: string): string {
    this.#openBatch();
    this.#sql.addUser.run(userId);
    return this.#epoch;
  }

  appendUserEntry(userId: string, body: StoredUserEntryBody): number {
    const row = encodeBody(body);
    return this.#atomic(() => {
      const cursor = ++this.#position;
      this.#sql.setHeadCursor.run(userId, cursor);
      this.#sql.insertEntry.run(userId, cursor, row.field, row.conversationId, row.seq, row.body);
      return cursor;
    });
  }

  headCursor(userId: string): number {
    if (!this.#hasReadFanOut(userId)) return this.#sql.storedHead.get(userId) ?? 0;
    return this.#sql.headCursor.get(userId, userId) ?? 0;
  }

  #hasReadFanOut(userId: string): boolean {
    let known = this.#readFanOutUsers.get(userId);
    if (known === undefined) {
      known = this.#sql.hasReadFanOut.get(userId) !== undefined;
      if (this.#readFanOutUsers.size >= 100_000) this.#readFanOutUsers.clear(); // bounded: a cache, not the truth
      this.#readFanOutUsers.set(userId, known);
    }
    return known;
  }

  userEntries(userId: string, afterCursor: number, limit: number, summarize = false): StoredUserEntry[] {
    const after = bound(afterCursor);
    const stored: StoredUserEntry[] = this.#sql.userEntries.all(userId, after, bound(limit)).map((row) => ({ cursor: row.cursor, body: decodeBody(row.cursor, row) }));
    if (!this.#hasReadFanOut(userId)) return stored;
    const moved = this.#sql.movedReadFanOut.all({ user: userId, after });
    if (moved.length === 0) return stored;
    const merged = stored;
    for (const [conversationId, floor, top] of moved) {
      if (top === null || top <= floor) continue;
      if (summarize) {
        const newest = this.#sql.newestPublished.all(conversationId, floor, top);
        if (newest.length > 1) {
          merged.push({ cursor: newest[0]![1], body: { case: "eventRef", conversationId, seq: newest[0]![0] }, summary: true });
          continue;
        }
      }
      for (const [seq, position] of this.#sql.published.all(conversationId, floor, top, bound(limit))) {
        merged.push({ cursor: position, body: { case: "eventRef", conversationId, seq } });
      }
    }
    return merged.sort((a, b) => a.cursor - b.cursor).slice(0, limit);
  }

  storedEntriesAfter(userId: string, afterCursor: number, cap: number): number {
    return this.#sql.storedEntriesAfter.get(userId, bound(afterCursor), bound(cap))!;
  }

  dedup(key: DedupKey): DedupRecord | undefined {
    return this.#sql.dedup.get(key.scope, key.userId, key.deviceId, key.key);
  }

  recordDedup(key: DedupKey, record: DedupRecord): void {
    const { conversationId, seq, messageId, serverTimeMs } = record;
    this.#openBatch();
    this.#sql.recordDedup.run(key.scope, key.userId, key.deviceId, key.key, conversationId, seq, messageId, serverTimeMs, Math.floor(this.#clock()));
  }

  forgetDedupBefore(timeMs: number, limit: number): number {
    this.#openBatch();
    return this.#sql.forgetDedupBefore.run(bound(timeMs), bound(limit)).changes;
  }

  receiveMode(userId: string, conversationId: string): ReceiveMode {
    return this.#sql.receiveMode.get(userId, conversationId) ?? ReceiveMode.UNSPECIFIED;
  }

  setReceiveMode(userId: string, conversationId: string, mode: ReceiveMode): void {
    this.#atomic(() => {
      this.#sql.addUser.run(userId);
      if (mode === ReceiveMode.UNSPECIFIED) this.#sql.clearReceiveMode.run(userId, conversationId);
      else this.#sql.setReceiveMode.run(userId, conversationId, mode);
    });
  }

  hide(userId: string, conversationId: string, seq: number): void {
    this.#atomic(() => {
      this.#sql.addUser.run(userId);
      this.#sql.hide.run(userId, conversationId, seq);
    });
  }

  hiddenSeqs(userId: string, conversationId: string, afterSeq: number, untilSeq: number): number[] {
    return this.#sql.hiddenSeqs.all(userId, conversationId, bound(afterSeq), bound(untilSeq));
  }

  pushRegistrations(userId: string): StoredPushRegistration[] {
    return this.#sql.pushRegistrations.all(userId);
  }

  setPushRegistration(userId: string, registration: StoredPushRegistration): void {
    this.#atomic(() => {
      this.#sql.addUser.run(userId);
      this.#sql.setPushRegistration.run(userId, registration.deviceId, registration.pushService, registration.pushToken);
    });
  }

  historyVisibility(conversationId: string): StoredHistoryVisibility {
    const row = this.#sql.historyVisibility.get(conversationId);
    return { visibility: (row?.visibility ?? 0) as HistoryVisibility, events: row?.events ?? 0 };
  }

  setHistoryVisibility(conversationId: string, setting: StoredHistoryVisibility): void {
    if (this.#sql.setHistoryVisibility.run(setting.visibility, setting.events, conversationId).changes === 0) throw new Error(`no conversation ${conversationId}`);
  }

  presenceHidden(userId: string): boolean {
    return this.#sql.presenceHidden.get(userId) === 1;
  }

  setPresenceHidden(userId: string, hidden: boolean): void {
    this.#atomic(() => {
      this.#sql.addUser.run(userId);
      this.#sql.setPresenceHidden.run(hidden ? 1 : 0, userId);
    });
  }

  readMarker(userId: string, conversationId: string): number {
    return this.#sql.readMarker.get(userId, conversationId) ?? 0;
  }

  setReadMarker(userId: string, conversationId: string, seq: number): void {
    this.#atomic(() => {
      this.#sql.addUser.run(userId);
      this.#sql.setReadMarker.run(userId, conversationId, seq);
    });
  }

  receiptCounts(conversationId: string, seq: number, exclude: readonly string[], everyoneSees: boolean): ReceiptCounts {
    if (exclude.length > 2) throw new RangeError("receiptCounts excludes at most two users (the requester and the sender)");
    // User ids are never empty (LIM-2), so "" pads the two excluded places without matching anyone.
    const firstVisibleBound = everyoneSees ? Number.MAX_SAFE_INTEGER : seq;
    const row = this.#sql.receiptCounts.get(seq, seq, seq, deliveredMarkerKey(conversationId), conversationId, exclude[0] ?? "", exclude[1] ?? "", firstVisibleBound)!;
    return { eligible: row.eligible, delivered: row.delivered ?? 0, read: row.read ?? 0 };
  }

  /**
   * Several statements as one write. Inside the caller's transaction they already are (and a savepoint per
   * call would cost two more statements on the fan-out path); outside one, they get their own.
   */
  #atomic<T>(fn: () => T): T {
    this.#openBatch();
    return this.#db.inTransaction ? fn() : (this.#transaction(fn) as T);
  }

  #mustExist(conversationId: string): void {
    if (this.#sql.conversationKind.get(conversationId) === undefined) throw new Error(`no conversation ${conversationId}`);
  }
}

/** Bring a file at schema `version` up to date, one step per transaction. */
function migrate(db: Database.Database, version: number): void {
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      MIGRATIONS[v]!(db);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}

/** Every statement, prepared once per database. */
function prepare(db: Database.Database) {
  const write = <P extends unknown[]>(sql: string) => db.prepare<P>(sql);
  const one = <P extends unknown[], R>(sql: string) => db.prepare<P, R>(sql);
  const value = <P extends unknown[], R>(sql: string) => db.prepare<P, R>(sql).pluck();
  const tuple = <P extends unknown[], R>(sql: string) => db.prepare<P, R>(sql).raw();
  return {
    addUser: write<[string]>("INSERT INTO users (user_id) VALUES (?) ON CONFLICT DO NOTHING"),
    hasUser: value<[string], number>("SELECT 1 FROM users WHERE user_id = ?"),
    setHeadCursor: write<[string, number]>(
      "INSERT INTO users (user_id, head_cursor) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET head_cursor = excluded.head_cursor",
    ),
    // The newest of the stored entries' head and, per read-fan-out membership, its newest visible published event.
    headCursor: value<[string, string], number>(
      `SELECT max(coalesce((SELECT head_cursor FROM users WHERE user_id = ?), 0), coalesce(max(v.top), 0)) FROM (
         SELECT ${VISIBLE_TOP} AS top, m.since_position AS since
         FROM memberships m JOIN conversations c USING (conversation_id) WHERE m.user_id = ? AND m.read_fan_out = 1
       ) v WHERE v.top > v.since`,
    ),
    storedHead: value<[string], number>("SELECT head_cursor FROM users WHERE user_id = ?"),
    hasReadFanOut: value<[string], number>("SELECT 1 FROM memberships WHERE user_id = ? AND read_fan_out = 1 LIMIT 1"),
    highestPosition: value<[], number>(
      `SELECT max(coalesce((SELECT max(head_cursor) FROM users), 0), coalesce((SELECT max(position) FROM events WHERE position IS NOT NULL), 0),
         coalesce((SELECT max(since_position) FROM memberships), 0))`,
    ),
    storedEntriesAfter: value<[string, number, number], number>(
      "SELECT count(*) FROM (SELECT 1 FROM user_entries WHERE user_id = ? AND cursor > ? LIMIT ?)",
    ),
    // Per read-fan-out membership of a user that moved after a cursor: the conversation, the position its
    // stream reads after (the cursor, or the membership's start if later), and its newest visible position.
    movedReadFanOut: tuple<[{ user: string; after: number }], [conversationId: string, floor: number, top: number | null]>(
      `SELECT m.conversation_id, max(@after, m.since_position), ${VISIBLE_TOP}
       FROM memberships m JOIN conversations c USING (conversation_id)
       WHERE m.user_id = @user AND m.read_fan_out = 1 AND c.last_position > max(@after, m.since_position)`,
    ),
    published: tuple<[string, number, number, number], [seq: number, position: number]>(
      "SELECT seq, position FROM events WHERE conversation_id = ? AND position > ? AND position <= ? ORDER BY position LIMIT ?",
    ),
    newestPublished: tuple<[string, number, number], [seq: number, position: number]>(
      "SELECT seq, position FROM events WHERE conversation_id = ? AND position > ? AND position <= ? ORDER BY position DESC LIMIT 2",
    ),

    insertConversation: write<[string, number, string, string, number]>(
      "INSERT INTO conversations (conversation_id, kind, title, owner_user_id, read_fan_out_from) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
    ),
    conversation: one<[string], StoredConversation>(
      `SELECT conversation_id AS conversationId, kind, title, owner_user_id AS ownerUserId, read_fan_out_from AS readFanOutFromSeq
       FROM conversations WHERE conversation_id = ?`,
    ),
    membershipTarget: tuple<[string], [kind: ConversationKind, readFanOutFrom: number]>(
      "SELECT kind, read_fan_out_from FROM conversations WHERE conversation_id = ?",
    ),
    startReadFanOut: write<[number, string]>("UPDATE conversations SET read_fan_out_from = ? WHERE conversation_id = ? AND read_fan_out_from = 0"),
    markReadFanOutMembers: write<[string]>("UPDATE memberships SET read_fan_out = 1 WHERE conversation_id = ?"),
    publishEvent: write<[number, string, number]>("UPDATE events SET position = ? WHERE conversation_id = ? AND seq = ?"),
    setLastPosition: write<[number, string]>("UPDATE conversations SET last_position = ? WHERE conversation_id = ?"),
    adjustMemberCount: write<[number, string]>("UPDATE conversations SET member_count = member_count + ? WHERE conversation_id = ?"),
    conversationKind: value<[string], ConversationKind>("SELECT kind FROM conversations WHERE conversation_id = ?"),
    lastSeq: value<[string], number>("SELECT last_seq FROM conversations WHERE conversation_id = ?"),
    setLastSeq: write<[number, string]>("UPDATE conversations SET last_seq = ? WHERE conversation_id = ?"),
    directPair: value<[string, string], string>("SELECT conversation_id FROM direct_pairs WHERE user_low = ? AND user_high = ?"),
    setDirectPair: write<[string, string, string]>(
      "INSERT INTO direct_pairs (user_low, user_high, conversation_id) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET conversation_id = excluded.conversation_id",
    ),

    upsertMembership: write<[string, string, number, number, number, number, number]>(
      `INSERT INTO memberships (conversation_id, user_id, role, first_visible_seq, last_visible_seq, since_position, read_fan_out)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (conversation_id, user_id) DO UPDATE
       SET role = excluded.role, first_visible_seq = excluded.first_visible_seq, last_visible_seq = excluded.last_visible_seq,
         since_position = excluded.since_position, read_fan_out = excluded.read_fan_out`,
    ),
    membershipSince: value<[string, string], number>("SELECT since_position FROM memberships WHERE conversation_id = ? AND user_id = ?"),
    membersPage: tuple<[string, string, number], MembershipRow>(
      `SELECT ${MEMBERSHIP_COLUMNS} FROM memberships WHERE conversation_id = ? AND user_id > ? AND last_visible_seq = 0 ORDER BY user_id LIMIT ?`,
    ),
    membership: tuple<[string, string], MembershipRow>(`SELECT ${MEMBERSHIP_COLUMNS} FROM memberships WHERE conversation_id = ? AND user_id = ?`),
    members: tuple<[string], MembershipRow>(`SELECT ${MEMBERSHIP_COLUMNS} FROM memberships WHERE conversation_id = ? AND last_visible_seq = 0 ORDER BY id`),
    memberCount: value<[string], number>("SELECT member_count FROM conversations WHERE conversation_id = ?"),
    firstMembers: value<[string], string>("SELECT user_id FROM memberships WHERE conversation_id = ? ORDER BY id LIMIT 3"),
    membershipsOf: tuple<[string], MembershipRow>(`SELECT ${MEMBERSHIP_COLUMNS} FROM memberships WHERE user_id = ? ORDER BY id`),

    insertEvent: write<[string, number, Uint8Array, number | null, number | null]>("INSERT INTO events (conversation_id, seq, event, edit_target, thread_root) VALUES (?, ?, ?, ?, ?)"),
    threadEvents: value<[string, number, number, number, number, number], Buffer>(
      "SELECT event FROM events WHERE conversation_id = ? AND (seq = ? OR thread_root = ?) AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
    ),
    hide: write<[string, string, number]>("INSERT INTO hidden_events VALUES (?, ?, ?) ON CONFLICT DO NOTHING"),
    hiddenSeqs: value<[string, string, number, number], number>("SELECT seq FROM hidden_events WHERE user_id = ? AND conversation_id = ? AND seq > ? AND seq <= ? ORDER BY seq"),
    pushRegistrations: one<[string], StoredPushRegistration>("SELECT device_id AS deviceId, push_service AS pushService, push_token AS pushToken FROM push_registrations WHERE user_id = ? ORDER BY device_id"),
    setPushRegistration: write<[string, string, string, string]>(
      "INSERT INTO push_registrations VALUES (?, ?, ?, ?) ON CONFLICT (user_id, device_id) DO UPDATE SET push_service = excluded.push_service, push_token = excluded.push_token",
    ),
    historyVisibility: one<[string], { visibility: number; events: number }>("SELECT history_visibility AS visibility, history_events AS events FROM conversations WHERE conversation_id = ?"),
    setHistoryVisibility: write<[number, number, string]>("UPDATE conversations SET history_visibility = ?, history_events = ? WHERE conversation_id = ?"),
    presenceHidden: value<[string], number>("SELECT presence_hidden FROM users WHERE user_id = ?"),
    setPresenceHidden: write<[number, string]>("UPDATE users SET presence_hidden = ? WHERE user_id = ?"),
    redactedSeqs: value<[string, number, number], number>("SELECT seq FROM events WHERE conversation_id = ? AND (seq = ? OR edit_target = ?)"),
    replaceEvent: write<[Uint8Array, string, number]>("UPDATE events SET event = ?, edit_target = NULL WHERE conversation_id = ? AND seq = ?"),
    events: value<[string, number, number, number], Buffer>(
      "SELECT event FROM events WHERE conversation_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
    ),
    event: value<[string, number], Buffer>("SELECT event FROM events WHERE conversation_id = ? AND seq = ?"),

    insertEntry: write<[string, number, number, string | null, number | null, Uint8Array | null]>(
      "INSERT INTO user_entries (user_id, cursor, field, conversation_id, seq, body) VALUES (?, ?, ?, ?, ?, ?)",
    ),
    userEntries: one<[string, number, number], EntryRow>(
      "SELECT cursor, field, conversation_id AS conversationId, seq, body FROM user_entries WHERE user_id = ? AND cursor > ? ORDER BY cursor LIMIT ?",
    ),

    dedup: one<[string, string, string, string], DedupRecord>(
      `SELECT conversation_id AS conversationId, seq, message_id AS messageId, server_time_ms AS serverTimeMs
       FROM dedup_keys WHERE scope = ? AND user_id = ? AND device_id = ? AND key = ?`,
    ),
    recordDedup: write<[string, string, string, string, string, number, string, number, number]>(
      `INSERT INTO dedup_keys (scope, user_id, device_id, key, conversation_id, seq, message_id, server_time_ms, created_at_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT DO UPDATE SET conversation_id = excluded.conversation_id, seq = excluded.seq, message_id = excluded.message_id,
         server_time_ms = excluded.server_time_ms, created_at_ms = excluded.created_at_ms`,
    ),

    forgetDedupBefore: write<[number, number]>(
      `DELETE FROM dedup_keys WHERE (scope, user_id, device_id, key) IN (
         SELECT scope, user_id, device_id, key FROM dedup_keys WHERE server_time_ms < ? ORDER BY server_time_ms LIMIT ?)`,
    ),

    receiveMode: value<[string, string], ReceiveMode>("SELECT mode FROM receive_modes WHERE user_id = ? AND conversation_id = ?"),
    setReceiveMode: write<[string, string, number]>(
      "INSERT INTO receive_modes (user_id, conversation_id, mode) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET mode = excluded.mode",
    ),
    clearReceiveMode: write<[string, string]>("DELETE FROM receive_modes WHERE user_id = ? AND conversation_id = ?"),
    readMarker: value<[string, string], number>("SELECT seq FROM read_markers WHERE user_id = ? AND conversation_id = ?"),
    // RCPT-4: one pass over the conversation's current members, their read marker and delivered position beside.
    receiptCounts: one<[number, number, number, string, string, string, string, number], { eligible: number; delivered: number | null; read: number | null }>(
      `SELECT COUNT(*) AS eligible, SUM(COALESCE(r.seq, 0) >= ? OR COALESCE(d.seq, 0) >= ?) AS delivered, SUM(COALESCE(r.seq, 0) >= ?) AS read
       FROM memberships m
       LEFT JOIN read_markers r ON r.user_id = m.user_id AND r.conversation_id = m.conversation_id
       LEFT JOIN read_markers d ON d.user_id = m.user_id AND d.conversation_id = ?
       WHERE m.conversation_id = ? AND m.last_visible_seq = 0 AND m.user_id NOT IN (?, ?) AND m.first_visible_seq <= ?`,
    ),
    setReadMarker: write<[string, string, number]>(
      "INSERT INTO read_markers (user_id, conversation_id, seq) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET seq = excluded.seq",
    ),
  };
}

/** The ordered (low, high) key of an unordered pair of users. */
function pair(a: string, b: string): [string, string] {
  return a < b ? [a, b] : [b, a];
}

/**
 * A bound SQLite can take for a seq, cursor or limit: the interface passes
 * Infinity for "no bound", and SQLite wants integers (LIMIT rejects reals).
 */
function bound(n: number): number {
  return n === Infinity ? Number.MAX_SAFE_INTEGER : Math.max(0, Math.trunc(n));
}
