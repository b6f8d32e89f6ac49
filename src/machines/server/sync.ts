import { create } from "@bufbuild/protobuf";
import { ConversationKind, type Conversation } from "../../gen/imwire/v1/conversation_pb.js";
import { UserEventSchema, type UserEvent } from "../../gen/imwire/v1/delivery_pb.js";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import { ConversationEventSchema, type ConversationEvent } from "../../gen/imwire/v1/message_pb.js";
import {
  ConversationPageSchema,
  SnapshotSchema,
  UserPageSchema,
  type ConversationPage,
  type SyncConversation,
  type SyncUser,
  type UserPage,
} from "../../gen/imwire/v1/sync_pb.js";
import type { Connection } from "./connection.js";
import type { ServerCore } from "./core.js";
import { conversationView } from "./conversations.js";
import { materialize } from "./delivery.js";
import { checkId, compareCodePoints, toNumber } from "./ids.js";
import { sizeUserEvent } from "../../gen/imwire/v1/delivery_fast.js";
import { sizeConversationEvent } from "../../gen/imwire/v1/message_fast.js";
import { sizeConversation } from "../../gen/imwire/v1/conversation_fast.js";
import { RequestError } from "./request-error.js";
import { checkThreadRoot } from "./messaging.js";
import { MAX_ID_BYTES } from "../../limits.js";

/** Room kept in a page for its own fields and each event's tag and length (SYNC-2). */
const PAGE_OVERHEAD = 64;
const PER_ITEM_OVERHEAD = 6;
/** A snapshot page also carries the epoch and continue_after, identifiers each (LIM-2). */
const SNAPSHOT_OVERHEAD = PAGE_OVERHEAD + 2 * (MAX_ID_BYTES + 3);

function pageLimit(requested: number, fallback: number, max: number): number {
  return Math.min(requested === 0 ? fallback : requested, max);
}

/** SyncConversation (SYNC-1, SYNC-2, SEQ-5, CONV-8). */
export function syncConversation(core: ServerCore, connection: Connection, request: SyncConversation): ConversationPage {
  const { store, options } = core;
  checkId(request.conversationId, "conversation_id");
  const conversation = store.conversation(request.conversationId);
  if (!conversation) throw new RequestError(ErrorCode.NOT_FOUND, `no conversation ${request.conversationId}`, "SYNC-1");
  const { conversationId } = conversation;
  const membership = store.membership(conversationId, connection.userId);
  if (!membership) throw new RequestError(ErrorCode.PERMISSION_DENIED, "only members may read this conversation", "SYNC-1");

  const firstVisible = conversation.kind === ConversationKind.CHANNEL ? 1 : membership.firstVisibleSeq;
  const lastReadable = membership.lastVisibleSeq || store.lastSeq(conversationId);
  const until = request.untilSeq === 0n ? lastReadable : Math.min(toNumber(request.untilSeq), lastReadable);
  const after = Math.max(Math.min(toNumber(request.afterSeq), lastReadable), firstVisible - 1);
  const limit = pageLimit(request.limit, options.conversationPageDefault, options.conversationPageMax);
  // THR-2: one thread alone, read through the store's index of it.
  const thread = request.threadRootSeq === 0n ? 0 : checkThreadRoot(core, conversationId, firstVisible, lastReadable, request.threadRootSeq, "THR-2");
  const candidates = after >= until ? [] : thread > 0 ? store.threadEvents(conversationId, thread, after, until, limit + 1) : store.events(conversationId, after, until, limit);
  // A thread's candidates hold one more than the limit: whether any is left is then known without another read.
  const events = fitInFrame(thread > 0 ? candidates.slice(0, limit) : candidates, sizeConversationEvent, options.maxFrameSize);
  const lastReturned = events.length > 0 ? Number(events[events.length - 1]!.seq) : after;
  // A thread page may end before `until` with nothing more in the thread: it has more only if it was cut short.
  const hasMore = thread > 0 ? events.length < candidates.length : lastReturned < until;
  // HID-3: which of these the requester hid, so that a device reading history learns it with the events.
  const first = events.length > 0 ? Number(events[0]!.seq) - 1 : 0;
  const hiddenSeqs = events.length > 0 ? store.hiddenSeqs(connection.userId, conversationId, first, lastReturned).map(BigInt) : [];
  return create(ConversationPageSchema, {
    conversationId,
    events,
    hasMore,
    hiddenSeqs,
    lastSeq: BigInt(lastReadable),
    firstVisibleSeq: BigInt(firstVisible),
  });
}

