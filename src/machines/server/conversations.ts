import { create } from "@bufbuild/protobuf";
import {
  ConversationKind,
  ConversationLeftSchema,
  ConversationOpenedSchema,
  ConversationSchema,
  HistoryVisibility,
  Role,
  type Conversation,
  type ConversationLeft,
  type ConversationOpened,
  type LeaveConversation,
  type OpenConversation,
  type SetHistoryVisibility,
} from "../../gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import { MembershipAction } from "../../gen/imwire/v1/message_pb.js";
import type { StoredHistoryVisibility, StoredMembership } from "../../store/store.js";
import type { Connection } from "./connection.js";
import type { ServerCore } from "./core.js";
import { checkId, utf8Length } from "./ids.js";
import { checkListSize } from "./messaging.js";
import { RequestError } from "./request-error.js";
import { appendConversationEvent } from "./events.js";
import { MAX_TITLE_BYTES } from "../../limits.js";

/** A conversation as `userId` sees it (the user must have a membership record). */
export function conversationView(core: ServerCore, conversationId: string, userId: string): Conversation {
  const { store, options } = core;
  const conversation = store.conversation(conversationId)!;
  const membership = store.membership(conversationId, userId)!;
  const lastSeq = store.lastSeq(conversationId);
  const count = store.memberCount(conversationId);
  const current = membership.lastVisibleSeq === 0;
  // CONV-9, LIM-9: a large group's members are read in pages, and a former member of one is not told them.
  const paged = conversation.kind !== ConversationKind.CHANNEL && count > options.maxInlineMembers;
  // A former member sees the conversation as it was when it left (CONV-8), not what happened since.
  const members =
    conversation.kind === ConversationKind.CHANNEL || paged
      ? []
      : current
        ? store.members(conversationId).map((m) => m.userId)
        : membersAt(core, conversationId, membership.lastVisibleSeq);
  return create(ConversationSchema, {
    conversationId,
    kind: conversation.kind,
    title: conversation.title,
    role: membership.role,
    firstVisibleSeq: BigInt(membership.firstVisibleSeq),
    lastVisibleSeq: BigInt(membership.lastVisibleSeq),
    lastSeq: BigInt(membership.lastVisibleSeq || lastSeq),
    memberUserIds: members,
    memberCount: conversation.kind === ConversationKind.CHANNEL || current ? count : members.length,
    receiveMode: store.receiveMode(userId, conversationId),
    readSeq: BigInt(store.readMarker(userId, conversationId)),
    readFanOut: conversation.readFanOutFromSeq > 0,
    membersPaged: paged,
    ...(conversation.kind === ConversationKind.GROUP ? historyFields(store.historyVisibility(conversationId)) : {}),
  });
}

/** The members after event `seq`, replayed from the membership events (former members' views only). */
function membersAt(core: ServerCore, conversationId: string, seq: number): string[] {
  const members = new Set<string>();
  for (const event of core.store.events(conversationId, 0, seq, seq)) {
    if (event.body.case !== "membership") continue;
    const { action, userIds } = event.body.value;
    if (action === MembershipAction.CREATED) userIds.forEach((u) => members.add(u));
    else if (action === MembershipAction.ADDED) userIds.forEach((u) => members.add(u));
    else if (action === MembershipAction.LEFT) userIds.forEach((u) => members.delete(u));
  }
  return [...members];
}

function opened(core: ServerCore, conversationId: string, userId: string, created: boolean): ConversationOpened {
  return create(ConversationOpenedSchema, { conversation: conversationView(core, conversationId, userId), created });
}

/** CONV-7: tell every device of `userId` that it joined. */
function announceJoined(core: ServerCore, conversationId: string, userId: string): void {
  core.appendUserEntry(userId, { case: "joined", value: opened(core, conversationId, userId, false) });
}

/** OpenConversation in its five forms (CONV-1 to CONV-4). */
export function openConversation(core: ServerCore, connection: Connection, request: OpenConversation, now: number): ConversationOpened {
  if (request.title.length > MAX_TITLE_BYTES / 3 && utf8Length(request.title) > MAX_TITLE_BYTES) {
    throw new RequestError(ErrorCode.INVALID_ARGUMENT, `title is longer than ${MAX_TITLE_BYTES} bytes`, "LIM-7");
  }
  checkListSize(request.userIds.length, "user_ids");
  if (request.conversationId !== "") return openExisting(core, connection, request, now);
  switch (request.kind) {
    case ConversationKind.DIRECT:
      return createDirect(core, connection, request, now);
    case ConversationKind.GROUP:
    case ConversationKind.CHANNEL:
      return createGroupOrChannel(core, connection, request, now);
    default:
      throw new RequestError(ErrorCode.INVALID_ARGUMENT, "open_conversation needs a kind or a conversation_id", "CONV-1");
  }
}

