import { Feature as WireFeature } from "../../../gen/imwire/v1/connection_pb.js";
import { ConversationKind, HistoryVisibility, type Conversation } from "../../../gen/imwire/v1/conversation_pb.js";
import type { UserEvent } from "../../../gen/imwire/v1/delivery_pb.js";
import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import type { ConversationEvent } from "../../../gen/imwire/v1/message_pb.js";
import type { Session, TestContext } from "../context.js";
import type { FrameBody } from "../scripted-connection.js";
import { Unsupported, type ConformanceTest } from "../types.js";
import { check, direct, freshKey, group as newGroup, push, send, text } from "./helpers.js";

/**
 * History visibility (SPEC.md §7.1, version 1.1): how much of a group's past
 * a member added later may read (HIS-1), set by its owner as an event of the
 * group (HIS-2), fixing the start of each new member's interval when it is
 * added (HIS-3); negotiated as FEATURE_HISTORY_VISIBILITY (EXT-5). Every HIS
 * test offers the feature and is unsupported where the server does not put
 * it in force.
 */

const groupName = "history-visibility";
const HISTORY = WireFeature.HISTORY_VISIBILITY;
const { FROM_JOIN, LAST_EVENTS, FULL, UNSPECIFIED } = HistoryVisibility;
const json = (value: unknown) => JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? String(v) : v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v));
const named = (visibility: HistoryVisibility, events = 0) => (visibility === LAST_EVENTS ? `LAST_EVENTS ${events}` : (HistoryVisibility[visibility] ?? String(visibility)));

/** Sessions of new users offering FEATURE_HISTORY_VISIBILITY; unsupported unless the server puts it in force (EXT-5). */
async function featured(t: TestContext, ...names: string[]): Promise<Session[]> {
  const sessions = await Promise.all(names.map((name) => t.connect(t.user(name), "d1", { features: [HISTORY] })));
  if (!sessions[0]!.welcome.features.includes(HISTORY)) throw new Unsupported("the server does not put FEATURE_HISTORY_VISIBILITY in force (EXT-5)");
  return sessions;
}

const setBody = (conversationId: string, visibility: HistoryVisibility, historyEvents = 0): FrameBody => ({ case: "setHistoryVisibility", value: { conversationId, visibility, historyEvents } });

/** set_history_visibility answered with conversation_opened (HIS-2). */
async function setVisibility(t: TestContext, session: Session, conversationId: string, visibility: HistoryVisibility, historyEvents = 0): Promise<Conversation> {
  const opened = await t.ask(session, setBody(conversationId, visibility, historyEvents), "conversationOpened", "HIS-2");
  check(!opened.created, "HIS-2", "conversation_opened with created false: the group existed before the change", () => "created true");
  return opened.conversation!;
}

/** A request answered with an error of `codes`, the connection kept. */
async function refused(t: TestContext, session: Session, body: FrameBody, codes: readonly ErrorCode[], requirement: string): Promise<void> {
  const requestId = session.conn.send(body);
  await t.expectErrorFrom(session.conn, codes, requirement, { requestId, closing: false });
}

/** The conversation as `session` sees it (CONV-4: opened by id). */
async function viewOf(t: TestContext, session: Session, conversationId: string): Promise<Conversation> {
  return (await t.ask(session, { case: "openConversation", value: { conversationId } }, "conversationOpened", "CONV-4")).conversation!;
}

/** The whole conversation as `session` may read it, page by page, from `afterSeq` (SYNC-1). */
async function history(t: TestContext, session: Session, conversationId: string, afterSeq = 0n): Promise<{ events: ConversationEvent[]; firstVisibleSeq: bigint; lastSeq: bigint }> {
  const events: ConversationEvent[] = [];
  for (let after = afterSeq, pages = 0; ; pages++) {
    check(pages < 1_000, "SYNC-1", "an end to the conversation pages", () => "more than 1,000 pages");
    const page = await t.ask(session, { case: "syncConversation", value: { conversationId, afterSeq: after } }, "conversationPage", "SYNC-1");
    events.push(...page.events);
    if (!page.hasMore || page.events.length === 0) return { events, firstVisibleSeq: page.firstVisibleSeq, lastSeq: page.lastSeq };
    after = page.events.at(-1)!.seq;
  }
}

