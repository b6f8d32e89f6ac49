import { create } from "@bufbuild/protobuf";
import { ConversationKind, type HistoryVisibility } from "../../gen/imwire/v1/conversation_pb.js";
import { ConversationEventSchema, type ConversationEvent } from "../../gen/imwire/v1/message_pb.js";
import { ReceiveMode } from "../../gen/imwire/v1/settings_pb.js";
import { decodeConversationEvent, encodeConversationEvent } from "../../gen/imwire/v1/message_fast.js";
import type { BatchingStore } from "../../server/commit-gate.js";
import { editTarget, threadRoot, tombstone } from "../tombstone.js";
import { deliveredMarkerKey, type ReceiptCounts } from "../store.js";
import type { DedupKey, DedupRecord, NewConversation, NewEvent, Store, StoredConversation, StoredHistoryVisibility, StoredMembership, StoredPushRegistration, StoredUserEntry, StoredUserEntryBody } from "../store.js";
import { decodeBody, encodeBody } from "../entry-bodies.js";
import { migrate } from "./postgres-schema.js";
import { checkCursorWatermark, checkFingerprint, EPOCH_SQL, type EpochAtOpen, type WatermarkCheck } from "./postgres-epoch.js";
import { SQL } from "./postgres-sql.js";
import { PostgresSession, type PostgresSessionOptions } from "./postgres-session.js";
import { TransactionReads } from "./postgres-reads.js";

export interface PostgresStoreOptions extends PostgresSessionOptions {
  /** Wall-clock time for the created time of dedup records (for an operator; expiry goes by the server's time). */
  readonly clock?: () => number;
}

/**
 * The Store on PostgreSQL, for the reference server run as several stateless
 * nodes over one database (issue 14): a port of SqliteStore, with the same
 * tables, statements and semantics (MemoryStore's), synchronous through
 * SyncPostgres (one loopback round trip per statement).
 *
 * Cluster concurrency, chosen simple and correct: every outermost transaction
 * (a `transaction()` call, a write outside one, a group-commit batch) runs
 * BEGIN and first locks the one cursor counter row (`SELECT … FOR UPDATE`),
 * holding it to COMMIT. So:
 * - writers on every node are serialised in one lock order: no deadlock, and
 *   each transaction's reads (READ COMMITTED: a fresh snapshot per statement)
 *   see everything committed before it took the lock, so read-then-write
 *   logic (a seq, a membership check, a dedup key) needs nothing more;
 * - cursors are allocated from that row inside the transaction, so cursor
 *   order is commit order across nodes (CUR-7): an entry never becomes
 *   visible behind a position a device already holds;
 * - seqs come from `conversations.last_seq`, updated in the transaction that
 *   inserts the event: gapless (SEQ-1), unlike a SEQUENCE.
 * The cost: ONE writer at a time, cluster-wide, and since the server machine
 * wraps each request in transaction(), one request at a time across the
 * cluster, each holding the lock for its round trips (a few tenths of a
 * millisecond each); nodes add availability, not write throughput. Group
 * commit amortises it: a batch takes the lock once for every request in it.
 * Reads outside any transaction run as single autocommit statements (a
 * user's stream page is one statement, so one snapshot).
 *
 * TEXT cannot hold U+0000, which LIM-2 does not forbid in ids: a string
 * holding one (an id, a title) is refused as PostgresError 22021. The
 * store's own read-marker keys hold one (threadMarkerKey,
 * deliveredMarkerKey), and are kept split at it (postgres-schema.ts).
 *
 * The connection and its transactions, savepoints and batches are
 * PostgresSession's; the statements are in postgres-sql.ts, the tables in
 * postgres-schema.ts. PostgresError and StoreUnavailableError propagate to
 * the machine, never swallowed.
 */
export class PostgresStore implements Store, BatchingStore {
  readonly #session: PostgresSession;
  readonly #clock: () => number;
  readonly #opened: EpochAtOpen;

