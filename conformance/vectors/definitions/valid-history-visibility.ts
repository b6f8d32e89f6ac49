import { Feature } from "../../../src/gen/imwire/v1/connection_pb.js";
import { ConversationKind, HistoryVisibility, Role } from "../../../src/gen/imwire/v1/conversation_pb.js";
import type { ValidFrameDefinition } from "./types.js";
import { SERVER_TIME_MS, featureWelcome } from "./sample-values.js";

/**
 * Version 1.1 history visibility (SPEC.md §7.1, FEATURE_HISTORY_VISIBILITY):
 * set_history_visibility with each visibility (HIS-1, HIS-2), the
 * conversation_opened answering it, the history_visibility event every
 * member receives (HIS-2), the joined entry of a member added under
 * LAST_EVENTS, whose first_visible_seq opens the 50 events before its ADDED
 * event (HIS-3), and the handshake that puts the feature in force (EXT-5).
 *
 * The group: owned by u-alice, last seq 60; the change to LAST_EVENTS 50 is
 * seq 61, and u-dana is added at seq 62, so it reads from max(1, 62 − 50) = 12.
 */

const CONVERSATION = "conv-g-h1s7";
const CHANGE_SEQ = 61n;
const ADDED_SEQ = 62n;

export const historyVisibilityVectors: ValidFrameDefinition[] = [
  {
    id: "valid/set_history_visibility/last-events",
    description: "set_history_visibility LAST_EVENTS with history_events 50: members added from now on read the 50 events before the one that added them (version 1.1, FEATURE_HISTORY_VISIBILITY).",
    requirements: ["HIS-1", "HIS-2"],
    frame: { requestId: 120, body: { case: "setHistoryVisibility", value: { conversationId: CONVERSATION, visibility: HistoryVisibility.LAST_EVENTS, historyEvents: 50 } } },
  },
  {
    id: "valid/set_history_visibility/full",
    description: "set_history_visibility FULL: members added from now on read from seq 1; history_events 0 (absent).",
    requirements: ["HIS-1", "HIS-2"],
    frame: { requestId: 121, body: { case: "setHistoryVisibility", value: { conversationId: CONVERSATION, visibility: HistoryVisibility.FULL } } },
  },
  {
    id: "valid/set_history_visibility/from-join",
    description: "set_history_visibility FROM_JOIN, version 1's rule and the default, set explicitly.",
    requirements: ["HIS-1", "HIS-2"],
    frame: { requestId: 122, body: { case: "setHistoryVisibility", value: { conversationId: CONVERSATION, visibility: HistoryVisibility.FROM_JOIN } } },
  },
  {
    id: "valid/conversation_opened/history-visibility-answer",
    description: "The conversation_opened answering set_history_visibility LAST_EVENTS 50: the group as its owner sees it after the change (seq 61), history_visibility LAST_EVENTS and history_events 50.",
    requirements: ["HIS-1", "HIS-2", "CONV-7"],
    frame: {
      requestId: 120,
      body: {
        case: "conversationOpened",
        value: {
          conversation: {
            conversationId: CONVERSATION,
            kind: ConversationKind.GROUP,
            title: "Book club",
            role: Role.OWNER,
            firstVisibleSeq: 1n,
            lastSeq: CHANGE_SEQ,
            memberUserIds: ["u-alice", "u-bob", "u-chen"],
            memberCount: 3,
            readSeq: 60n,
            historyVisibility: HistoryVisibility.LAST_EVENTS,
            historyEvents: 50,
          },
        },
      },
    },
  },
  {
    id: "valid/deliver/history-visibility-change",
    description: "The change as the event of the group's sequence every member's devices receive in order: history_visibility LAST_EVENTS, history_events 50, sent by the owner.",
    requirements: ["HIS-2", "DLV-1", "SEQ-1"],
    frame: {
      body: {
        case: "deliver",
        value: {
          cursor: 3_310n,
          prevCursor: 3_309n,
          body: {
            case: "event",
            value: {
              conversationId: CONVERSATION,
              seq: CHANGE_SEQ,
              serverTimeMs: SERVER_TIME_MS + CHANGE_SEQ * 1_000n,
              senderUserId: "u-alice",
              senderDeviceId: "d-laptop",
              body: { case: "historyVisibility", value: { visibility: HistoryVisibility.LAST_EVENTS, historyEvents: 50 } },
            },
          },
        },
      },
    },
  },
  {
    id: "valid/deliver/joined-history-visibility",
    description: "u-dana's joined entry after the ADDED event at seq 62 under LAST_EVENTS 50: first_visible_seq 12 = max(1, 62 − 50); it reads seqs 12 to 61 with sync_conversation (HIS-3).",
    requirements: ["HIS-3", "CONV-7", "CONV-8"],
    frame: {
      body: {
        case: "deliver",
        value: {
          cursor: 518n,
          prevCursor: 517n,
          body: {
            case: "joined",
            value: {
              conversation: {
                conversationId: CONVERSATION,
                kind: ConversationKind.GROUP,
                title: "Book club",
                role: Role.MEMBER,
                firstVisibleSeq: ADDED_SEQ - 50n,
                lastSeq: ADDED_SEQ,
                memberUserIds: ["u-alice", "u-bob", "u-chen", "u-dana"],
                memberCount: 4,
                historyVisibility: HistoryVisibility.LAST_EVENTS,
                historyEvents: 50,
              },
            },
          },
        },
      },
    },
  },
  {
    id: "valid/welcome/history-visibility",
    description: "welcome putting features 1 to 6 in force, FEATURE_HISTORY_VISIBILITY among them, with the two-day edit window FEATURE_MESSAGE_ACTIONS needs.",
    requirements: ["EXT-5", "HIS-1", "CONN-2"],
    frame: {
      requestId: 1,
      body: {
        case: "welcome",
        value: featureWelcome([Feature.CONVERSATION_SUMMARIES, Feature.MEMBER_PAGES, Feature.MESSAGE_ACTIONS, Feature.EPHEMERAL, Feature.THREADS, Feature.HISTORY_VISIBILITY]),
      },
    },
  },
  {
    id: "valid/hello/history-visibility",
    description: "hello offering FEATURE_HISTORY_VISIBILITY (6) only.",
    requirements: ["EXT-5", "HIS-1", "CONN-2"],
    frame: { requestId: 1, body: { case: "hello", value: { versions: [1], deviceId: "d1", features: [Feature.HISTORY_VISIBILITY] } } },
  },
];
