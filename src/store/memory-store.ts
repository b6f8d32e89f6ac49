import { create } from "@bufbuild/protobuf";
import { ConversationEventSchema, type ConversationEvent } from "../gen/imwire/v1/message_pb.js";
import { decodeConversationEvent, encodeConversationEvent } from "../gen/imwire/v1/message_fast.js";
import { ReceiveMode } from "../gen/imwire/v1/settings_pb.js";
import { ConversationKind, HistoryVisibility } from "../gen/imwire/v1/conversation_pb.js";
// Code point order is UTF-8 byte order, the order CONV-10 pages in (and SQLite's BINARY collation).
import { compareCodePoints as compareUtf8 } from "../machines/server/ids.js";
import { editTarget, threadRoot, tombstone } from "./tombstone.js";
const FROM_JOIN: StoredHistoryVisibility = { visibility: HistoryVisibility.UNSPECIFIED, events: 0 };
import { deliveredMarkerKey, type ReceiptCounts, type StoredHistoryVisibility, type StoredPushRegistration } from "./store.js";
import type { DedupKey, DedupRecord, NewConversation, NewEvent, Store, StoredConversation, StoredMembership, StoredUserEntry, StoredUserEntryBody } from "./store.js";

/** Whether an event can hold bytes fields: text messages and membership events hold only strings and numbers. */
function mayHoldBytes(event: ConversationEvent): boolean {
  return event.body.case === "message" && event.body.value.content?.kind.case !== "text";
}

/**
 * A copy that shares no memory with the input: bytes fields of a decoded
 * request are views into the whole socket read they arrived in, which a kept
 * reference would keep alive. The encoder writes into a shared slab, so its
 * bytes are copied out (slice) to a buffer of their own size before decoding.
 */
function byValue(event: ConversationEvent): ConversationEvent {
  return decodeConversationEvent(encodeConversationEvent(event).slice());
}

/** How to undo one write: a function, or an array an append grew (fan-out appends hundreds; no closure each). */
type Undo = (() => void) | unknown[];

interface ConversationState {
  conversation: StoredConversation;
  readonly events: ConversationEvent[];
  /** By seq - 1: the cursor a published event has in its readers' streams (CUR-7), 0 for one never published. */
  readonly positions: number[];
  /** By user id, in the order users first joined. */
  readonly memberships: Map<string, StoredMembership>;
  /** By user id: the server-wide position when the membership's interval began; it sees events published after it. */
  readonly since: Map<string, number>;
  currentMembers: number;
  /** ACT-3: by target seq, the seqs of its edits. */
  readonly edits: Map<number, number[]>;
  /** THR-1: by root seq, the seqs of its replies. */
  readonly threads: Map<number, number[]>;
}

interface UserState {
  readonly epoch: string;
  readonly entries: StoredUserEntry[];
  readonly memberships: Map<string, StoredMembership>;
  /** The conversations of `memberships` under read fan-out: their events are merged into the stream (CUR-7). */
  readonly readFanOut: Set<string>;
  /** Cursor of the newest stored entry. */
  head: number;
  readonly modes: Map<string, ReceiveMode>;
  readonly readMarkers: Map<string, number>;
}

/**
 * The in-memory Store. Everything is kept for the process's lifetime; a new
 * instance is a server that lost its state, and gets new epochs (CUR-4).
 */
export class MemoryStore implements Store {
  readonly #users = new Map<string, UserState>();
  readonly #conversations = new Map<string, ConversationState>();
  readonly #directs = new Map<string, string>();
  readonly #dedup = new Map<string, DedupRecord>();
  readonly #presenceHidden = new Set<string>();
  readonly #history = new Map<string, StoredHistoryVisibility>();
  readonly #pushes = new Map<string, Map<string, StoredPushRegistration>>();
  /** HID-1: by "user\0conversation", the seqs the user hid. */
  readonly #hidden = new Map<string, Set<number>>();
  readonly #epoch: string;
  /** The last cursor handed out, server-wide: stored entries and published events share it (CUR-7). */
  #position = 0;
  /** The inverses of the writes made inside the running transaction, newest last; undefined outside one. */
  #undo: Undo[] | undefined;

  /** `epoch` names this store's lineage: a store that starts empty after losing state must use a new one (CUR-4). */
  constructor(epoch = "e1") {
    this.#epoch = epoch;
  }