  private constructor(url: string, options: PostgresStoreOptions) {
    this.#clock = options.clock ?? Date.now;
    this.#session = new PostgresSession(url, options);
    try {
      migrate(this.#session.connection);
      // CUR-4: a database that is not the one the epoch was born in (restored elsewhere) gets a new epoch.
      this.#opened = checkFingerprint(this.#session);
    } catch (error) {
      this.#session.close();
      throw error;
    }
  }

  /** Connect to `url` and bring its schema up to date; StoreUnavailableError when the database is not there. */
  static open(url: string, options: PostgresStoreOptions = {}): PostgresStore {
    return new PostgresStore(url, options);
  }

  /** The epoch as found at open (and whether the fingerprint renewed it), and the schema: for CLU-4's cursor watermark. */
  get epochAtOpen(): EpochAtOpen {
    return this.#opened;
  }

  /**
   * CLU-4, at a node's start, before it serves: renew the epoch and raise
   * the cursor counter if it is below `watermark`, the highest cursor the
   * cluster made durable under `epoch` (postgres-epoch.ts).
   */
  checkCursorWatermark(epoch: string, watermark: number): WatermarkCheck {
    return checkCursorWatermark(this.#session, epoch, watermark);
  }

  /**
   * The epoch and the cursor counter as committed, cluster-wide: what the
   * cursor watermark may be raised to. Undefined while a group-commit batch
   * is open, whose cursors this connection would see before they are durable.
   */
  committedPosition(): { readonly epoch: string; readonly cursor: number } | undefined {
    if (this.#session.batchOpen) return undefined;
    return this.#query<{ epoch: string; cursor: number }>(EPOCH_SQL.committedPosition)[0];
  }

  /** Close the connection (an open transaction rolls back with it); the store is unusable afterwards. */
  close(): void {
    this.#session.close();
  }

  transaction<T>(fn: () => T): T {
    return this.#session.transaction(fn);
  }

  /**
   * Group commit (PostgresSession.enableGroupCommit). COMMIT is durable by
   * itself (PostgreSQL's default synchronous_commit = on), so there is no
   * syncCommitted, and fsyncAfterCommit does not apply.
   */
  enableGroupCommit(onBatchOpened: () => void): void {
    this.#session.enableGroupCommit(onBatchOpened);
  }

  /** A batch is open: writes made since the last commit are not yet durable. */
  get batchOpen(): boolean {
    return this.#session.batchOpen;
  }

  /** Make the open batch durable; throws, having rolled back, if it cannot. */
  commitBatch(): void {
    this.#session.commitBatch();
  }

  /** Undo the open batch. */
  rollbackBatch(): void {
    this.#session.rollbackBatch();
  }

  #transactionReads: TransactionReads | undefined;

  /** Answers kept for the rest of the open transaction (postgres-reads.ts). */
  get #reads(): TransactionReads {
    return (this.#transactionReads ??= new TransactionReads(() => this.#session.readGeneration));
  }

  /** The conversation's row, which answers conversation(), lastSeq(), memberCount() and historyVisibility() alike. */
  #conversationRow(conversationId: string): ConversationRow | undefined {
    return this.#reads.get("conversation", [conversationId], () => this.#query<ConversationRow>(SQL.conversationRow, [conversationId])[0]);
  }

  #query<R = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): R[] {
    return this.#session.query<R>(sql, params);
  }

  #run(sql: string, params: readonly unknown[]): number {
    return this.#session.run(sql, params);
  }