/** SyncUser (SYNC-3, SYNC-4, CUR-4, CUR-5). */
export function syncUser(core: ServerCore, connection: Connection, request: SyncUser): UserPage {
  const { store, options } = core;
  const userId = connection.userId;
  if (request.epoch !== "") checkId(request.epoch, "epoch");
  // LIM-2 whatever the epoch: a snapshot_after ignored for a stale epoch is still an identifier (ERR-5).
  if (request.snapshotAfter !== "") checkId(request.snapshotAfter, "snapshot_after");
  const epoch = store.epoch(userId);
  const head = store.headCursor(userId);
  const after = toNumber(request.afterCursor);
  if (request.snapshotAfter !== "" && request.epoch === epoch) {
    return create(UserPageSchema, { headCursor: BigInt(head), snapshot: snapshotPage(core, userId, epoch, head, request.snapshotAfter) });
  }
  const retained = request.epoch === epoch && after <= head && store.storedEntriesAfter(userId, after, options.snapshotAfterEntries + 1) <= options.snapshotAfterEntries;
  if (!retained) {
    core.noteSent(connection, head);
    return create(UserPageSchema, { headCursor: BigInt(head), snapshot: snapshotPage(core, userId, epoch, head, "") });
  }
  const limit = pageLimit(request.limit, options.userPageDefault, options.userPageMax);
  const entries = store.userEntries(userId, after, limit, connection.summaries);
  let prev = after;
  const materialized: UserEvent[] = entries.map((entry) => {
    const event = materialize(store, connection, entry, prev);
    prev = entry.cursor;
    return event;
  });
  const events = fitInFrame(materialized, sizeUserEvent, options.maxFrameSize);
  const last = events.length > 0 ? Number(events[events.length - 1]!.cursor) : after;
  core.noteSent(connection, last);
  return create(UserPageSchema, { events, hasMore: last < head, headCursor: BigInt(head) });
}

/**
 * One page of a snapshot (SYNC-4, SYNC-7): the conversations whose id sorts
 * after `after` (as UTF-8 bytes), as many as fit a frame (at least one:
 * LIM-2, LIM-4 and LIM-7 bound its size), and where to go on.
 */
function snapshotPage(core: ServerCore, userId: string, epoch: string, cursor: number, after: string) {
  const ids = core.store
    .membershipsOf(userId)
    .map((m) => m.conversationId)
    .filter((id) => after === "" || compareCodePoints(id, after) > 0)
    .sort(compareCodePoints);
  // Views are built only for the conversations that go into this page.
  const conversations: Conversation[] = [];
  let total = SNAPSHOT_OVERHEAD;
  for (const id of ids) {
    const view = conversationView(core, id, userId);
    total += sizeConversation(view) + PER_ITEM_OVERHEAD;
    if (total > core.options.maxFrameSize && conversations.length > 0) break;
    conversations.push(view);
  }
  const more = conversations.length < ids.length;
  return create(SnapshotSchema, {
    epoch,
    cursor: BigInt(cursor),
    conversations,
    defaultReceiveMode: core.store.receiveMode(userId, ""),
    continueAfter: more ? conversations[conversations.length - 1]!.conversationId : "",
  });
}

/** The longest prefix of `items` whose page fits a frame (SYNC-2); at least one item, which always fits (LIM-3). */
function fitInFrame<T extends ConversationEvent | UserEvent>(items: T[], size: (item: T) => number, maxFrameSize: number): T[] {
  let total = PAGE_OVERHEAD;
  for (let i = 0; i < items.length; i++) {
    total += size(items[i]!) + PER_ITEM_OVERHEAD;
    if (total > maxFrameSize && i > 0) return items.slice(0, i);
  }
  return items;
}