const lastSeqOf = async (t: TestContext, session: Session, conversationId: string) => (await t.ask(session, { case: "syncConversation", value: { conversationId, afterSeq: 0n, limit: 1 } }, "conversationPage", "SYNC-1")).lastSeq;
/** HIS-1: UNSPECIFIED means FROM_JOIN. */
const effective = (v: HistoryVisibility) => (v === UNSPECIFIED ? FROM_JOIN : v);
const describes = (c: Conversation | undefined, visibility: HistoryVisibility, events: number) => c !== undefined && effective(c.historyVisibility) === visibility && (visibility !== LAST_EVENTS || c.historyEvents === events);
const described = (c: Conversation | undefined) => (c === undefined ? "no conversation" : `${named(c.historyVisibility, c.historyEvents)} (history_events ${c.historyEvents})`);
const joinedPush = (id: string) => (e: UserEvent) => e.body.case === "joined" && e.body.value.conversation?.conversationId === id;
const eventPush = (id: string, seq: bigint) => (e: UserEvent) => (e.body.case === "event" || e.body.case === "notify") && e.body.value.conversationId === id && e.body.value.seq === seq;
const range = (from: bigint, to: bigint) => Array.from({ length: Number(to - from + 1n) }, (_, i) => from + BigInt(i)).join(",");

/** Add `user` to the group as `owner`; returns the ADDED event's seq (A: nothing else is appended meanwhile). */
async function add(t: TestContext, owner: Session, conversationId: string, user: Session): Promise<bigint> {
  const before = await lastSeqOf(t, owner, conversationId);
  const opened = await t.ask(owner, { case: "openConversation", value: { conversationId, userIds: [user.userId] } }, "conversationOpened", "CONV-4");
  check(opened.conversation!.lastSeq === before + 1n, "CONV-4", `one ADDED event, at #${before + 1n}`, () => `last_seq ${opened.conversation!.lastSeq}`);
  return before + 1n;
}

/** HIS-3: the new member's start, as its joined entry, its view and its sync say, and the range it reads exactly. */
async function expectStart(t: TestContext, member: Session, conversationId: string, start: bigint, why: string): Promise<void> {
  const joined = await push(t, member, joinedPush(conversationId), "CONV-7", `a joined entry for ${conversationId}`);
  const entry = joined.body.case === "joined" ? joined.body.value.conversation : undefined;
  check(entry?.firstVisibleSeq === start, "HIS-3", `${member.userId}'s joined entry: first_visible_seq ${start} (${why})`, () => json(entry ?? "none"));
  const view = await viewOf(t, member, conversationId);
  check(view.firstVisibleSeq === start, "HIS-3", `${member.userId}'s view: first_visible_seq ${start} (${why})`, () => `first_visible_seq ${view.firstVisibleSeq}`);
  const read = await history(t, member, conversationId);
  const got = read.events.map((e) => e.seq).join(",");
  check(read.firstVisibleSeq === start && got === range(start, read.lastSeq), "HIS-3", `${member.userId} syncs #${range(start, read.lastSeq)} exactly, first_visible_seq ${start} (${why})`, () => `#${got}, first_visible_seq ${read.firstVisibleSeq}`);
  if (start > 1n) {
    const below = await t.ask(member, { case: "syncConversation", value: { conversationId, afterSeq: 0n, untilSeq: start - 1n } }, "conversationPage", "CONV-8");
    check(below.events.length === 0, "CONV-8", `until_seq ${start - 1n}: nothing (the events before its start are not its to read)`, () => `#${below.events.map((e) => e.seq).join(",")}`);
  }
}

