import { Feature } from "../../../src/gen/imwire/v1/connection_pb.js";
import { featureWelcome } from "./sample-values.js";
import type { ValidFrameDefinition } from "./types.js";

/**
 * Version 1.1 per-member receipts (SPEC.md §16.1, FEATURE_RECEIPTS): the
 * delivery_ack a device sends with its conversation part only (RCPT-1,
 * ACK-6), the delivery_receipt entry that tells a sender who holds its
 * message (RCPT-3), list_receipts and the receipts answering it — members
 * listed in a small group (RCPT-4), counts only in a channel (RCPT-5) — and
 * the handshake that puts the feature in force (EXT-5).
 *
 * The group: u-alice sent seq 42; u-bob asks. The other members, in UTF-8
 * byte order of user id: u-alice (the sender), u-carol, u-dana, u-émile
 * (é is 0xC3 0xA9, after every ASCII letter). Eligible are u-carol, u-dana
 * and u-émile (neither the requester nor the sender): u-carol and u-émile
 * hold seq 42, u-émile has read it.
 */

const GROUP = "conv-g-r3c1";
const CHANNEL = "conv-c-n3ws";
const SEQ = 42n;

export const receiptVectors: ValidFrameDefinition[] = [
  {
    id: "valid/delivery_ack/conversations-only",
    description: "delivery_ack with its conversation part only: the device holds every event of two conversations up to these seqs; cursor 0 (absent) says nothing about the stream (ACK-6), as a device reporting what it holds from pages sends it (version 1.1, FEATURE_RECEIPTS).",
    requirements: ["RCPT-1", "ACK-4", "ACK-6"],
    frame: { body: { case: "deliveryAck", value: { conversations: [{ conversationId: GROUP, seq: SEQ }, { conversationId: CHANNEL, seq: 1_250n }] } } },
  },
  {
    id: "valid/deliver/delivery-receipt",
    description: "A delivery receipt entry of the sender's stream (UserEvent.body delivery_receipt, field 12): a device of u-carol holds the group's events up to seq 42, among them the sender's message (RCPT-3).",
    requirements: ["RCPT-3", "DLV-1"],
    frame: { body: { case: "deliver", value: { cursor: 5_210n, prevCursor: 5_209n, body: { case: "deliveryReceipt", value: { conversationId: GROUP, userId: "u-carol", seq: SEQ } } } } },
  },
  {
    id: "valid/list_receipts/request",
    description: "list_receipts: who of the other members holds and has read the event at seq 42 of a group (RCPT-4).",
    requirements: ["RCPT-4"],
    frame: { requestId: 140, body: { case: "listReceipts", value: { conversationId: GROUP, seq: SEQ } } },
  },
  {
    id: "valid/receipts/members-listed",
    description: "The receipts answering list_receipts in a small group: every member but the requester, in UTF-8 byte order of user id (u-émile last), each with its delivered position (a read marker counted) and read marker; members_listed true; the counts leave out the requester and the event's sender (RCPT-4).",
    requirements: ["RCPT-4", "RCPT-2"],
    frame: {
      requestId: 140,
      body: {
        case: "receipts",
        value: {
          conversationId: GROUP,
          seq: SEQ,
          members: [
            { userId: "u-alice", deliveredSeq: 44n, readSeq: 44n },
            { userId: "u-carol", deliveredSeq: SEQ, readSeq: 40n },
            { userId: "u-dana", deliveredSeq: 41n },
            { userId: "u-\u00e9mile", deliveredSeq: 43n, readSeq: 43n },
          ],
          membersListed: true,
          eligibleCount: 3,
          deliveredCount: 2,
          readCount: 1,
        },
      },
    },
  },
  {
    id: "valid/receipts/counts-only",
    description: "The receipts of a channel: no member listed and members_listed false (absent), since that would tell one subscriber of another; the counts are all a subscriber learns (RCPT-5).",
    requirements: ["RCPT-5", "RCPT-4"],
    frame: { requestId: 141, body: { case: "receipts", value: { conversationId: CHANNEL, seq: 1_250n, eligibleCount: 1_874, deliveredCount: 1_203, readCount: 611 } } },
  },
  {
    id: "valid/welcome/receipts",
    description: "welcome putting features 1 to 8 in force, FEATURE_RECEIPTS among them, with the two-day edit window FEATURE_MESSAGE_ACTIONS needs.",
    requirements: ["EXT-5", "RCPT-1", "CONN-2"],
    frame: {
      requestId: 1,
      body: {
        case: "welcome",
        value: featureWelcome([Feature.CONVERSATION_SUMMARIES, Feature.MEMBER_PAGES, Feature.MESSAGE_ACTIONS, Feature.EPHEMERAL, Feature.THREADS, Feature.HISTORY_VISIBILITY, Feature.DELETE_FOR_ME, Feature.RECEIPTS]),
      },
    },
  },
  {
    id: "valid/hello/receipts",
    description: "hello offering FEATURE_RECEIPTS (8) only.",
    requirements: ["EXT-5", "RCPT-1", "CONN-2"],
    frame: { requestId: 1, body: { case: "hello", value: { versions: [1], deviceId: "d1", features: [Feature.RECEIPTS] } } },
  },
];
