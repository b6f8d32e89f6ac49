import type { MessageInitShape } from "@bufbuild/protobuf";
import { Feature } from "../../../src/gen/imwire/v1/connection_pb.js";
import type { ConversationEventSchema, MessageActionSchema } from "../../../src/gen/imwire/v1/message_pb.js";
import type { FrameInit, ValidFrameDefinition } from "./types.js";
import { SERVER_TIME_MS, featureWelcome } from "./sample-values.js";

/**
 * Version 1.1 message actions (SPEC.md §8.1, FEATURE_MESSAGE_ACTIONS):
 * act_on_message with each action and the send_ack answering it, the
 * `action` events every member receives, `redacted` tombstones, a page that
 * holds a message with its edit and tombstones, and the handshake that puts
 * the feature in force (EXT-5).
 */

const CONVERSATION = "conv-g-5b1e";
const text = (value: string) => ({ kind: { case: "text" as const, value: { text: value } } });

type EventInit = MessageInitShape<typeof ConversationEventSchema>;
type ActionInit = MessageInitShape<typeof MessageActionSchema>["action"];

/** The event an act_on_message appends at `seq`, as the server stores it (message_id unique across conversations, ACT-1). */
const actionEvent = (seq: bigint, senderUserId: string, clientMessageId: string, targetSeq: bigint, action: ActionInit): EventInit => ({
  conversationId: CONVERSATION,
  seq,
  serverTimeMs: SERVER_TIME_MS + seq * 1_000n,
  senderUserId,
  senderDeviceId: "d-phone",
  body: { case: "action", value: { messageId: `${CONVERSATION}.${seq}`, clientMessageId, targetSeq, action } },
});

const deliver = (cursor: bigint, event: EventInit): FrameInit => ({ body: { case: "deliver", value: { cursor, prevCursor: cursor - 1n, body: { case: "event", value: event } } } });

