import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ConversationEvent, ConversationEventSchema } from "../gen/imwire/v1/message_pb.js";
import type { ConversationKind, HistoryVisibility, Role } from "../gen/imwire/v1/conversation_pb.js";
import type { ReceiveMode } from "../gen/imwire/v1/settings_pb.js";
import type { UserEvent } from "../gen/imwire/v1/delivery_pb.js";

/**
 * What the server machine keeps, behind one synchronous interface: the
 * in-memory store here, SQLite for the reference server. Synchronous so that
 * a state transition never awaits halfway; `transaction` makes a group of
 * writes atomic (IDEM-2: an event and its idempotency key together).
 *
 * Sequence numbers and cursors are JavaScript numbers: the server allocates
 * them from 1 upward, so they stay far below 2^53.
 */
export interface Store {
  /** Run `fn` atomically: all its writes happen, or none do. */
  transaction<T>(fn: () => T): T;

  /** Record that a user exists (it authenticated once, or was created by the operator). */
  addUser(userId: string): void;
  hasUser(userId: string): boolean;

  createConversation(conversation: NewConversation): void;
  conversation(conversationId: string): StoredConversation | undefined;
  /** The DIRECT conversation of a pair, in either order (CONV-2). */
  directConversation(userA: string, userB: string): string | undefined;
  /** Insert or replace one user's membership record. */
  setMembership(membership: StoredMembership): void;
  membership(conversationId: string, userId: string): StoredMembership | undefined;
  /** Current members (lastVisibleSeq 0), in the order they joined. */
  members(conversationId: string): StoredMembership[];
  /** How many current members: kept as a count, since large conversations ask for it on every event. */
  memberCount(conversationId: string): number;
  /**
   * CONV-10: current members whose user id sorts after `afterUserId` (as
   * UTF-8 bytes; "" for the first page), ascending, at most `limit`.
   */
  membersPage(conversationId: string, afterUserId: string, limit: number): StoredMembership[];
  /** Every membership record of a user, current or former. */
  membershipsOf(userId: string): StoredMembership[];

  /** Append an event with seq = last + 1 and return that seq (SEQ-1). */
  appendEvent(conversationId: string, event: NewEvent): number;
  /**
   * CUR-8: the conversation's events from `fromSeq` on are read from it by
   * its members' streams (read fan-out), never again written to each.
   */
  startReadFanOut(conversationId: string, fromSeq: number): void;
  /**
   * CUR-7: make an event of a read-fan-out conversation an entry of the
   * stream of every user who may see it (a membership that began before
   * this call and still covers the seq), with the next cursor of the
   * server-wide order, which it returns. Call it after the entries the event
   * causes (CONV-7: the `joined` entries come first).
   */
  publishEvent(conversationId: string, seq: number): number;
  /**
   * ACT-4: turn the message at `targetSeq` and every edit of it (an `action`
   * event with an `edit` targeting it) into `redacted` tombstones naming
   * `redactionSeq`, keeping their seq, time and sender. Nothing of their
   * content remains.
   */
  redact(conversationId: string, targetSeq: number, redactionSeq: number): void;
  lastSeq(conversationId: string): number;
  /** Events with afterSeq < seq <= untilSeq, oldest first, at most `limit`. */
  events(conversationId: string, afterSeq: number, untilSeq: number, limit: number): ConversationEvent[];
  event(conversationId: string, seq: number): ConversationEvent | undefined;
  /**
   * THR-2: the thread rooted at `rootSeq` — the root and the messages whose
   * thread_root_seq is rootSeq — with afterSeq < seq <= untilSeq, oldest
   * first, at most `limit`.
   */
  threadEvents(conversationId: string, rootSeq: number, afterSeq: number, untilSeq: number, limit: number): ConversationEvent[];

  /** The epoch of a user's stream, created on first use (CUR-4). */
  epoch(userId: string): string;
  /**
   * Append an entry to a user's stream and return its cursor (CUR-2): the
   * next of one server-wide order shared with published events (CUR-7).
   */
  appendUserEntry(userId: string, body: StoredUserEntryBody): number;
  /** The newest cursor of the user's stream: stored entries and published events it may see. */
  headCursor(userId: string): number;
  /**
   * Entries with cursor > afterCursor, oldest first, at most `limit`: the
   * stored ones merged with the published events of read-fan-out
   * conversations the user may see (CUR-7). With `summarize` (SYNC-8), each
   * read-fan-out conversation with several such events after afterCursor
   * gives only its newest, marked `summary`.
   */
  userEntries(userId: string, afterCursor: number, limit: number, summarize?: boolean): StoredUserEntry[];
  /** CUR-5: how many stored entries (not published events) lie after afterCursor, counting no further than `cap`. */
  storedEntriesAfter(userId: string, afterCursor: number, cap: number): number;

  dedup(key: DedupKey): DedupRecord | undefined;
  recordDedup(key: DedupKey, record: DedupRecord): void;
  /**
   * IDEM-4: forget at most `limit` keys whose first attempt (serverTimeMs)
   * was before `timeMs`, oldest first; returns how many. A key recorded at or
   * after `timeMs` is never forgotten.
   */
  forgetDedupBefore(timeMs: number, limit: number): number;

