import { ConversationKind, Role, type Conversation } from "../../../gen/imwire/v1/conversation_pb.js";
import type { UserEvent } from "../../../gen/imwire/v1/delivery_pb.js";
import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import type { Frame } from "../../../gen/imwire/v1/frame_pb.js";
import { MembershipAction, type ConversationEvent, type MembershipChange } from "../../../gen/imwire/v1/message_pb.js";
import { DeviceState } from "../../../gen/imwire/v1/settings_pb.js";
import type { ConversationPage } from "../../../gen/imwire/v1/sync_pb.js";
import type { Session, TestContext } from "../context.js";
import { describe } from "../scripted-connection.js";
import { Violation, type ConformanceTest } from "../types.js";
import { check, eventPush, freshKey, group, push, send, text, users } from "./helpers.js";

const groupName = "membership";

const bigJson = (value: unknown) => JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? String(v) : v instanceof Uint8Array ? `<${v.length} bytes>` : v));

/** The membership change an event carries, if it is one. */
function membershipOf(event: ConversationEvent | undefined): MembershipChange | undefined {
  return event?.body.case === "membership" ? event.body.value : undefined;
}

const sameSet = (got: readonly string[], want: readonly string[]) => got.length === want.length && new Set(got).size === got.length && want.every((u) => got.includes(u));

/** sync_conversation with the given bounds. */
function syncConversation(t: TestContext, session: Session, conversationId: string, afterSeq = 0n, untilSeq = 0n): Promise<ConversationPage> {
  return t.ask(session, { case: "syncConversation", value: { conversationId, afterSeq, untilSeq } }, "conversationPage", "SYNC-1");
}

/** The conversation's events as `session` may read them after `afterSeq` (up to `untilSeq` when non-zero), every page of them (SYNC-2). */
async function readAll(t: TestContext, session: Session, conversationId: string, afterSeq = 0n, untilSeq = 0n): Promise<{ events: ConversationEvent[]; last: ConversationPage }> {
  const events: ConversationEvent[] = [];
  let after = afterSeq;
  for (let pages = 0; ; pages++) {
    check(pages < 20, "SYNC-2", "an end to the pages", () => `more than 20 pages for ${events.length} events`);
    const page = await syncConversation(t, session, conversationId, after, untilSeq);
    events.push(...page.events);
    if (!page.hasMore) return { events, last: page };
    check(page.events.length > 0, "SYNC-2", "events on a page with has_more", () => "an empty page with has_more");
    after = page.events.at(-1)!.seq;
  }
}

/** What a former member reads of a conversation it left at `k`, every page followed: the events up to `k`, and last_seq `k`. */
async function checkReadsUpTo(t: TestContext, session: Session, conversationId: string, k: bigint, requirement: string): Promise<void> {
  const { events, last } = await readAll(t, session, conversationId);
  const seqs = events.map((e) => e.seq);
  check(seqs.every((s) => s <= k), requirement, `no event after the LEFT event #${k}`, () => `seqs ${seqs.join(",")}`);
  check(seqs.at(-1) === k, requirement, `the events up to the LEFT event #${k}`, () => `seqs ${seqs.join(",")}`);
  check(last.lastSeq === k, requirement, `last_seq ${k} (the last seq the former member may read)`, () => `last_seq ${last.lastSeq}`);
}

/** The newest seq of a conversation as `session` sees it (last_seq of a page). */
async function lastSeqOf(t: TestContext, session: Session, conversationId: string): Promise<bigint> {
  return (await syncConversation(t, session, conversationId)).lastSeq;
}

/** Every conversation of a snapshot, its pages followed (SYNC-7); `first` is the snapshot's first page when already asked for. */
async function snapshotConversations(t: TestContext, session: Session, first?: Frame): Promise<Conversation[]> {
  const listed: Conversation[] = [];
  let frame = first ?? (await session.conn.request({ case: "syncUser", value: {} }, t.timeoutMs));
  for (let pages = 0; ; pages++) {
    const snapshot = t.answerOf(frame, "userPage", "SYNC-4").snapshot;
    if (snapshot === undefined) throw new Violation("SYNC-4: a snapshot page", ["user_page with a snapshot"], describe(frame));
    listed.push(...snapshot.conversations);
    if (snapshot.continueAfter === "") return listed;
    check(pages < 100, "SYNC-7", "an end to the snapshot pages", () => `more than 100 pages`);
    frame = await session.conn.request({ case: "syncUser", value: { epoch: snapshot.epoch, snapshotAfter: snapshot.continueAfter } }, t.timeoutMs);
  }
}

