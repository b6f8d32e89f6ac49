import { create, toBinary } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { Feature as WireFeature } from "../../../gen/imwire/v1/connection_pb.js";
import { MessageContentSchema, type MessageContent } from "../../../gen/imwire/v1/content_pb.js";
import type { UserEvent } from "../../../gen/imwire/v1/delivery_pb.js";
import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import { ActOnMessageSchema, ConversationEventSchema, type ActOnMessage, type ConversationEvent, type SendAck } from "../../../gen/imwire/v1/message_pb.js";
import { sizeActOnMessage } from "../../../gen/imwire/v1/message_fast.js";
import { maxSendMessageSize } from "../../../limits.js";
import { MessageView, type MessageState } from "../../../view/message-view.js";
import type { Session, TestContext } from "../context.js";
import type { FrameBody } from "../scripted-connection.js";
import { Unsupported, type ConformanceTest } from "../types.js";
import { check, freshKey, group as newGroup, send, text, type Content } from "./helpers.js";

/**
 * Message actions (SPEC.md §8.1, version 1.1): edits, redactions and
 * reactions as events of the conversation's sequence (ACT-1 to ACT-7),
 * negotiated as FEATURE_MESSAGE_ACTIONS (EXT-5). Every ACT test offers the
 * feature and is unsupported where the server does not put it in force; the
 * edit window's expiry is not waited for (two days by default), only that an
 * edit within it succeeds and that the window is stated.
 */

const groupName = "message-actions";
const ACTIONS = WireFeature.MESSAGE_ACTIONS;
const { CONVERSATION_SUMMARIES: SUMMARIES, MEMBER_PAGES: PAGES } = WireFeature;
const json = (value: unknown) => JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? String(v) : v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v));

type Action = Extract<FrameBody, { case: "actOnMessage" }>["value"]["action"];
const edit = (content: Content): Action => ({ case: "edit", value: content });
const redact: Action = { case: "redact", value: {} };
const react = (emoji: string, remove = false): Action => ({ case: "react", value: { emoji, remove } });

/** Sessions offering FEATURE_MESSAGE_ACTIONS; unsupported unless the server puts it in force (EXT-5). */
async function featured(t: TestContext, ...names: string[]): Promise<Session[]> {
  const sessions = await Promise.all(names.map((name) => t.connect(t.user(name), "d1", { features: [ACTIONS] })));
  if (!sessions[0]!.welcome.features.includes(ACTIONS)) throw new Unsupported("the server does not put FEATURE_MESSAGE_ACTIONS in force (EXT-5)");
  return sessions;
}

const actBody = (conversationId: string, targetSeq: bigint, action: Action, clientMessageId: string): FrameBody => ({ case: "actOnMessage", value: { conversationId, clientMessageId, targetSeq, action } });

/** act_on_message answered with send_ack (ACT-1). */
function act(t: TestContext, session: Session, conversationId: string, targetSeq: bigint, action: Action, requirement: string, clientMessageId = freshKey("act")): Promise<SendAck> {
  return t.ask(session, actBody(conversationId, targetSeq, action, clientMessageId), "sendAck", requirement);
}

/** act_on_message answered with an error of `codes`, the connection kept. */
async function refused(t: TestContext, session: Session, conversationId: string, targetSeq: bigint, action: Action, codes: readonly ErrorCode[], requirement: string): Promise<void> {
  const requestId = session.conn.send(actBody(conversationId, targetSeq, action, freshKey("no")));
  await t.expectErrorFrom(session.conn, codes, requirement, { requestId, closing: false });
}

/** The whole conversation as `session` may read it, page by page (SYNC-1), and its last_seq. */
async function history(t: TestContext, session: Session, conversationId: string, requirement: string): Promise<{ events: ConversationEvent[]; lastSeq: bigint }> {
  const events: ConversationEvent[] = [];
  for (let after = 0n, pages = 0; ; pages++) {
    check(pages < 1_000, requirement, "an end to the conversation pages", () => "more than 1,000 pages");
    const page = await t.ask(session, { case: "syncConversation", value: { conversationId, afterSeq: after } }, "conversationPage", requirement);
    events.push(...page.events);
    if (!page.hasMore || page.events.length === 0) return { events, lastSeq: page.lastSeq };
    after = page.events.at(-1)!.seq;
  }
}

/** An act_on_message editing `targetSeq` of exactly `bytes` bytes encoded (LIM-3 measures all of it), text filling the rest. */
function editOfSize(conversationId: string, clientMessageId: string, targetSeq: bigint, bytes: number): ActOnMessage {
  const make = (key: string, n: number) => create(ActOnMessageSchema, { conversationId, clientMessageId: key, targetSeq, action: { case: "edit", value: { kind: { case: "text", value: { text: "x".repeat(n) } } } } });
  // Length varints growing a byte can skip an exact size: step down from the estimate, and with a key one byte shorter if needed.
  for (const key of [clientMessageId, clientMessageId.slice(1)]) {
    const base = sizeActOnMessage(make(key, 0));
    for (let n = Math.max(0, bytes - base); n >= 0 && n > bytes - base - 16; n--) {
      const action = make(key, n);
      const size = sizeActOnMessage(action);
      if (size === bytes) return action;
      if (size < bytes) break;
    }
  }
  throw new Error(`no act_on_message of exactly ${bytes} bytes`);
}