  #atomic<T>(fn: () => T): T {
    return this.#session.atomic(fn);
  }

  addUser(userId: string): void {
    this.#atomic(() => this.#run(SQL.addUser, [userId]));
  }

  hasUser(userId: string): boolean {
    return this.#query(SQL.hasUser, [userId]).length > 0;
  }

  createConversation(conversation: NewConversation): void {
    const { conversationId, kind, title, ownerUserId, readFanOutFromSeq = 0 } = conversation;
    this.#atomic(() => {
      if (this.#run(SQL.insertConversation, [conversationId, kind, title, ownerUserId, readFanOutFromSeq]) === 0) {
        throw new Error(`conversation ${conversationId} exists`);
      }
    });
  }

  conversation(conversationId: string): StoredConversation | undefined {
    const row = this.#conversationRow(conversationId);
    return row === undefined ? undefined : storedConversation(row);
  }

  directConversation(userA: string, userB: string): string | undefined {
    return this.#query<{ conversationId: string }>(SQL.directPair, pair(userA, userB))[0]?.conversationId;
  }

  setMembership(membership: StoredMembership): void {
    const { conversationId, userId, role, firstVisibleSeq, lastVisibleSeq } = membership;
    this.#atomic(() => {
      const before = this.#query<MembershipBefore>(SQL.membershipBefore, [conversationId, userId])[0];
      if (before === undefined) throw new Error(`no conversation ${conversationId}`);
      const wasMember = before.lastVisibleSeq === 0;
      // The same interval goes on (a leave closes it) or a new one begins now (CONV-8, CUR-7).
      const continues = wasMember && before.firstVisibleSeq === firstVisibleSeq;
      const since = continues ? before.since! : before.position;
      const delta = Number(lastVisibleSeq === 0) - Number(wasMember);
      this.#run(SQL.upsertMembership, [conversationId, userId, role, firstVisibleSeq, lastVisibleSeq, since, before.readFanOutFrom > 0, delta]);
      // As MemoryStore: a DIRECT conversation names its pair once it has two membership records (CONV-2).
      if (before.kind !== ConversationKind.DIRECT) return;
      const first = this.#query<{ userId: string }>(SQL.firstMembers, [conversationId]);
      if (first.length === 2) this.#run(SQL.setDirectPair, [...pair(first[0]!.userId, first[1]!.userId), conversationId]);
    });
  }

  membership(conversationId: string, userId: string): StoredMembership | undefined {
    return this.#reads.get("membership", [conversationId, userId], () => this.#query<StoredMembership>(SQL.membership, [conversationId, userId])[0]);
  }

  members(conversationId: string): StoredMembership[] {
    const rows = this.#reads.get("members", [conversationId], () => {
      const read = this.#query<StoredMembership>(SQL.members, [conversationId]);
      if (read.length === 0) this.#mustExist(conversationId);
      return read;
    });
    return [...rows];
  }

  memberCount(conversationId: string): number {
    const row = this.#conversationRow(conversationId);
    if (row === undefined) throw new Error(`no conversation ${conversationId}`);
    return row.memberCount;
  }

  membersPage(conversationId: string, afterUserId: string, limit: number): StoredMembership[] {
    const rows = this.#query<StoredMembership>(SQL.membersPage, [conversationId, afterUserId, bound(limit)]);
    if (rows.length === 0) this.#mustExist(conversationId);
    return rows;
  }

  /**
   * Inside a transaction, one statement answers, beside the memberships,
   * what the machine asks next of each of them (a snapshot page's
   * conversation views, SYNC-7; a user's contacts, EPH-3): the
   * conversation, the membership, the receive mode, the read marker and a
   * small conversation's members, kept for the rest of the transaction.
   */
  membershipsOf(userId: string): StoredMembership[] {
    const reads = this.#reads;
    if (!reads.keeping) return this.#query<StoredMembership>(SQL.membershipsOf, [userId]);
    return this.#query<MembershipView>(SQL.membershipViewsOf, [userId, MEMBERS_READ_AHEAD]).map((row) => {
      const membership: StoredMembership = { conversationId: row.conversationId, userId: row.userId, role: row.role, firstVisibleSeq: row.firstVisibleSeq, lastVisibleSeq: row.lastVisibleSeq };
      reads.put("membership", [row.conversationId, userId], membership);
      reads.put("conversation", [row.conversationId], row);
      reads.put("receiveMode", [userId, row.conversationId], row.receiveMode);
      reads.put("readMarker", [userId, row.conversationId, ""], row.readSeq);
      if (row.members !== null) reads.put("members", [row.conversationId], row.members);
      return membership;
    });
  }

  appendEvent(conversationId: string, event: NewEvent): number {
    return this.#atomic(() => {
      const next = this.#query<{ seq: number }>(SQL.nextSeq, [conversationId])[0];
      if (next === undefined) throw new Error(`no conversation ${conversationId}`);
      const seq = next.seq;
      const stored = create(ConversationEventSchema, { ...event, seq: BigInt(seq) });
      const target = editTarget(stored);
      const root = threadRoot(stored);
      this.#run(SQL.insertEvent, [conversationId, seq, encoded(stored), target > 0 ? target : null, root > 0 ? root : null]);
      return seq;
    });
  }

  redact(conversationId: string, targetSeq: number, redactionSeq: number): void {
    this.#atomic(() => {
      for (const row of this.#query<{ seq: number; event: Uint8Array }>(SQL.redactedSeqs, [conversationId, targetSeq])) {
        this.#run(SQL.replaceEvent, [conversationId, row.seq, encoded(tombstone(decodeConversationEvent(row.event), redactionSeq))]);
      }
    });
  }

  startReadFanOut(conversationId: string, fromSeq: number): void {
    this.#atomic(() => this.#run(SQL.startReadFanOut, [conversationId, fromSeq]));
  }

  publishEvent(conversationId: string, seq: number): number {
    return this.#atomic(() => this.#query<{ position: number }>(SQL.publishEvent, [conversationId, seq])[0]!.position);
  }

  lastSeq(conversationId: string): number {
    return this.#conversationRow(conversationId)?.lastSeq ?? 0;
  }

  events(conversationId: string, afterSeq: number, untilSeq: number, limit: number): ConversationEvent[] {
    const rows = this.#query<{ event: Uint8Array }>(SQL.events, [conversationId, bound(afterSeq), bound(untilSeq), bound(limit)]);
    if (rows.length === 0) this.#mustExist(conversationId);
    return rows.map((row) => decodeConversationEvent(row.event));
  }

  threadEvents(conversationId: string, rootSeq: number, afterSeq: number, untilSeq: number, limit: number): ConversationEvent[] {
    return this.#query<{ event: Uint8Array }>(SQL.threadEvents, [conversationId, bound(rootSeq), bound(afterSeq), bound(untilSeq), bound(limit)]).map((row) => decodeConversationEvent(row.event));
  }

  event(conversationId: string, seq: number): ConversationEvent | undefined {
    const row = this.#query<{ event: Uint8Array }>(SQL.event, [conversationId, bound(seq)])[0];
    return row === undefined ? undefined : decodeConversationEvent(row.event);
  }

  /** Read each time, not kept from open: another node may renew it at its start (CLU-4). */
  epoch(userId: string): string {
    return this.#atomic(() => this.#query<{ value: string }>(EPOCH_SQL.epochForUser, [userId])[0]!.value);
  }

  appendUserEntry(userId: string, body: StoredUserEntryBody): number {
    const row = encodeBody(body);
    return this.#atomic(() => this.#query<{ cursor: number }>(SQL.appendUserEntry, [userId, row.field, row.conversationId, row.seq, row.body])[0]!.cursor);
  }

  headCursor(userId: string): number {
    return this.#query<{ head: number }>(SQL.headCursor, [userId])[0]?.head ?? 0;
  }

  userEntries(userId: string, afterCursor: number, limit: number, summarize = false): StoredUserEntry[] {
    const rows = this.#query<EntryRow>(summarize ? SQL.summarizedUserEntries : SQL.userEntries, [userId, bound(afterCursor), bound(limit)]);
    const entries = rows.map((row): StoredUserEntry => {
      if (row.kind === EntryKind.Stored) return { cursor: row.cursor, body: decodeBody(row.cursor, row) };
      const body = { case: "eventRef", conversationId: row.conversationId!, seq: row.seq! } as const;
      return row.kind === EntryKind.Summary ? { cursor: row.cursor, body, summary: true } : { cursor: row.cursor, body };
    });
    return entries.sort((a, b) => a.cursor - b.cursor).slice(0, limit);
  }

  storedEntriesAfter(userId: string, afterCursor: number, cap: number): number {
    return this.#query<{ n: number }>(SQL.storedEntriesAfter, [userId, bound(afterCursor), bound(cap)])[0]!.n;
  }

  dedup(key: DedupKey): DedupRecord | undefined {
    return this.#query<DedupRecord>(SQL.dedup, [key.scope, key.userId, key.deviceId, key.key])[0];
  }

  recordDedup(key: DedupKey, record: DedupRecord): void {
    const { conversationId, seq, messageId, serverTimeMs } = record;
    const params = [key.scope, key.userId, key.deviceId, key.key, conversationId, seq, messageId, serverTimeMs, Math.floor(this.#clock())];
    this.#atomic(() => this.#run(SQL.recordDedup, params));
  }

  forgetDedupBefore(timeMs: number, limit: number): number {
    return this.#atomic(() => this.#run(SQL.forgetDedupBefore, [bound(timeMs), bound(limit)]));
  }

  receiveMode(userId: string, conversationId: string): ReceiveMode {
    return this.#reads.get("receiveMode", [userId, conversationId], () => this.#query<{ mode: ReceiveMode }>(SQL.receiveMode, [userId, conversationId])[0]?.mode ?? ReceiveMode.UNSPECIFIED);
  }

  setReceiveMode(userId: string, conversationId: string, mode: ReceiveMode): void {
    this.#atomic(() => {
      if (mode === ReceiveMode.UNSPECIFIED) this.#run(SQL.clearReceiveMode, [userId, conversationId]);
      else this.#run(SQL.setReceiveMode, [userId, conversationId, mode]);
    });
  }

  historyVisibility(conversationId: string): StoredHistoryVisibility {
    const row = this.#conversationRow(conversationId);
    return { visibility: (row?.historyVisibility ?? 0) as HistoryVisibility, events: row?.historyEvents ?? 0 };
  }

  setHistoryVisibility(conversationId: string, setting: StoredHistoryVisibility): void {
    this.#atomic(() => {
      if (this.#run(SQL.setHistoryVisibility, [conversationId, setting.visibility, setting.events]) === 0) throw new Error(`no conversation ${conversationId}`);
    });
  }

  hide(userId: string, conversationId: string, seq: number): void {
    this.#atomic(() => this.#run(SQL.hide, [userId, conversationId, seq]));
  }

  hiddenSeqs(userId: string, conversationId: string, afterSeq: number, untilSeq: number): number[] {
    return this.#query<{ seq: number }>(SQL.hiddenSeqs, [userId, conversationId, bound(afterSeq), bound(untilSeq)]).map((row) => row.seq);
  }

  pushRegistrations(userId: string): StoredPushRegistration[] {
    return this.#query<StoredPushRegistration>(SQL.pushRegistrations, [userId]);
  }

  setPushRegistration(userId: string, registration: StoredPushRegistration): void {
    this.#atomic(() => this.#run(SQL.setPushRegistration, [userId, registration.deviceId, registration.pushService, registration.pushToken]));
  }

  presenceHidden(userId: string): boolean {
    return this.#query<{ hidden: boolean }>(SQL.presenceHidden, [userId])[0]?.hidden === true;
  }

  setPresenceHidden(userId: string, hidden: boolean): void {
    this.#atomic(() => this.#run(SQL.setPresenceHidden, [userId, hidden]));
  }

  readMarker(userId: string, conversationId: string): number {
    const [conversation, marker] = splitMarkerKey(conversationId);
    return this.#reads.get("readMarker", [userId, conversation, marker], () => this.#query<{ seq: number }>(SQL.readMarker, [userId, conversation, marker])[0]?.seq ?? 0);
  }

  setReadMarker(userId: string, conversationId: string, seq: number): void {
    const [conversation, marker] = splitMarkerKey(conversationId);
    this.#atomic(() => this.#run(SQL.setReadMarker, [userId, conversation, marker, seq]));
  }

  receiptCounts(conversationId: string, seq: number, exclude: readonly string[], everyoneSees: boolean): ReceiptCounts {
    const firstVisibleBound = everyoneSees ? Number.MAX_SAFE_INTEGER : seq;
    const row = this.#query<ReceiptCounts>(SQL.receiptCounts, [conversationId, bound(seq), [...exclude], DELIVERED_MARKER, bound(firstVisibleBound)])[0]!;
    return { eligible: row.eligible, delivered: row.delivered, read: row.read };
  }

  #mustExist(conversationId: string): void {
    if (this.#query(SQL.conversationExists, [conversationId]).length === 0) throw new Error(`no conversation ${conversationId}`);
  }
}