function createDirect(core: ServerCore, connection: Connection, request: OpenConversation, now: number): ConversationOpened {
  const { store } = core;
  const me = connection.userId;
  if (request.userIds.length !== 1) throw new RequestError(ErrorCode.INVALID_ARGUMENT, "a one-to-one conversation names exactly one peer", "CONV-2");
  const peer = request.userIds[0]!;
  checkId(peer, "user_ids[0]");
  if (peer === me) throw new RequestError(ErrorCode.INVALID_ARGUMENT, "a one-to-one conversation needs another user", "CONV-2");
  if (!store.hasUser(peer)) throw new RequestError(ErrorCode.NOT_FOUND, `no user ${peer}`, "CONV-2");
  const existing = store.directConversation(me, peer);
  if (existing !== undefined) return opened(core, existing, me, false);

  const conversationId = core.deps.randomId();
  store.createConversation({ conversationId, kind: ConversationKind.DIRECT, title: request.title, ownerUserId: "" });
  for (const userId of [me, peer]) store.setMembership({ conversationId, userId, role: Role.MEMBER, firstVisibleSeq: 1, lastVisibleSeq: 0 });
  appendConversationEvent(core, { conversationId, readFanOutFromSeq: 0 }, connection, now, { case: "membership", value: { action: MembershipAction.CREATED, userIds: [me, peer], title: request.title } }, () => {
    for (const userId of [me, peer]) announceJoined(core, conversationId, userId);
  });
  return opened(core, conversationId, me, true);
}

function createGroupOrChannel(core: ServerCore, connection: Connection, request: OpenConversation, now: number): ConversationOpened {
  const { store, options } = core;
  const me = connection.userId;
  const kind = request.kind;
  if (request.clientConversationId === "") {
    throw new RequestError(ErrorCode.INVALID_ARGUMENT, "creating a group or channel needs client_conversation_id", "CONV-3");
  }
  checkId(request.clientConversationId, "client_conversation_id");
  const dedupKey = { scope: "conversation", userId: me, deviceId: connection.deviceId, key: request.clientConversationId } as const;
  const earlier = store.dedup(dedupKey);
  if (earlier) {
    // IDEM-6, IDEM-7: a retry gets the same conversation; the key reused for another kind is refused.
    if (store.conversation(earlier.conversationId)?.kind !== kind) {
      throw new RequestError(ErrorCode.INVALID_ARGUMENT, `client_conversation_id ${request.clientConversationId} created a conversation of another kind`, "IDEM-7");
    }
    return opened(core, earlier.conversationId, me, false);
  }

  const others = [...new Set(request.userIds)].filter((u) => u !== me);
  if (kind === ConversationKind.CHANNEL && request.userIds.length > 0) {
    throw new RequestError(ErrorCode.INVALID_ARGUMENT, "a channel is created without members", "CONV-3");
  }
  others.forEach((u, i) => checkId(u, `user_ids[${i}]`));
  if (others.length + 1 > options.maxGroupSize) throw new RequestError(ErrorCode.INVALID_ARGUMENT, `a group has at most ${options.maxGroupSize} members`, "LIM-4");
  checkInlineBatch(core, others.length + 1);
  const unknown = others.find((u) => !store.hasUser(u));
  if (unknown !== undefined) throw new RequestError(ErrorCode.NOT_FOUND, `no user ${unknown}`, "CONV-3");

  const conversationId = core.deps.randomId();
  const members = [me, ...others];
  // CUR-8: channels, and groups created above the threshold, are under read fan-out from their first event.
  const readFanOut = kind === ConversationKind.CHANNEL || members.length > options.readFanOutMembers;
  store.createConversation({ conversationId, kind, title: request.title, ownerUserId: me, readFanOutFromSeq: readFanOut ? 1 : 0 });
  for (const userId of members) {
    const role = userId === me ? Role.OWNER : Role.MEMBER;
    store.setMembership({ conversationId, userId, role, firstVisibleSeq: 1, lastVisibleSeq: 0 });
  }
  appendConversationEvent(core, { conversationId, readFanOutFromSeq: readFanOut ? 1 : 0 }, connection, now, { case: "membership", value: { action: MembershipAction.CREATED, userIds: members, title: request.title } }, () => {
    for (const userId of members) announceJoined(core, conversationId, userId);
  });
  store.recordDedup(dedupKey, { conversationId, seq: 1, messageId: "", serverTimeMs: Math.floor(now) });
  return opened(core, conversationId, me, true);
}

