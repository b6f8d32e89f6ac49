import { Feature as WireFeature } from "../../../gen/imwire/v1/connection_pb.js";
import type { UserEvent } from "../../../gen/imwire/v1/delivery_pb.js";
import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import type { ConversationEvent, SendAck } from "../../../gen/imwire/v1/message_pb.js";
import type { ConversationPage } from "../../../gen/imwire/v1/sync_pb.js";
import type { Session, TestContext } from "../context.js";
import type { FrameBody } from "../scripted-connection.js";
import { Unsupported, type ConformanceTest } from "../types.js";
import { check, freshKey, group as newGroup, push, send, text, type Content } from "./helpers.js";

/**
 * Threads (SPEC.md §8.2, version 1.1): replies sent into a root message's
 * thread (THR-1), read alone (THR-2) and marked read apart (THR-3), under
 * message actions as any message (THR-4); negotiated as FEATURE_THREADS
 * (EXT-5). Every THR test offers the feature and is unsupported where the
 * server does not put it in force; THR-4 also needs FEATURE_MESSAGE_ACTIONS.
 */

const groupName = "threads";
const THREADS = WireFeature.THREADS;
const ACTIONS = WireFeature.MESSAGE_ACTIONS;
const json = (value: unknown) => JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? String(v) : v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v));

/** Sessions of new users offering `features` (FEATURE_THREADS first); unsupported unless the server puts each in force (EXT-5). */
async function featured(t: TestContext, names: readonly string[], features: readonly WireFeature[] = [THREADS]): Promise<Session[]> {
  const sessions = await Promise.all(names.map((name) => t.connect(t.user(name), "d1", { features })));
  const inForce = sessions[0]!.welcome.features;
  for (const feature of features) {
    if (!inForce.includes(feature)) throw new Unsupported(`the server does not put FEATURE_${WireFeature[feature]} in force (EXT-5)`);
  }
  return sessions;
}

/** send_message into the thread rooted at `root` (THR-1). */
function reply(t: TestContext, session: Session, conversationId: string, root: bigint, content: Content = text("a reply"), clientMessageId = freshKey("re")): Promise<SendAck> {
  return t.ask(session, { case: "sendMessage", value: { conversationId, clientMessageId, content, threadRootSeq: root } }, "sendAck", "THR-1");
}

/** A request answered with an error of `codes`, the connection kept. */
async function refused(t: TestContext, session: Session, body: FrameBody, codes: readonly ErrorCode[], requirement: string): Promise<void> {
  const requestId = session.conn.send(body);
  await t.expectErrorFrom(session.conn, codes, requirement, { requestId, closing: false });
}

const replyBody = (conversationId: string, root: bigint): FrameBody => ({ case: "sendMessage", value: { conversationId, clientMessageId: freshKey("no"), content: text("refused"), threadRootSeq: root } });
const threadBody = (conversationId: string, root: bigint, afterSeq = 0n, limit = 0, untilSeq = 0n): FrameBody => ({ case: "syncConversation", value: { conversationId, threadRootSeq: root, afterSeq, limit, untilSeq } });

/** One thread page (THR-2). */
function threadPage(t: TestContext, session: Session, conversationId: string, root: bigint, afterSeq = 0n, limit = 0, untilSeq = 0n): Promise<ConversationPage> {
  return t.ask(session, threadBody(conversationId, root, afterSeq, limit, untilSeq), "conversationPage", "THR-2");
}

/** The whole conversation as `session` may read it (SYNC-1). */
async function history(t: TestContext, session: Session, conversationId: string): Promise<{ events: ConversationEvent[]; lastSeq: bigint }> {
  const events: ConversationEvent[] = [];
  for (let after = 0n, pages = 0; ; pages++) {
    check(pages < 1_000, "SYNC-1", "an end to the conversation pages", () => "more than 1,000 pages");
    const page = await t.ask(session, { case: "syncConversation", value: { conversationId, afterSeq: after } }, "conversationPage", "SYNC-1");
    events.push(...page.events);
    if (!page.hasMore || page.events.length === 0) return { events, lastSeq: page.lastSeq };
    after = page.events.at(-1)!.seq;
  }
}