export const historyVisibilityTests: ConformanceTest[] = [
  {
    id: "HIS-1/groups-describe-their-visibility",
    requirements: ["HIS-1", "HIS-2", "CONV-7", "CONV-9"],
    level: "required",
    group: groupName,
    title: "a new group is described FROM_JOIN (or UNSPECIFIED, the same) to its creator and its members; after a change, every member's view, the answer and a newcomer's joined entry describe the new setting",
    async run(t) {
      const [a, b, c] = await featured(t, "a", "b", "c");
      const created = (await t.ask(a!, { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: [b!.userId], title: "conformance", clientConversationId: freshKey("g") } }, "conversationOpened", "CONV-3")).conversation!;
      const id = created.conversationId;
      check(describes(created, FROM_JOIN, 0), "HIS-1", "the creator's answer: FROM_JOIN, the default", () => described(created));
      const seen = await viewOf(t, b!, id);
      check(describes(seen, FROM_JOIN, 0), "HIS-1", "a member's view: FROM_JOIN, the default", () => described(seen));
      const answer = await setVisibility(t, a!, id, LAST_EVENTS, 5);
      check(describes(answer, LAST_EVENTS, 5), "HIS-2", "the answer describes the group after the change: LAST_EVENTS 5", () => described(answer));
      const after = await viewOf(t, b!, id);
      check(describes(after, LAST_EVENTS, 5), "HIS-1", "a member's view after the change: LAST_EVENTS 5", () => described(after));
      await add(t, a!, id, c!);
      const joined = await push(t, c!, joinedPush(id), "CONV-7", `a joined entry for ${id}`);
      const entry = joined.body.case === "joined" ? joined.body.value.conversation : undefined;
      check(describes(entry, LAST_EVENTS, 5), "HIS-1", "the newcomer's joined entry: LAST_EVENTS 5", () => described(entry));
      const full = await setVisibility(t, a!, id, FULL);
      check(describes(full, FULL, 0), "HIS-2", "the answer after a change to FULL: FULL", () => described(full));
      const last = await viewOf(t, c!, id);
      check(describes(last, FULL, 0), "HIS-1", "the newcomer's view: FULL", () => described(last));
    },
  },
  {
    id: "HIS-2/owners-of-groups-only",
    requirements: ["HIS-2", "HIS-1", "IDEM-5"],
    level: "required",
    group: groupName,
    title: "set_history_visibility by a member who is not the owner, a former member or a user who never belonged is PERMISSION_DENIED; on an unknown conversation NOT_FOUND; on a one-to-one conversation or a channel refused; LAST_EVENTS with 0 or 1001 INVALID_ARGUMENT (1 and 1000 accepted); nothing refused appends anything",
    async run(t) {
      const [a, b, gone, outsider] = await featured(t, "a", "b", "gone", "out");
      const id = await newGroup(t, a!, [b!, gone!]);
      await send(t, a!, id, text("hello"));
      await t.ask(gone!, { case: "leaveConversation", value: { conversationId: id } }, "conversationLeft", "CONV-5");
      const before = await lastSeqOf(t, a!, id);
      for (const session of [b!, gone!, outsider!]) await refused(t, session, setBody(id, FULL), [ErrorCode.PERMISSION_DENIED], "HIS-2");
      await refused(t, a!, setBody(`${id}-nowhere`, FULL), [ErrorCode.NOT_FOUND], "HIS-2");
      for (const events of [0, 1001, 100_000]) await refused(t, a!, setBody(id, LAST_EVENTS, events), [ErrorCode.INVALID_ARGUMENT], "HIS-2");
      // HIS-1 names three settings (and UNSPECIFIED for the default): a number of none of them is no setting.
      await refused(t, a!, setBody(id, 7 as HistoryVisibility), [ErrorCode.INVALID_ARGUMENT], "HIS-1");
      // A former owner is no owner: it left the group (CONV-5) and may change nothing of it.
      const left = await newGroup(t, a!, [b!]);
      await t.ask(a!, { case: "leaveConversation", value: { conversationId: left } }, "conversationLeft", "CONV-5");
      await refused(t, a!, setBody(left, FULL), [ErrorCode.PERMISSION_DENIED], "HIS-2");
      const now = await lastSeqOf(t, a!, id);
      check(now === before, "IDEM-5", `last_seq still ${before}: refused changes append nothing`, () => `last_seq ${now}`);
      // Neither member of a one-to-one conversation is its owner; it has no setting either way (HIS-1).
      const pair = await direct(t, a!, b!);
      await refused(t, a!, setBody(pair, FULL), [ErrorCode.INVALID_ARGUMENT, ErrorCode.PERMISSION_DENIED], "HIS-1");
      if (t.target.features.has("channels")) {
        const channel = (await t.ask(a!, { case: "openConversation", value: { kind: ConversationKind.CHANNEL, title: "news", clientConversationId: freshKey("ch") } }, "conversationOpened", "CONV-3")).conversation!.conversationId;
        await refused(t, a!, setBody(channel, FULL), [ErrorCode.INVALID_ARGUMENT], "HIS-1");
      }
      for (const events of [1, 1000]) {
        const answer = await setVisibility(t, a!, id, LAST_EVENTS, events);
        check(describes(answer, LAST_EVENTS, events), "HIS-2", `LAST_EVENTS ${events} accepted`, () => described(answer));
      }
    },
  },
  {
    id: "HIS-2/change-is-an-event",
    requirements: ["HIS-2", "SEQ-1", "DLV-1", "IDEM-5"],
    level: "required",
    group: groupName,
    title: "each change appends one history_visibility event (the owner as sender, the setting as set), pushed to every member's devices and synced; the answer describes the group at that event; setting what is already set appends nothing and is answered the same",
    async run(t) {
      const [a, b] = await featured(t, "a", "b");
      const id = await newGroup(t, a!, [b!]);
      const other = await t.connect(a!.userId, "d2", { features: [HISTORY] });
      await send(t, b!, id, text("hello"));
      const steps: [HistoryVisibility, number][] = [[LAST_EVENTS, 3], [LAST_EVENTS, 7], [FULL, 0], [FROM_JOIN, 0]];
      let last = await lastSeqOf(t, a!, id);
      // A new group is FROM_JOIN already (HIS-1: UNSPECIFIED is the same), and history_events means nothing outside
      // LAST_EVENTS: setting FROM_JOIN, with or without a count, sets what is set. A count there may also be refused.
      for (const historyEvents of [0, 5]) {
        const requestId = a!.conn.send(setBody(id, FROM_JOIN, historyEvents));
        const frame = await t.nextOrViolation(a!.conn, (f) => f.requestId === requestId, "HIS-2", ["conversation_opened at the group's last_seq, or (with a count) error ERROR_CODE_INVALID_ARGUMENT"]);
        if (frame.body.case === "error" && historyEvents !== 0) {
          t.expectError(frame, [ErrorCode.INVALID_ARGUMENT], "HIS-2", false);
          continue;
        }
        const answer = frame.body.case === "conversationOpened" ? frame.body.value.conversation : undefined;
        check(answer?.lastSeq === last && describes(answer, FROM_JOIN, 0), "HIS-2", `FROM_JOIN (history_events ${historyEvents}) on a new group: answered at last_seq ${last}, FROM_JOIN, nothing appended`, () => (answer ? `last_seq ${answer.lastSeq}, ${described(answer)}` : json(frame.body)));
      }
      for (const [visibility, events] of steps) {
        const answer = await setVisibility(t, a!, id, visibility, events);
        const seq = last + 1n;
        check(answer.conversationId === id && answer.kind === ConversationKind.GROUP && answer.lastSeq === seq && describes(answer, visibility, events), "HIS-2", `the answer: ${id}, a group, last_seq ${seq} (the change's event), ${named(visibility, events)}`, () => `${answer.conversationId}, kind ${answer.kind}, last_seq ${answer.lastSeq}, ${described(answer)}`);
        for (const member of [b!, other]) {
          const entry = await push(t, member, eventPush(id, seq), "HIS-2", `the push of ${id}#${seq}`);
          if (entry.body.case !== "event") continue;
          const event = entry.body.value;
          check(event.body.case === "historyVisibility" && event.body.value.visibility === visibility && (visibility !== LAST_EVENTS || event.body.value.historyEvents === events) && event.senderUserId === a!.userId, "HIS-2", `${member.userId}/${member.deviceId} pushed #${seq}: a history_visibility event ${named(visibility, events)} by ${a!.userId}`, () => json(event));
        }
        const same = await setVisibility(t, a!, id, visibility, events);
        check(same.lastSeq === seq && describes(same, visibility, events), "HIS-2", `the same setting again: answered at last_seq ${seq}, nothing appended`, () => `last_seq ${same.lastSeq}, ${described(same)}`);
        last = seq;
      }
      const { events } = await history(t, b!, id);
      const changes = events.filter((e) => e.body.case === "historyVisibility").map((e) => (e.body.case === "historyVisibility" ? named(e.body.value.visibility, e.body.value.historyEvents) : ""));
      check(changes.join(" | ") === steps.map(([v, n]) => named(v, n)).join(" | "), "HIS-2", `the synced changes, one event each: ${steps.map(([v, n]) => named(v, n)).join(" | ")}`, () => changes.join(" | "));
      await t.expectNothing(b!.conn, (f) => f.body.case === "deliver" && (f.body.value.body.case === "event" || f.body.value.body.case === "notify") && f.body.value.body.value.conversationId === id && f.body.value.body.value.seq > last, "HIS-2", "no push past the last change: repeating a setting appends nothing");
    },
  },
  {
    id: "HIS-3/start-fixed-when-added",
    requirements: ["HIS-3", "CONV-8", "SYNC-1", "CONV-7"],
    level: "required",
    group: groupName,
    title: "a user added at seq A under FROM_JOIN starts at A, under LAST_EVENTS N at max(1, A − N), under FULL at 1: its joined entry, its view and its sync say so and it reads exactly that range; a member added before a change keeps its start; the creator and initial members start at 1",
    async run(t) {
      const [a, b, c, d, e, f] = await featured(t, "a", "b", "c", "d", "e", "f");
      const id = await newGroup(t, a!, [b!]);
      for (let i = 0; i < 6; i++) await send(t, i % 2 === 0 ? a! : b!, id, text(`before anyone joined, ${i}`));

      const atC = await add(t, a!, id, c!);
      await expectStart(t, c!, id, atC, `added at #${atC} under FROM_JOIN`);
      await send(t, a!, id, text("after c"));

      await setVisibility(t, a!, id, LAST_EVENTS, 3);
      const atD = await add(t, a!, id, d!);
      const startD = atD - 3n > 1n ? atD - 3n : 1n;
      await expectStart(t, d!, id, startD, `added at #${atD} under LAST_EVENTS 3`);

      await setVisibility(t, a!, id, LAST_EVENTS, 1000);
      const atE = await add(t, a!, id, e!);
      await expectStart(t, e!, id, 1n, `added at #${atE} under LAST_EVENTS 1000: max(1, ${atE} − 1000)`);

      await setVisibility(t, a!, id, FULL);
      const atF = await add(t, a!, id, f!);
      await expectStart(t, f!, id, 1n, `added at #${atF} under FULL`);

      // Intervals already begun keep their start, whatever the setting now.
      for (const [member, start] of [[c!, atC], [d!, startD], [a!, 1n], [b!, 1n]] as const) {
        const view = await viewOf(t, member, id);
        const read = await history(t, member, id);
        check(view.firstVisibleSeq === start && read.firstVisibleSeq === start && read.events[0]?.seq === start, "HIS-3", `${member.userId} still starts at #${start} (FULL now)`, () => `view first_visible_seq ${view.firstVisibleSeq}, page first_visible_seq ${read.firstVisibleSeq}, first event #${read.events[0]?.seq}`);
      }
      // The new interval of a user added again starts by the setting in force then (CONV-8).
      await t.ask(c!, { case: "leaveConversation", value: { conversationId: id } }, "conversationLeft", "CONV-5");
      await setVisibility(t, a!, id, LAST_EVENTS, 2);
      const again = await add(t, a!, id, c!);
      await expectStart(t, c!, id, again - 2n, `added again at #${again} under LAST_EVENTS 2`);

      // HIS-3: actions, threads and hiding follow the start too — a message exactly at first_visible_seq is one the
      // newcomer may act on, reply to and hide (each where its feature is in force).
      await setVisibility(t, a!, id, LAST_EVENTS, 1);
      const edge = await send(t, a!, id, text("the newcomer's first visible event"));
      const g = await t.connect(t.user("g"), "d1", { features: [HISTORY, WireFeature.MESSAGE_ACTIONS, WireFeature.THREADS, WireFeature.DELETE_FOR_ME] });
      const atG = await add(t, a!, id, g);
      await expectStart(t, g, id, edge.seq, `added at #${atG} under LAST_EVENTS 1`);
      const inForce = new Set(g.welcome.features);
      if (inForce.has(WireFeature.MESSAGE_ACTIONS)) {
        await t.ask(g, { case: "actOnMessage", value: { conversationId: id, clientMessageId: freshKey("react"), targetSeq: edge.seq, action: { case: "react", value: { emoji: "👍", remove: false } } } }, "sendAck", "HIS-3");
      }
      if (inForce.has(WireFeature.THREADS)) {
        await t.ask(g, { case: "sendMessage", value: { conversationId: id, clientMessageId: freshKey("re"), content: text("a reply"), threadRootSeq: edge.seq } }, "sendAck", "HIS-3");
      }
      if (inForce.has(WireFeature.DELETE_FOR_ME)) await t.ask(g, { case: "hideMessage", value: { conversationId: id, seq: edge.seq } }, "messageHidden", "HIS-3");
    },
  },
];