function openExisting(core: ServerCore, connection: Connection, request: OpenConversation, now: number): ConversationOpened {
  const { store, options } = core;
  const me = connection.userId;
  checkId(request.conversationId, "conversation_id");
  const conversation = store.conversation(request.conversationId);
  if (!conversation) throw new RequestError(ErrorCode.NOT_FOUND, `no conversation ${request.conversationId}`, "CONV-4");
  const { conversationId } = conversation;
  const mine = store.membership(conversationId, me);
  const isMember = mine !== undefined && mine.lastVisibleSeq === 0;
  // ERR-5: the right to the operation before the request's own rules, so an outsider learns nothing of the kind.
  const checkKind = () => {
    if (request.kind !== ConversationKind.UNSPECIFIED && request.kind !== conversation.kind) {
      throw new RequestError(ErrorCode.INVALID_ARGUMENT, "kind does not match the conversation", "CONV-4");
    }
  };

  if (conversation.kind === ConversationKind.CHANNEL) {
    checkKind();
    if (request.userIds.length > 0) throw new RequestError(ErrorCode.INVALID_ARGUMENT, "channels have subscribers, not added members", "CONV-4");
    if (isMember) return opened(core, conversationId, me, false);
    store.setMembership({ conversationId, userId: me, role: Role.SUBSCRIBER, firstVisibleSeq: 1, lastVisibleSeq: 0 });
    announceJoined(core, conversationId, me);
    return opened(core, conversationId, me, false);
  }

  // Opening is reading: former members too, as they last saw it (CONV-4, CONV-9). Adding is for members.
  if (mine === undefined || (!isMember && request.userIds.length > 0)) {
    throw new RequestError(ErrorCode.PERMISSION_DENIED, "only members may open or add to this conversation", "CONV-4");
  }
  checkKind();
  if (request.userIds.length === 0) return opened(core, conversationId, me, false);
  if (conversation.kind !== ConversationKind.GROUP) throw new RequestError(ErrorCode.INVALID_ARGUMENT, "members can be added to groups only", "CONV-4");

  const added = [...new Set(request.userIds)].filter((u) => store.membership(conversationId, u)?.lastVisibleSeq !== 0);
  added.forEach((u, i) => checkId(u, `user_ids[${i}]`));
  const unknown = added.find((u) => !store.hasUser(u));
  if (unknown !== undefined) throw new RequestError(ErrorCode.NOT_FOUND, `no user ${unknown}`, "CONV-4");
  const count = store.memberCount(conversationId) + added.length;
  if (count > options.maxGroupSize) {
    throw new RequestError(ErrorCode.INVALID_ARGUMENT, `a group has at most ${options.maxGroupSize} members`, "LIM-4");
  }
  checkInlineBatch(core, added.length);
  if (added.length === 0) return opened(core, conversationId, me, false);
  const seq = store.lastSeq(conversationId) + 1;
  // CUR-8: the ADDED event that takes the group above the threshold is the first read from the conversation.
  let readFanOutFromSeq = conversation.readFanOutFromSeq;
  if (readFanOutFromSeq === 0 && count > options.readFanOutMembers) {
    store.startReadFanOut(conversationId, seq);
    readFanOutFromSeq = seq;
  }
  const firstVisibleSeq = visibleFrom(store.historyVisibility(conversationId), seq);
  for (const userId of added) store.setMembership({ conversationId, userId, role: Role.MEMBER, firstVisibleSeq, lastVisibleSeq: 0 });
  appendConversationEvent(core, { conversationId, readFanOutFromSeq }, connection, now, { case: "membership", value: { action: MembershipAction.ADDED, userIds: added } }, () => {
    for (const userId of added) announceJoined(core, conversationId, userId);
  });
  return opened(core, conversationId, me, false);
}

/** LIM-9: a CREATED or ADDED event lists its users, so one request names no more than a Conversation may list. */
function checkInlineBatch(core: ServerCore, users: number): void {
  const limit = core.options.maxInlineMembers;
  if (users > limit) throw new RequestError(ErrorCode.INVALID_ARGUMENT, `one request may bring at most ${limit} members into a group`, "LIM-9");
}

