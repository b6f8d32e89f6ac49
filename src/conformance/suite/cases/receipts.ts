import { Feature as WireFeature } from "../../../gen/imwire/v1/connection_pb.js";
import { ConversationKind } from "../../../gen/imwire/v1/conversation_pb.js";
import type { Receipts } from "../../../gen/imwire/v1/delivery_pb.js";
import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import type { Frame } from "../../../gen/imwire/v1/frame_pb.js";
import type { Session, TestContext } from "../context.js";
import { Unsupported, type ConformanceTest } from "../types.js";
import { check, eventPush, freshKey, group as newGroup, push, send, text } from "./helpers.js";

/**
 * Per-member receipts (SPEC.md §16.1, version 1.1): delivered positions kept
 * per member from the devices' conversation acknowledgements (RCPT-2),
 * delivery_receipt entries to the senders (RCPT-3, a SHOULD), list_receipts
 * with members in small conversations and counts always (RCPT-4), none
 * listed in channels or above the receipt bound (RCPT-5); negotiated as
 * FEATURE_RECEIPTS (EXT-5). Unsupported where not in force.
 */

const groupName = "receipts";
const RECEIPTS = WireFeature.RECEIPTS;
/** The largest receipt bound the above-the-bound test builds a group past: each member is a user the runner registers. */
const REACHABLE_BOUND = 30;

async function featured(t: TestContext, ...names: string[]): Promise<Session[]> {
  const sessions = await Promise.all(names.map((name) => t.connect(t.user(name), "d1", { features: [RECEIPTS] })));
  if (!sessions[0]!.welcome.features.includes(RECEIPTS)) throw new Unsupported("the server does not put FEATURE_RECEIPTS in force (EXT-5)");
  return sessions;
}

/**
 * Members are listed only in conversations within the receipt bound: a
 * profile that declares a bound below `members` leaves nothing to check.
 * Undeclared, the bound is taken to be at least the handful these tests use.
 */
function listsMembersOf(t: TestContext, members: number): void {
  const bound = t.target.limits?.receiptMembers;
  if (bound !== undefined && bound < members) throw new Unsupported(`limits.receiptMembers ${bound}: a conversation of ${members} members gets counts only`);
}

/**
 * The device holds the conversation up to `seq` (ACK-4, with no cursor part:
 * ACK-6). A delivery_ack is not answered, so a request on the same
 * connection after it is the barrier: the server has taken the ack in when
 * it answers.
 */
async function holds(t: TestContext, session: Session, conversationId: string, seq: bigint): Promise<void> {
  session.conn.send({ case: "deliveryAck", value: { conversations: [{ conversationId, seq }] } }, 0);
  await t.ask(session, { case: "syncConversation", value: { conversationId, limit: 1 } }, "conversationPage", "SYNC-1");
}

function receipts(t: TestContext, session: Session, conversationId: string, seq: bigint): Promise<Receipts> {
  return t.ask(session, { case: "listReceipts", value: { conversationId, seq } }, "receipts", "RCPT-4");
}

const json = (value: unknown) => JSON.stringify(value, (_, v: unknown) => (typeof v === "bigint" ? `${v}` : v));
const counts = (r: Receipts) => `eligible ${r.eligibleCount}, delivered ${r.deliveredCount}, read ${r.readCount}`;

/** The listed entry of `userId` as "delivered/read", or "not listed". */
function positionOf(r: Receipts, userId: string): string {
  const member = r.members.find((m) => m.userId === userId);
  return member ? `${member.deliveredSeq}/${member.readSeq}` : "not listed";
}

/** Register users (authenticate once each) so that they can be added to a group. */
async function register(t: TestContext, userIds: readonly string[]): Promise<void> {
  await Promise.all(
    userIds.map(async (userId) => {
      const conn = await t.open();
      await t.hello(conn, "d1");
      t.answerOf(await conn.request({ case: "authenticate", value: { token: await t.token(userId, "d1") } }, t.timeoutMs), "authenticated", "AUTH-1");
      conn.close();
    }),
  );
}

