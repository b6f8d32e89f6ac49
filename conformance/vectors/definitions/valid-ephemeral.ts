import { Feature } from "../../../src/gen/imwire/v1/connection_pb.js";
import { DeviceState } from "../../../src/gen/imwire/v1/settings_pb.js";
import type { ValidFrameDefinition } from "./types.js";
import { SERVER_TIME_MS, featureWelcome } from "./sample-values.js";

/**
 * Version 1.1 typing indicators and presence (SPEC.md §15.1,
 * FEATURE_EPHEMERAL): set_typing and the typing it is passed on as, presence
 * online and offline, the presence-sharing request and its answer, the
 * set_device_state that names the conversation a device views, and the
 * handshake that puts the feature in force (EXT-5). set_typing, typing and
 * presence are notices (EPH-1): request id 0, so absent.
 */

const CONVERSATION = "conv-d-7c2a";

export const ephemeralVectors: ValidFrameDefinition[] = [
  {
    id: "valid/set_typing/typing",
    description: "set_typing: the user is typing in a conversation. A notice, with no request id (version 1.1, FEATURE_EPHEMERAL).",
    requirements: ["EPH-1", "EPH-2", "EPH-3", "EXT-5"],
    frame: { body: { case: "setTyping", value: { conversationId: CONVERSATION, typing: true } } },
  },
  {
    id: "valid/set_typing/stopped",
    description: "set_typing with typing false: the user stopped typing. The body holds only conversation_id (false is absent).",
    requirements: ["EPH-1", "EPH-2", "EPH-3", "EXT-5"],
    frame: { body: { case: "setTyping", value: { conversationId: CONVERSATION, typing: false } } },
  },
  {
    id: "valid/typing/typing",
    description: "typing passed on to a device viewing the conversation: the conversation, the user, typing true, and expires_in_ms 6000 (the reference server's).",
    requirements: ["EPH-1", "EPH-2", "EPH-3", "EXT-5"],
    frame: { body: { case: "typing", value: { conversationId: CONVERSATION, userId: "u-alice", typing: true, expiresInMs: 6_000 } } },
  },
  {
    id: "valid/typing/stopped",
    description: "typing false, ending an indicator: typing false and expires_in_ms 0, both absent.",
    requirements: ["EPH-1", "EPH-2", "EPH-3", "EXT-5"],
    frame: { body: { case: "typing", value: { conversationId: CONVERSATION, userId: "u-alice", typing: false, expiresInMs: 0 } } },
  },
  {
    id: "valid/presence/online",
    description: "presence: a contact came online; last_seen_ms is 0 while online, so absent.",
    requirements: ["EPH-1", "EPH-4", "EXT-5"],
    frame: { body: { case: "presence", value: { userId: "u-bob", online: true } } },
  },
  {
    id: "valid/presence/offline",
    description: "presence: a contact went offline, with last_seen_ms the server's time of its last device leaving (an int64, a JSON string).",
    requirements: ["EPH-1", "EPH-4", "EXT-5"],
    frame: { body: { case: "presence", value: { userId: "u-bob", online: false, lastSeenMs: SERVER_TIME_MS + 42_517n } } },
  },
  {
    id: "valid/presence/offline-hidden",
    description: "presence offline with last_seen_ms 0, as sent once when a contact hides its presence: only user_id is present.",
    requirements: ["EPH-1", "EPH-4", "EPH-5", "EXT-5"],
    frame: { body: { case: "presence", value: { userId: "u-bob", online: false, lastSeenMs: 0n } } },
  },
  {
    id: "valid/set_presence_sharing/hidden",
    description: "set_presence_sharing with hidden true: stop sharing the user's presence (a request).",
    requirements: ["EPH-5", "EXT-5"],
    frame: { requestId: 95, body: { case: "setPresenceSharing", value: { hidden: true } } },
  },
  {
    id: "valid/set_presence_sharing/shared",
    description: "set_presence_sharing with hidden false: share it again. The body is empty and present (9a 02 00).",
    requirements: ["EPH-5", "EXT-5"],
    frame: { requestId: 96, body: { case: "setPresenceSharing", value: { hidden: false } } },
  },
  {
    id: "valid/presence_sharing/answer",
    description: "presence_sharing answering set_presence_sharing with the user's setting, hidden true.",
    requirements: ["EPH-5", "EXT-5"],
    frame: { requestId: 95, body: { case: "presenceSharing", value: { hidden: true } } },
  },
  {
    id: "valid/set_device_state/viewing-conversation",
    description: "set_device_state in the foreground naming the conversation the device shows (viewing_conversation_id), whose typing it then receives.",
    requirements: ["EPH-2", "RECV-5", "EXT-5"],
    frame: { requestId: 82, body: { case: "setDeviceState", value: { state: DeviceState.FOREGROUND, viewingConversationId: CONVERSATION } } },
  },
  {
    id: "valid/welcome/ephemeral",
    description: "welcome putting features 1 to 4 in force (conversation summaries, member pages, message actions and FEATURE_EPHEMERAL), with the two-day edit window FEATURE_MESSAGE_ACTIONS needs.",
    requirements: ["EXT-5", "EPH-1", "CONN-2"],
    frame: {
      requestId: 1,
      body: {
        case: "welcome",
        value: featureWelcome([Feature.CONVERSATION_SUMMARIES, Feature.MEMBER_PAGES, Feature.MESSAGE_ACTIONS, Feature.EPHEMERAL]),
      },
    },
  },
  {
    id: "valid/hello/ephemeral",
    description: "hello offering FEATURE_EPHEMERAL (4) only.",
    requirements: ["EXT-5", "EPH-1", "CONN-2"],
    frame: { requestId: 1, body: { case: "hello", value: { versions: [1], deviceId: "d1", features: [Feature.EPHEMERAL] } } },
  },
];