/** LeaveConversation (CONV-5). */
export function leaveConversation(core: ServerCore, connection: Connection, request: LeaveConversation, now: number): ConversationLeft {
  const { store } = core;
  const me = connection.userId;
  checkId(request.conversationId, "conversation_id");
  const conversation = store.conversation(request.conversationId);
  if (!conversation) throw new RequestError(ErrorCode.NOT_FOUND, `no conversation ${request.conversationId}`, "CONV-5");
  const { conversationId } = conversation;
  const mine = store.membership(conversationId, me);
  if (!mine) throw new RequestError(ErrorCode.PERMISSION_DENIED, "not a member", "CONV-5");
  if (mine.lastVisibleSeq !== 0) return left(conversationId, mine.lastVisibleSeq);
  if (conversation.kind === ConversationKind.DIRECT) throw new RequestError(ErrorCode.FAILED_PRECONDITION, "one-to-one conversations cannot be left", "CONV-5");
  if (conversation.kind === ConversationKind.CHANNEL && mine.role === Role.OWNER) {
    throw new RequestError(ErrorCode.FAILED_PRECONDITION, "a channel's owner cannot leave it", "CONV-5");
  }
  let lastVisibleSeq: number;
  if (conversation.kind === ConversationKind.GROUP) {
    lastVisibleSeq = appendConversationEvent(core, conversation, connection, now, { case: "membership", value: { action: MembershipAction.LEFT, userIds: [me] } });
  } else {
    lastVisibleSeq = store.lastSeq(conversationId);
  }
  const after: StoredMembership = { ...mine, lastVisibleSeq };
  store.setMembership(after);
  const answer = left(conversationId, lastVisibleSeq);
  core.appendUserEntry(me, { case: "left", value: answer });
  return answer;
}

function left(conversationId: string, lastVisibleSeq: number): ConversationLeft {
  return create(ConversationLeftSchema, { conversationId, lastVisibleSeq: BigInt(lastVisibleSeq) });
}

/** HIS-1: the most events LAST_EVENTS may open to a newcomer. */
export const MAX_HISTORY_EVENTS = 1_000;

/** HIS-3: the first seq a user added at `addedSeq` may read under `setting`. */
function visibleFrom(setting: StoredHistoryVisibility, addedSeq: number): number {
  switch (setting.visibility) {
    case HistoryVisibility.FULL:
      return 1;
    case HistoryVisibility.LAST_EVENTS:
      return Math.max(1, addedSeq - setting.events);
    default:
      return addedSeq;
  }
}

function historyFields(setting: StoredHistoryVisibility): { historyVisibility: HistoryVisibility; historyEvents: number } {
  return { historyVisibility: setting.visibility === HistoryVisibility.UNSPECIFIED ? HistoryVisibility.FROM_JOIN : setting.visibility, historyEvents: setting.events };
}

/** SetHistoryVisibility (HIS-1, HIS-2): owners of groups only; the change is an event; answered with the group's description. */
export function setHistoryVisibility(core: ServerCore, connection: Connection, request: SetHistoryVisibility, now: number): ConversationOpened {
  const { store } = core;
  checkId(request.conversationId, "conversation_id");
  const conversation = store.conversation(request.conversationId);
  if (!conversation) throw new RequestError(ErrorCode.NOT_FOUND, `no conversation ${request.conversationId}`, "HIS-2");
  const { conversationId } = conversation;
  const mine = store.membership(conversationId, connection.userId);
  if (!mine || mine.lastVisibleSeq !== 0 || mine.role !== Role.OWNER) throw new RequestError(ErrorCode.PERMISSION_DENIED, "only the group's owner may change its history visibility", "HIS-2");
  if (conversation.kind !== ConversationKind.GROUP) throw new RequestError(ErrorCode.INVALID_ARGUMENT, "only groups have a history visibility", "HIS-1");
  const { visibility } = request;
  if (visibility !== HistoryVisibility.FROM_JOIN && visibility !== HistoryVisibility.LAST_EVENTS && visibility !== HistoryVisibility.FULL) {
    throw new RequestError(ErrorCode.INVALID_ARGUMENT, `unknown history visibility ${visibility}`, "HIS-1");
  }
  const events = visibility === HistoryVisibility.LAST_EVENTS ? request.historyEvents : 0;
  if (visibility === HistoryVisibility.LAST_EVENTS && (events < 1 || events > MAX_HISTORY_EVENTS)) {
    throw new RequestError(ErrorCode.INVALID_ARGUMENT, `history_events ${request.historyEvents}: 1 to ${MAX_HISTORY_EVENTS}`, "HIS-2");
  }
  const current = historyFields(store.historyVisibility(conversationId));
  if (current.historyVisibility !== visibility || current.historyEvents !== events) {
    store.setHistoryVisibility(conversationId, { visibility, events });
    appendConversationEvent(core, conversation, connection, now, { case: "historyVisibility", value: { visibility, historyEvents: events } });
  }
  return opened(core, conversationId, connection.userId, false);
}