/** UTF-8 byte order (CONV-10). */
const utf8Order = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

export const receiptTests: ConformanceTest[] = [
  {
    id: "RCPT-2/delivered-position-kept",
    requirements: ["RCPT-2", "RCPT-4", "ACK-4", "ACK-6"],
    level: "required",
    group: groupName,
    title: "a member's delivered position is the greatest seq any of its devices acknowledged (feature in force or not), never moves back for a lower ack, and a read marker above it counts as delivered",
    async run(t) {
      listsMembersOf(t, 3);
      const [a, b, c] = await featured(t, "a", "b", "c");
      const id = await newGroup(t, a!, [b!, c!]);
      const [s1, s2, s3] = [(await send(t, a!, id, text("one"))).seq, (await send(t, a!, id, text("two"))).seq, (await send(t, a!, id, text("three"))).seq];

      await holds(t, b!, id, s2);
      const first = await receipts(t, a!, id, s2);
      check(first.membersListed && positionOf(first, b!.userId) === `${s2}/0`, "RCPT-2", `${b!.userId} listed as holding #${s2} (delivered ${s2}, read 0)`, () => json(first));
      check(positionOf(first, c!.userId) === "0/0", "RCPT-2", `${c!.userId}, which acknowledged nothing of it, at 0/0`, () => json(first));
      check(first.eligibleCount === 2 && first.deliveredCount === 1 && first.readCount === 0, "RCPT-4", `at #${s2}: eligible 2, delivered 1, read 0`, () => counts(first));

      await holds(t, b!, id, s1);
      const lower = await receipts(t, a!, id, s1);
      check(positionOf(lower, b!.userId) === `${s2}/0`, "RCPT-2", `${b!.userId} still at ${s2} after acknowledging the lower #${s1}: the position never moves back`, () => json(lower));
      check(lower.deliveredCount === 1, "RCPT-4", `at #${s1}: delivered 1`, () => counts(lower));

      // Another device of b's, without the feature: its acknowledgements count all the same.
      const plain = await t.connect(b!.userId, "d2");
      await holds(t, plain, id, s3);
      const other = await receipts(t, a!, id, s3);
      check(positionOf(other, b!.userId) === `${s3}/0`, "RCPT-2", `${b!.userId} at ${s3}, acknowledged by a device without FEATURE_RECEIPTS`, () => json(other));

      const s4 = (await send(t, a!, id, text("four"))).seq;
      await t.ask(c!, { case: "markRead", value: { conversationId: id, seq: s4 } }, "readMarker", "READ-1");
      const read = await receipts(t, a!, id, s4);
      check(positionOf(read, c!.userId) === `${s4}/${s4}`, "RCPT-2", `${c!.userId}, which read up to #${s4} and acknowledged nothing, at ${s4}/${s4}: reading is holding`, () => json(read));
      check(positionOf(read, b!.userId) === `${s3}/0`, "RCPT-2", `${b!.userId} still at ${s3}/0`, () => json(read));
      check(read.eligibleCount === 2 && read.deliveredCount === 1 && read.readCount === 1, "RCPT-4", `at #${s4}: eligible 2, delivered 1 (the reader), read 1`, () => counts(read));
    },
  },
  {
    id: "RCPT-3/delivery-receipt-to-the-sender",
    requirements: ["RCPT-3", "RCPT-2"],
    level: "recommended",
    group: groupName,
    title: "in a small group, a member's acknowledgement tells the senders of the messages it covers (delivery_receipt naming the member and the seq), and a member who sent none of them is told nothing",
    async run(t) {
      listsMembersOf(t, 3);
      const [a, b, c] = await featured(t, "a", "b", "c");
      const id = await newGroup(t, a!, [b!, c!]);
      const receiptOf = (f: Frame) => f.body.case === "deliver" && f.body.value.body.case === "deliveryReceipt" && f.body.value.body.value.conversationId === id;

      const s1 = (await send(t, a!, id, text("from a"))).seq;
      await holds(t, b!, id, s1);
      const toA = await push(t, a!, (e) => e.body.case === "deliveryReceipt" && e.body.value.conversationId === id, "RCPT-3", `a delivery_receipt ${id}: ${b!.userId} holds #${s1}`);
      check(toA.body.case === "deliveryReceipt" && toA.body.value.userId === b!.userId && toA.body.value.seq === s1, "RCPT-3", `delivery_receipt naming ${b!.userId} at #${s1}`, () => json(toA.body.value));
      // Barrier on c's stream: its own message, appended after b's acknowledgement; a receipt appended with the acknowledgement comes before it.
      const s2 = (await send(t, c!, id, text("from c"))).seq;
      await push(t, c!, eventPush(id, s2), "CONV-6", `the entry for #${s2} on ${c!.userId}`);
      await t.expectNothing(c!.conn, receiptOf, "RCPT-3", `no delivery_receipt to ${c!.userId}: it sent none of the messages up to #${s1}`);

      // Now the move from s1 to s2 covers c's message only: c is told, a is not.
      await holds(t, b!, id, s2);
      const toC = await push(t, c!, (e) => e.body.case === "deliveryReceipt" && e.body.value.conversationId === id, "RCPT-3", `a delivery_receipt ${id}: ${b!.userId} holds #${s2}`);
      check(toC.body.case === "deliveryReceipt" && toC.body.value.userId === b!.userId && toC.body.value.seq === s2, "RCPT-3", `delivery_receipt naming ${b!.userId} at #${s2}`, () => json(toC.body.value));
      const s3 = (await send(t, c!, id, text("barrier"))).seq;
      await push(t, a!, eventPush(id, s3), "CONV-6", `the entry for #${s3} on ${a!.userId}`);
      await t.expectNothing(a!.conn, receiptOf, "RCPT-3", `no second delivery_receipt to ${a!.userId}: its message was not among those after #${s1} up to #${s2}`);
    },
  },
  {
    id: "RCPT-4/members-in-utf8-order-and-counts",
    requirements: ["RCPT-4", "RCPT-2", "CONV-10"],
    level: "required",
    group: groupName,
    title: "list_receipts lists every member but the requester, in UTF-8 byte order of user id, and counts among the members other than the requester and the event's sender",
    async run(t) {
      listsMembersOf(t, 4);
      // In UTF-8 order Mia < ａ (U+FF41) < 🐬 (U+1F42C); UTF-16 code units put 🐬 (0xD83D) before ａ, and a locale order puts Mia after ａ.
      const [req, mia, wide, dolphin] = await featured(t, "req", "Mia", "\uff41", "\u{1f42c}");
      const id = await newGroup(t, req!, [dolphin!, mia!, wide!]);
      const sent = (await send(t, mia!, id, text("from Mia"))).seq;
      await holds(t, wide!, id, sent);
      await t.ask(dolphin!, { case: "markRead", value: { conversationId: id, seq: sent } }, "readMarker", "READ-1");

      const answer = await receipts(t, req!, id, sent);
      const expected = [mia!, wide!, dolphin!].map((s) => s.userId).sort(utf8Order);
      check(answer.conversationId === id && answer.seq === sent, "RCPT-4", `receipts for ${id}#${sent}`, () => `${answer.conversationId}#${answer.seq}`);
      check(answer.membersListed && json(answer.members.map((m) => m.userId)) === json(expected), "RCPT-4", `members_listed, members ${json(expected)} (UTF-8 byte order, the requester left out)`, () => json(answer));
      check(positionOf(answer, wide!.userId) === `${sent}/0` && positionOf(answer, dolphin!.userId) === `${sent}/${sent}`, "RCPT-2", `${wide!.userId} at ${sent}/0 (acknowledged), ${dolphin!.userId} at ${sent}/${sent} (read)`, () => json(answer));
      check(answer.eligibleCount === 2 && answer.deliveredCount === 2 && answer.readCount === 1, "RCPT-4", "eligible 2 (neither the requester nor the sender), delivered 2, read 1", () => counts(answer));

      // The sender asking about its own message: only it is left out.
      const own = await receipts(t, mia!, id, sent);
      const others = [req!, wide!, dolphin!].map((s) => s.userId).sort(utf8Order);
      check(own.membersListed && json(own.members.map((m) => m.userId)) === json(others), "RCPT-4", `members ${json(others)}, the requester (the sender) left out`, () => json(own));
      check(own.eligibleCount === 3 && own.deliveredCount === 2 && own.readCount === 1, "RCPT-4", "eligible 3, delivered 2, read 1", () => counts(own));
    },
  },
  {
    id: "RCPT-4/only-members-and-readable-seqs",
    requirements: ["RCPT-4", "CONV-8"],
    level: "required",
    group: groupName,
    title: "list_receipts from a non-member is PERMISSION_DENIED, for a seq beyond the newest or before a late member's first_visible_seq INVALID_ARGUMENT, for an unknown conversation NOT_FOUND; a member added later is not counted for what came before",
    async run(t) {
      const [a, b, outsider, late] = await featured(t, "a", "b", "out", "late");
      const id = await newGroup(t, a!, [b!]);
      const sent = (await send(t, a!, id, text("hi"))).seq;
      const refuse = async (session: Session, conversationId: string, seq: bigint, code: ErrorCode) => {
        const requestId = session.conn.send({ case: "listReceipts", value: { conversationId, seq } });
        await t.expectErrorFrom(session.conn, [code], "RCPT-4", { requestId, closing: false });
      };
      await refuse(outsider!, id, sent, ErrorCode.PERMISSION_DENIED);
      await refuse(a!, id, sent + 10n, ErrorCode.INVALID_ARGUMENT);
      await refuse(a!, `no-such-${id}`, 1n, ErrorCode.NOT_FOUND);

      await t.ask(a!, { case: "openConversation", value: { conversationId: id, userIds: [late!.userId] } }, "conversationOpened", "CONV-4");
      const view = (await t.ask(late!, { case: "openConversation", value: { conversationId: id } }, "conversationOpened", "CONV-4")).conversation!;
      if (view.firstVisibleSeq > sent) {
        await refuse(late!, id, sent, ErrorCode.INVALID_ARGUMENT);
        const before = await receipts(t, a!, id, sent);
        check(before.eligibleCount === 1, "RCPT-4", `eligible 1 at #${sent}: ${late!.userId}, which reads from #${view.firstVisibleSeq}, may not read it`, () => counts(before));
      }
    },
  },
  {
    id: "RCPT-5/channel-counts-only",
    requirements: ["RCPT-5", "RCPT-4", "RCPT-3", "SEC-7"],
    level: "required",
    group: groupName,
    needs: ["channels"],
    title: "a channel's receipts list no member (members_listed false) to the owner or a subscriber, but give the counts; the owner is sent no delivery_receipt",
    async run(t) {
      const [owner, fan, reader] = await featured(t, "owner", "fan", "reader");
      const created = await t.ask(owner!, { case: "openConversation", value: { kind: ConversationKind.CHANNEL, title: "news", clientConversationId: freshKey("ch") } }, "conversationOpened", "CONV-3");
      const id = created.conversation!.conversationId;
      for (const s of [fan!, reader!]) await t.ask(s, { case: "openConversation", value: { conversationId: id } }, "conversationOpened", "CONV-4");
      const post = (await send(t, owner!, id, text("news"))).seq;
      await holds(t, fan!, id, post);
      await t.ask(reader!, { case: "markRead", value: { conversationId: id, seq: post } }, "readMarker", "READ-1");

      const ownerView = await receipts(t, owner!, id, post);
      check(!ownerView.membersListed && ownerView.members.length === 0, "RCPT-5", "no member listed to the owner, members_listed false", () => json(ownerView));
      check(ownerView.eligibleCount === 2 && ownerView.deliveredCount === 2 && ownerView.readCount === 1, "RCPT-5", "the owner's counts: eligible 2, delivered 2, read 1", () => counts(ownerView));
      const fanView = await receipts(t, fan!, id, post);
      check(!fanView.membersListed && fanView.members.length === 0, "RCPT-5", "no member listed to a subscriber, members_listed false", () => json(fanView));
      check(fanView.eligibleCount === 1 && fanView.deliveredCount === 1 && fanView.readCount === 1, "RCPT-5", "the subscriber's counts: eligible 1 (the other subscriber), delivered 1, read 1", () => counts(fanView));

      // Barrier on the owner's stream: its own read marker entry, appended after the subscriber's acknowledgement.
      await t.ask(owner!, { case: "markRead", value: { conversationId: id, seq: post } }, "readMarker", "READ-1");
      await push(t, owner!, (e) => e.body.case === "readMarker" && e.body.value.conversationId === id, "READ-2", `the owner's read_marker ${id}#${post}`);
      const receipt = (f: Frame) => f.body.case === "deliver" && f.body.value.body.case === "deliveryReceipt" && f.body.value.body.value.conversationId === id;
      await t.expectNothing(owner!.conn, receipt, "SEC-7", `no delivery_receipt of the channel ${id} to its owner: it would tell of a subscriber`);
    },
  },
  {
    id: "RCPT-5/above-the-bound-counts-only",
    requirements: ["RCPT-5", "RCPT-4"],
    level: "required",
    group: groupName,
    title: "a group of limits.receiptMembers members has its members listed; one member more and list_receipts gives counts only (members_listed false), still counting who holds and who read",
    async run(t) {
      const bound = t.limit("receiptMembers");
      if (bound < 3) throw new Unsupported(`limits.receiptMembers ${bound}: a group of three is already above it`);
      if (bound > REACHABLE_BOUND) throw new Unsupported(`limits.receiptMembers ${bound}: more members than this test registers (${REACHABLE_BOUND + 1})`);
      const maxGroup = t.target.limits?.maxGroupSize;
      if (maxGroup !== undefined && maxGroup <= bound) throw new Unsupported(`limits.maxGroupSize ${maxGroup} leaves no room above receiptMembers ${bound}`);
      const [a, b, c] = await featured(t, "a", "b", "c");
      const fillers = Array.from({ length: bound - 2 }, (_, i) => t.user(`f${i}`));
      await register(t, fillers);
      const batch = Math.max(2, Math.min(t.target.limits?.maxInlineMembers ?? 8, 8));
      const atBound = [b!.userId, ...fillers.slice(0, bound - 2)];
      const opened = await t.ask(a!, { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: atBound.slice(0, batch - 1), title: "bound", clientConversationId: freshKey("g") } }, "conversationOpened", "CONV-3");
      const id = opened.conversation!.conversationId;
      for (let i = batch - 1; i < atBound.length; i += batch) await t.ask(a!, { case: "openConversation", value: { conversationId: id, userIds: atBound.slice(i, i + batch) } }, "conversationOpened", "CONV-4");

      const first = (await send(t, a!, id, text("within the bound"))).seq;
      const within = await receipts(t, a!, id, first);
      check(within.membersListed && within.members.length === bound - 1, "RCPT-4", `a group of ${bound} members (limits.receiptMembers): members_listed, ${bound - 1} members`, () => `members_listed ${within.membersListed}, ${within.members.length} members`);

      await t.ask(a!, { case: "openConversation", value: { conversationId: id, userIds: [c!.userId] } }, "conversationOpened", "CONV-4");
      const post = (await send(t, a!, id, text("above the bound"))).seq;
      await holds(t, b!, id, post);
      await t.ask(c!, { case: "markRead", value: { conversationId: id, seq: post } }, "readMarker", "READ-1");
      const above = await receipts(t, a!, id, post);
      check(!above.membersListed && above.members.length === 0, "RCPT-5", `a group of ${bound + 1} members: no member listed, members_listed false`, () => json(above));
      check(above.eligibleCount === bound && above.deliveredCount === 2 && above.readCount === 1, "RCPT-5", `counts still given: eligible ${bound} (all but the requester, the sender), delivered 2, read 1`, () => counts(above));
    },
  },
];