/** A conversation's row: what conversation(), lastSeq(), memberCount() and historyVisibility() answer. */
interface ConversationRow extends StoredConversation {
  readonly lastSeq: number;
  readonly memberCount: number;
  readonly historyVisibility: number;
  readonly historyEvents: number;
}

/** A membership with its conversation's row, the user's receive mode and read marker in it, and perhaps its members. */
interface MembershipView extends StoredMembership, Omit<ConversationRow, keyof StoredMembership> {
  readonly receiveMode: ReceiveMode;
  readonly readSeq: number;
  /** The current members, when the user is one and they are at most MEMBERS_READ_AHEAD. */
  readonly members: StoredMembership[] | null;
}

/**
 * Up to how many members membershipsOf reads ahead with each conversation
 * of the user's: a direct conversation's and a small group's, whose members
 * a snapshot lists (SYNC-4) and whose contacts presence tells (EPH-3),
 * without making a user of large groups read them all at every sign-in.
 */
const MEMBERS_READ_AHEAD = 32;

function storedConversation({ conversationId, kind, title, ownerUserId, readFanOutFromSeq }: ConversationRow): StoredConversation {
  return { conversationId, kind, title, ownerUserId, readFanOutFromSeq };
}

interface MembershipBefore {
  readonly kind: ConversationKind;
  readonly readFanOutFrom: number;
  /** The membership record it replaces: all null when there is none. */
  readonly firstVisibleSeq: number | null;
  readonly lastVisibleSeq: number | null;
  readonly since: number | null;
  /** The last cursor handed out, server-wide: where a new interval begins. */
  readonly position: number;
}