export const messageActionVectors: ValidFrameDefinition[] = [
  {
    id: "valid/act_on_message/edit-text",
    description: "act_on_message replacing the content of the message at seq 77 with new text (version 1.1, FEATURE_MESSAGE_ACTIONS).",
    requirements: ["ACT-1", "ACT-3", "EXT-5", "ENV-2", "IDEM-1"],
    frame: { requestId: 90, body: { case: "actOnMessage", value: { conversationId: CONVERSATION, clientMessageId: "a-edit-1", targetSeq: 77n, action: { case: "edit", value: text("see you at 9 \ud83d\udd58 (not 8)") } } } },
  },
  {
    id: "valid/act_on_message/redact",
    description: "act_on_message deleting the message at seq 77 for everyone: redact is an empty message, present as 2a 00.",
    requirements: ["ACT-1", "ACT-4", "EXT-5"],
    frame: { requestId: 91, body: { case: "actOnMessage", value: { conversationId: CONVERSATION, clientMessageId: "a-redact-1", targetSeq: 77n, action: { case: "redact", value: {} } } } },
  },
  {
    id: "valid/act_on_message/react-add",
    description: "act_on_message adding a reaction: an emoji with a skin-tone modifier (8 bytes of UTF-8), remove false and so absent.",
    requirements: ["ACT-1", "ACT-5", "EXT-5"],
    frame: { requestId: 92, body: { case: "actOnMessage", value: { conversationId: CONVERSATION, clientMessageId: "a-react-1", targetSeq: 77n, action: { case: "react", value: { emoji: "\ud83d\udc4d\ud83c\udffd" } } } } },
  },
  {
    id: "valid/act_on_message/react-remove",
    description: "act_on_message removing the sender's reaction with a ZWJ-sequence emoji (remove true).",
    requirements: ["ACT-1", "ACT-5", "EXT-5"],
    frame: { requestId: 93, body: { case: "actOnMessage", value: { conversationId: CONVERSATION, clientMessageId: "a-react-2", targetSeq: 77n, action: { case: "react", value: { emoji: "\ud83d\udc69\u200d\ud83d\udc69\u200d\ud83d\udc67", remove: true } } } } },
  },
  {
    id: "valid/send_ack/act-on-message",
    description: "The send_ack answering act_on_message: the action event's own seq, message id and server time (ACT-1), under the request's idempotency key.",
    requirements: ["ACT-1", "IDEM-2", "MSG-1"],
    frame: { requestId: 90, body: { case: "sendAck", value: { conversationId: CONVERSATION, clientMessageId: "a-edit-1", seq: 121n, messageId: `${CONVERSATION}.121`, serverTimeMs: SERVER_TIME_MS + 121_000n } } },
  },
  {
    id: "valid/deliver/action-edit",
    description: "A pushed action event: an edit of the message at seq 77, with the new content.",
    requirements: ["ACT-3", "ACT-6", "DLV-1", "SEQ-1"],
    frame: deliver(1101n, actionEvent(121n, "u-alice", "a-edit-1", 77n, { case: "edit", value: text("see you at 9 \ud83d\udd58 (not 8)") })),
  },
  {
    id: "valid/deliver/action-redact",
    description: "A pushed action event: its sender's redaction of the message at seq 77.",
    requirements: ["ACT-4", "ACT-6", "DLV-1"],
    frame: deliver(1102n, actionEvent(122n, "u-alice", "a-redact-1", 77n, { case: "redact", value: {} })),
  },
  {
    id: "valid/deliver/action-react-add",
    description: "A pushed action event: another member's reaction to the message at seq 76.",
    requirements: ["ACT-5", "ACT-6", "DLV-1"],
    frame: deliver(1103n, actionEvent(123n, "u-bob", "r-1", 76n, { case: "react", value: { emoji: "\ud83c\udf89" } })),
  },
  {
    id: "valid/deliver/action-react-remove",
    description: "A pushed action event: the same member taking that reaction back (remove true).",
    requirements: ["ACT-5", "ACT-6", "DLV-1"],
    frame: deliver(1104n, actionEvent(124n, "u-bob", "r-2", 76n, { case: "react", value: { emoji: "\ud83c\udf89", remove: true } })),
  },
  {
    id: "valid/deliver/redacted-message",
    description: "A pushed tombstone at a redacted message's seq: its former message id and the redaction's seq, no content; edit_of 0 (the message itself) is absent.",
    requirements: ["ACT-4", "ACT-6", "SEQ-2", "DLV-1"],
    frame: deliver(1105n, { conversationId: CONVERSATION, seq: 77n, serverTimeMs: SERVER_TIME_MS, senderUserId: "u-alice", senderDeviceId: "d-phone", body: { case: "redacted", value: { messageId: "msg-77", redactionSeq: 122n } } }),
  },
  {
    id: "valid/deliver/redacted-edit",
    description: "A pushed tombstone at a redacted message's edit: edit_of names the message it edited.",
    requirements: ["ACT-3", "ACT-4", "ACT-6", "SEQ-2"],
    frame: deliver(1106n, { conversationId: CONVERSATION, seq: 121n, serverTimeMs: SERVER_TIME_MS + 121_000n, senderUserId: "u-alice", senderDeviceId: "d-phone", body: { case: "redacted", value: { messageId: `${CONVERSATION}.121`, redactionSeq: 122n, editOf: 77n } } }),
  },
  {
    id: "valid/conversation_page/message-actions",
    description: "A page after actions: a message and its edit, a reaction to it, and a redacted message whose edit is a tombstone too, then the redaction itself. Every seq stays occupied (ACT-7 applies them in order).",
    requirements: ["ACT-3", "ACT-4", "ACT-5", "ACT-6", "ACT-7", "SYNC-2", "SEQ-1"],
    frame: {
      requestId: 43,
      body: {
        case: "conversationPage",
        value: {
          conversationId: CONVERSATION,
          events: [
            { conversationId: CONVERSATION, seq: 130n, serverTimeMs: SERVER_TIME_MS, senderUserId: "u-bob", senderDeviceId: "d-laptop", body: { case: "message", value: { messageId: "msg-130", clientMessageId: "m-130", content: text("lunch at noon?") } } },
            actionEvent(131n, "u-bob", "e-130", 130n, { case: "edit", value: text("lunch at 12:30?") }),
            actionEvent(132n, "u-chen", "r-130", 130n, { case: "react", value: { emoji: "\ud83d\udc4d" } }),
            { conversationId: CONVERSATION, seq: 133n, serverTimeMs: SERVER_TIME_MS + 133_000n, senderUserId: "u-chen", body: { case: "redacted", value: { messageId: "msg-133", redactionSeq: 135n } } },
            { conversationId: CONVERSATION, seq: 134n, serverTimeMs: SERVER_TIME_MS + 134_000n, senderUserId: "u-chen", body: { case: "redacted", value: { messageId: `${CONVERSATION}.134`, redactionSeq: 135n, editOf: 133n } } },
            actionEvent(135n, "u-chen", "d-133", 133n, { case: "redact", value: {} }),
          ],
          lastSeq: 135n,
          firstVisibleSeq: 1n,
        },
      },
    },
  },
  {
    id: "valid/welcome/message-actions",
    description: "welcome putting features 1 to 3 in force (conversation summaries, member pages and FEATURE_MESSAGE_ACTIONS), with a two-day edit window (edit_window_s 172800).",
    requirements: ["EXT-5", "ACT-3", "CONN-2"],
    frame: {
      requestId: 1,
      body: {
        case: "welcome",
        value: featureWelcome([Feature.CONVERSATION_SUMMARIES, Feature.MEMBER_PAGES, Feature.MESSAGE_ACTIONS]),
      },
    },
  },
  {
    id: "valid/hello/message-actions",
    description: "hello offering FEATURE_MESSAGE_ACTIONS (3) only.",
    requirements: ["EXT-5", "ACT-1", "CONN-2"],
    frame: { requestId: 1, body: { case: "hello", value: { versions: [1], deviceId: "d1", features: [Feature.MESSAGE_ACTIONS] } } },
  },
];
