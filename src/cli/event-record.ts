import { toJson, type JsonObject } from "@bufbuild/protobuf";
import { MessageContentSchema, type MediaRef, type MessageContent } from "../gen/imwire/v1/content_pb.js";
import { MembershipAction, type ConversationEvent } from "../gen/imwire/v1/message_pb.js";

/**
 * A conversation event as one flat JSON object, for NDJSON: the fields a
 * script filters on at the top level (snake_case, 64-bit numbers as strings,
 * as protobuf's JSON mapping writes them), and for anything but plain text
 * the whole content in protobuf JSON, so nothing is lost.
 */
export function eventRecord(event: ConversationEvent): JsonObject {
  const record: JsonObject = {
    conversation: event.conversationId,
    seq: event.seq.toString(),
    sender: event.senderUserId,
    sender_device: event.senderDeviceId,
    sent_at: event.serverTimeMs > 0n ? new Date(Number(event.serverTimeMs)).toISOString() : null,
  };
  const body = event.body;
  switch (body.case) {
    case "message": {
      const message = body.value;
      record.message_id = message.messageId;
      if (message.clientMessageId !== "") record.client_message_id = message.clientMessageId;
      if (message.replyToSeq > 0n) record.reply_to_seq = message.replyToSeq.toString();
      return { ...record, ...contentFields(message.content) };
    }
    case "membership":
      return { ...record, kind: "membership", action: membershipActionName(body.value.action), users: [...body.value.userIds], ...(body.value.title !== "" ? { title: body.value.title } : {}) };
    default:
      return { ...record, kind: "unknown" };
  }
}

function contentFields(content: MessageContent | undefined): JsonObject {
  const kind = content?.kind;
  if (content === undefined || kind === undefined || kind.case === undefined) return { kind: "unknown" };
  if (kind.case === "text") return { kind: "text", text: kind.value.text };
  const fields: JsonObject = { kind: kind.case };
  const caption = kind.case === "image" || kind.case === "video" ? kind.value.caption : kind.case === "file" ? kind.value.fileName : kind.case === "sticker" ? kind.value.emoji : "";
  if (caption !== "") fields.text = caption;
  const media: MediaRef | undefined = kind.case === "encrypted" ? undefined : kind.value.media;
  if (media !== undefined) {
    fields.size = media.byteSize.toString();
    if (media.mimeType !== "") fields.mime_type = media.mimeType;
  }
  if (kind.case === "encrypted") fields.size = kind.value.ciphertext.byteLength.toString();
  fields.content = toJson(MessageContentSchema, content, { useProtoFieldName: true }) as JsonObject;
  return fields;
}

export function membershipActionName(action: MembershipAction): string {
  switch (action) {
    case MembershipAction.CREATED:
      return "created";
    case MembershipAction.ADDED:
      return "added";
    case MembershipAction.LEFT:
      return "left";
    default:
      return "unspecified";
  }
}

/** One NDJSON line. */
export function ndjson(record: JsonObject): string {
  return `${JSON.stringify(record)}\n`;
}