const eventAt = (events: readonly ConversationEvent[], seq: bigint) => events.find((e) => e.seq === seq);
const contentBytes = (content: Content | MessageContent | undefined) => Buffer.from(toBinary(MessageContentSchema, create(MessageContentSchema, content ?? {}))).toString("hex");

/** The push of `conversationId`'s event `seq` to `session`: whole (`event`) or, where RECV-2 says, in notify form. */
async function pushOf(t: TestContext, session: Session, conversationId: string, seq: bigint, requirement: string): Promise<UserEvent> {
  const matches = (e: UserEvent) => (e.body.case === "event" || e.body.case === "notify") && e.body.value.conversationId === conversationId && e.body.value.seq === seq;
  const frame = await t.nextOrViolation(session.conn, (f) => f.body.case === "deliver" && matches(f.body.value), requirement, [`the push of ${conversationId}#${seq} to ${session.userId}/${session.deviceId}`]);
  return frame.body.value as UserEvent;
}

/** The next push to `session` of `conversationId` past its event `afterSeq`, in the order pushed. */
async function nextPush(t: TestContext, session: Session, conversationId: string, afterSeq: bigint, requirement: string): Promise<UserEvent> {
  const matches = (e: UserEvent) => (e.body.case === "event" || e.body.case === "notify") && e.body.value.conversationId === conversationId && e.body.value.seq > afterSeq;
  const frame = await t.nextOrViolation(session.conn, (f) => f.body.case === "deliver" && matches(f.body.value), requirement, [`a push of ${conversationId} past #${afterSeq} to ${session.userId}/${session.deviceId}`]);
  return frame.body.value as UserEvent;
}

/** The top-level field numbers of an event as encoded: what a version 1.0 decoder reads of it. */
function fieldNumbers(event: ConversationEvent): number[] {
  const reader = new BinaryReader(toBinary(ConversationEventSchema, event));
  const numbers: number[] = [];
  while (reader.pos < reader.len) {
    const [no, wireType] = reader.tag();
    reader.skip(wireType, no);
    numbers.push(no);
  }
  return numbers;
}

/** ConversationEvent's fields in version 1.0: 1 to 5, and the body kinds `message` (6) and `membership` (7). */
const V1_0_FIELDS = new Set([1, 2, 3, 4, 5, 6, 7]);

/** A view as one line per message, content as bytes, reactions sorted: two views compare equal when they show the same (ACT-7). */
function shown(view: MessageView): string[] {
  return view.messages().map((m: MessageState) =>
    json({
      seq: m.seq,
      messageId: m.messageId,
      senderUserId: m.senderUserId,
      redacted: m.redacted,
      content: m.content === undefined ? null : contentBytes(m.content),
      edits: m.edits,
      reactions: [...m.reactions].map(([emoji, users]) => [emoji, [...users].sort()]).sort(([x], [y]) => ((x as string) < (y as string) ? -1 : 1)),
    }),
  );
}

function viewOf(events: readonly ConversationEvent[]): MessageView {
  const view = new MessageView();
  for (const event of events) view.apply(event);
  return view;
}

const reactionsOf = (view: MessageView, seq: bigint) => json([...(view.message(Number(seq))?.reactions ?? new Map<string, ReadonlySet<string>>())].map(([e, u]) => [e, [...u].sort()]).sort(([x], [y]) => ((x as string) < (y as string) ? -1 : 1)));
const sameAck = (x: SendAck, y: SendAck) => x.conversationId === y.conversationId && x.clientMessageId === y.clientMessageId && x.seq === y.seq && x.messageId === y.messageId && x.serverTimeMs === y.serverTimeMs;

