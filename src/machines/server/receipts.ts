import { create } from "@bufbuild/protobuf";
import { ConversationKind } from "../../gen/imwire/v1/conversation_pb.js";
import { DeliveryReceiptSchema, MemberReceiptSchema, ReceiptsSchema, type ConversationAck, type ListReceipts, type Receipts } from "../../gen/imwire/v1/delivery_pb.js";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import { deliveredMarkerKey } from "../../store/store.js";
import type { Connection } from "./connection.js";
import type { ServerCore } from "./core.js";
import { checkId, compareCodePoints, toNumber } from "./ids.js";
import { RequestError } from "./request-error.js";

/** RCPT-3: how far back a long move looks for the senders to tell. */
const SENDER_LOOKBACK = 100;

/**
 * RCPT-2, RCPT-3: a device says it holds these conversations up to these
 * seqs (ACK-4, already checked against what the user may read). The user's
 * delivered position moves forward only; each sender of a message the move
 * covers is told, in conversations small enough for receipts.
 */
export function noteDelivered(core: ServerCore, userId: string, acks: readonly ConversationAck[]): void {
  const { store } = core;
  for (const ack of acks) {
    const conversation = store.conversation(ack.conversationId);
    if (!conversation) continue;
    const key = deliveredMarkerKey(conversation.conversationId);
    const before = store.readMarker(userId, key);
    const seq = toNumber(ack.seq);
    if (seq <= before) continue;
    store.setReadMarker(userId, key, seq);
    if (!sendsReceipts(core, conversation.conversationId, conversation.kind)) continue;
    const receipt = create(DeliveryReceiptSchema, { conversationId: conversation.conversationId, userId, seq: ack.seq });
    for (const sender of sendersBetween(core, conversation.conversationId, before, seq)) {
      if (sender === userId) continue;
      const membership = store.membership(conversation.conversationId, sender);
      if (!membership || membership.lastVisibleSeq !== 0) continue;
      core.appendUserEntry(sender, { case: "deliveryReceipt", value: receipt });
    }
  }
}

/** RCPT-4, RCPT-5: who of the other members holds and has read the event at seq. */
export function listReceipts(core: ServerCore, connection: Connection, request: ListReceipts): Receipts {
  const { store } = core;
  checkId(request.conversationId, "conversation_id");
  const conversation = store.conversation(request.conversationId);
  if (!conversation) throw new RequestError(ErrorCode.NOT_FOUND, `no conversation ${request.conversationId}`, "RCPT-4");
  const { conversationId, kind } = conversation;
  const me = connection.userId;
  const membership = store.membership(conversationId, me);
  if (!membership) throw new RequestError(ErrorCode.PERMISSION_DENIED, "not a member", "RCPT-4");
  const everyoneSees = kind === ConversationKind.CHANNEL;
  const firstVisible = everyoneSees ? 1 : membership.firstVisibleSeq;
  const readable = membership.lastVisibleSeq || store.lastSeq(conversationId);
  const seq = toNumber(request.seq);
  if (seq < firstVisible || seq > readable) throw new RequestError(ErrorCode.INVALID_ARGUMENT, `seq ${request.seq} is not one the user may read (${firstVisible} to ${readable})`, "RCPT-4");
  const sender = store.event(conversationId, seq)?.senderUserId ?? "";
  const exclude = sender === "" || sender === me ? [me] : [me, sender];
  const counts = store.receiptCounts(conversationId, seq, exclude, everyoneSees);
  const listed = sendsReceipts(core, conversationId, kind);
  const members = listed ? memberReceipts(core, conversationId, me) : [];
  return create(ReceiptsSchema, {
    conversationId,
    seq: request.seq,
    members,
    membersListed: listed,
    eligibleCount: counts.eligible,
    deliveredCount: counts.delivered,
    readCount: counts.read,
  });
}

/** RCPT-3, RCPT-5, READ-4: per-member receipts only in direct conversations and groups within the bound. */
function sendsReceipts(core: ServerCore, conversationId: string, kind: ConversationKind): boolean {
  return kind !== ConversationKind.CHANNEL && core.store.memberCount(conversationId) <= core.options.readReceiptMaxMembers;
}

function memberReceipts(core: ServerCore, conversationId: string, me: string) {
  const { store } = core;
  const deliveredKey = deliveredMarkerKey(conversationId);
  const userIds = store
    .members(conversationId)
    .map((m) => m.userId)
    .filter((u) => u !== me)
    .sort(compareCodePoints); // code point order is UTF-8 byte order (CONV-10)
  return userIds.map((userId) => {
    const readSeq = store.readMarker(userId, conversationId);
    const deliveredSeq = Math.max(readSeq, store.readMarker(userId, deliveredKey));
    return create(MemberReceiptSchema, { userId, deliveredSeq: BigInt(deliveredSeq), readSeq: BigInt(readSeq) });
  });
}

/** RCPT-3: the distinct senders of the messages after `after` up to `until`, looking at most SENDER_LOOKBACK events back. */
function sendersBetween(core: ServerCore, conversationId: string, after: number, until: number): Set<string> {
  const from = Math.max(after, until - SENDER_LOOKBACK);
  const senders = new Set<string>();
  for (const event of core.store.events(conversationId, from, until, SENDER_LOOKBACK)) {
    if (event.body.case === "message") senders.add(event.senderUserId);
  }
  return senders;
}
