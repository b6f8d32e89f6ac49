import type { MessageInitShape } from "@bufbuild/protobuf";
import { Feature } from "../../../src/gen/imwire/v1/connection_pb.js";
import type { ConversationEventSchema } from "../../../src/gen/imwire/v1/message_pb.js";
import type { ValidFrameDefinition } from "./types.js";
import { SERVER_TIME_MS, featureWelcome } from "./sample-values.js";

/**
 * Version 1.1 delete for me (FEATURE_DELETE_FOR_ME): hide_message and the
 * message_hidden answering it (HID-1), the hidden entry of the user's stream
 * that tells its other devices (HID-2), a conversation_page whose hidden_seqs
 * name the events among its own that the requester hid (HID-3), and the
 * handshake that puts the feature in force (EXT-5).
 *
 * The conversation: u-bob hides u-alice's message at seq 23; earlier it hid
 * seq 21. The page after seq 20 holds seqs 21 to 24.
 */

const CONVERSATION = "conv-d-5b2e";
const HIDDEN_SEQ = 23n;
const EARLIER_HIDDEN_SEQ = 21n;
const text = (value: string) => ({ kind: { case: "text" as const, value: { text: value } } });

type EventInit = MessageInitShape<typeof ConversationEventSchema>;

/** A message event at `seq` as the server stores it (message_id unique across conversations). */
const messageEvent = (seq: bigint, senderUserId: string, senderDeviceId: string, content: string): EventInit => ({
  conversationId: CONVERSATION,
  seq,
  serverTimeMs: SERVER_TIME_MS + seq * 1_000n,
  senderUserId,
  senderDeviceId,
  body: { case: "message", value: { messageId: `${CONVERSATION}.${seq}`, clientMessageId: `m-${seq}`, content: text(content) } },
});

export const deleteForMeVectors: ValidFrameDefinition[] = [
  {
    id: "valid/hide_message/basic",
    description: "hide_message: the user hides the event at seq 23 from its own devices; the other members still see it (version 1.1, FEATURE_DELETE_FOR_ME).",
    requirements: ["HID-1"],
    frame: { requestId: 130, body: { case: "hideMessage", value: { conversationId: CONVERSATION, seq: HIDDEN_SEQ } } },
  },
  {
    id: "valid/message_hidden/answer",
    description: "The message_hidden answering hide_message, with the same conversation_id and seq.",
    requirements: ["HID-1"],
    frame: { requestId: 130, body: { case: "messageHidden", value: { conversationId: CONVERSATION, seq: HIDDEN_SEQ } } },
  },
  {
    id: "valid/deliver/hidden",
    description: "The hide as an entry of the user's stream (UserEvent.body hidden, field 11), so the user's other devices hide the event too (HID-2).",
    requirements: ["HID-2", "DLV-1"],
    frame: { body: { case: "deliver", value: { cursor: 4_120n, prevCursor: 4_119n, body: { case: "hidden", value: { conversationId: CONVERSATION, seq: HIDDEN_SEQ } } } } },
  },
  {
    id: "valid/conversation_page/hidden-seqs",
    description: "A page after seq 20 holding seqs 21 to 24, two of which (21 and 23) the requester hid: hidden_seqs [21, 23], ascending, packed (HID-3).",
    requirements: ["HID-3", "SYNC-2"],
    frame: {
      requestId: 131,
      body: {
        case: "conversationPage",
        value: {
          conversationId: CONVERSATION,
          events: [
            messageEvent(EARLIER_HIDDEN_SEQ, "u-alice", "d-laptop", "see you at 7"),
            messageEvent(22n, "u-bob", "d-phone", "\ud83d\udc4d"),
            messageEvent(HIDDEN_SEQ, "u-alice", "d-laptop", "actually make it 8"),
            messageEvent(24n, "u-bob", "d-phone", "ok"),
          ],
          lastSeq: 24n,
          firstVisibleSeq: 1n,
          hiddenSeqs: [EARLIER_HIDDEN_SEQ, HIDDEN_SEQ],
        },
      },
    },
  },
  {
    id: "valid/welcome/delete-for-me",
    description: "welcome putting features 1 to 7 in force, FEATURE_DELETE_FOR_ME among them, with the two-day edit window FEATURE_MESSAGE_ACTIONS needs.",
    requirements: ["EXT-5", "HID-1", "CONN-2"],
    frame: {
      requestId: 1,
      body: {
        case: "welcome",
        value: featureWelcome([Feature.CONVERSATION_SUMMARIES, Feature.MEMBER_PAGES, Feature.MESSAGE_ACTIONS, Feature.EPHEMERAL, Feature.THREADS, Feature.HISTORY_VISIBILITY, Feature.DELETE_FOR_ME]),
      },
    },
  },
  {
    id: "valid/hello/delete-for-me",
    description: "hello offering FEATURE_DELETE_FOR_ME (7) only.",
    requirements: ["EXT-5", "HID-1", "CONN-2"],
    frame: { requestId: 1, body: { case: "hello", value: { versions: [1], deviceId: "d1", features: [Feature.DELETE_FOR_ME] } } },
  },
];