/**
 * The user's stream after `cursor` (SYNC-3), every page of it; or, when the
 * server answers a snapshot instead (SYNC-4 lets it for positions it no
 * longer serves), that snapshot's conversations.
 */
async function streamAfter(t: TestContext, session: Session, cursor: bigint): Promise<{ entries: UserEvent[] } | { snapshot: Conversation[] }> {
  const entries: UserEvent[] = [];
  let after = cursor;
  for (let pages = 0; ; pages++) {
    check(pages < 50, "SYNC-3", "an end to the pages", () => `more than 50 pages for ${entries.length} entries`);
    const frame = await session.conn.request({ case: "syncUser", value: { afterCursor: after, epoch: session.authenticated.epoch } }, t.timeoutMs);
    const page = t.answerOf(frame, "userPage", "SYNC-3");
    if (page.snapshot) return { snapshot: await snapshotConversations(t, session, frame) };
    entries.push(...page.events);
    if (!page.hasMore) return { entries };
    check(page.events.length > 0, "SYNC-3", "entries on a page with has_more", () => "an empty page with has_more");
    after = page.events.at(-1)!.cursor;
  }
}

/** The conversation and seq a stream entry stands for, if it is a conversation event (whole or notify form). */
function eventRef(entry: UserEvent): { conversationId: string; seq: bigint } | undefined {
  return entry.body.case === "event" || entry.body.case === "notify" ? entry.body.value : undefined;
}

/** A `deliver` of conversation `id`'s events with seq above `seq` (whole or notify form). */
const pushedAfter = (id: string, seq: bigint) => (f: Frame) => {
  if (f.body.case !== "deliver") return false;
  const ref = eventRef(f.body.value);
  return ref !== undefined && ref.conversationId === id && ref.seq > seq;
};

/** A `deliver` of a `joined` entry for conversation `id`. */
const joinedPush = (id: string) => (e: UserEvent) => e.body.case === "joined" && e.body.value.conversation?.conversationId === id;

/** Leave `id` as `session`, expecting conversation_left; its last_visible_seq. */
async function leave(t: TestContext, session: Session, id: string): Promise<bigint> {
  const left = await t.ask(session, { case: "leaveConversation", value: { conversationId: id } }, "conversationLeft", "CONV-5");
  check(left.lastVisibleSeq > 0n, "CONV-5", "last_visible_seq: the seq of the LEFT event", () => bigJson(left));
  return left.lastVisibleSeq;
}

/** Add `members` to group `id` as `session`; the answer. */
function addMembers(t: TestContext, session: Session, id: string, members: readonly Session[]) {
  return t.ask(session, { case: "openConversation", value: { conversationId: id, userIds: members.map((m) => m.userId) } }, "conversationOpened", "CONV-4");
}

/** The one ADDED event after `afterSeq`, as `reader` (a member all along) reads it. */
async function addedEventAfter(t: TestContext, reader: Session, id: string, afterSeq: bigint): Promise<ConversationEvent> {
  const { events } = await readAll(t, reader, id, afterSeq);
  const added = events.filter((e) => membershipOf(e)?.action === MembershipAction.ADDED);
  check(added.length === 1, "CONV-4", `one ADDED event after #${afterSeq}`, () => bigJson(events));
  return added[0]!;
}

