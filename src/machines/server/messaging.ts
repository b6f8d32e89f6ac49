import { create } from "@bufbuild/protobuf";
import type { MessageContent } from "../../gen/imwire/v1/content_pb.js";
import { ConversationKind, Role } from "../../gen/imwire/v1/conversation_pb.js";
import { MessageHiddenSchema, ReadMarkerSchema, type HideMessage, type MarkRead, type MessageHidden, type ReadMarker } from "../../gen/imwire/v1/delivery_pb.js";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import { SendAckSchema, type SendAck, type SendMessage } from "../../gen/imwire/v1/message_pb.js";
import { sizeSendMessage } from "../../gen/imwire/v1/message_fast.js";
import { MAX_LIST_ENTRIES, maxSendMessageSize } from "../../limits.js";
import { threadMarkerKey, type DedupKey, type DedupRecord } from "../../store/store.js";
import type { Connection } from "./connection.js";
import type { ServerCore } from "./core.js";
import { appendConversationEvent } from "./events.js";
import { checkId, toNumber } from "./ids.js";
import { RequestError } from "./request-error.js";

/**
 * SendMessage (MSG-1 to MSG-7, IDEM-1 to IDEM-5). `payloadSize` is the size of
 * the frame that carried it, when known: a frame that small needs no
 * measuring against LIM-3.
 */
export function sendMessage(core: ServerCore, connection: Connection, request: SendMessage, now: number, payloadSize: number | undefined): SendAck {
  const { store, options } = core;
  checkId(request.conversationId, "conversation_id");
  checkId(request.clientMessageId, "client_message_id");
  // Before any lookup: the size and list bounds cap the work one request can cost (LIM-3, LIM-8).
  checkSize(request, payloadSize, options.maxFrameSize);
  checkListSize(request.mentions.length, "mentions");
  const dedupKey = messageKey(connection, request.clientMessageId);
  const earlier = rememberedAck(core, dedupKey, request.conversationId);
  if (earlier) return earlier;

  const conversation = store.conversation(request.conversationId);
  if (!conversation) throw new RequestError(ErrorCode.NOT_FOUND, `no conversation ${request.conversationId}`, "MSG-1");
  const membership = store.membership(conversation.conversationId, connection.userId);
  if (!membership || membership.lastVisibleSeq !== 0) throw new RequestError(ErrorCode.PERMISSION_DENIED, "only members may send", "MSG-1");
  if (conversation.kind === ConversationKind.CHANNEL && membership.role !== Role.OWNER) {
    throw new RequestError(ErrorCode.PERMISSION_DENIED, "only the channel's owner may send", "MSG-1");
  }
  checkContent(request.content!);
  request.mentions.forEach((mention, i) => checkId(mention.userId, `mentions[${i}].user_id`));
  const lastSeq = store.lastSeq(conversation.conversationId);
  const replyTo = toNumber(request.replyToSeq);
  if (replyTo > lastSeq) throw new RequestError(ErrorCode.INVALID_ARGUMENT, `reply_to_seq ${request.replyToSeq} does not exist`, "MSG-6");
  if (replyTo !== 0 && replyTo < membership.firstVisibleSeq) {
    throw new RequestError(ErrorCode.INVALID_ARGUMENT, `reply_to_seq ${request.replyToSeq} is before the sender's first visible seq ${membership.firstVisibleSeq}`, "MSG-6");
  }

  if (request.threadRootSeq !== 0n) checkThreadRoot(core, conversation.conversationId, membership.firstVisibleSeq, lastSeq, request.threadRootSeq, "THR-1");

  const messageId = `${conversation.conversationId}.${lastSeq + 1}`;
  const seq = appendConversationEvent(core, conversation, connection, now, {
    case: "message",
    value: {
      messageId,
      clientMessageId: request.clientMessageId,
      content: request.content,
      replyToSeq: request.replyToSeq,
      mentions: request.mentions,
      threadRootSeq: request.threadRootSeq,
    },
  });
  const record: DedupRecord = { conversationId: conversation.conversationId, seq, messageId, serverTimeMs: Math.floor(now) };
  store.recordDedup(dedupKey, record);
  return ack(record, request.clientMessageId);
}

