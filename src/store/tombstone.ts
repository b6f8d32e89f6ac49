import { create } from "@bufbuild/protobuf";
import { ConversationEventSchema, type ConversationEvent } from "../gen/imwire/v1/message_pb.js";

/** The seq an event edits (ACT-3), or 0 when it is not an edit: what a store indexes to find a message's edits. */
export function editTarget(event: { readonly body: ConversationEvent["body"] | { case: string; value?: unknown } }): number {
  const body = event.body as ConversationEvent["body"];
  if (body.case !== "action" || body.value.action.case !== "edit") return 0;
  return Number(body.value.targetSeq);
}

/** ACT-4: what a redacted message or edit becomes: the same seq, time and sender, its id, and nothing of its content. */
export function tombstone(event: ConversationEvent, redactionSeq: number): ConversationEvent {
  const body = event.body;
  const messageId = body.case === "message" || body.case === "action" || body.case === "redacted" ? body.value.messageId : "";
  const editOf = body.case === "action" ? body.value.targetSeq : body.case === "redacted" ? body.value.editOf : 0n;
  return create(ConversationEventSchema, {
    conversationId: event.conversationId,
    seq: event.seq,
    serverTimeMs: event.serverTimeMs,
    senderUserId: event.senderUserId,
    senderDeviceId: event.senderDeviceId,
    body: { case: "redacted", value: { messageId, redactionSeq: BigInt(redactionSeq), editOf } },
  });
}

/** THR-1: the root of the thread a message belongs to, or 0. */
export function threadRoot(event: { readonly body: ConversationEvent["body"] | { case: string; value?: unknown } }): number {
  const body = event.body as ConversationEvent["body"];
  return body.case === "message" ? Number(body.value.threadRootSeq) : 0;
}
