import type { ConversationEvent } from "../gen/imwire/v1/message_pb.js";
import type { ReceiveMode } from "../gen/imwire/v1/settings_pb.js";
import { MemoryStore } from "./memory-store.js";
import type { ReceiptCounts } from "./store.js";
import type { DedupKey, DedupRecord, NewConversation, NewEvent, Store, StoredConversation, StoredMembership, StoredHistoryVisibility, StoredPushRegistration, StoredUserEntry, StoredUserEntryBody } from "./store.js";
import type { StoreWrite } from "./store-writes.js";

/**
 * Where a write-behind store's batches go to become durable: asynchronous,
 * so any engine fits (a file journal here, PostgreSQL for a cluster).
 */
export interface BatchSink {
  /**
   * Make these batches durable, in order: all of them, or (rejecting) the
   * caller must assume none. Called again only after the last call settled.
   */
  commit(batches: readonly (readonly StoreWrite[])[]): Promise<void>;
}

/**
 * The server's store as a working set in memory with durability behind it
 * (docs/design/store-boundary.md, step three): the machine reads and writes
 * a MemoryStore synchronously, every write is recorded, in order, as a
 * StoreWrite of the open batch, and the commit gate (src/server/commit-gate.ts,
 * through the BatchingStore methods) seals a batch at the end of each
 * event-loop turn and holds every frame that may depend on it until the sink
 * says it is durable. So the machine never waits for storage and the storage
 * never has to answer synchronously.
 *
 * A refused request's writes are undone in the working set and dropped from
 * the batch together (transactions nest as in MemoryStore). A sink that fails
 * leaves the working set ahead of what is durable: the gate then cuts every
 * connection and releases nothing more, and the process must reopen from
 * what is durable (nothing acknowledged rested on the failed batch).
 *
 * Limit: the working set is the whole state (a replay of the log at open);
 * a cluster needs one that loads and evicts by conversation and user
 * (issue 14), behind the same interface.
 */
export class WriteBehindStore implements Store {
  readonly #memory: MemoryStore;
  readonly #sink: BatchSink;
  #open: StoreWrite[] | undefined;
  readonly #sealed: StoreWrite[][] = [];
  #onBatchOpened: (() => void) | undefined;

  /** `memory`: the working set, already holding what the sink holds (replayed, or empty for a new store). */
  constructor(memory: MemoryStore, sink: BatchSink) {
    this.#memory = memory;
    this.#sink = sink;
  }

  // ---- BatchingStore (the commit gate) -----------------------------------

  enableGroupCommit(onBatchOpened: () => void): void {
    this.#onBatchOpened = onBatchOpened;
  }

  get batchOpen(): boolean {
    return this.#open !== undefined;
  }