/**
 * THR-1 to THR-3: a thread's root is a message event the user may read
 * (first visible to last readable) that is not itself a reply. Returns it as a number.
 */
export function checkThreadRoot(core: ServerCore, conversationId: string, firstVisibleSeq: number, lastReadable: number, rootSeq: bigint, requirement: string): number {
  const root = toNumber(rootSeq);
  const event = root >= firstVisibleSeq && root <= lastReadable ? core.store.event(conversationId, root) : undefined;
  const body = event?.body;
  if (body?.case === "redacted" && body.value.editOf === 0n) return root; // THR-4: a redacted root keeps its thread
  if (body?.case !== "message") throw new RequestError(ErrorCode.INVALID_ARGUMENT, `thread_root_seq ${rootSeq} is not a message the user may read`, requirement);
  if (body.value.threadRootSeq !== 0n) throw new RequestError(ErrorCode.INVALID_ARGUMENT, `thread_root_seq ${rootSeq} is itself a reply: threads are one level deep`, requirement);
  return root;
}

/** IDEM-1: the key of a send or a message action, in one space per device. */
export function messageKey(connection: Connection, clientMessageId: string): DedupKey {
  return { scope: "message", userId: connection.userId, deviceId: connection.deviceId, key: clientMessageId };
}

/**
 * IDEM-2: a remembered key gets the first answer, whatever has changed
 * since; undefined for a key not seen. IDEM-7: a key names one request, so
 * one reused for another conversation is a client bug, not a retry.
 */
export function rememberedAck(core: ServerCore, key: DedupKey, conversationId: string): SendAck | undefined {
  const earlier = core.store.dedup(key);
  if (!earlier) return undefined;
  if (earlier.conversationId !== conversationId) {
    throw new RequestError(ErrorCode.INVALID_ARGUMENT, `client_message_id ${key.key} was used for another conversation`, "IDEM-7");
  }
  return ack(earlier, key.key);
}

export function ack(record: DedupRecord, clientMessageId: string): SendAck {
  return create(SendAckSchema, {
    conversationId: record.conversationId,
    clientMessageId,
    seq: BigInt(record.seq),
    messageId: record.messageId,
    serverTimeMs: BigInt(record.serverTimeMs),
  });
}

/**
 * LIM-3: the whole send_message, not only its content, since every field it
 * carries (mentions, reply, ids) travels with the event it becomes; the event
 * then fits a frame with MESSAGE_FRAME_ALLOWANCE to spare for what the server adds.
 */
function checkSize(request: SendMessage, payloadSize: number | undefined, maxFrameSize: number): void {
  const limit = maxSendMessageSize(maxFrameSize);
  // A frame no larger than the limit cannot hold a send_message over it; a size not given is measured.
  if (payloadSize !== undefined && payloadSize <= limit) return;
  const size = sizeSendMessage(request);
  if (size > limit) throw new RequestError(ErrorCode.INVALID_ARGUMENT, `send_message of ${size} bytes is larger than ${limit}`, "LIM-3");
}

/** LIM-8: lists in one request are bounded, so that no request costs unbounded work. */
export function checkListSize(length: number, field: string): void {
  if (length > MAX_LIST_ENTRIES) throw new RequestError(ErrorCode.INVALID_ARGUMENT, `${field} has ${length} entries, more than ${MAX_LIST_ENTRIES}`, "LIM-8");
}

export function checkContent(content: MessageContent): void {
  const kind = content.kind;
  const media =
    kind.case === "image" || kind.case === "voice" || kind.case === "video" || kind.case === "file"
      ? kind.value.media
      : kind.case === "sticker"
        ? kind.value.media
        : undefined;
  if (media && media.sha256.length !== 0 && media.sha256.length !== 32) {
    throw new RequestError(ErrorCode.INVALID_ARGUMENT, "sha256 must be 32 bytes", "MSG-3");
  }
}