  /** The account default ("" key) and per-conversation overrides. */
  receiveMode(userId: string, conversationId: string): ReceiveMode;
  setReceiveMode(userId: string, conversationId: string, mode: ReceiveMode): void;
  /** HIS-1: a group's history visibility; FROM_JOIN (as UNSPECIFIED) with 0 events until set. */
  historyVisibility(conversationId: string): StoredHistoryVisibility;
  setHistoryVisibility(conversationId: string, setting: StoredHistoryVisibility): void;
  /** HID-1: hide an event of a conversation from the user's devices (again: nothing changes). */
  hide(userId: string, conversationId: string, seq: number): void;
  /** HID-3: the seqs the user hid in a conversation, afterSeq < seq <= untilSeq, ascending. */
  hiddenSeqs(userId: string, conversationId: string, afterSeq: number, untilSeq: number): number[];
  /** PSH-1: the push registrations of a user's devices, as last set by each. */
  pushRegistrations(userId: string): StoredPushRegistration[];
  setPushRegistration(userId: string, registration: StoredPushRegistration): void;
  /** EPH-5: whether the user hides its presence (false until set). */
  presenceHidden(userId: string): boolean;
  setPresenceHidden(userId: string, hidden: boolean): void;
  /** READ-1; THR-3: a thread's marker is kept under threadMarkerKey(conversationId, rootSeq). */
  readMarker(userId: string, conversationId: string): number;
  setReadMarker(userId: string, conversationId: string, seq: number): void;
  /**
   * RCPT-4: among the current members of a conversation other than `exclude`
   * who may read `seq` (everyone when `everyoneSees`, as in channels; else
   * those whose interval starts at or before it), how many there are, how
   * many hold it (delivered position, kept under deliveredMarkerKey, or read
   * marker at or above seq: RCPT-2) and how many have read it.
   */
  receiptCounts(conversationId: string, seq: number, exclude: readonly string[], everyoneSees: boolean): ReceiptCounts;
}

/** RCPT-4: a conversation's receipts for one seq, counted. */
export interface ReceiptCounts {
  readonly eligible: number;
  readonly delivered: number;
  readonly read: number;
}

/** PSH-1: where a device asked to be alerted while it is away. */
export interface StoredPushRegistration {
  readonly deviceId: string;
  readonly pushService: string;
  readonly pushToken: string;
}

/** HIS-1: what new members of a group may read from before they joined. */
export interface StoredHistoryVisibility {
  readonly visibility: HistoryVisibility;
  /** N of LAST_EVENTS; 0 otherwise. */
  readonly events: number;
}

/** A conversation as created: under write fan-out unless it says otherwise. */
export type NewConversation = Omit<StoredConversation, "readFanOutFromSeq"> & { readonly readFanOutFromSeq?: number };

/** A conversation event before the store numbers it. */
export type NewEvent = Omit<MessageInitShape<typeof ConversationEventSchema>, "seq" | "$typeName">;

export interface StoredConversation {
  readonly conversationId: string;
  readonly kind: ConversationKind;
  readonly title: string;
  readonly ownerUserId: string;
  /** CUR-8: the first seq under read fan-out; 0 while the conversation is under write fan-out. */
  readonly readFanOutFromSeq: number;
}

export interface StoredMembership {
  readonly conversationId: string;
  readonly userId: string;
  readonly role: Role;
  /** CONV-8: the first seq the user may read in its current interval. */
  readonly firstVisibleSeq: number;
  /** 0 while a member; else the last seq it may read. */
  readonly lastVisibleSeq: number;
}

/**
 * A stream entry as stored: conversation events by reference (the content is
 * stored once, in the conversation), everything else as sent.
 */
export type StoredUserEntryBody =
  | { readonly case: "eventRef"; readonly conversationId: string; readonly seq: number }
  | Exclude<UserEvent["body"], { case: "event" } | { case: "notify" } | { case: undefined }>;

export interface StoredUserEntry {
  readonly cursor: number;
  readonly body: StoredUserEntryBody;
  /** SYNC-8: this event entry stands for every event of its conversation after the position asked from, up to it. */
  readonly summary?: true;
}

export interface DedupKey {
  readonly scope: "message" | "conversation";
  readonly userId: string;
  readonly deviceId: string;
  readonly key: string;
}

/** What the first successful attempt produced (IDEM-2, IDEM-6). */
export interface DedupRecord {
  readonly conversationId: string;
  readonly seq: number;
  readonly messageId: string;
  readonly serverTimeMs: number;
}

/** RCPT-2: the key a member's delivered position is kept under, beside its read marker (ids never hold NUL: LIM-2). */
export function deliveredMarkerKey(conversationId: string): string {
  return `${conversationId}\u0000delivered`;
}

/** THR-3: the key a thread's read marker is kept under, beside its conversation's (ids never hold NUL: LIM-2). */
export function threadMarkerKey(conversationId: string, rootSeq: number): string {
  return `${conversationId}\u0000${rootSeq}`;
}