export const messageActionTests: ConformanceTest[] = [
  {
    id: "EXT-5/message-actions-only-when-offered",
    requirements: ["EXT-5", "ACT-3", "CONN-2"],
    level: "required",
    group: groupName,
    title: "a hello without FEATURE_MESSAGE_ACTIONS gets a welcome without it and edit_window_s 0; with it offered, the feature is in force with an edit window of at least 1 s, or not at all (window 0)",
    async run(t) {
      for (const offered of [[], [SUMMARIES, PAGES]]) {
        const welcome = await t.hello(await t.open(), "d1", [1], 0, 0, offered);
        check(!welcome.features.includes(ACTIONS) && welcome.editWindowS === 0, "EXT-5", `hello offering [${offered.join(", ")}]: no FEATURE_MESSAGE_ACTIONS in welcome.features and edit_window_s 0 (a peer without the feature receives nothing of it)`, () => `features [${welcome.features.join(", ")}], edit_window_s ${welcome.editWindowS}`);
      }
      const welcome = await t.hello(await t.open(), "d1", [1], 0, 0, [ACTIONS]);
      const inForce = welcome.features.includes(ACTIONS);
      check(inForce ? welcome.editWindowS >= 1 : welcome.editWindowS === 0, "ACT-3", inForce ? "with FEATURE_MESSAGE_ACTIONS in force, edit_window_s of at least 1" : "without FEATURE_MESSAGE_ACTIONS in force, edit_window_s 0", () => `features [${welcome.features.join(", ")}], edit_window_s ${welcome.editWindowS}`);
    },
  },
  {
    id: "ACT-1/action-answered-once-with-send-ack",
    requirements: ["ACT-1", "IDEM-2", "ACT-3", "ACT-5", "SEQ-1"],
    level: "required",
    group: groupName,
    title: "an edit and a reaction are each answered with send_ack for the one action event they append (its own message_id, the request's client_message_id, target_seq and action); a retry with the same client_message_id, on the same or a new connection, gets the identical send_ack and appends nothing",
    async run(t) {
      const [a, b] = await featured(t, "a", "b");
      const id = await newGroup(t, a!, [b!]);
      const message = await send(t, a!, id, text("to be edited"));
      const editKey = freshKey("edit");
      const edited = await act(t, a!, id, message.seq, edit(text("edited")), "ACT-1", editKey);
      check(edited.seq === message.seq + 1n && edited.messageId !== "" && edited.messageId !== message.messageId, "ACT-1", `send_ack for the action event #${message.seq + 1n}, with a message_id of its own`, () => json(edited));
      const again = await act(t, a!, id, message.seq, edit(text("edited, differently")), "ACT-1", editKey);
      check(sameAck(again, edited), "ACT-1", `the retry answered with the first attempt's send_ack: ${json(edited)}`, () => json(again));
      a!.conn.close();
      const back = await t.connect(a!.userId, "d1", { features: [ACTIONS] });
      const later = await act(t, back, id, message.seq, edit(text("edited, later")), "ACT-1", editKey);
      check(sameAck(later, edited), "ACT-1", `a retry on a new connection of the device answered with the first send_ack: ${json(edited)}`, () => json(later));

      const reactKey = freshKey("react");
      const reacted = await act(t, b!, id, message.seq, react("👍"), "ACT-1", reactKey);
      const reactedAgain = await act(t, b!, id, message.seq, react("👍"), "ACT-1", reactKey);
      check(reacted.seq === edited.seq + 1n && sameAck(reactedAgain, reacted), "ACT-1", `the reaction at #${edited.seq + 1n}, its retry answered the same`, () => `${json(reacted)} then ${json(reactedAgain)}`);

      const { events, lastSeq } = await history(t, b!, id, "ACT-1");
      check(lastSeq === reacted.seq, "ACT-1", `last_seq ${reacted.seq}: one event per action, none for the retries`, () => `last_seq ${lastSeq}: ${events.map((e) => `#${e.seq} ${e.body.case}`).join(", ")}`);
      const editEvent = eventAt(events, edited.seq);
      const body = editEvent?.body;
      check(
        body?.case === "action" && body.value.messageId === edited.messageId && body.value.clientMessageId === editKey && body.value.targetSeq === message.seq && body.value.action.case === "edit" && editEvent!.senderUserId === a!.userId,
        "ACT-1",
        `#${edited.seq}: an action by ${a!.userId} with message_id ${edited.messageId}, client_message_id ${editKey}, target_seq ${message.seq}, an edit`,
        () => (editEvent ? json(editEvent) : "no such event"),
      );
      if (body?.case === "action" && body.value.action.case === "edit") {
        check(contentBytes(body.value.action.value) === contentBytes(text("edited")), "IDEM-2", "the first attempt's content (the retries' differ)", () => json(body.value.action.value));
      }
      const reactEvent = eventAt(events, reacted.seq);
      const reactBody = reactEvent?.body;
      check(
        reactBody?.case === "action" && reactBody.value.messageId === reacted.messageId && reactBody.value.clientMessageId === reactKey && reactBody.value.targetSeq === message.seq && reactBody.value.action.case === "react" && reactBody.value.action.value.emoji === "👍" && !reactBody.value.action.value.remove,
        "ACT-1",
        `#${reacted.seq}: the reaction 👍 to #${message.seq}, with the ack's ids`,
        () => (reactEvent ? json(reactEvent) : "no such event"),
      );
    },
  },
  {
    id: "ACT-1/members-only",
    requirements: ["ACT-1", "CONV-8", "IDEM-5"],
    level: "required",
    group: groupName,
    title: "edits, redactions and reactions by a former member (of its own message too) or by a user who never belonged are PERMISSION_DENIED, on an unknown conversation NOT_FOUND; none appends anything",
    async run(t) {
      const [a, b, gone, outsider] = await featured(t, "a", "b", "gone", "out");
      const id = await newGroup(t, a!, [b!, gone!]);
      const message = await send(t, a!, id, text("from a"));
      const own = await send(t, gone!, id, text("from gone"));
      await t.ask(gone!, { case: "leaveConversation", value: { conversationId: id } }, "conversationLeft", "CONV-5");
      const before = (await history(t, a!, id, "SYNC-1")).lastSeq;
      for (const action of [edit(text("not any more")), redact, react("👍")]) {
        await refused(t, gone!, id, own.seq, action, [ErrorCode.PERMISSION_DENIED], "ACT-1");
        await refused(t, gone!, id, message.seq, action, [ErrorCode.PERMISSION_DENIED], "ACT-1");
        await refused(t, outsider!, id, message.seq, action, [ErrorCode.PERMISSION_DENIED], "ACT-1");
        await refused(t, a!, `${id}-nowhere`, 1n, action, [ErrorCode.NOT_FOUND], "ACT-1");
      }
      const after = (await history(t, a!, id, "SYNC-1")).lastSeq;
      check(after === before, "IDEM-5", `last_seq still ${before}: refused actions append nothing`, () => `last_seq ${after}`);
      // A current member who is not the sender may react (ACT-5).
      const reacted = await act(t, b!, id, message.seq, react("👍"), "ACT-1");
      check(reacted.seq === before + 1n, "ACT-1", `a member's reaction at #${before + 1n}`, () => json(reacted));
    },
  },
  {
    id: "ACT-2/target-is-a-message-the-sender-may-read",
    requirements: ["ACT-2", "CONV-8", "ACT-4", "IDEM-5"],
    level: "required",
    group: groupName,
    title: "a membership event, an action, a seq beyond the newest and one before the sender's first_visible_seq are INVALID_ARGUMENT targets; a redacted message is FAILED_PRECONDITION to edit, react to or redact again; none appends anything",
    async run(t) {
      const [a, b, late] = await featured(t, "a", "b", "late");
      const id = await newGroup(t, a!, [b!]);
      const early = await send(t, a!, id, text("early"));
      const edited = await act(t, a!, id, early.seq, edit(text("early, edited")), "ACT-3");
      const added = (await t.ask(a!, { case: "openConversation", value: { conversationId: id, userIds: [late!.userId] } }, "conversationOpened", "CONV-4")).conversation!;
      const addedSeq = added.lastSeq;
      const message = await send(t, b!, id, text("later"));
      const before = message.seq;

      for (const action of [react("👍"), redact]) {
        await refused(t, a!, id, 1n, action, [ErrorCode.INVALID_ARGUMENT], "ACT-2"); // CREATED
        await refused(t, a!, id, addedSeq, action, [ErrorCode.INVALID_ARGUMENT], "ACT-2"); // ADDED
        await refused(t, a!, id, edited.seq, action, [ErrorCode.INVALID_ARGUMENT], "ACT-2"); // an action
        await refused(t, a!, id, before + 1n, action, [ErrorCode.INVALID_ARGUMENT], "ACT-2"); // the next seq, not yet an event
        await refused(t, a!, id, before + 1_000n, action, [ErrorCode.INVALID_ARGUMENT], "ACT-2");
      }
      await refused(t, a!, id, edited.seq, edit(text("an edit of an edit")), [ErrorCode.INVALID_ARGUMENT], "ACT-2");
      // CONV-8: the late member may read from the ADDED event on, not the message before it.
      await refused(t, late!, id, early.seq, react("👍"), [ErrorCode.INVALID_ARGUMENT], "ACT-2");
      check((await history(t, a!, id, "SYNC-1")).lastSeq === before, "IDEM-5", `last_seq still ${before}: refused actions append nothing`, () => "more events");
      await act(t, late!, id, message.seq, react("👍"), "ACT-2");

      const redaction = await act(t, a!, id, early.seq, redact, "ACT-4");
      await refused(t, a!, id, early.seq, edit(text("again")), [ErrorCode.FAILED_PRECONDITION], "ACT-2");
      await refused(t, b!, id, early.seq, react("👀"), [ErrorCode.FAILED_PRECONDITION], "ACT-2");
      await refused(t, a!, id, early.seq, redact, [ErrorCode.FAILED_PRECONDITION], "ACT-2");
      const { lastSeq } = await history(t, a!, id, "SYNC-1");
      check(lastSeq === redaction.seq, "IDEM-5", `last_seq still ${redaction.seq}: refused actions on a redacted message append nothing`, () => `last_seq ${lastSeq}`);
    },
  },
  {
    id: "ACT-3/edit-only-by-sender-within-window",
    requirements: ["ACT-3", "MSG-7", "MSG-3", "ACT-7"],
    level: "required",
    group: groupName,
    title: "welcome.edit_window_s is at least 1; only the message's sender edits it (from any of its devices, within the window), others — the owner too — are PERMISSION_DENIED; an edit's content obeys MSG-3 and is stored as sent, byte for byte; the newest edit is the current content",
    async run(t) {
      const [a, b] = await featured(t, "a", "b");
      const window = a!.welcome.editWindowS;
      check(window >= 1, "ACT-3", "welcome.edit_window_s of at least 1 with FEATURE_MESSAGE_ACTIONS in force", () => `${window}`);
      const id = await newGroup(t, a!, [b!]);
      const message = await send(t, a!, id, text("draft"));
      const theirs = await send(t, b!, id, text("b's"));
      await refused(t, b!, id, message.seq, edit(text("not yours")), [ErrorCode.PERMISSION_DENIED], "ACT-3");
      await refused(t, a!, id, theirs.seq, edit(text("the owner's edit")), [ErrorCode.PERMISSION_DENIED], "ACT-3");
      await refused(t, a!, id, message.seq, edit({ kind: { case: "image", value: { media: { uri: "https://media.example/x", sha256: new Uint8Array(20) } } } }), [ErrorCode.INVALID_ARGUMENT], "MSG-3");

      const other = await t.connect(a!.userId, "d2", { features: [ACTIONS] });
      const image: Content = { kind: { case: "image", value: { media: { uri: "https://media.example/y", mimeType: "image/png", byteSize: 4_096n, sha256: new Uint8Array(32).fill(3), width: 64, height: 48 }, caption: "naïve café 🙂 𝄞" } } };
      const first = await act(t, other, id, message.seq, edit(image), "ACT-3");
      const final = text("final");
      const second = await act(t, a!, id, message.seq, edit(final), "ACT-3");

      const pushed = await pushOf(t, b!, id, first.seq, "ACT-6");
      if (pushed.body.case === "event") {
        const body = pushed.body.value.body;
        check(body.case === "action" && body.value.action.case === "edit" && contentBytes(body.value.action.value) === contentBytes(image), "MSG-7", `the pushed edit #${first.seq} with its content as sent`, () => json(body));
      }
      const { events } = await history(t, b!, id, "ACT-3");
      for (const [ack, content, device] of [[first, image, "d2"], [second, final, "d1"]] as const) {
        const event = eventAt(events, ack.seq);
        const body = event?.body;
        check(
          body?.case === "action" && body.value.targetSeq === message.seq && body.value.action.case === "edit" && contentBytes(body.value.action.value) === contentBytes(content) && event!.senderUserId === a!.userId,
          "ACT-3",
          `#${ack.seq}: ${a!.userId}/${device}'s edit of #${message.seq}, its content as sent, byte for byte`,
          () => (event ? json(event) : "no such event"),
        );
      }
      const view = viewOf(events).message(Number(message.seq));
      check(view !== undefined && contentBytes(view.content) === contentBytes(final) && json(view.edits) === json([Number(first.seq), Number(second.seq)]), "ACT-3", `#${message.seq} shows the newest edit's content, its history #${first.seq}, #${second.seq}`, () => json(view));

      // LIM-3 bounds an edit like a message: one byte over is INVALID_ARGUMENT (first, so that nothing it appended hides), exactly at it accepted.
      const limit = maxSendMessageSize(b!.welcome.maxFrameSize);
      const overId = b!.conn.send({ case: "actOnMessage", value: editOfSize(id, freshKey("over"), theirs.seq, limit + 1) });
      await t.expectErrorFrom(b!.conn, [ErrorCode.INVALID_ARGUMENT], "LIM-3", { requestId: overId, closing: false });
      const atLimit = await t.ask(b!, { case: "actOnMessage", value: editOfSize(id, freshKey("at"), theirs.seq, limit) }, "sendAck", "LIM-3");
      check(atLimit.seq === second.seq + 1n, "LIM-3", `an edit of exactly ${limit} bytes accepted at #${second.seq + 1n} (the one over it appended nothing)`, () => json(atLimit));
    },
  },
  {
    id: "ACT-4/redaction-leaves-tombstones",
    requirements: ["ACT-4", "SEQ-1", "SEQ-2", "ACT-6", "SYNC-1", "SYNC-3"],
    level: "required",
    group: groupName,
    title: "a member who is neither sender nor owner may not redact; the owner redacts another's edited message: other members are pushed the redact action; afterwards sync_conversation and sync_user carry redacted tombstones (former message_id, redaction_seq, edit_of) at the message's and its edits' seqs, no content anywhere, the seqs gapless, the reaction kept; the sender may redact its own",
    async run(t) {
      const [owner, author, reader] = await featured(t, "owner", "author", "reader");
      const id = await newGroup(t, owner!, [author!, reader!]);
      const secret = freshKey("secret");
      const message = await send(t, author!, id, text(`${secret} original`));
      const edits = [await act(t, author!, id, message.seq, edit(text(`${secret} edit 1`)), "ACT-3"), await act(t, author!, id, message.seq, edit(text(`${secret} edit 2`)), "ACT-3")];
      const reaction = await act(t, reader!, id, message.seq, react("👀"), "ACT-5");
      await refused(t, reader!, id, message.seq, redact, [ErrorCode.PERMISSION_DENIED], "ACT-4");
      const redaction = await act(t, owner!, id, message.seq, redact, "ACT-4");

      for (const member of [reader!, author!]) {
        const entry = await pushOf(t, member, id, redaction.seq, "ACT-4");
        if (entry.body.case !== "event") continue;
        const event = entry.body.value;
        check(event.body.case === "action" && event.body.value.action.case === "redact" && event.body.value.targetSeq === message.seq && event.senderUserId === owner!.userId, "ACT-4", `${member.userId} pushed #${redaction.seq}: ${owner!.userId}'s redact action on #${message.seq}`, () => json(event));
      }

      const expectTombstones = (events: readonly ConversationEvent[], lastSeq: bigint, who: string) => {
        const seqs = events.map((e) => Number(e.seq));
        check(lastSeq === redaction.seq && json(seqs) === json(Array.from({ length: Number(lastSeq) }, (_, i) => i + 1)), "SEQ-1", `${who}: events 1..${redaction.seq}, no gap (a tombstone is not a gap)`, () => `last_seq ${lastSeq}, seqs ${seqs.join(",")}`);
        const at = eventAt(events, message.seq);
        check(at?.body.case === "redacted" && at.body.value.messageId === message.messageId && at.body.value.redactionSeq === redaction.seq && at.body.value.editOf === 0n, "ACT-4", `${who}: #${message.seq} a tombstone with message_id ${message.messageId}, redaction_seq ${redaction.seq}, edit_of 0`, () => (at ? json(at) : "no such event"));
        for (const e of edits) {
          const tomb = eventAt(events, e.seq);
          check(tomb?.body.case === "redacted" && tomb.body.value.messageId === e.messageId && tomb.body.value.redactionSeq === redaction.seq && tomb.body.value.editOf === message.seq, "ACT-4", `${who}: the edit #${e.seq} a tombstone with message_id ${e.messageId}, redaction_seq ${redaction.seq}, edit_of ${message.seq}`, () => (tomb ? json(tomb) : "no such event"));
        }
        const kept = eventAt(events, reaction.seq)?.body;
        check(kept?.case === "action" && kept.value.action.case === "react" && kept.value.targetSeq === message.seq, "ACT-4", `${who}: the reaction #${reaction.seq} kept`, () => json(kept));
        const bytes = Buffer.concat(events.map((e) => toBinary(ConversationEventSchema, e)));
        check(!bytes.includes(Buffer.from(secret)), "ACT-4", `${who}: nothing of the redacted content in any event`, () => "the redacted text, still there");
      };
      for (const [session, who] of [[reader!, "a member's sync_conversation"], [await t.connect(reader!.userId, "fresh", { features: [ACTIONS] }), "a fresh device's sync_conversation"], [author!, "the sender's sync_conversation"]] as const) {
        const { events, lastSeq } = await history(t, session, id, "ACT-4");
        expectTombstones(events, lastSeq, who);
      }

      // sync_user: the reader's stream from before the conversation carries the tombstones too (every answer, ACT-4).
      const back = await t.connect(reader!.userId, "d3", { features: [ACTIONS], position: false });
      const streamed: ConversationEvent[] = [];
      let snapshot = false;
      for (let after = reader!.authenticated.headCursor, pages = 0; ; pages++) {
        check(pages < 1_000, "SYNC-3", "an end to the user pages", () => "more than 1,000 pages");
        const page = await t.ask(back, { case: "syncUser", value: { afterCursor: after, epoch: reader!.authenticated.epoch } }, "userPage", "SYNC-3");
        // A snapshot (the stream not readable from there: CUR-5) has no events to look at.
        if (page.snapshot !== undefined) {
          snapshot = true;
          break;
        }
        for (const entry of page.events) if (entry.body.case === "event" && entry.body.value.conversationId === id) streamed.push(entry.body.value);
        if (!page.hasMore || page.events.length === 0) break;
        after = page.events.at(-1)!.cursor;
      }
      for (const seq of [message.seq, ...edits.map((e) => e.seq)]) {
        const entry = eventAt(streamed, seq);
        check(snapshot || entry?.body.case === "redacted", "ACT-4", `sync_user's entry for #${seq}: a tombstone`, () => (entry ? json(entry) : "no such entry"));
      }
      check(!Buffer.concat(streamed.map((e) => toBinary(ConversationEventSchema, e))).includes(Buffer.from(secret)), "ACT-4", "nothing of the redacted content in sync_user's entries", () => "the redacted text, still there");

      const mine = await send(t, author!, id, text("mine"));
      const own = await act(t, author!, id, mine.seq, redact, "ACT-4");
      check(own.seq === mine.seq + 1n, "ACT-4", `the sender redacts its own message: the redaction at #${mine.seq + 1n}`, () => json(own));
    },
  },
  {
    id: "ACT-5/reactions-by-the-sequence",
    requirements: ["ACT-5", "ACT-1", "ACT-7"],
    level: "required",
    group: groupName,
    title: "an emoji of 0 or more than 64 UTF-8 bytes is INVALID_ARGUMENT (64 and 1 are fine); adding twice is adding once, removing takes the user's reaction away, removing what is absent changes nothing, a retry appends nothing: the reactions the sequence shows",
    async run(t) {
      const [a, b] = await featured(t, "a", "b");
      const id = await newGroup(t, a!, [b!]);
      const message = await send(t, a!, id, text("react to me"));
      await refused(t, b!, id, message.seq, react("x".repeat(65)), [ErrorCode.INVALID_ARGUMENT], "ACT-5");
      // 33 code points, 66 bytes: the limit counts bytes of UTF-8, not characters.
      await refused(t, b!, id, message.seq, react("é".repeat(33)), [ErrorCode.INVALID_ARGUMENT], "ACT-5");
      await refused(t, b!, id, message.seq, react("😀".repeat(16) + "x"), [ErrorCode.INVALID_ARGUMENT], "ACT-5");
      // An empty emoji is absent on the wire: ENV-5's MISSING_FIELD says so as well as INVALID_ARGUMENT.
      await refused(t, b!, id, message.seq, react(""), [ErrorCode.INVALID_ARGUMENT, ErrorCode.MISSING_FIELD], "ACT-5");
      const long = "😀".repeat(16);
      const key = freshKey("r");
      const steps: [Session, string, boolean, string?][] = [
        [b!, long, false],
        [b!, "x", false],
        [b!, "👍", false, key],
        [b!, "👍", false],
        [b!, "🎉", false],
        [b!, "👍", true],
        [a!, "👍", false],
        [a!, "🎉", true],
        [b!, "x", true],
      ];
      const acks: SendAck[] = [];
      for (const [session, emoji, remove, clientMessageId] of steps) acks.push(await act(t, session, id, message.seq, react(emoji, remove), "ACT-5", clientMessageId));
      const retry = await act(t, b!, id, message.seq, react("👍"), "ACT-1", key);
      check(sameAck(retry, acks[2]!), "ACT-1", `the retry answered with the first attempt's send_ack: ${json(acks[2])}`, () => json(retry));
      const seqs = acks.map((ack) => ack.seq);
      check(seqs.every((s, i) => s === message.seq + 1n + BigInt(i)), "ACT-5", `one event per reaction, at #${message.seq + 1n}..#${message.seq + BigInt(steps.length)}`, () => seqs.join(","));
      const { events, lastSeq } = await history(t, a!, id, "ACT-5");
      check(lastSeq === seqs.at(-1), "ACT-1", `last_seq ${seqs.at(-1)}: the retry appended nothing`, () => `last_seq ${lastSeq}`);
      const want = json([[long, [b!.userId]], ["🎉", [b!.userId]], ["👍", [a!.userId]]].sort(([x], [y]) => ((x as string) < (y as string) ? -1 : 1)));
      const got = reactionsOf(viewOf(events), message.seq);
      check(got === want, "ACT-5", `the reactions ${want}`, () => got);
    },
  },
  {
    id: "ACT-6/actions-pushed-like-messages",
    requirements: ["ACT-6", "EXT-3", "DLV-1", "ACT-1"],
    level: "required",
    group: groupName,
    title: "each edit, reaction and redaction is pushed to the other members' devices like a message; a device that did not offer the feature (a version 1.0 device) receives them in its stream as events whose body a version 1.0 decoder does not know, and its act_on_message is answered too",
    async run(t) {
      const [a, b] = await featured(t, "a", "b");
      const old = await t.connect(t.user("old"), "d1");
      const id = await newGroup(t, a!, [b!, old]);
      const message = await send(t, a!, id, text("hello"));
      const actions: [Session, Action, string][] = [
        [a!, edit(text("hello, edited")), "edit"],
        [b!, react("👍"), "react"],
        [a!, redact, "redact"],
      ];
      for (const [actor, action, kind] of actions) {
        const ack = await act(t, actor, id, message.seq, action, "ACT-1");
        for (const member of [a!, b!].filter((s) => s !== actor)) {
          const entry = await pushOf(t, member, id, ack.seq, "ACT-6");
          if (entry.body.case !== "event") continue;
          const body = entry.body.value.body;
          check(body.case === "action" && body.value.action.case === kind && body.value.targetSeq === message.seq, "ACT-6", `${member.userId} pushed #${ack.seq}: the ${kind} of #${message.seq}`, () => json(entry.body.value));
        }
        const entry = await pushOf(t, old, id, ack.seq, "ACT-6");
        check(entry.body.case === "event", "ACT-6", `the version 1.0 device pushed #${ack.seq} whole, as an event (RECV-2: FULL, the default)`, () => json(entry.body));
        if (entry.body.case !== "event") continue;
        const fields = fieldNumbers(entry.body.value);
        const unknown = fields.filter((f) => !V1_0_FIELDS.has(f));
        check(fields.includes(1) && fields.includes(2) && !fields.includes(6) && !fields.includes(7) && unknown.length === 1, "EXT-3", `#${ack.seq} to the version 1.0 device: conversation_id and seq, and a body of one kind version 1.0 does not know (no message, no membership)`, () => `fields ${fields.join(", ")}`);
      }
      // ACT-1: a server that implements the feature answers act_on_message on any connection.
      const another = await send(t, a!, id, text("again"));
      await act(t, old, id, another.seq, react("👋"), "ACT-1");
    },
  },
  {
    id: "ACT-7/fresh-device-shows-the-live-view",
    requirements: ["ACT-7", "ACT-3", "ACT-4", "ACT-5", "ACT-6", "SYNC-1"],
    level: "required",
    group: groupName,
    title: "messages, edits, reactions, their removal and redactions, applied in seq order as a member's device received them pushed, show the same view as a fresh device's sync_conversation from nothing: current content, redacted, edit history, reactions",
    async run(t) {
      const [a, b] = await featured(t, "a", "b");
      const id = await newGroup(t, a!, [b!]);
      const one = await send(t, a!, id, text("one"));
      const two = await send(t, b!, id, text("two"));
      const three = await send(t, a!, id, text("three"));
      const steps: [Session, bigint, Action][] = [
        [a!, one.seq, edit(text("one, edited"))],
        [b!, one.seq, react("👍")],
        [a!, two.seq, react("🎉")],
        [b!, two.seq, edit(text("two, edited"))],
        [a!, one.seq, edit(text("one, edited again"))],
        [a!, two.seq, react("🎉", true)],
        [b!, three.seq, react("❤️")],
        [a!, one.seq, redact],
        [a!, three.seq, redact],
        [b!, two.seq, react("👀")],
      ];
      let last = three.seq;
      for (const [session, target, action] of steps) last = (await act(t, session, id, target, action, "ACT-7")).seq;

      // b's device as it was pushed: whole events applied in order; a notify entry read from sync_conversation, as a device does (RECV-2).
      const live = new MessageView();
      for (let applied = 0n; applied < last; ) {
        const entry = await nextPush(t, b!, id, applied, "ACT-6");
        const seq = entry.body.case === "event" || entry.body.case === "notify" ? entry.body.value.seq : applied;
        if (entry.body.case === "event" && seq === applied + 1n) {
          live.apply(entry.body.value);
          applied = seq;
          continue;
        }
        // A notify entry, or a gap before the event: read what is missing, as a device does (SEQ-3, RECV-2).
        const page = await t.ask(b!, { case: "syncConversation", value: { conversationId: id, afterSeq: applied, untilSeq: seq } }, "conversationPage", "SYNC-1");
        check(page.events.at(-1)?.seq === seq, "SYNC-1", `events #${applied + 1n}..#${seq}`, () => page.events.map((e) => `#${e.seq}`).join(","));
        for (const event of page.events) live.apply(event);
        applied = seq;
      }
      const fresh = await t.connect(b!.userId, "fresh", { features: [ACTIONS] });
      const { events } = await history(t, fresh, id, "ACT-7");
      const freshView = viewOf(events);
      const liveShown = shown(live);
      const freshShown = shown(freshView);
      check(json(liveShown) === json(freshShown), "ACT-7", `the live device's view, as the fresh device shows it: ${freshShown.join(" | ")}`, () => liveShown.join(" | "));

      const first = freshView.message(Number(one.seq));
      check(first?.redacted === true && first.content === undefined && first.edits.length === 2, "ACT-7", `#${one.seq} redacted, no content, its two edits in its history`, () => json(first));
      const second = freshView.message(Number(two.seq));
      check(second?.redacted === false && contentBytes(second.content) === contentBytes(text("two, edited")) && reactionsOf(freshView, two.seq) === json([["👀", [b!.userId]]]), "ACT-7", `#${two.seq} "two, edited", the reaction 👀 by ${b!.userId} only (🎉 removed)`, () => json(second));
      const third = freshView.message(Number(three.seq));
      check(third?.redacted === true && reactionsOf(freshView, three.seq) === json([["❤️", [b!.userId]]]), "ACT-7", `#${three.seq} redacted, its reaction ❤️ kept`, () => json(third));
    },
  },
];