/** MarkRead (READ-1 to READ-3). */
export function markRead(core: ServerCore, connection: Connection, request: MarkRead): ReadMarker {
  const { store, options } = core;
  checkId(request.conversationId, "conversation_id");
  const conversation = store.conversation(request.conversationId);
  if (!conversation) throw new RequestError(ErrorCode.NOT_FOUND, `no conversation ${request.conversationId}`, "READ-1");
  const { conversationId } = conversation;
  const me = connection.userId;
  const membership = store.membership(conversationId, me);
  if (!membership) throw new RequestError(ErrorCode.PERMISSION_DENIED, "not a member", "READ-1");
  const readable = membership.lastVisibleSeq || store.lastSeq(conversationId);
  const seq = toNumber(request.seq);
  if (seq > readable) throw new RequestError(ErrorCode.INVALID_ARGUMENT, `seq ${request.seq} is beyond the last readable ${readable}`, "READ-1");
  if (request.threadRootSeq !== 0n) return markThreadRead(core, connection, conversationId, membership.firstVisibleSeq, readable, request);
  const current = store.readMarker(me, conversationId);
  if (seq > current) {
    store.setReadMarker(me, conversationId, seq);
    const marker = create(ReadMarkerSchema, { conversationId, seq: BigInt(seq) });
    core.appendUserEntry(me, { case: "readMarker", value: marker });
    if (conversation.kind !== ConversationKind.CHANNEL && store.memberCount(conversationId) <= options.readReceiptMaxMembers) {
      for (const member of store.members(conversationId)) {
        if (member.userId === me) continue;
        core.appendUserEntry(member.userId, { case: "readReceipt", value: { $typeName: "imwire.v1.ReadReceipt", conversationId, userId: me, seq: BigInt(seq) } });
      }
    }
  }
  return create(ReadMarkerSchema, { conversationId, seq: BigInt(Math.max(seq, current)) });
}

/** THR-3: a thread's marker, apart from the conversation's, synced to the user's devices; no read receipts. */
function markThreadRead(core: ServerCore, connection: Connection, conversationId: string, firstVisibleSeq: number, readable: number, request: MarkRead): ReadMarker {
  const root = checkThreadRoot(core, conversationId, firstVisibleSeq, readable, request.threadRootSeq, "THR-3");
  const key = threadMarkerKey(conversationId, root);
  const seq = toNumber(request.seq);
  const current = core.store.readMarker(connection.userId, key);
  const threadRootSeq = BigInt(root);
  if (seq > current) {
    core.store.setReadMarker(connection.userId, key, seq);
    core.appendUserEntry(connection.userId, { case: "readMarker", value: create(ReadMarkerSchema, { conversationId, seq: BigInt(seq), threadRootSeq }) });
  }
  return create(ReadMarkerSchema, { conversationId, seq: BigInt(Math.max(seq, current)), threadRootSeq });
}

/** HideMessage (HID-1, HID-2): an event the user may read, hidden from its own devices; the stream tells them. */
export function hideMessage(core: ServerCore, connection: Connection, request: HideMessage): MessageHidden {
  const { store } = core;
  checkId(request.conversationId, "conversation_id");
  const conversation = store.conversation(request.conversationId);
  if (!conversation) throw new RequestError(ErrorCode.NOT_FOUND, `no conversation ${request.conversationId}`, "HID-1");
  const { conversationId } = conversation;
  const membership = store.membership(conversationId, connection.userId);
  if (!membership) throw new RequestError(ErrorCode.PERMISSION_DENIED, "not a member", "HID-1");
  const firstVisible = conversation.kind === ConversationKind.CHANNEL ? 1 : membership.firstVisibleSeq;
  const readable = membership.lastVisibleSeq || store.lastSeq(conversationId);
  const seq = toNumber(request.seq);
  if (seq < firstVisible || seq > readable) throw new RequestError(ErrorCode.INVALID_ARGUMENT, `seq ${request.seq} is not one the user may read (${firstVisible} to ${readable})`, "HID-1");
  const hidden = create(MessageHiddenSchema, { conversationId, seq: request.seq });
  if (store.hiddenSeqs(connection.userId, conversationId, seq - 1, seq).length === 0) {
    store.hide(connection.userId, conversationId, seq);
    core.appendUserEntry(connection.userId, { case: "hidden", value: hidden });
  }
  return hidden;
}