const enum EntryKind {
  Stored = 0,
  Published = 1,
  Summary = 2,
}

interface EntryRow {
  readonly kind: EntryKind;
  readonly cursor: number;
  readonly field: number;
  readonly conversationId: string | null;
  readonly seq: number | null;
  readonly body: Uint8Array | null;
}

/**
 * A read marker's key split at its NUL (TEXT cannot hold one): the
 * conversation, and what follows ("" for its own read marker; see
 * threadMarkerKey and deliveredMarkerKey).
 */
function splitMarkerKey(key: string): [conversationId: string, marker: string] {
  const nul = key.indexOf("\u0000");
  return nul < 0 ? [key, ""] : [key.slice(0, nul), key.slice(nul + 1)];
}

const DELIVERED_MARKER = splitMarkerKey(deliveredMarkerKey(""))[1];

/** The ordered (low, high) key of an unordered pair of users, as SqliteStore orders it. */
function pair(a: string, b: string): [string, string] {
  return a < b ? [a, b] : [b, a];
}

/**
 * A bound PostgreSQL can take for a seq, cursor or limit: the interface passes
 * Infinity for "no bound" (and the machine passes Infinity for a wire value
 * beyond 2^53), which BIGINT cannot hold.
 */
function bound(n: number): number {
  return n === Infinity ? Number.MAX_SAFE_INTEGER : Math.max(0, Math.trunc(n));
}

/**
 * An event's encoding, in a buffer of its own: the encoder writes into a
 * shared slab, and posting a view of it to the worker would copy the whole slab.
 */
function encoded(event: ConversationEvent): Uint8Array {
  return encodeConversationEvent(event).slice();
}

export { PostgresError, StoreUnavailableError } from "./sync-postgres.js";