const lastSeqOf = async (t: TestContext, session: Session, conversationId: string) => (await t.ask(session, { case: "syncConversation", value: { conversationId, afterSeq: 0n, limit: 1 } }, "conversationPage", "SYNC-1")).lastSeq;
const seqs = (page: ConversationPage) => page.events.map((e) => e.seq).join(",");
const list = (values: readonly bigint[]) => values.join(",");
const threadOf = (event: ConversationEvent | undefined) => (event?.body.case === "message" ? event.body.value.threadRootSeq : undefined);
const markerOf = (conversationId: string, threadRootSeq: bigint) => (e: UserEvent) => e.body.case === "readMarker" && e.body.value.conversationId === conversationId && e.body.value.threadRootSeq === threadRootSeq;

export const threadTests: ConformanceTest[] = [
  {
    id: "THR-1/root-is-a-readable-message-not-a-reply",
    requirements: ["THR-1", "CONV-8", "IDEM-5"],
    level: "required",
    group: groupName,
    title: "a reply whose thread_root_seq names a reply, a membership event, a seq beyond the newest, or (for a member added later) a message before its first_visible_seq is INVALID_ARGUMENT and appends nothing; a reply to a readable message is accepted",
    async run(t) {
      const [a, b, late] = await featured(t, ["a", "b", "late"]);
      const id = await newGroup(t, a!, [b!]);
      const root = await send(t, a!, id, text("the root"));
      const first = await reply(t, b!, id, root.seq);
      await t.ask(a!, { case: "openConversation", value: { conversationId: id, userIds: [late!.userId] } }, "conversationOpened", "CONV-4");
      const after = await send(t, a!, id, text("after the join"));
      const before = await lastSeqOf(t, a!, id);
      for (const [session, target, what] of [
        [a!, first.seq, "a reply (threads are one level deep)"],
        [a!, 1n, "the CREATED event"],
        [a!, before + 1n, "a seq beyond the newest"],
        [a!, before + 1_000n, "a seq far beyond the newest"],
        [late!, root.seq, "a message before the sender's first_visible_seq"],
      ] as const) {
        const requestId = session.conn.send(replyBody(id, target));
        const frame = await t.nextOrViolation(session.conn, (f) => f.requestId === requestId, "THR-1", [`error ERROR_CODE_INVALID_ARGUMENT for a thread rooted at ${what} (#${target})`]);
        t.expectError(frame, [ErrorCode.INVALID_ARGUMENT], `THR-1 (root ${what}, #${target})`, false);
      }
      const now = await lastSeqOf(t, a!, id);
      check(now === before, "IDEM-5", `last_seq still ${before}: refused replies append nothing`, () => `last_seq ${now}`);
      const fine = await reply(t, late!, id, after.seq);
      check(fine.seq === before + 1n, "THR-1", `the late member's reply to #${after.seq}, which it may read, at #${before + 1n}`, () => json(fine));
    },
  },
  {
    id: "THR-1/replies-carry-their-root",
    requirements: ["THR-1", "MSG-7", "ENV-6", "DLV-1"],
    level: "required",
    group: groupName,
    title: "a reply is one event of the conversation: pushed to the other members and synced with thread_root_seq as sent; a device that did not offer FEATURE_THREADS may send a reply too, and receives replies as messages",
    async run(t) {
      const [a, b] = await featured(t, ["a", "b"]);
      const old = await t.connect(t.user("old"), "d1");
      const id = await newGroup(t, a!, [b!, old]);
      const root = await send(t, a!, id, text("the root"));
      const sent = await reply(t, a!, id, root.seq, text("reply one"));
      check(sent.seq === root.seq + 1n, "SEQ-1", `the reply at #${root.seq + 1n}: one sequence`, () => json(sent));
      const oldReply = await reply(t, old, id, root.seq, text("reply from a version 1.0 device"));
      for (const [member, seq] of [[b!, sent.seq], [old, sent.seq], [b!, oldReply.seq], [a!, oldReply.seq]] as const) {
        const entry = await push(t, member, (e) => (e.body.case === "event" || e.body.case === "notify") && e.body.value.conversationId === id && e.body.value.seq === seq, "DLV-1", `the push of ${id}#${seq}`);
        if (entry.body.case !== "event") continue;
        check(threadOf(entry.body.value) === root.seq, "THR-1", `${member.userId}/${member.deviceId} pushed #${seq}: a message with thread_root_seq ${root.seq}`, () => json(entry.body.value));
      }
      const { events } = await history(t, b!, id);
      for (const seq of [sent.seq, oldReply.seq]) {
        const event = events.find((e) => e.seq === seq);
        check(threadOf(event) === root.seq && event?.body.case === "message" && event.body.value.messageId !== "", "THR-1", `#${seq} synced: a message with thread_root_seq ${root.seq}`, () => json(event ?? "no such event"));
      }
      check(threadOf(events.find((e) => e.seq === root.seq)) === 0n, "THR-1", `the root #${root.seq} itself is no reply (thread_root_seq 0)`, () => json(events.find((e) => e.seq === root.seq)));
    },
  },
  {
    id: "THR-2/thread-page-root-and-replies-only",
    requirements: ["THR-2", "SYNC-1", "SYNC-2", "SYNC-6"],
    level: "required",
    group: groupName,
    title: "sync_conversation with thread_root_seq answers the root and its replies only, ascending, after after_seq and up to until_seq, with the conversation's last_seq; paged by limit with has_more exact (false when the thread ends, though the conversation goes on); a reply, the CREATED event or a seq beyond the newest as root is INVALID_ARGUMENT",
    async run(t) {
      const [a, b] = await featured(t, ["a", "b"]);
      const id = await newGroup(t, a!, [b!]);
      const root = await send(t, a!, id, text("the root"));
      const other = await send(t, b!, id, text("another root"));
      const replies: bigint[] = [];
      replies.push((await reply(t, b!, id, root.seq)).seq);
      await send(t, a!, id, text("unrelated"));
      await reply(t, a!, id, other.seq, text("a reply of the other thread"));
      replies.push((await reply(t, a!, id, root.seq)).seq);
      replies.push((await reply(t, b!, id, root.seq)).seq);
      await reply(t, b!, id, other.seq, text("another reply of the other thread"));
      await send(t, a!, id, text("unrelated, after the thread's last reply"));
      const lastSeq = await lastSeqOf(t, a!, id);
      const thread = [root.seq, ...replies];

      const whole = await threadPage(t, b!, id, root.seq);
      check(seqs(whole) === list(thread) && !whole.hasMore && whole.lastSeq === lastSeq, "THR-2", `the thread #${list(thread)}, has_more false, last_seq ${lastSeq} (the conversation's)`, () => `#${seqs(whole)}, has_more ${whole.hasMore}, last_seq ${whole.lastSeq}`);
      for (const event of whole.events.slice(1)) check(threadOf(event) === root.seq, "THR-2", `#${event.seq}: a reply with thread_root_seq ${root.seq}`, () => json(event));

      // Paged two at a time: the root and the first reply, then the last two replies — and has_more false there, with events after.
      const chain: bigint[] = [];
      let after = 0n;
      for (let pages = 0; ; pages++) {
        check(pages < 10, "THR-2", "an end to the thread pages", () => `more than 10 pages: #${list(chain)}`);
        const page = await threadPage(t, a!, id, root.seq, after, 2);
        check(page.events.length <= 2, "SYNC-2", "at most 2 events (limit 2)", () => `#${seqs(page)}`);
        chain.push(...page.events.map((e) => e.seq));
        const remaining = thread.filter((s) => s > (page.events.at(-1)?.seq ?? after)).length;
        check(page.hasMore === remaining > 0, "THR-2", `has_more ${remaining > 0} after #${page.events.at(-1)?.seq ?? after}: ${remaining} thread events remain (has_more counts the thread, not the conversation)`, () => `#${seqs(page)}, has_more ${page.hasMore}`);
        if (!page.hasMore || page.events.length === 0) break;
        after = page.events.at(-1)!.seq;
      }
      check(list(chain) === list(thread), "THR-2", `the pages together: #${list(thread)}`, () => `#${list(chain)}`);

      const past = await threadPage(t, a!, id, root.seq, root.seq);
      check(seqs(past) === list(replies) && !past.hasMore, "THR-2", `after_seq ${root.seq}: the replies #${list(replies)} without the root`, () => `#${seqs(past)}, has_more ${past.hasMore}`);
      const until = await threadPage(t, a!, id, root.seq, 0n, 0, replies[1]!);
      check(seqs(until) === list(thread.slice(0, 3)) && !until.hasMore, "THR-2", `until_seq ${replies[1]}: #${list(thread.slice(0, 3))}, has_more false`, () => `#${seqs(until)}, has_more ${until.hasMore}`);
      const end = await threadPage(t, a!, id, root.seq, replies.at(-1)!);
      check(end.events.length === 0 && !end.hasMore, "SYNC-6", `after the last reply: an empty page, has_more false`, () => `#${seqs(end)}, has_more ${end.hasMore}`);
      const otherThread = await threadPage(t, a!, id, other.seq);
      check(otherThread.events.length === 3 && otherThread.events[0]!.seq === other.seq && otherThread.events.slice(1).every((e) => threadOf(e) === other.seq), "THR-2", `the other thread: #${other.seq} and its two replies`, () => `#${seqs(otherThread)}`);

      for (const [target, what] of [[replies[0]!, "a reply"], [1n, "the CREATED event"], [lastSeq + 1n, "a seq beyond the newest"]] as const) {
        const requestId = b!.conn.send(threadBody(id, target));
        const frame = await t.nextOrViolation(b!.conn, (f) => f.requestId === requestId, "THR-2", [`error ERROR_CODE_INVALID_ARGUMENT for a thread rooted at ${what} (#${target})`]);
        t.expectError(frame, [ErrorCode.INVALID_ARGUMENT], `THR-2 (root ${what}, #${target})`, false);
      }
    },
  },
  {
    id: "THR-2/thread-page-members-only",
    requirements: ["THR-2", "SYNC-1", "CONV-8"],
    level: "required",
    group: groupName,
    title: "a thread page for a user who never belonged is PERMISSION_DENIED, for an unknown conversation NOT_FOUND; a member added after the root may not read its thread (INVALID_ARGUMENT), but reads a thread rooted after it joined",
    async run(t) {
      const [a, b, outsider, late] = await featured(t, ["a", "b", "out", "late"]);
      const id = await newGroup(t, a!, [b!]);
      const root = await send(t, a!, id, text("the root"));
      await reply(t, b!, id, root.seq);
      await refused(t, outsider!, threadBody(id, root.seq), [ErrorCode.PERMISSION_DENIED], "THR-2");
      await refused(t, a!, threadBody(`${id}-nowhere`, 2n), [ErrorCode.NOT_FOUND], "THR-2");
      await t.ask(a!, { case: "openConversation", value: { conversationId: id, userIds: [late!.userId] } }, "conversationOpened", "CONV-4");
      const view = (await t.ask(late!, { case: "openConversation", value: { conversationId: id } }, "conversationOpened", "CONV-4")).conversation!;
      if (view.firstVisibleSeq <= root.seq) throw new Unsupported(`the late member may read from #${view.firstVisibleSeq}, the root #${root.seq} included (the group's history is open to newcomers: HIS-3)`);
      await refused(t, late!, threadBody(id, root.seq), [ErrorCode.INVALID_ARGUMENT], "THR-2");
      const newer = await send(t, a!, id, text("a root after the join"));
      const answer = await reply(t, late!, id, newer.seq);
      const page = await threadPage(t, late!, id, newer.seq);
      check(seqs(page) === list([newer.seq, answer.seq]), "THR-2", `the late member's thread page: #${newer.seq},${answer.seq}`, () => `#${seqs(page)}`);
      // A former member reads up to its last_visible_seq (CONV-8): a root sent after it left is not one it may read.
      await t.ask(b!, { case: "leaveConversation", value: { conversationId: id } }, "conversationLeft", "CONV-5");
      const afterLeaving = await send(t, a!, id, text("a root after b left"));
      await refused(t, b!, threadBody(id, afterLeaving.seq), [ErrorCode.INVALID_ARGUMENT], "THR-2");
    },
  },
  {
    id: "THR-3/thread-marker-its-own",
    requirements: ["THR-3", "READ-1", "READ-2", "READ-3"],
    level: "required",
    group: groupName,
    title: "mark_read with thread_root_seq is answered with that thread_root_seq, moves forward only, reaches the user's other device's stream, gives no read receipt and leaves the conversation's marker where it was; the conversation's own mark_read answers thread_root_seq 0; a seq beyond the readable or a reply as root is INVALID_ARGUMENT",
    async run(t) {
      const [a, b] = await featured(t, ["a", "b"]);
      const id = await newGroup(t, a!, [b!]);
      const other = await t.connect(a!.userId, "d2", { features: [THREADS] });
      const root = await send(t, b!, id, text("the root"));
      const r1 = await reply(t, b!, id, root.seq);
      const r2 = await reply(t, b!, id, root.seq);
      const mark = (seq: bigint, threadRootSeq = root.seq) => t.ask(a!, { case: "markRead", value: { conversationId: id, seq, threadRootSeq } }, "readMarker", "THR-3");

      const moved = await mark(r2.seq);
      check(moved.conversationId === id && moved.seq === r2.seq && moved.threadRootSeq === root.seq, "THR-3", `read_marker ${id}@${r2.seq} with thread_root_seq ${root.seq}`, () => json(moved));
      const entry = await push(t, other, markerOf(id, root.seq), "THR-3", `a read_marker of thread #${root.seq} in the stream of ${a!.userId}'s other device`);
      check(entry.body.case === "readMarker" && entry.body.value.seq === r2.seq, "THR-3", `the other device's read_marker at ${r2.seq}`, () => json(entry.body));
      await t.expectNothing(b!.conn, (f) => f.body.case === "deliver" && f.body.value.body.case === "readReceipt" && f.body.value.body.value.conversationId === id, "THR-3", "no read_receipt for a thread marker");

      // Marking where the marker already is moves nothing, so appends nothing (checked by the next entry below).
      const same = await mark(r2.seq);
      check(same.seq === r2.seq && same.threadRootSeq === root.seq, "THR-3", `marking ${r2.seq} again answered with the thread's marker ${r2.seq}`, () => json(same));
      const back = await mark(r1.seq);
      check(back.seq === r2.seq && back.threadRootSeq === root.seq, "THR-3", `marking ${r1.seq} answered with the thread's marker ${r2.seq}: it never moves back`, () => json(back));
      const conversation = (await t.ask(a!, { case: "openConversation", value: { conversationId: id } }, "conversationOpened", "CONV-4")).conversation!;
      check(conversation.readSeq === 0n, "THR-3", "the conversation's read_seq still 0: a thread's marker is kept apart", () => `read_seq ${conversation.readSeq}`);

      const own = await t.ask(a!, { case: "markRead", value: { conversationId: id, seq: root.seq } }, "readMarker", "READ-1");
      check(own.seq === root.seq && own.threadRootSeq === 0n, "READ-1", `the conversation's read_marker ${root.seq}, thread_root_seq 0`, () => json(own));
      const ownEntry = await push(t, other, markerOf(id, 0n), "READ-2", `the conversation's read_marker in the stream of ${a!.userId}'s other device`);
      check(ownEntry.body.case === "readMarker" && ownEntry.body.value.seq === root.seq, "READ-2", `the conversation's read_marker at ${root.seq}`, () => json(ownEntry.body));
      // The backward thread mark appended nothing: the next thread entry the other device sees is a later move.
      const further = await reply(t, b!, id, root.seq);
      await mark(further.seq);
      const next = await push(t, other, markerOf(id, root.seq), "THR-3", `a read_marker of thread #${root.seq} at ${further.seq}`);
      check(next.body.case === "readMarker" && next.body.value.seq === further.seq, "THR-3", `the next thread read_marker the other device sees is at ${further.seq} (marking ${r2.seq} again and ${r1.seq} moved nothing, so appended nothing)`, () => json(next.body));

      const last = await lastSeqOf(t, a!, id);
      await refused(t, a!, { case: "markRead", value: { conversationId: id, seq: last + 1n, threadRootSeq: root.seq } }, [ErrorCode.INVALID_ARGUMENT], "THR-3");
      await refused(t, a!, { case: "markRead", value: { conversationId: id, seq: r2.seq, threadRootSeq: r1.seq } }, [ErrorCode.INVALID_ARGUMENT], "THR-3");
      await refused(t, a!, { case: "markRead", value: { conversationId: id, seq: 1n, threadRootSeq: 1n } }, [ErrorCode.INVALID_ARGUMENT], "THR-3");
    },
  },
  {
    id: "THR-4/actions-on-replies-and-roots",
    requirements: ["THR-4", "THR-2", "ACT-4", "ACT-3"],
    level: "required",
    group: groupName,
    title: "with FEATURE_MESSAGE_ACTIONS too: an edited reply keeps its thread_root_seq and its thread; a redacted reply stays in its thread page as its tombstone; a redacted root keeps its thread — its tombstone first, its replies, and new replies accepted",
    async run(t) {
      const [a, b] = await featured(t, ["a", "b"], [THREADS, ACTIONS]);
      const id = await newGroup(t, a!, [b!]);
      const root = await send(t, a!, id, text("the root"));
      const kept = await reply(t, b!, id, root.seq, text("a reply to edit"));
      const gone = await reply(t, b!, id, root.seq, text("a reply to redact"));
      const act = (session: Session, targetSeq: bigint, action: Extract<FrameBody, { case: "actOnMessage" }>["value"]["action"]) =>
        t.ask(session, { case: "actOnMessage", value: { conversationId: id, clientMessageId: freshKey("act"), targetSeq, action } }, "sendAck", "THR-4");
      const editOfKept = await act(b!, kept.seq, { case: "edit", value: text("a reply, edited") });
      const redaction = await act(b!, gone.seq, { case: "redact", value: {} });

      const page = await threadPage(t, a!, id, root.seq);
      const shape = page.events.map((e) => `#${e.seq} ${e.body.case}`).join(", ");
      check(seqs(page) === list([root.seq, kept.seq, gone.seq]), "THR-4", `the thread #${list([root.seq, kept.seq, gone.seq])}: the edit is no event of the thread, the redacted reply still is`, () => shape);
      const edited = page.events.find((e) => e.seq === kept.seq);
      check(threadOf(edited) === root.seq, "THR-4", `#${kept.seq}, edited: still a reply with thread_root_seq ${root.seq}`, () => json(edited ?? "absent"));
      const tomb = page.events.find((e) => e.seq === gone.seq);
      check(tomb?.body.case === "redacted" && tomb.body.value.messageId === gone.messageId && tomb.body.value.redactionSeq === redaction.seq, "THR-2", `#${gone.seq}: its tombstone (message_id ${gone.messageId}, redaction_seq ${redaction.seq})`, () => json(tomb ?? "absent"));

      const rootRedaction = await act(a!, root.seq, { case: "redact", value: {} });
      const later = await reply(t, a!, id, root.seq, text("a reply to a redacted root"));
      const after = await threadPage(t, b!, id, root.seq);
      const first = after.events[0];
      check(seqs(after) === list([root.seq, kept.seq, gone.seq, later.seq]), "THR-4", `the redacted root keeps its thread: #${list([root.seq, kept.seq, gone.seq, later.seq])}`, () => after.events.map((e) => `#${e.seq} ${e.body.case}`).join(", "));
      check(first?.body.case === "redacted" && first.body.value.redactionSeq === rootRedaction.seq, "THR-4", `#${root.seq}: the root's tombstone`, () => json(first ?? "absent"));
      check(threadOf(after.events.find((e) => e.seq === later.seq)) === root.seq, "THR-4", `#${later.seq}: a reply with thread_root_seq ${root.seq}`, () => json(after.events.at(-1)));
      const marker = await t.ask(b!, { case: "markRead", value: { conversationId: id, seq: later.seq, threadRootSeq: root.seq } }, "readMarker", "THR-3");
      check(marker.threadRootSeq === root.seq && marker.seq === later.seq, "THR-4", `the redacted root's thread marked read at ${later.seq}`, () => json(marker));
      // Redacting the edited reply makes its edit a tombstone too (edit_of set): that was an action, never a message, so no root.
      await act(b!, kept.seq, { case: "redact", value: {} });
      await refused(t, a!, replyBody(id, editOfKept.seq), [ErrorCode.INVALID_ARGUMENT], "THR-4");
    },
  },
];
