import type { MessageInitShape } from "@bufbuild/protobuf";
import { Feature } from "../../../src/gen/imwire/v1/connection_pb.js";
import type { ConversationEventSchema } from "../../../src/gen/imwire/v1/message_pb.js";
import type { ValidFrameDefinition } from "./types.js";
import { SERVER_TIME_MS, featureWelcome } from "./sample-values.js";

/**
 * Version 1.1 threads (SPEC.md §8.2, FEATURE_THREADS): send_message into a
 * thread and the reply as delivered (THR-1), sync_conversation of one thread
 * and the page answering it, whose seqs are not consecutive and which keeps a
 * redacted reply as its tombstone (THR-2, THR-4), mark_read of a thread with
 * the read_marker answering it and the one appended to the user's stream
 * (THR-3), and the handshake that puts the feature in force (EXT-5).
 *
 * The thread: a root at seq 40, replies at 42, 45 (redacted by the action at
 * 46) and 47; the conversation's last seq is 52.
 */

const CONVERSATION = "conv-g-9e4d";
const ROOT = 40n;
const text = (value: string) => ({ kind: { case: "text" as const, value: { text: value } } });

type EventInit = MessageInitShape<typeof ConversationEventSchema>;

/** A message event at `seq` as the server stores it (message_id unique across conversations); `threadRootSeq` 0 for the root. */
const messageEvent = (seq: bigint, senderUserId: string, clientMessageId: string, content: string, threadRootSeq = 0n): EventInit => ({
  conversationId: CONVERSATION,
  seq,
  serverTimeMs: SERVER_TIME_MS + seq * 1_000n,
  senderUserId,
  senderDeviceId: "d-phone",
  body: { case: "message", value: { messageId: `${CONVERSATION}.${seq}`, clientMessageId, content: text(content), threadRootSeq } },
});

export const threadVectors: ValidFrameDefinition[] = [
  {
    id: "valid/send_message/thread-reply",
    description: "send_message replying into the thread rooted at seq 40 (thread_root_seq 6, version 1.1, FEATURE_THREADS).",
    requirements: ["THR-1", "IDEM-1"],
    frame: { requestId: 110, body: { case: "sendMessage", value: { conversationId: CONVERSATION, clientMessageId: "t-reply-47", content: text("agreed, Thursday it is"), threadRootSeq: ROOT } } },
  },
  {
    id: "valid/deliver/thread-reply",
    description: "A pushed reply: the stored message carries thread_root_seq 40 as sent (THR-1, MSG-7); a version 1.0 device skips the field as unknown.",
    requirements: ["THR-1", "MSG-7", "DLV-1", "SEQ-1"],
    frame: { body: { case: "deliver", value: { cursor: 2_207n, prevCursor: 2_206n, body: { case: "event", value: messageEvent(47n, "u-alice", "t-reply-47", "agreed, Thursday it is", ROOT) } } } },
  },
  {
    id: "valid/sync_conversation/thread",
    description: "sync_conversation of one thread: its root and replies after seq 39, at most 50 (thread_root_seq 5).",
    requirements: ["THR-2", "SYNC-1"],
    frame: { requestId: 111, body: { case: "syncConversation", value: { conversationId: CONVERSATION, afterSeq: 39n, limit: 50, threadRootSeq: ROOT } } },
  },
  {
    id: "valid/conversation_page/thread",
    description: "The page answering a thread's sync: the root (seq 40) and its replies 42, 45 and 47, not consecutive seqs; the redacted reply 45 stays as its tombstone; last_seq is the conversation's (52), has_more false.",
    requirements: ["THR-2", "THR-4", "ACT-4", "SYNC-2"],
    frame: {
      requestId: 111,
      body: {
        case: "conversationPage",
        value: {
          conversationId: CONVERSATION,
          events: [
            messageEvent(ROOT, "u-bob", "m-40", "team dinner: Wednesday or Thursday?"),
            messageEvent(42n, "u-chen", "t-reply-42", "Thursday \ud83c\udf5c", ROOT),
            { conversationId: CONVERSATION, seq: 45n, serverTimeMs: SERVER_TIME_MS + 45_000n, senderUserId: "u-bob", body: { case: "redacted", value: { messageId: `${CONVERSATION}.45`, redactionSeq: 46n } } },
            messageEvent(47n, "u-alice", "t-reply-47", "agreed, Thursday it is", ROOT),
          ],
          lastSeq: 52n,
          firstVisibleSeq: 1n,
        },
      },
    },
  },
  {
    id: "valid/mark_read/thread",
    description: "mark_read of a thread: the user's marker of the thread rooted at seq 40 moves to its reply at seq 47 (thread_root_seq 3).",
    requirements: ["THR-3", "READ-1"],
    frame: { requestId: 112, body: { case: "markRead", value: { conversationId: CONVERSATION, seq: 47n, threadRootSeq: ROOT } } },
  },
  {
    id: "valid/read_marker/thread-answer",
    description: "The read_marker answering a thread's mark_read, with the same thread_root_seq.",
    requirements: ["THR-3", "READ-1"],
    frame: { requestId: 112, body: { case: "readMarker", value: { conversationId: CONVERSATION, seq: 47n, threadRootSeq: ROOT } } },
  },
  {
    id: "valid/deliver/read-marker-thread",
    description: "The moved thread marker as an entry of the user's stream, so its other devices learn it (THR-3, READ-2).",
    requirements: ["THR-3", "READ-2", "DLV-1"],
    frame: { body: { case: "deliver", value: { cursor: 2_208n, prevCursor: 2_207n, body: { case: "readMarker", value: { conversationId: CONVERSATION, seq: 47n, threadRootSeq: ROOT } } } } },
  },
  {
    id: "valid/welcome/threads",
    description: "welcome putting features 1 to 5 in force, FEATURE_THREADS among them, with the two-day edit window FEATURE_MESSAGE_ACTIONS needs.",
    requirements: ["EXT-5", "THR-1", "CONN-2"],
    frame: {
      requestId: 1,
      body: {
        case: "welcome",
        value: featureWelcome([Feature.CONVERSATION_SUMMARIES, Feature.MEMBER_PAGES, Feature.MESSAGE_ACTIONS, Feature.EPHEMERAL, Feature.THREADS]),
      },
    },
  },
  {
    id: "valid/hello/threads",
    description: "hello offering FEATURE_THREADS (5) only.",
    requirements: ["EXT-5", "THR-1", "CONN-2"],
    frame: { requestId: 1, body: { case: "hello", value: { versions: [1], deviceId: "d1", features: [Feature.THREADS] } } },
  },
];