  /**
   * All of fn's writes or none (IDEM-2): each write inside records its
   * inverse, and a throw undoes them newest first. A nested call is a
   * savepoint, as in SQLite: its throw undoes only its own writes.
   */
  transaction<T>(fn: () => T): T {
    const outer = this.#undo;
    const undo = outer ?? [];
    const mark = undo.length;
    this.#undo = undo;
    try {
      return fn();
    } catch (error) {
      while (undo.length > mark) {
        const inverse = undo.pop()!;
        if (typeof inverse === "function") inverse();
        else inverse.pop();
      }
      throw error;
    } finally {
      this.#undo = outer;
    }
  }

  /**
   * For a replay (applyWrite): go on from `position` at least. A request
   * that was refused allocated cursors it never revealed; its writes are
   * not in the log, but the cursors after them are numbered past them.
   */
  advancePosition(position: number): void {
    if (position > this.#position) this.#position = position;
  }

  addUser(userId: string): void {
    this.#user(userId);
  }

  hasUser(userId: string): boolean {
    return this.#users.has(userId);
  }

  createConversation(created: NewConversation): void {
    const conversation: StoredConversation = { readFanOutFromSeq: 0, ...created };
    if (this.#conversations.has(conversation.conversationId)) throw new Error(`conversation ${conversation.conversationId} exists`);
    this.#restoring(this.#conversations, conversation.conversationId);
    this.#conversations.set(conversation.conversationId, { conversation, events: [], positions: [], memberships: new Map(), since: new Map(), currentMembers: 0, edits: new Map(), threads: new Map() });
  }

  conversation(conversationId: string): StoredConversation | undefined {
    return this.#conversations.get(conversationId)?.conversation;
  }

  directConversation(userA: string, userB: string): string | undefined {
    return this.#directs.get(pairKey(userA, userB));
  }

  setMembership(membership: StoredMembership): void {
    const state = this.#conversation(membership.conversationId);
    const user = this.#user(membership.userId);
    const before = state.memberships.get(membership.userId);
    // The same interval goes on (a leave closes it) or a new one begins here (CONV-8).
    const continues = before !== undefined && before.lastVisibleSeq === 0 && before.firstVisibleSeq === membership.firstVisibleSeq;
    if (!continues) {
      this.#restoring(state.since, membership.userId);
      state.since.set(membership.userId, this.#position);
    }
    const delta = Number(membership.lastVisibleSeq === 0) - Number(before !== undefined && before.lastVisibleSeq === 0);
    if (delta !== 0) this.#adjustCount(state, delta);
    this.#restoring(state.memberships, membership.userId);
    state.memberships.set(membership.userId, membership);
    if (state.conversation.readFanOutFromSeq > 0 && !user.readFanOut.has(membership.conversationId)) this.#joinReadFanOut(user, membership.conversationId);
    this.#restoring(user.memberships, membership.conversationId);
    user.memberships.set(membership.conversationId, membership);
    const { conversation } = state;
    if (conversation.kind === ConversationKind.DIRECT && state.memberships.size === 2) {
      const [a, b] = [...state.memberships.keys()];
      this.#restoring(this.#directs, pairKey(a!, b!));
      this.#directs.set(pairKey(a!, b!), conversation.conversationId);
    }
  }

  membership(conversationId: string, userId: string): StoredMembership | undefined {
    return this.#conversations.get(conversationId)?.memberships.get(userId);
  }

  members(conversationId: string): StoredMembership[] {
    return [...this.#conversation(conversationId).memberships.values()].filter((m) => m.lastVisibleSeq === 0);
  }

  memberCount(conversationId: string): number {
    return this.#conversation(conversationId).currentMembers;
  }

  membersPage(conversationId: string, afterUserId: string, limit: number): StoredMembership[] {
    const after = [...this.#conversation(conversationId).memberships.values()].filter(
      (m) => m.lastVisibleSeq === 0 && (afterUserId === "" || compareUtf8(m.userId, afterUserId) > 0),
    );
    return after.sort((a, b) => compareUtf8(a.userId, b.userId)).slice(0, limit);
  }

  membershipsOf(userId: string): StoredMembership[] {
    return [...(this.#users.get(userId)?.memberships.values() ?? [])];
  }

  appendEvent(conversationId: string, event: NewEvent): number {
    const state = this.#conversation(conversationId);
    const seq = state.events.length + 1;
    const stored = create(ConversationEventSchema, { ...event, seq: BigInt(seq) });
    state.events.push(mayHoldBytes(stored) ? byValue(stored) : stored);
    state.positions.push(0);
    this.#undo?.push(state.events, state.positions);
    this.#index(state.edits, editTarget(stored), seq);
    this.#index(state.threads, threadRoot(stored), seq);
    return seq;
  }

  /** Add `seq` under `key` (0: nothing to index). */
  #index(index: Map<number, number[]>, key: number, seq: number): void {
    if (key === 0) return;
    let seqs = index.get(key);
    if (!seqs) {
      this.#restoring(index, key);
      index.set(key, (seqs = []));
    }
    seqs.push(seq);
    this.#undo?.push(seqs);
  }

  threadEvents(conversationId: string, rootSeq: number, afterSeq: number, untilSeq: number, limit: number): ConversationEvent[] {
    const state = this.#conversation(conversationId);
    const seqs = [rootSeq, ...(state.threads.get(rootSeq) ?? [])];
    const start = firstAbove(seqs.length, (i) => seqs[i]!, afterSeq);
    const events: ConversationEvent[] = [];
    for (let i = start; i < seqs.length && events.length < limit && seqs[i]! <= untilSeq; i++) {
      const event = state.events[seqs[i]! - 1];
      if (event) events.push(event);
    }
    return events;
  }

  redact(conversationId: string, targetSeq: number, redactionSeq: number): void {
    const state = this.#conversation(conversationId);
    for (const seq of [targetSeq, ...(state.edits.get(targetSeq) ?? [])]) {
      const before = state.events[seq - 1];
      if (!before) continue;
      state.events[seq - 1] = tombstone(before, redactionSeq);
      this.#undo?.push(() => void (state.events[seq - 1] = before));
    }
  }

  startReadFanOut(conversationId: string, fromSeq: number): void {
    const state = this.#conversation(conversationId);
    if (state.conversation.readFanOutFromSeq > 0) return;
    const previous = state.conversation;
    this.#undo?.push(() => void (state.conversation = previous));
    state.conversation = { ...previous, readFanOutFromSeq: fromSeq };
    for (const userId of state.memberships.keys()) this.#joinReadFanOut(this.#user(userId), conversationId);
  }

  publishEvent(conversationId: string, seq: number): number {
    const state = this.#conversation(conversationId);
    const position = ++this.#position;
    state.positions[seq - 1] = position;
    this.#undo?.push(() => void (state.positions[seq - 1] = 0));
    return position;
  }

  lastSeq(conversationId: string): number {
    return this.#conversations.get(conversationId)?.events.length ?? 0;
  }

  events(conversationId: string, afterSeq: number, untilSeq: number, limit: number): ConversationEvent[] {
    const events = this.#conversation(conversationId).events;
    return events.slice(afterSeq, Math.min(untilSeq, events.length, afterSeq + limit));
  }

  event(conversationId: string, seq: number): ConversationEvent | undefined {
    return this.#conversations.get(conversationId)?.events[seq - 1];
  }

  epoch(userId: string): string {
    return this.#user(userId).epoch;
  }

  appendUserEntry(userId: string, body: StoredUserEntryBody): number {
    const user = this.#user(userId);
    const cursor = ++this.#position;
    const head = user.head;
    user.entries.push({ cursor, body });
    user.head = cursor;
    this.#undo?.push(user.entries, () => void (user.head = head));
    return cursor;
  }

  headCursor(userId: string): number {
    const user = this.#users.get(userId);
    if (!user) return 0;
    let head = user.head;
    for (const conversationId of user.readFanOut) {
      const visible = this.#visiblePublished(conversationId, userId, head);
      if (visible) head = visible.positions[visible.last - 1]!;
    }
    return head;
  }

  userEntries(userId: string, afterCursor: number, limit: number, summarize = false): StoredUserEntry[] {
    const user = this.#users.get(userId);
    if (!user) return [];
    const entries = user.entries;
    const start = firstAbove(entries.length, (i) => entries[i]!.cursor, afterCursor);
    const stored = entries.slice(start, start + limit);
    if (user.readFanOut.size === 0) return stored;
    const merged: StoredUserEntry[] = [...stored];
    for (const conversationId of user.readFanOut) {
      const visible = this.#visiblePublished(conversationId, userId, afterCursor);
      if (!visible) continue;
      const { positions, first, last } = visible;
      if (summarize && last > first) {
        merged.push({ cursor: positions[last - 1]!, body: { case: "eventRef", conversationId, seq: last }, summary: true });
        continue;
      }
      for (let seq = first; seq <= last && seq < first + limit; seq++) {
        merged.push({ cursor: positions[seq - 1]!, body: { case: "eventRef", conversationId, seq } });
      }
    }
    return merged.sort((a, b) => a.cursor - b.cursor).slice(0, limit);
  }

  storedEntriesAfter(userId: string, afterCursor: number, cap: number): number {
    const entries = this.#users.get(userId)?.entries ?? [];
    return Math.min(cap, entries.length - firstAbove(entries.length, (i) => entries[i]!.cursor, afterCursor));
  }

  /**
   * The published events of a read-fan-out conversation that `userId` may
   * see in its stream after cursor `after`: seqs first..last, or undefined
   * when there are none. Published events have increasing positions, so
   * the first is found by bisection.
   */
  #visiblePublished(conversationId: string, userId: string, after: number): { positions: number[]; first: number; last: number } | undefined {
    const state = this.#conversations.get(conversationId)!;
    const membership = state.memberships.get(userId);
    const from = state.conversation.readFanOutFromSeq;
    if (!membership || from === 0) return undefined;
    const positions = state.positions;
    let last = membership.lastVisibleSeq || state.events.length;
    // Every event from `from` on is published, but the newest only once the request appending it has announced it.
    while (last >= from && positions[last - 1] === 0) last--;
    const floor = Math.max(after, state.since.get(userId) ?? 0);
    if (last < from || positions[last - 1]! <= floor) return undefined;
    const first = from + firstAbove(last - from + 1, (i) => positions[from - 1 + i]!, floor);
    return { positions, first, last };
  }

  dedup(key: DedupKey): DedupRecord | undefined {
    return this.#dedup.get(dedupKey(key));
  }

  recordDedup(key: DedupKey, record: DedupRecord): void {
    this.#restoring(this.#dedup, dedupKey(key));
    this.#dedup.set(dedupKey(key), record);
  }

  // Keys are recorded as the server's clock advances, so the map's order is their age: stop at the first
  // young one. After a clock that stepped back, an older key may wait behind it: forgotten late, never early.
  forgetDedupBefore(timeMs: number, limit: number): number {
    let forgotten = 0;
    for (const [key, record] of this.#dedup) {
      if (forgotten >= limit || record.serverTimeMs >= timeMs) break;
      this.#restoring(this.#dedup, key);
      this.#dedup.delete(key);
      forgotten++;
    }
    return forgotten;
  }

  receiveMode(userId: string, conversationId: string): ReceiveMode {
    return this.#users.get(userId)?.modes.get(conversationId) ?? ReceiveMode.UNSPECIFIED;
  }

  setReceiveMode(userId: string, conversationId: string, mode: ReceiveMode): void {
    const modes = this.#user(userId).modes;
    this.#restoring(modes, conversationId);
    if (mode === ReceiveMode.UNSPECIFIED) modes.delete(conversationId);
    else modes.set(conversationId, mode);
  }

  hide(userId: string, conversationId: string, seq: number): void {
    this.#user(userId);
    const key = `${userId}\u0000${conversationId}`;
    let seqs = this.#hidden.get(key);
    if (!seqs) {
      this.#restoring(this.#hidden, key);
      this.#hidden.set(key, (seqs = new Set()));
    }
    if (seqs.has(seq)) return;
    seqs.add(seq);
    this.#undo?.push(() => void seqs.delete(seq));
  }

  hiddenSeqs(userId: string, conversationId: string, afterSeq: number, untilSeq: number): number[] {
    const seqs = this.#hidden.get(`${userId}\u0000${conversationId}`);
    return seqs ? [...seqs].filter((s) => s > afterSeq && s <= untilSeq).sort((a, b) => a - b) : [];
  }

  pushRegistrations(userId: string): StoredPushRegistration[] {
    return [...(this.#pushes.get(userId)?.values() ?? [])];
  }

  setPushRegistration(userId: string, registration: StoredPushRegistration): void {
    this.#user(userId);
    let devices = this.#pushes.get(userId);
    if (!devices) {
      this.#restoring(this.#pushes, userId);
      this.#pushes.set(userId, (devices = new Map()));
    }
    this.#restoring(devices, registration.deviceId);
    devices.set(registration.deviceId, { deviceId: registration.deviceId, pushService: registration.pushService, pushToken: registration.pushToken });
  }

  historyVisibility(conversationId: string): StoredHistoryVisibility {
    return this.#history.get(conversationId) ?? FROM_JOIN;
  }

  setHistoryVisibility(conversationId: string, setting: StoredHistoryVisibility): void {
    this.#conversation(conversationId);
    this.#restoring(this.#history, conversationId);
    this.#history.set(conversationId, { visibility: setting.visibility, events: setting.events });
  }

  presenceHidden(userId: string): boolean {
    return this.#presenceHidden.has(userId);
  }

  setPresenceHidden(userId: string, hidden: boolean): void {
    if (hidden === this.#presenceHidden.has(userId)) return;
    if (hidden) this.#presenceHidden.add(userId);
    else this.#presenceHidden.delete(userId);
    this.#undo?.push(() => void (hidden ? this.#presenceHidden.delete(userId) : this.#presenceHidden.add(userId)));
  }

  readMarker(userId: string, conversationId: string): number {
    return this.#users.get(userId)?.readMarkers.get(conversationId) ?? 0;
  }

  setReadMarker(userId: string, conversationId: string, seq: number): void {
    const markers = this.#user(userId).readMarkers;
    this.#restoring(markers, conversationId);
    markers.set(conversationId, seq);
  }

  receiptCounts(conversationId: string, seq: number, exclude: readonly string[], everyoneSees: boolean): ReceiptCounts {
    const state = this.#conversations.get(conversationId);
    let eligible = 0;
    let delivered = 0;
    let read = 0;
    if (!state) return { eligible, delivered, read };
    const deliveredKey = deliveredMarkerKey(conversationId);
    for (const membership of state.memberships.values()) {
      if (membership.lastVisibleSeq !== 0 || exclude.includes(membership.userId)) continue;
      if (!everyoneSees && membership.firstVisibleSeq > seq) continue;
      eligible++;
      const markers = this.#users.get(membership.userId)?.readMarkers;
      const readSeq = markers?.get(conversationId) ?? 0;
      if (readSeq >= seq) read++;
      if (readSeq >= seq || (markers?.get(deliveredKey) ?? 0) >= seq) delivered++;
    }
    return { eligible, delivered, read };
  }

  #user(userId: string): UserState {
    let user = this.#users.get(userId);
    if (!user) {
      user = { epoch: this.#epoch, entries: [], memberships: new Map(), readFanOut: new Set(), head: 0, modes: new Map(), readMarkers: new Map() };
      this.#restoring(this.#users, userId);
      this.#users.set(userId, user);
    }
    return user;
  }

  #joinReadFanOut(user: UserState, conversationId: string): void {
    user.readFanOut.add(conversationId);
    this.#undo?.push(() => void user.readFanOut.delete(conversationId));
  }

  #adjustCount(state: ConversationState, delta: number): void {
    state.currentMembers += delta;
    this.#undo?.push(() => void (state.currentMembers -= delta));
  }

  /** Inside a transaction, record how to put `map`'s entry for `key` back as it is now. */
  #restoring<K, V>(map: Map<K, V>, key: K): void {
    if (this.#undo === undefined) return;
    const had = map.has(key);
    const previous = map.get(key);
    this.#undo.push(had ? () => void map.set(key, previous as V) : () => void map.delete(key));
  }

  #conversation(conversationId: string): ConversationState {
    const state = this.#conversations.get(conversationId);
    if (!state) throw new Error(`no conversation ${conversationId}`);
    return state;
  }
}

/** The first index in 0..length whose value is above `bound`, for values increasing with the index. */
function firstAbove(length: number, valueAt: (i: number) => number, bound: number): number {
  let low = 0;
  let high = length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (valueAt(middle) <= bound) low = middle + 1;
    else high = middle;
  }
  return low;
}

function pairKey(a: string, b: string): string {
  return a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
}

function dedupKey(key: DedupKey): string {
  return `${key.scope}\u0000${key.userId}\u0000${key.deviceId}\u0000${key.key}`;
}
