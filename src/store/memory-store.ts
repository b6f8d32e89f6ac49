import { create } from "@bufbuild/protobuf";
import { ConversationEventSchema, type ConversationEvent } from "../gen/imwire/v1/message_pb.js";
import { decodeConversationEvent, encodeConversationEvent } from "../gen/imwire/v1/message_fast.js";
import { ReceiveMode } from "../gen/imwire/v1/settings_pb.js";
import { ConversationKind } from "../gen/imwire/v1/conversation_pb.js";
import type { DedupKey, DedupRecord, NewEvent, Store, StoredConversation, StoredMembership, StoredUserEntry, StoredUserEntryBody } from "./store.js";

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
  readonly conversation: StoredConversation;
  readonly events: ConversationEvent[];
  /** By user id, in the order users first joined. */
  readonly memberships: Map<string, StoredMembership>;
}

interface UserState {
  readonly epoch: string;
  readonly entries: StoredUserEntry[];
  readonly memberships: Map<string, StoredMembership>;
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
  readonly #epoch: string;
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

  addUser(userId: string): void {
    this.#user(userId);
  }

  hasUser(userId: string): boolean {
    return this.#users.has(userId);
  }

  createConversation(conversation: StoredConversation): void {
    if (this.#conversations.has(conversation.conversationId)) throw new Error(`conversation ${conversation.conversationId} exists`);
    this.#restoring(this.#conversations, conversation.conversationId);
    this.#conversations.set(conversation.conversationId, { conversation, events: [], memberships: new Map() });
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
    this.#restoring(state.memberships, membership.userId);
    state.memberships.set(membership.userId, membership);
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
    let count = 0;
    for (const m of this.#conversation(conversationId).memberships.values()) if (m.lastVisibleSeq === 0) count++;
    return count;
  }

  membershipsOf(userId: string): StoredMembership[] {
    return [...(this.#users.get(userId)?.memberships.values() ?? [])];
  }

  appendEvent(conversationId: string, event: NewEvent): number {
    const state = this.#conversation(conversationId);
    const seq = state.events.length + 1;
    const stored = create(ConversationEventSchema, { ...event, seq: BigInt(seq) });
    state.events.push(mayHoldBytes(stored) ? byValue(stored) : stored);
    this.#undo?.push(state.events);
    return seq;
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
    const entries = this.#user(userId).entries;
    const cursor = entries.length + 1;
    entries.push({ cursor, body });
    this.#undo?.push(entries);
    return cursor;
  }

  headCursor(userId: string): number {
    return this.#users.get(userId)?.entries.length ?? 0;
  }

  userEntries(userId: string, afterCursor: number, limit: number): StoredUserEntry[] {
    const entries = this.#users.get(userId)?.entries ?? [];
    return entries.slice(afterCursor, afterCursor + limit);
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

  readMarker(userId: string, conversationId: string): number {
    return this.#users.get(userId)?.readMarkers.get(conversationId) ?? 0;
  }

  setReadMarker(userId: string, conversationId: string, seq: number): void {
    const markers = this.#user(userId).readMarkers;
    this.#restoring(markers, conversationId);
    markers.set(conversationId, seq);
  }

  #user(userId: string): UserState {
    let user = this.#users.get(userId);
    if (!user) {
      user = { epoch: this.#epoch, entries: [], memberships: new Map(), modes: new Map(), readMarkers: new Map() };
      this.#restoring(this.#users, userId);
      this.#users.set(userId, user);
    }
    return user;
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

function pairKey(a: string, b: string): string {
  return a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
}

function dedupKey(key: DedupKey): string {
  return `${key.scope}\u0000${key.userId}\u0000${key.deviceId}\u0000${key.key}`;
}