  /** Seal the open batch: it goes to the sink with the next syncCommitted(). */
  commitBatch(): void {
    if (this.#open === undefined) return;
    this.#sealed.push(this.#open);
    this.#open = undefined;
  }

  /** Nothing to undo: a batch's writes are already in the working set, which the gate stops trusting on failure. */
  rollbackBatch(): void {
    this.#open = undefined;
  }

  /** Every batch sealed so far, durable; undefined when none waits (a batch whose writes were all undone is nothing to wait for). */
  syncCommitted(): Promise<void> | undefined {
    const batches = this.#sealed.splice(0).filter((batch) => batch.length > 0);
    return batches.length === 0 ? undefined : this.#sink.commit(batches);
  }

  // ---- Store ---------------------------------------------------------------

  transaction<T>(fn: () => T): T {
    // A batch opens at the first write, not here: a request that only reads adds nothing to wait for.
    const mark = this.#open?.length ?? 0;
    try {
      return this.#memory.transaction(fn);
    } catch (error) {
      if (this.#open !== undefined) this.#open.length = mark;
      throw error;
    }
  }

  addUser(userId: string): void {
    if (this.#memory.hasUser(userId)) return;
    this.#memory.addUser(userId);
    this.#record({ op: "addUser", userId });
  }

  hasUser(userId: string): boolean {
    return this.#memory.hasUser(userId);
  }

  createConversation(conversation: NewConversation): void {
    this.#memory.createConversation(conversation);
    this.#record({ op: "createConversation", conversation });
  }

  conversation(conversationId: string): StoredConversation | undefined {
    return this.#memory.conversation(conversationId);
  }

  directConversation(userA: string, userB: string): string | undefined {
    return this.#memory.directConversation(userA, userB);
  }

  setMembership(membership: StoredMembership): void {
    this.#memory.setMembership(membership);
    this.#record({ op: "setMembership", membership });
  }

  membership(conversationId: string, userId: string): StoredMembership | undefined {
    return this.#memory.membership(conversationId, userId);
  }

  members(conversationId: string): StoredMembership[] {
    return this.#memory.members(conversationId);
  }

  memberCount(conversationId: string): number {
    return this.#memory.memberCount(conversationId);
  }

  membersPage(conversationId: string, afterUserId: string, limit: number): StoredMembership[] {
    return this.#memory.membersPage(conversationId, afterUserId, limit);
  }

  membershipsOf(userId: string): StoredMembership[] {
    return this.#memory.membershipsOf(userId);
  }

  appendEvent(conversationId: string, event: NewEvent): number {
    const seq = this.#memory.appendEvent(conversationId, event);
    this.#record({ op: "appendEvent", conversationId, event: this.#memory.event(conversationId, seq)! });
    return seq;
  }

  startReadFanOut(conversationId: string, fromSeq: number): void {
    this.#memory.startReadFanOut(conversationId, fromSeq);
    this.#record({ op: "startReadFanOut", conversationId, fromSeq });
  }

  publishEvent(conversationId: string, seq: number): number {
    const position = this.#memory.publishEvent(conversationId, seq);
    this.#record({ op: "publishEvent", conversationId, seq, position });
    return position;
  }

  redact(conversationId: string, targetSeq: number, redactionSeq: number): void {
    this.#memory.redact(conversationId, targetSeq, redactionSeq);
    this.#record({ op: "redact", conversationId, targetSeq, redactionSeq });
  }

  lastSeq(conversationId: string): number {
    return this.#memory.lastSeq(conversationId);
  }

  events(conversationId: string, afterSeq: number, untilSeq: number, limit: number): ConversationEvent[] {
    return this.#memory.events(conversationId, afterSeq, untilSeq, limit);
  }

  event(conversationId: string, seq: number): ConversationEvent | undefined {
    return this.#memory.event(conversationId, seq);
  }

  threadEvents(conversationId: string, rootSeq: number, afterSeq: number, untilSeq: number, limit: number): ConversationEvent[] {
    return this.#memory.threadEvents(conversationId, rootSeq, afterSeq, untilSeq, limit);
  }

  epoch(userId: string): string {
    // MemoryStore makes the user on first use: a write, recorded as such.
    if (!this.#memory.hasUser(userId)) this.addUser(userId);
    return this.#memory.epoch(userId);
  }

  appendUserEntry(userId: string, body: StoredUserEntryBody): number {
    const cursor = this.#memory.appendUserEntry(userId, body);
    this.#record({ op: "appendUserEntry", userId, body, cursor });
    return cursor;
  }

  headCursor(userId: string): number {
    return this.#memory.headCursor(userId);
  }

  userEntries(userId: string, afterCursor: number, limit: number, summarize?: boolean): StoredUserEntry[] {
    return this.#memory.userEntries(userId, afterCursor, limit, summarize);
  }

  storedEntriesAfter(userId: string, afterCursor: number, cap: number): number {
    return this.#memory.storedEntriesAfter(userId, afterCursor, cap);
  }

  dedup(key: DedupKey): DedupRecord | undefined {
    return this.#memory.dedup(key);
  }

  recordDedup(key: DedupKey, record: DedupRecord): void {
    this.#memory.recordDedup(key, record);
    this.#record({ op: "recordDedup", key, record });
  }

  forgetDedupBefore(timeMs: number, limit: number): number {
    const forgotten = this.#memory.forgetDedupBefore(timeMs, limit);
    // Infinity does not survive JSON; any time past every key's forgets the same ones.
    if (forgotten > 0) this.#record({ op: "forgetDedupBefore", timeMs: Math.min(timeMs, Number.MAX_VALUE), limit, forgotten });
    return forgotten;
  }

  receiveMode(userId: string, conversationId: string): ReceiveMode {
    return this.#memory.receiveMode(userId, conversationId);
  }

  setReceiveMode(userId: string, conversationId: string, mode: ReceiveMode): void {
    this.#memory.setReceiveMode(userId, conversationId, mode);
    this.#record({ op: "setReceiveMode", userId, conversationId, mode });
  }

  hide(userId: string, conversationId: string, seq: number): void {
    this.#memory.hide(userId, conversationId, seq);
    this.#record({ op: "hide", userId, conversationId, seq });
  }

  hiddenSeqs(userId: string, conversationId: string, afterSeq: number, untilSeq: number): number[] {
    return this.#memory.hiddenSeqs(userId, conversationId, afterSeq, untilSeq);
  }

  pushRegistrations(userId: string): StoredPushRegistration[] {
    return this.#memory.pushRegistrations(userId);
  }

  setPushRegistration(userId: string, registration: StoredPushRegistration): void {
    this.#memory.setPushRegistration(userId, registration);
    this.#record({ op: "setPushRegistration", userId, registration: { deviceId: registration.deviceId, pushService: registration.pushService, pushToken: registration.pushToken } });
  }

  historyVisibility(conversationId: string): StoredHistoryVisibility {
    return this.#memory.historyVisibility(conversationId);
  }

  setHistoryVisibility(conversationId: string, setting: StoredHistoryVisibility): void {
    this.#memory.setHistoryVisibility(conversationId, setting);
    this.#record({ op: "setHistoryVisibility", conversationId, setting: { visibility: setting.visibility, events: setting.events } });
  }

  presenceHidden(userId: string): boolean {
    return this.#memory.presenceHidden(userId);
  }

  setPresenceHidden(userId: string, hidden: boolean): void {
    this.#memory.setPresenceHidden(userId, hidden);
    this.#record({ op: "setPresenceHidden", userId, hidden });
  }

  readMarker(userId: string, conversationId: string): number {
    return this.#memory.readMarker(userId, conversationId);
  }

  receiptCounts(conversationId: string, seq: number, exclude: readonly string[], everyoneSees: boolean): ReceiptCounts {
    return this.#memory.receiptCounts(conversationId, seq, exclude, everyoneSees);
  }

  setReadMarker(userId: string, conversationId: string, seq: number): void {
    this.#memory.setReadMarker(userId, conversationId, seq);
    this.#record({ op: "setReadMarker", userId, conversationId, seq });
  }

  /** The open batch, opened (and the gate told) by the first write or transaction after a commit. */
  #batch(): StoreWrite[] {
    if (this.#open !== undefined) return this.#open;
    this.#open = [];
    this.#onBatchOpened?.();
    return this.#open;
  }

  #record(write: StoreWrite): void {
    if (this.#onBatchOpened === undefined) throw new Error("a write-behind store is written only behind a commit gate (enableGroupCommit): without one, nothing would wait for durability");
    this.#batch().push(write);
  }
}
