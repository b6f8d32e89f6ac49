import { ConversationKind, Role } from "../../../src/gen/imwire/v1/conversation_pb.js";
import { MembershipAction } from "../../../src/gen/imwire/v1/message_pb.js";
import { ReceiveMode } from "../../../src/gen/imwire/v1/settings_pb.js";
import type { ValidFrameDefinition } from "./types.js";
import { patternBytes, SERVER_TIME_MS, U64_MAX } from "./sample-values.js";

/** The user stream (deliver with every entry kind), acknowledgements, read markers, and sync. */

const textMessage = {
  messageId: "msg-77",
  clientMessageId: "m-77",
  content: { kind: { case: "text" as const, value: { text: "see you at 8 \ud83d\udd57" } } },
  replyToSeq: 75n,
  mentions: [{ userId: "u-bob", offset: 0, length: 3 }],
};

const groupConversation = {
  conversationId: "conv-g-5b1e",
  kind: ConversationKind.GROUP,
  title: "Climbing \ud83e\uddd7",
  role: Role.OWNER,
  firstVisibleSeq: 1n,
  lastSeq: 120n,
  memberUserIds: ["u-alice", "u-bob", "u-chen"],
  memberCount: 3,
  receiveMode: ReceiveMode.MUTED,
  readSeq: 118n,
};

