import { ConversationKind, Role } from "../../../src/gen/imwire/v1/conversation_pb.js";
import { DeviceState, ReceiveMode } from "../../../src/gen/imwire/v1/settings_pb.js";
import type { ValidFrameDefinition } from "./types.js";

/** Conversations (the five forms of open_conversation, CONV-1), member pages (CONV-10), leaving, receive settings and device state. */

export const conversationVectors: ValidFrameDefinition[] = [
  {
    id: "valid/open_conversation/create-direct",
    description: "Create (or find) the one-to-one conversation with a peer.",
    requirements: ["CONV-1", "CONV-2"],
    frame: { requestId: 60, body: { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["u-bob"] } } },
  },
  {
    id: "valid/open_conversation/create-group",
    description: "Create a group with members, a title and an idempotency key.",
    requirements: ["CONV-1", "CONV-3", "IDEM-6"],
    frame: { requestId: 61, body: { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: ["u-bob", "u-chen"], title: "Climbing \ud83e\uddd7", clientConversationId: "cc-01J9ZQ" } } },
  },
  {
    id: "valid/open_conversation/create-channel",
    description: "Create a broadcast channel.",
    requirements: ["CONV-1", "CONV-3", "IDEM-6"],
    frame: { requestId: 62, body: { case: "openConversation", value: { kind: ConversationKind.CHANNEL, title: "Release notes", clientConversationId: "cc-01J9ZR" } } },
  },
  {
    id: "valid/open_conversation/subscribe",
    description: "Subscribe to a channel by id.",
    requirements: ["CONV-1", "CONV-4"],
    frame: { requestId: 63, body: { case: "openConversation", value: { conversationId: "ch-releases" } } },
  },
  {
    id: "valid/open_conversation/add-members",
    description: "Add members to a group by id.",
    requirements: ["CONV-1", "CONV-4"],
    frame: { requestId: 64, body: { case: "openConversation", value: { conversationId: "conv-g-5b1e", userIds: ["u-dana", "u-erin"] } } },
  },
  {
    id: "valid/open_conversation/empty",
    description: "open_conversation with no fields: well formed (no field is required); the server answers it with an error.",
    requirements: ["CONV-1", "ENV-5"],
    frame: { requestId: 65, body: { case: "openConversation", value: {} } },
  },
  {
    id: "valid/conversation_opened/created-group",
    description: "The answer creating a group, from the owner's view.",
    requirements: ["CONV-3", "CONV-7"],
    frame: {
      requestId: 61,
      body: {
        case: "conversationOpened",
        value: { created: true, conversation: { conversationId: "conv-g-5b1e", kind: ConversationKind.GROUP, title: "Climbing \ud83e\uddd7", role: Role.OWNER, firstVisibleSeq: 1n, lastSeq: 1n, memberUserIds: ["u-alice", "u-bob", "u-chen"], memberCount: 3 } },
      },
    },
  },
  {
    id: "valid/conversation_opened/channel-subscriber",
    description: "A channel as a subscriber sees it: no member list, a subscriber count, a receive mode.",
    requirements: ["CONV-4", "SEC-7"],
    frame: {
      requestId: 63,
      body: {
        case: "conversationOpened",
        value: { conversation: { conversationId: "ch-releases", kind: ConversationKind.CHANNEL, title: "Release notes", role: Role.SUBSCRIBER, firstVisibleSeq: 1n, lastSeq: 4_211n, memberCount: 1_250_000, receiveMode: ReceiveMode.NOTIFY_ONLY } },
      },
    },
  },
  {
    id: "valid/conversation_opened/paged-group",
    description: "A group above the inline limit: members_paged set, member_user_ids empty (CONV-9, LIM-9), and its events under read fan-out (CUR-7).",
    requirements: ["CONV-9", "LIM-9", "CUR-7"],
    frame: {
      requestId: 64,
      body: {
        case: "conversationOpened",
        value: { conversation: { conversationId: "conv-g-big", kind: ConversationKind.GROUP, title: "All hands", role: Role.MEMBER, firstVisibleSeq: 2_040n, lastSeq: 151_204n, memberCount: 150_000, readFanOut: true, membersPaged: true } },
      },
    },
  },
  {
    id: "valid/list_members/first-page",
    description: "Ask for the first page of a group's members: after_user_id empty, limit 0 for the server's default.",
    requirements: ["CONV-10", "EXT-5"],
    frame: { requestId: 90, body: { case: "listMembers", value: { conversationId: "conv-g-big" } } },
  },
  {
    id: "valid/list_members/next-page",
    description: "Ask for the page after a member's user id, at the largest limit (1,000).",
    requirements: ["CONV-10", "LIM-5"],
    frame: { requestId: 91, body: { case: "listMembers", value: { conversationId: "conv-g-big", afterUserId: "u-chen", limit: 1_000 } } },
  },
  {
    id: "valid/member_page/more-follow",
    description: "A page of members in ascending user id with role and joined_seq; continue_after names the last, so more follow.",
    requirements: ["CONV-10", "CONV-9"],
    frame: {
      requestId: 90,
      body: {
        case: "memberPage",
        value: {
          conversationId: "conv-g-big",
          members: [
            { userId: "u-alice", role: Role.OWNER, joinedSeq: 1n },
            { userId: "u-bob", role: Role.MEMBER, joinedSeq: 1n },
            { userId: "u-chen", role: Role.MEMBER, joinedSeq: 2_040n },
          ],
          continueAfter: "u-chen",
          memberCount: 150_000,
          lastSeq: 151_204n,
        },
      },
    },
  },
  {
    id: "valid/member_page/last-page-utf8-order",
    description: "The last page (continue_after empty), in UTF-8 byte order: U+FF2B comes before U+1F9D7, where UTF-16 code units would put it after.",
    requirements: ["CONV-10"],
    frame: {
      requestId: 91,
      body: {
        case: "memberPage",
        value: {
          conversationId: "conv-g-big",
          members: [
            { userId: "u-zoe", role: Role.MEMBER, joinedSeq: 9_310n },
            { userId: "u-\u00e9mile", role: Role.MEMBER, joinedSeq: 12_001n },
            { userId: "u-\uff2b", role: Role.MEMBER, joinedSeq: 12_002n },
            { userId: "u-\ud83e\uddd7", role: Role.MEMBER, joinedSeq: 151_200n },
          ],
          memberCount: 150_000,
          lastSeq: 151_204n,
        },
      },
    },
  },
  {
    id: "valid/member_page/channel",
    description: "A channel's members as its owner reads them: joined_seq 0 (absent), since subscriptions are not events (CONV-6).",
    requirements: ["CONV-10", "CONV-6", "SEC-7"],
    frame: {
      requestId: 92,
      body: {
        case: "memberPage",
        value: { conversationId: "ch-releases", members: [{ userId: "u-alice", role: Role.OWNER }, { userId: "u-bob", role: Role.SUBSCRIBER }], continueAfter: "u-bob", memberCount: 1_250_000, lastSeq: 4_211n },
      },
    },
  },
  {
    id: "valid/leave_conversation/request",
    description: "Leave a group.",
    requirements: ["CONV-5"],
    frame: { requestId: 66, body: { case: "leaveConversation", value: { conversationId: "conv-g-5b1e" } } },
  },
  {
    id: "valid/conversation_left/answer",
    description: "The answer to leave_conversation.",
    requirements: ["CONV-5"],
    frame: { requestId: 66, body: { case: "conversationLeft", value: { conversationId: "conv-g-5b1e", lastVisibleSeq: 122n } } },
  },
  {
    id: "valid/set_receive_settings/account-default",
    description: "Set the account default (empty conversation id) to notify-only.",
    requirements: ["RECV-1"],
    frame: { requestId: 70, body: { case: "setReceiveSettings", value: { settings: { mode: ReceiveMode.NOTIFY_ONLY } } } },
  },
  {
    id: "valid/set_receive_settings/override",
    description: "Mute one conversation.",
    requirements: ["RECV-1", "RECV-2"],
    frame: { requestId: 71, body: { case: "setReceiveSettings", value: { settings: { conversationId: "c1", mode: ReceiveMode.MUTED } } } },
  },
  {
    id: "valid/set_receive_settings/clear-override",
    description: "Clear a conversation's override: mode UNSPECIFIED is absent on the wire.",
    requirements: ["RECV-1"],
    frame: { requestId: 72, body: { case: "setReceiveSettings", value: { settings: { conversationId: "c1" } } } },
  },
  {
    id: "valid/set_receive_settings/settings-present-but-empty",
    description: "The required settings message is present with no fields (ca 01 02 0a 00): present is enough for ENV-5.",
    requirements: ["RECV-1", "ENV-5"],
    frame: { requestId: 73, body: { case: "setReceiveSettings", value: { settings: {} } } },
  },
  {
    id: "valid/receive_settings/answer",
    description: "The stored setting, answering set_receive_settings.",
    requirements: ["RECV-1"],
    frame: { requestId: 71, body: { case: "receiveSettings", value: { conversationId: "c1", mode: ReceiveMode.FULL } } },
  },
  {
    id: "valid/set_device_state/background-with-push",
    description: "Go to the background and register a push endpoint.",
    requirements: ["RECV-5"],
    frame: { requestId: 80, body: { case: "setDeviceState", value: { state: DeviceState.BACKGROUND, pushService: "apns", pushToken: "a1b2c3d4e5f6" } } },
  },
  {
    id: "valid/set_device_state/foreground",
    description: "Return to the foreground.",
    requirements: ["RECV-5"],
    frame: { requestId: 81, body: { case: "setDeviceState", value: { state: DeviceState.FOREGROUND } } },
  },
  {
    id: "valid/device_state_set/answer",
    description: "The answer to set_device_state.",
    requirements: ["RECV-5"],
    frame: { requestId: 80, body: { case: "deviceStateSet", value: { state: DeviceState.BACKGROUND } } },
  },
];
