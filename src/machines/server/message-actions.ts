import { ConversationKind, Role } from "../../gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import { sizeActOnMessage } from "../../gen/imwire/v1/message_fast.js";
import type { ActOnMessage, SendAck } from "../../gen/imwire/v1/message_pb.js";
import { maxSendMessageSize } from "../../limits.js";
import type { DedupRecord } from "../../store/store.js";
import type { Connection } from "./connection.js";
import type { ServerCore } from "./core.js";
import { appendConversationEvent } from "./events.js";
import { checkId, toNumber } from "./ids.js";
import { ack, checkContent, messageKey, rememberedAck } from "./messaging.js";
import { RequestError } from "./request-error.js";

/** ACT-5: an emoji is one short string; bytes of UTF-8. */
const MAX_EMOJI_BYTES = 64;
const utf8 = new TextEncoder();

/**
 * ActOnMessage (ACT-1 to ACT-5): an edit, redaction or reaction appended as
 * an `action` event, idempotent by client_message_id in send_message's key
 * space (IDEM-1 to IDEM-7). Every check comes before the first write.
 */
export function actOnMessage(core: ServerCore, connection: Connection, request: ActOnMessage, now: number, payloadSize: number | undefined): SendAck {
  const { store, options } = core;
  checkId(request.conversationId, "conversation_id");
  checkId(request.clientMessageId, "client_message_id");
  const limit = maxSendMessageSize(options.maxFrameSize);
  if (payloadSize === undefined || payloadSize > limit) {
    const size = sizeActOnMessage(request);
    if (size > limit) throw new RequestError(ErrorCode.INVALID_ARGUMENT, `act_on_message of ${size} bytes is larger than ${limit}`, "LIM-3");
  }
  const dedupKey = messageKey(connection, request.clientMessageId);
  const earlier = rememberedAck(core, dedupKey, request.conversationId);
  if (earlier) return earlier;

  const conversation = store.conversation(request.conversationId);
  if (!conversation) throw new RequestError(ErrorCode.NOT_FOUND, `no conversation ${request.conversationId}`, "ACT-1");
  const membership = store.membership(conversation.conversationId, connection.userId);
  if (!membership || membership.lastVisibleSeq !== 0) throw new RequestError(ErrorCode.PERMISSION_DENIED, "only members may act on messages", "ACT-1");
  const lastSeq = store.lastSeq(conversation.conversationId);
  const targetSeq = toNumber(request.targetSeq);
  if (targetSeq > lastSeq || targetSeq < membership.firstVisibleSeq) {
    throw new RequestError(ErrorCode.INVALID_ARGUMENT, `target_seq ${request.targetSeq} is not a seq the sender may read (${membership.firstVisibleSeq} to ${lastSeq})`, "ACT-2");
  }
  const target = store.event(conversation.conversationId, targetSeq);
  if (target?.body.case === "redacted") throw new RequestError(ErrorCode.FAILED_PRECONDITION, `the message at ${targetSeq} was redacted`, "ACT-2");
  if (target?.body.case !== "message") throw new RequestError(ErrorCode.INVALID_ARGUMENT, `the event at ${targetSeq} is not a message`, "ACT-2");

  const action = request.action;
  switch (action.case) {
    case "edit":
      if (target.senderUserId !== connection.userId) throw new RequestError(ErrorCode.PERMISSION_DENIED, "only the message's sender may edit it", "ACT-3");
      if (now - Number(target.serverTimeMs) > options.editWindowS * 1000) {
        throw new RequestError(ErrorCode.FAILED_PRECONDITION, `the edit window of ${options.editWindowS} s has passed`, "ACT-3");
      }
      checkContent(action.value);
      break;
    case "redact": {
      const owner = membership.role === Role.OWNER || conversation.ownerUserId === connection.userId;
      if (target.senderUserId !== connection.userId && !owner) {
        throw new RequestError(ErrorCode.PERMISSION_DENIED, "only the message's sender or the conversation's owner may redact it", "ACT-4");
      }
      break;
    }
    case "react": {
      const bytes = utf8.encode(action.value.emoji).length;
      if (bytes < 1 || bytes > MAX_EMOJI_BYTES) throw new RequestError(ErrorCode.INVALID_ARGUMENT, `an emoji of ${bytes} bytes; 1 to ${MAX_EMOJI_BYTES}`, "ACT-5");
      break;
    }
    default:
      // A kind of a later version (EXT-3): nothing this server can do with it.
      throw new RequestError(ErrorCode.INVALID_ARGUMENT, "an action this server does not know", "ACT-1");
  }
  // Channels: only the owner sends (MSG-1), but every subscriber may react.
  if (conversation.kind === ConversationKind.CHANNEL && action.case === "edit" && membership.role !== Role.OWNER) {
    throw new RequestError(ErrorCode.PERMISSION_DENIED, "only the channel's owner may edit", "ACT-3");
  }

  const messageId = `${conversation.conversationId}.${lastSeq + 1}`;
  const seq = appendConversationEvent(core, conversation, connection, now, {
    case: "action",
    value: { messageId, clientMessageId: request.clientMessageId, targetSeq: request.targetSeq, action },
  });
  // ACT-4: in the same transaction as the redaction's event, so nothing durable keeps the content after it.
  if (action.case === "redact") store.redact(conversation.conversationId, targetSeq, seq);
  const record: DedupRecord = { conversationId: conversation.conversationId, seq, messageId, serverTimeMs: Math.floor(now) };
  store.recordDedup(dedupKey, record);
  return ack(record, request.clientMessageId);
}