export const deliveryVectors: ValidFrameDefinition[] = [
  {
    id: "valid/deliver/message-text",
    description: "A pushed conversation event carrying a text message, with sender, time, reply and mention.",
    requirements: ["DLV-1", "CUR-3", "SEQ-1", "MSG-7"],
    frame: {
      body: {
        case: "deliver",
        value: {
          cursor: 1001n,
          prevCursor: 998n,
          body: { case: "event", value: { conversationId: "c1", seq: 77n, serverTimeMs: SERVER_TIME_MS, senderUserId: "u-alice", senderDeviceId: "d-phone", body: { case: "message", value: textMessage } } },
        },
      },
    },
  },
  {
    id: "valid/deliver/message-encrypted",
    description: "A pushed encrypted message: the ciphertext arrives byte for byte as sent.",
    requirements: ["DLV-1", "MSG-4", "MSG-7"],
    frame: {
      body: {
        case: "deliver",
        value: {
          cursor: 1002n,
          prevCursor: 1001n,
          body: {
            case: "event",
            value: {
              conversationId: "c1",
              seq: 78n,
              senderUserId: "u-bob",
              body: { case: "message", value: { messageId: "msg-78", content: { kind: { case: "encrypted", value: { scheme: "mls", ciphertext: patternBytes(64, 11), keyId: Uint8Array.of(9) } } } } },
            },
          },
        },
      },
    },
  },
  {
    id: "valid/deliver/membership-created",
    description: "The first event of a group: CREATED with its members and title.",
    requirements: ["CONV-3", "CONV-6"],
    frame: {
      body: {
        case: "deliver",
        value: {
          cursor: 5n,
          prevCursor: 4n,
          body: { case: "event", value: { conversationId: "conv-g-5b1e", seq: 1n, serverTimeMs: SERVER_TIME_MS, senderUserId: "u-alice", body: { case: "membership", value: { action: MembershipAction.CREATED, userIds: ["u-alice", "u-bob", "u-chen"], title: "Climbing \ud83e\uddd7" } } } },
        },
      },
    },
  },
  {
    id: "valid/deliver/membership-added",
    description: "An ADDED event listing the users who joined.",
    requirements: ["CONV-4", "CONV-6"],
    frame: {
      body: { case: "deliver", value: { cursor: 6n, prevCursor: 5n, body: { case: "event", value: { conversationId: "conv-g-5b1e", seq: 2n, senderUserId: "u-bob", body: { case: "membership", value: { action: MembershipAction.ADDED, userIds: ["u-dana"] } } } } } },
    },
  },
  {
    id: "valid/deliver/membership-left",
    description: "A LEFT event with the leaver as sender and sole user.",
    requirements: ["CONV-5", "CONV-6"],
    frame: {
      body: { case: "deliver", value: { cursor: 7n, prevCursor: 6n, body: { case: "event", value: { conversationId: "conv-g-5b1e", seq: 3n, senderUserId: "u-chen", body: { case: "membership", value: { action: MembershipAction.LEFT, userIds: ["u-chen"] } } } } } },
    },
  },
  {
    id: "valid/deliver/notify",
    description: "The notify form of an event: conversation and seq, no content.",
    requirements: ["RECV-2", "RECV-3"],
    frame: { body: { case: "deliver", value: { cursor: 8n, prevCursor: 7n, body: { case: "notify", value: { conversationId: "c1", seq: 79n } } } } },
  },
  {
    id: "valid/deliver/joined",
    description: "A joined entry whose conversation sets every Conversation field.",
    requirements: ["CONV-7", "CONV-8"],
    frame: { body: { case: "deliver", value: { cursor: 9n, prevCursor: 8n, body: { case: "joined", value: { conversation: groupConversation, created: true } } } } },
  },
  {
    id: "valid/deliver/left",
    description: "A left entry with the last seq the user may still read.",
    requirements: ["CONV-7", "CONV-8"],
    frame: { body: { case: "deliver", value: { cursor: 10n, prevCursor: 9n, body: { case: "left", value: { conversationId: "conv-g-5b1e", lastVisibleSeq: 121n } } } } },
  },
  {
    id: "valid/deliver/receive-settings",
    description: "A receive-settings entry: a conversation switched to notify-only.",
    requirements: ["RECV-4"],
    frame: { body: { case: "deliver", value: { cursor: 11n, prevCursor: 10n, body: { case: "receiveSettings", value: { conversationId: "c1", mode: ReceiveMode.NOTIFY_ONLY } } } } },
  },
  {
    id: "valid/deliver/read-marker",
    description: "A read-marker entry: the user's own marker moved.",
    requirements: ["READ-2"],
    frame: { body: { case: "deliver", value: { cursor: 12n, prevCursor: 11n, body: { case: "readMarker", value: { conversationId: "c1", seq: 79n } } } } },
  },
  {
    id: "valid/deliver/read-receipt",
    description: "A read receipt: another member read up to a seq.",
    requirements: ["READ-3"],
    frame: { body: { case: "deliver", value: { cursor: 13n, prevCursor: 12n, body: { case: "readReceipt", value: { conversationId: "c1", userId: "u-bob", seq: 79n } } } } },
  },
  {
    id: "valid/deliver/cursor-extremes",
    description: "cursor at the largest uint64 with prev_cursor one below it.",
    requirements: ["CUR-2", "CUR-3"],
    frame: { body: { case: "deliver", value: { cursor: U64_MAX, prevCursor: U64_MAX - 1n, body: { case: "notify", value: { conversationId: "c1", seq: U64_MAX } } } } },
  },
  {
    id: "valid/deliver/first-entry",
    description: "The first entry a fresh device receives: prev_cursor 0 is absent on the wire and in JSON.",
    requirements: ["CUR-3"],
    frame: { body: { case: "deliver", value: { cursor: 1n, body: { case: "readMarker", value: { conversationId: "c1" } } } } },
  },
  {
    id: "valid/delivery_ack/empty",
    description: "An acknowledgement with no fields: the body is present but empty (2a 00).",
    requirements: ["ACK-3"],
    frame: { body: { case: "deliveryAck", value: {} } },
  },
  {
    id: "valid/delivery_ack/cursor",
    description: "A cumulative stream acknowledgement.",
    requirements: ["ACK-1"],
    frame: { body: { case: "deliveryAck", value: { cursor: 1002n } } },
  },
  {
    id: "valid/delivery_ack/with-conversations",
    description: "A stream acknowledgement with per-conversation positions.",
    requirements: ["ACK-1", "ACK-4"],
    frame: {
      body: {
        case: "deliveryAck",
        value: { cursor: 1002n, conversations: [{ conversationId: "c1", seq: 79n }, { conversationId: "conv-g-5b1e", seq: 3n }, { conversationId: "c9", seq: U64_MAX }] },
      },
    },
  },
  {
    id: "valid/mark_read/request",
    description: "Move the read marker of a conversation.",
    requirements: ["READ-1"],
    frame: { requestId: 31, body: { case: "markRead", value: { conversationId: "c1", seq: 79n } } },
  },
  {
    id: "valid/read_marker/answer",
    description: "The answer to mark_read: the resulting marker.",
    requirements: ["READ-1"],
    frame: { requestId: 31, body: { case: "readMarker", value: { conversationId: "c1", seq: 79n } } },
  },
  {
    id: "valid/read_marker/nothing-read",
    description: "A read marker at seq 0 (nothing read): only the conversation is on the wire.",
    requirements: ["READ-1"],
    frame: { requestId: 32, body: { case: "readMarker", value: { conversationId: "c2" } } },
  },
  {
    id: "valid/sync_conversation/minimal",
    description: "Sync a conversation from its start with the server's default page size.",
    requirements: ["SYNC-1"],
    frame: { requestId: 40, body: { case: "syncConversation", value: { conversationId: "c1" } } },
  },
  {
    id: "valid/sync_conversation/range",
    description: "Sync a bounded range of a conversation.",
    requirements: ["SYNC-1", "SYNC-2", "SEQ-3"],
    frame: { requestId: 41, body: { case: "syncConversation", value: { conversationId: "c1", afterSeq: 75n, limit: 1000, untilSeq: 78n } } },
  },
  {
    id: "valid/conversation_page/events",
    description: "A page of consecutive events, a membership change and messages, with more to come.",
    requirements: ["SYNC-1", "SYNC-2"],
    frame: {
      requestId: 41,
      body: {
        case: "conversationPage",
        value: {
          conversationId: "conv-g-5b1e",
          events: [
            { conversationId: "conv-g-5b1e", seq: 1n, senderUserId: "u-alice", body: { case: "membership", value: { action: MembershipAction.CREATED, userIds: ["u-alice", "u-bob"] } } },
            { conversationId: "conv-g-5b1e", seq: 2n, senderUserId: "u-bob", senderDeviceId: "d-laptop", serverTimeMs: SERVER_TIME_MS, body: { case: "message", value: textMessage } },
            { conversationId: "conv-g-5b1e", seq: 3n, senderUserId: "u-alice", body: { case: "message", value: { messageId: "msg-3", content: { kind: { case: "sticker", value: { stickerId: "fox-wave" } } } } } },
          ],
          hasMore: true,
          lastSeq: 120n,
          firstVisibleSeq: 1n,
        },
      },
    },
  },
  {
    id: "valid/conversation_page/empty",
    description: "An empty last page: nothing after the requested seq.",
    requirements: ["SYNC-2", "SYNC-6", "SEQ-5"],
    frame: { requestId: 42, body: { case: "conversationPage", value: { conversationId: "c1", lastSeq: 79n, firstVisibleSeq: 12n } } },
  },
  {
    id: "valid/sync_user/fresh-device",
    description: "A fresh device's sync: no cursor and no epoch, so the body is empty.",
    requirements: ["SYNC-3", "SYNC-4", "SYNC-5"],
    frame: { requestId: 50, body: { case: "syncUser", value: {} } },
  },
  {
    id: "valid/sync_user/after-cursor",
    description: "Sync the user stream after a cursor of an epoch, with a page size.",
    requirements: ["SYNC-3", "CUR-4"],
    frame: { requestId: 51, body: { case: "syncUser", value: { afterCursor: 998n, epoch: "ep-2025-11-27", limit: 200 } } },
  },
  {
    id: "valid/user_page/entries",
    description: "A page of stream entries of different kinds, with more to come and the head cursor.",
    requirements: ["SYNC-3", "CUR-3"],
    frame: {
      requestId: 51,
      body: {
        case: "userPage",
        value: {
          events: [
            { cursor: 999n, prevCursor: 998n, body: { case: "event", value: { conversationId: "c1", seq: 76n, senderUserId: "u-bob", body: { case: "message", value: { messageId: "msg-76", content: { kind: { case: "text", value: { text: "ok" } } } } } } } },
            { cursor: 1000n, prevCursor: 999n, body: { case: "notify", value: { conversationId: "c7", seq: 4n } } },
            { cursor: 1001n, prevCursor: 1000n, body: { case: "left", value: { conversationId: "c8", lastVisibleSeq: 9n } } },
          ],
          hasMore: true,
          headCursor: 1300n,
        },
      },
    },
  },
  {
    id: "valid/user_page/snapshot",
    description: "A snapshot instead of entries: epoch, cursor, conversations (one left earlier) and the default receive mode.",
    requirements: ["SYNC-4", "CUR-4"],
    frame: {
      requestId: 52,
      body: {
        case: "userPage",
        value: {
          headCursor: 1300n,
          snapshot: {
            epoch: "ep-2025-11-28",
            cursor: 1300n,
            conversations: [groupConversation, { conversationId: "c8", kind: ConversationKind.DIRECT, role: Role.MEMBER, firstVisibleSeq: 1n, lastVisibleSeq: 9n, lastSeq: 9n, memberUserIds: ["u-alice", "u-erin"], memberCount: 2 }],
            defaultReceiveMode: ReceiveMode.NOTIFY_ONLY,
          },
        },
      },
    },
  },
  {
    id: "valid/user_page/snapshot-first-of-pages",
    description: "The first page of a snapshot too large for one frame: its conversations end at continue_after.",
    requirements: ["SYNC-7", "SYNC-4"],
    frame: {
      requestId: 54,
      body: {
        case: "userPage",
        value: {
          headCursor: 1300n,
          snapshot: { epoch: "ep-2025-11-28", cursor: 1300n, conversations: [groupConversation], defaultReceiveMode: ReceiveMode.NOTIFY_ONLY, continueAfter: groupConversation.conversationId },
        },
      },
    },
  },
  {
    id: "valid/sync_user/snapshot-continuation",
    description: "Ask for the next snapshot page: the same epoch, and snapshot_after from the last page.",
    requirements: ["SYNC-7"],
    frame: { requestId: 55, body: { case: "syncUser", value: { afterCursor: 1300n, epoch: "ep-2025-11-28", snapshotAfter: groupConversation.conversationId } } },
  },
  {
    id: "valid/user_page/empty",
    description: "An empty page with has_more false: nothing more is there.",
    requirements: ["SYNC-6"],
    frame: { requestId: 53, body: { case: "userPage", value: { headCursor: 1001n } } },
  },
];