export const membershipTests: ConformanceTest[] = [
  {
    id: "CUR-1/no-pushes-to-former-members",
    requirements: ["CUR-1", "CONV-8", "SEC-3", "CONV-7"],
    level: "required",
    group: groupName,
    title: "after leaving a group, a user is pushed none of its new events, reads none by sync_conversation, and its stream holds none of them",
    async run(t) {
      const [a, b, c] = await users(t, "a", "b", "c");
      const id = await group(t, a!, [b!, c!]);
      // What b holds before it leaves: the stream up to the CREATED event's entry.
      const held = (await push(t, b!, eventPush(id, 1n), "CUR-1", `the CREATED event ${id}#1`)).cursor;
      const k = await leave(t, b!, id);
      await push(t, b!, eventPush(id, k), "CUR-1", `the LEFT event #${k}`);
      const acks = [];
      for (let i = 0; i < 3; i++) acks.push(await send(t, a!, id, text(`after b left ${i}`)));
      for (const ack of acks) await push(t, c!, eventPush(id, ack.seq), "DLV-1", `the event #${ack.seq} to a remaining member`);
      await t.expectNothing(b!.conn, pushedAfter(id, k), "CUR-1", `no push of ${id} after the LEFT event #${k} to the user who left`);

      await checkReadsUpTo(t, b!, id, k, "CONV-8");
      const after = await syncConversation(t, b!, id, k);
      check(after.events.length === 0 && !after.hasMore, "CONV-8", `no event after #${k}, has_more false`, () => `seqs ${after.events.map((e) => e.seq).join(",")}, has_more ${after.hasMore}`);

      const stream = await streamAfter(t, b!, held);
      if ("snapshot" in stream) {
        const listed = stream.snapshot.find((cv) => cv.conversationId === id);
        check(listed !== undefined && listed.lastVisibleSeq === k && listed.lastSeq === k, "CONV-8", `the snapshot listing ${id} with last_visible_seq and last_seq ${k}`, () => bigJson(listed ?? "not listed"));
      } else {
        const late = stream.entries.filter((e) => eventRef(e)?.conversationId === id && eventRef(e)!.seq > k);
        check(late.length === 0, "CUR-1", `no stream entry for ${id} after #${k}`, () => bigJson(late.map((e) => ({ cursor: e.cursor, ...eventRef(e) }))));
        check(
          stream.entries.some((e) => e.body.case === "left" && e.body.value.conversationId === id && e.body.value.lastVisibleSeq === k),
          "CONV-7",
          `the stream after cursor ${held} holding the left entry (last_visible_seq ${k})`,
          () => bigJson(stream.entries.map((e) => e.body.case)),
        );
      }
    },
  },
  {
    id: "CONV-8/history-before-joining-is-not-served",
    requirements: ["CONV-8", "SEQ-5", "SYNC-1", "CONV-4", "CONV-7", "CUR-1"],
    level: "required",
    group: groupName,
    title: "a member added later reads the group from the ADDED event on: sync_conversation starts there whatever after_seq says, and its stream holds nothing older",
    async run(t) {
      const [a, b, c] = await users(t, "a", "b", "c");
      const id = await group(t, a!, [b!]);
      let last = 1n;
      for (let i = 0; i < 3; i++) last = (await send(t, a!, id, text(`before c ${i}`))).seq;
      await addMembers(t, a!, id, [c!]);
      const addedEvent = await addedEventAfter(t, a!, id, last);
      const k = addedEvent.seq;
      check(sameSet(membershipOf(addedEvent)!.userIds, [c!.userId]), "CONV-4", `ADDED listing ${c!.userId}`, () => bigJson(addedEvent));
      const joined = await push(t, c!, joinedPush(id), "CONV-7", `a joined entry for ${id}`);
      const view = joined.body.case === "joined" ? joined.body.value.conversation! : undefined;
      check(view?.firstVisibleSeq === k, "CONV-8", `the joined entry's first_visible_seq ${k} (the ADDED event)`, () => bigJson(view));

      for (const afterSeq of [0n, 2n]) {
        const page = await syncConversation(t, c!, id, afterSeq);
        check(page.firstVisibleSeq === k, "CONV-8", `first_visible_seq ${k}`, () => `first_visible_seq ${page.firstVisibleSeq} (after_seq ${afterSeq})`);
        check(page.events[0]?.seq === k, "SEQ-5", `a page starting at the ADDED event #${k} (after_seq ${afterSeq})`, () => `seqs ${page.events.map((e) => e.seq).join(",")}`);
        check(membershipOf(page.events[0])?.action === MembershipAction.ADDED, "CONV-8", `#${k} the ADDED event`, () => bigJson(page.events[0]));
      }

      const stream = await streamAfter(t, c!, 0n);
      if ("snapshot" in stream) {
        const listed = stream.snapshot.find((cv) => cv.conversationId === id);
        check(listed?.firstVisibleSeq === k, "CONV-8", `the snapshot listing ${id} with first_visible_seq ${k}`, () => bigJson(listed ?? "not listed"));
      } else {
        const older = stream.entries.filter((e) => eventRef(e)?.conversationId === id && eventRef(e)!.seq < k);
        check(older.length === 0, "CONV-8", `no stream entry for ${id} before #${k}`, () => bigJson(older.map((e) => ({ cursor: e.cursor, ...eventRef(e) }))));
        check(stream.entries.some((e) => eventRef(e)?.conversationId === id && eventRef(e)!.seq === k), "CUR-1", `the stream holding the ADDED event #${k}`, () => bigJson(stream.entries.map((e) => ({ cursor: e.cursor, kind: e.body.case, ...eventRef(e) }))));
      }
    },
  },
  {
    id: "CONV-4/adding-members-to-a-group",
    requirements: ["CONV-4", "CONV-7", "CONV-6", "CONV-9"],
    level: "required",
    group: groupName,
    title: "adding members appends one ADDED event with only the new members, pushed to every member; each device of an added user is told it joined; adding members again appends nothing",
    async run(t) {
      const [a, b, d] = await users(t, "a", "b", "d");
      const c = [await t.connect(t.user("c"), "phone"), await t.connect(t.user("c"), "laptop")];
      const id = await group(t, a!, [b!]);
      const everyone = [a!.userId, b!.userId, c[0]!.userId, d!.userId];
      const opened = await addMembers(t, a!, id, [b!, c[0]!, d!]);
      const view = opened.conversation!;
      check(view.memberCount === 4, "CONV-9", "member_count 4", () => bigJson(view));
      check(sameSet(view.memberUserIds, everyone), "CONV-9", `member_user_ids ${everyone.join(",")}`, () => view.memberUserIds.join(","));

      const addedEvent = await addedEventAfter(t, a!, id, 1n);
      const k = addedEvent.seq;
      const change = membershipOf(addedEvent)!;
      check(sameSet(change.userIds, [c[0]!.userId, d!.userId]), "CONV-4", `ADDED listing exactly ${c[0]!.userId} and ${d!.userId}, not the member ${b!.userId}`, () => change.userIds.join(","));
      check(addedEvent.senderUserId === a!.userId, "CONV-4", `the requester ${a!.userId} as sender`, () => `sender ${addedEvent.senderUserId}`);

      for (const member of [a!, b!, ...c, d!]) {
        const entry = await push(t, member, eventPush(id, k), "CONV-6", `the ADDED event #${k} pushed to ${member.userId}/${member.deviceId}`);
        if (entry.body.case === "event") {
          check(membershipOf(entry.body.value)?.action === MembershipAction.ADDED, "CONV-6", `#${k} the ADDED event`, () => bigJson(entry.body.value));
        }
      }
      for (const device of c) {
        const entry = await push(t, device, joinedPush(id), "CONV-7", `a joined entry for ${id} on ${device.deviceId}`);
        check(entry.body.case === "joined" && entry.body.value.conversation!.kind === ConversationKind.GROUP, "CONV-7", "a joined entry describing the group", () => bigJson(entry));
      }

      const again = await addMembers(t, a!, id, [b!, c[0]!]);
      check(again.conversation!.memberCount === 4, "CONV-9", "member_count still 4", () => bigJson(again.conversation));
      const page = await syncConversation(t, a!, id, k);
      check(page.lastSeq === k && page.events.length === 0, "CONV-4", `nothing appended after #${k} when every user named is a member`, () => `last_seq ${page.lastSeq}, seqs ${page.events.map((e) => e.seq).join(",")}`);
    },
  },
  {
    id: "CONV-8/reading-as-a-former-member",
    requirements: ["CONV-8", "SYNC-1", "SYNC-4", "CONV-9"],
    level: "required",
    group: groupName,
    title: "a former member reads up to its LEFT event, and a fresh device's snapshot shows the group as it was then: last_seq and members as of that event",
    async run(t) {
      const [a, b, c, d] = await users(t, "a", "b", "c", "d");
      const id = await group(t, a!, [b!, c!]);
      const k = await leave(t, b!, id);
      // What changes after b left must not show in b's view: a new member, new messages.
      await addMembers(t, a!, id, [d!]);
      for (let i = 0; i < 2; i++) await send(t, a!, id, text(`after b left ${i}`));

      await checkReadsUpTo(t, b!, id, k, "CONV-8");
      const after = await syncConversation(t, b!, id, k);
      check(after.events.length === 0 && !after.hasMore, "SYNC-1", `no event after #${k}, has_more false`, () => `seqs ${after.events.map((e) => e.seq).join(",")}, has_more ${after.hasMore}`);

      const fresh = await t.connect(b!.userId, "new-device", { position: false });
      const listed = (await snapshotConversations(t, fresh)).find((cv) => cv.conversationId === id);
      if (listed === undefined) throw new Violation(`SYNC-4: the snapshot lists ${id}, which the former member may still read`, [`a snapshot listing ${id}`], "not listed");
      check(listed.lastVisibleSeq === k, "CONV-8", `last_visible_seq ${k}`, () => bigJson(listed));
      check(listed.lastSeq === k, "SYNC-4", `last_seq ${k}, as of the LEFT event`, () => bigJson(listed));
      const then = [a!.userId, c!.userId];
      check(sameSet(listed.memberUserIds, then), "CONV-9", `member_user_ids ${then.join(",")} as of #${k} (not ${b!.userId}, who left, nor ${d!.userId}, added later)`, () => listed.memberUserIds.join(","));
      check(listed.memberCount === listed.memberUserIds.length, "CONV-9", `member_count ${listed.memberUserIds.length}, as many as member_user_ids`, () => `member_count ${listed.memberCount}`);
    },
  },
  {
    id: "CONV-7/joined-and-left-reach-every-device",
    requirements: ["CONV-7", "RECV-6", "CONV-5"],
    level: "required",
    group: groupName,
    title: "joining and leaving reach every device of the user as whole joined and left entries, a device in the background included",
    async run(t) {
      const [a] = await users(t, "a");
      const phone = await t.connect(t.user("b"), "phone");
      const laptop = await t.connect(t.user("b"), "laptop");
      await t.ask(laptop, { case: "setDeviceState", value: { state: DeviceState.BACKGROUND } }, "deviceStateSet", "RECV-5");
      const id = await group(t, a!, [phone]);
      for (const device of [phone, laptop]) {
        const entry = await push(t, device, joinedPush(id), "CONV-7", `a whole joined entry for ${id} on ${device.deviceId}`);
        const view = entry.body.case === "joined" ? entry.body.value.conversation! : undefined;
        check(view?.kind === ConversationKind.GROUP && sameSet(view.memberUserIds, [a!.userId, phone.userId]), "CONV-7", `a joined entry describing the group of ${a!.userId} and ${phone.userId}`, () => bigJson(entry));
      }
      const k = await leave(t, phone, id);
      for (const device of [phone, laptop]) {
        const entry = await push(t, device, (e) => e.body.case === "left" && e.body.value.conversationId === id, "CONV-7", `a whole left entry for ${id} on ${device.deviceId}`);
        check(entry.body.case === "left" && entry.body.value.lastVisibleSeq === k, "CONV-7", `a left entry with last_visible_seq ${k}`, () => bigJson(entry));
      }
    },
  },
  {
    id: "CONV-8/rejoining-starts-a-new-interval",
    requirements: ["CONV-8", "CONV-4", "CONV-7"],
    level: "required",
    group: groupName,
    title: "a user added again after leaving reads from the new ADDED event only; its earlier interval is no longer served",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await group(t, a!, [b!]);
      await push(t, b!, joinedPush(id), "CONV-7", `a joined entry for ${id}`);
      await send(t, a!, id, text("while b is a member"));
      const k1 = await leave(t, b!, id);
      const between = await send(t, a!, id, text("while b is away"));
      await addMembers(t, a!, id, [b!]);
      const addedEvent = await addedEventAfter(t, a!, id, between.seq);
      const k2 = addedEvent.seq;
      check(sameSet(membershipOf(addedEvent)!.userIds, [b!.userId]), "CONV-4", `ADDED listing ${b!.userId}, no longer a member`, () => bigJson(addedEvent));
      const joined = await push(t, b!, joinedPush(id), "CONV-7", `a joined entry for ${id} (added again)`);
      const view = joined.body.case === "joined" ? joined.body.value.conversation! : undefined;
      check(view?.firstVisibleSeq === k2, "CONV-8", `the joined entry's first_visible_seq ${k2} (the new ADDED event)`, () => bigJson(view));

      for (const afterSeq of [0n, 1n]) {
        const page = await syncConversation(t, b!, id, afterSeq);
        check(page.firstVisibleSeq === k2, "CONV-8", `first_visible_seq ${k2}`, () => `first_visible_seq ${page.firstVisibleSeq} (after_seq ${afterSeq})`);
        check(page.events[0]?.seq === k2, "CONV-8", `a page starting at the new ADDED event #${k2} (after_seq ${afterSeq})`, () => `seqs ${page.events.map((e) => e.seq).join(",")}`);
      }
      const old = await syncConversation(t, b!, id, 0n, k1);
      check(old.events.length === 0, "CONV-8", `no event of the earlier interval (up to #${k1})`, () => `seqs ${old.events.map((e) => e.seq).join(",")}`);
      const { events } = await readAll(t, b!, id);
      check(events.every((e) => e.seq >= k2), "CONV-8", `no event before #${k2}`, () => `seqs ${events.map((e) => e.seq).join(",")}`);
    },
  },
  {
    id: "CONV-4/former-member-may-not-add",
    requirements: ["CONV-4", "SEC-3"],
    level: "required",
    group: groupName,
    title: "after leaving a group, adding a user to it is PERMISSION_DENIED and appends nothing",
    async run(t) {
      const [a, b, c] = await users(t, "a", "b", "c");
      const id = await group(t, a!, [b!]);
      const k = await leave(t, b!, id);
      const requestId = b!.conn.send({ case: "openConversation", value: { conversationId: id, userIds: [c!.userId] } });
      await t.expectErrorFrom(b!.conn, [ErrorCode.PERMISSION_DENIED], "CONV-4", { requestId, closing: false });
      const last = await lastSeqOf(t, a!, id);
      check(last === k, "CONV-4", `last_seq still ${k}: nothing appended`, () => `last_seq ${last}`);
    },
  },
  {
    id: "AUTH-7/unknown-users-change-nothing",
    requirements: ["AUTH-7", "CONV-2", "CONV-3", "CONV-4", "IDEM-5"],
    level: "required",
    group: groupName,
    title: "naming a user who never authenticated, as a peer, an initial member or an added member, is NOT_FOUND and creates or adds nothing",
    async run(t) {
      const [a, b, c] = await users(t, "a", "b", "c");
      const ghost = t.user("ghost"); // never authenticates

      let requestId = a!.conn.send({ case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: [ghost] } });
      await t.expectErrorFrom(a!.conn, [ErrorCode.NOT_FOUND], "CONV-2", { requestId, closing: false });

      const key = freshKey("g");
      requestId = a!.conn.send({ case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: [b!.userId, ghost], title: "with a ghost", clientConversationId: key } });
      await t.expectErrorFrom(a!.conn, [ErrorCode.NOT_FOUND], "CONV-3", { requestId, closing: false });
      const isJoined = (f: Frame) => f.body.case === "deliver" && f.body.value.body.case === "joined";
      await Promise.all([
        t.expectNothing(a!.conn, isJoined, "AUTH-7", "no joined entry: nothing was created"),
        t.expectNothing(b!.conn, isJoined, "AUTH-7", "no joined entry: nothing was created"),
      ]);
      const fresh = await t.connect(a!.userId, "new-device", { position: false });
      const listed = await snapshotConversations(t, fresh);
      check(listed.length === 0, "AUTH-7", "a snapshot listing no conversation", () => bigJson(listed.map((cv) => ({ id: cv.conversationId, kind: cv.kind, members: cv.memberUserIds }))));

      const retry = await t.ask(a!, { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: [b!.userId], title: "without", clientConversationId: key } }, "conversationOpened", "CONV-3");
      check(retry.created, "IDEM-5", "created: true (the refused attempt was not remembered)", () => bigJson(retry));
      const id = retry.conversation!.conversationId;
      const created = (await syncConversation(t, a!, id)).events[0];
      check(membershipOf(created)?.action === MembershipAction.CREATED && sameSet(membershipOf(created)!.userIds, [a!.userId, b!.userId]), "CONV-3", `CREATED with ${a!.userId} and ${b!.userId}`, () => bigJson(created));

      const before = await lastSeqOf(t, a!, id);
      requestId = a!.conn.send({ case: "openConversation", value: { conversationId: id, userIds: [c!.userId, ghost] } });
      await t.expectErrorFrom(a!.conn, [ErrorCode.NOT_FOUND], "CONV-4", { requestId, closing: false });
      const after = await lastSeqOf(t, a!, id);
      check(after === before, "CONV-4", `last_seq still ${before}: no ADDED event`, () => `last_seq ${after}`);
      const cRequest = c!.conn.send({ case: "syncConversation", value: { conversationId: id } });
      await t.expectErrorFrom(c!.conn, [ErrorCode.PERMISSION_DENIED], "AUTH-7", { requestId: cRequest, closing: false });
      await t.expectNothing(c!.conn, isJoined, "AUTH-7", `no joined entry for ${c!.userId}: no one was added`);
    },
  },
  {
    id: "CONV-6/subscriptions-are-not-events",
    requirements: ["CONV-6", "SEC-7", "CONV-9", "CONV-4", "CONV-1"],
    level: "required",
    group: groupName,
    needs: ["channels"],
    title: "subscribing to a channel appends no event and tells the owner nothing; it counts in member_count, lists no members, and subscribing again changes nothing",
    async run(t) {
      const [owner, fan] = await users(t, "owner", "fan");
      const created = await t.ask(owner!, { case: "openConversation", value: { kind: ConversationKind.CHANNEL, title: "news", clientConversationId: freshKey("ch") } }, "conversationOpened", "CONV-3");
      const id = created.conversation!.conversationId;
      await push(t, owner!, joinedPush(id), "CONV-7", `a joined entry for the channel ${id}`);
      await push(t, owner!, eventPush(id, 1n), "CONV-3", `the CREATED event ${id}#1`);
      const before = await syncConversation(t, owner!, id);

      const subscribe = () => t.ask(fan!, { case: "openConversation", value: { conversationId: id } }, "conversationOpened", "CONV-4");
      const first = (await subscribe()).conversation!;
      check(first.memberCount === 2, "CONV-9", "member_count 2: the owner and the subscriber", () => bigJson(first));
      check(first.memberUserIds.length === 0, "SEC-7", "no member_user_ids", () => first.memberUserIds.join(","));
      check(first.role === Role.SUBSCRIBER, "CONV-1", "role SUBSCRIBER", () => `role ${first.role}`);
      await push(t, fan!, joinedPush(id), "CONV-7", `a joined entry for the channel ${id}`);

      const after = await syncConversation(t, owner!, id);
      check(after.lastSeq === before.lastSeq && after.events.length === before.events.length, "CONV-6", `last_seq still ${before.lastSeq}: the subscription is no event`, () => `last_seq ${after.lastSeq}, seqs ${after.events.map((e) => e.seq).join(",")}`);
      const ownerView = (await t.ask(owner!, { case: "openConversation", value: { conversationId: id } }, "conversationOpened", "CONV-4")).conversation!;
      check(ownerView.memberCount === 2 && ownerView.memberUserIds.length === 0, "CONV-9", "the owner sees member_count 2 and no member_user_ids", () => bigJson(ownerView));

      const second = (await subscribe()).conversation!;
      check(second.memberCount === 2, "CONV-4", "member_count still 2 after subscribing again", () => bigJson(second));
      const again = await syncConversation(t, owner!, id);
      check(again.lastSeq === before.lastSeq, "CONV-6", `last_seq still ${before.lastSeq} after subscribing again`, () => `last_seq ${again.lastSeq}`);
      const aboutIt = (f: Frame) => {
        if (f.body.case !== "deliver") return false;
        const entry = f.body.value;
        return eventRef(entry)?.conversationId === id || (entry.body.case === "joined" && entry.body.value.conversation?.conversationId === id) || (entry.body.case === "left" && entry.body.value.conversationId === id);
      };
      await Promise.all([
        t.expectNothing(owner!.conn, aboutIt, "SEC-7", `no push about ${id} to its owner when a user subscribes`),
        t.expectNothing(fan!.conn, aboutIt, "CONV-4", `no second push about ${id}: subscribing again changes nothing`),
      ]);
    },
  },
];
