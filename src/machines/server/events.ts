import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ConversationEventSchema } from "../../gen/imwire/v1/message_pb.js";
import type { StoredConversation } from "../../store/store.js";
import type { Connection } from "./connection.js";
import type { ServerCore } from "./core.js";

type EventBody = NonNullable<MessageInitShape<typeof ConversationEventSchema>["body"]>;

/**
 * Append an event to a conversation (SEQ-1) and a reference to it to the
 * stream of every user who may see it (CUR-1, CONV-8): current members,
 * the users an ADDED event adds, the user a LEFT event removes — or, under
 * read fan-out, publish it once for all of them (CUR-7). `beforeFanOut`
 * runs between the two, with the event's seq: the place for the `joined`
 * entries of the users the event makes members (CONV-7).
 */
export function appendConversationEvent(
  core: ServerCore,
  conversation: Pick<StoredConversation, "conversationId" | "readFanOutFromSeq">,
  sender: Connection,
  now: number,
  body: EventBody,
  beforeFanOut?: (seq: number) => void,
): number {
  const { store } = core;
  const { conversationId, readFanOutFromSeq } = conversation;
  const seq = store.appendEvent(conversationId, {
    conversationId,
    serverTimeMs: BigInt(Math.floor(now)),
    senderUserId: sender.userId,
    senderDeviceId: sender.deviceId,
    body,
  });
  beforeFanOut?.(seq);
  if (readFanOutFromSeq > 0 && seq >= readFanOutFromSeq) {
    // CUR-7: stored once; its readers' streams read it from the conversation.
    store.publishEvent(conversationId, seq);
    core.eventPublished(conversationId, seq);
    return seq;
  }
  for (const member of store.members(conversationId)) {
    if (member.firstVisibleSeq <= seq) core.appendUserEntry(member.userId, { case: "eventRef", conversationId, seq });
  }
  return seq;
}
