import { Feature as WireFeature } from "../../../gen/imwire/v1/connection_pb.js";
import { ConversationKind, Role, type Conversation, type Member } from "../../../gen/imwire/v1/conversation_pb.js";
import type { UserEvent } from "../../../gen/imwire/v1/delivery_pb.js";
import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import { MAX_LIST_ENTRIES } from "../../../limits.js";
import type { Session, TestContext } from "../context.js";
import { Unsupported, type ConformanceTest } from "../types.js";
import { check, freshKey, send, text } from "./helpers.js";

/**
 * Large conversations (SPEC.md §7, §11, §14, §20, §21): features negotiated
 * in the handshake (EXT-5), members read in pages (CONV-10, LIM-9), events
 * kept once and read from the conversation (CUR-7, CUR-8), and catch-up in
 * one entry per such conversation (SYNC-8). Whatever the server does inside,
 * every member's stream must carry every event once, in order.
 */

const group = "large-conversations";
const { CONVERSATION_SUMMARIES: SUMMARIES, MEMBER_PAGES: PAGES } = WireFeature;
const json = (value: unknown) => JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? String(v) : v));

/** Users that exist on the server (AUTH-7): each authenticates once, then goes. */
async function register(t: TestContext, userIds: readonly string[]): Promise<void> {
  for (let i = 0; i < userIds.length; i += 40) {
    await Promise.all(
      userIds.slice(i, i + 40).map(async (userId) => {
        const conn = await t.open();
        await t.hello(conn, "d1");
        t.answerOf(await conn.request({ case: "authenticate", value: { token: await t.token(userId, "d1") } }, t.timeoutMs), "authenticated", "AUTH-1");
        conn.close();
      }),
    );
  }
}

/** Sessions offering `features`; unsupported unless the server puts `needed` in force. */
async function featured(t: TestContext, features: readonly WireFeature[], needed: WireFeature | undefined, ...names: string[]): Promise<Session[]> {
  const sessions = await Promise.all(names.map((name) => t.connect(t.user(name), "d1", { features })));
  if (needed !== undefined && !sessions[0]!.welcome.features.includes(needed)) throw new Unsupported(`the server does not put ${WireFeature[needed]} in force (EXT-5)`);
  return sessions;
}

/** The users one request may bring into a group (LIM-9, LIM-8). */
const batchOf = (t: TestContext) => Math.min(t.target.limits?.maxInlineMembers ?? MAX_LIST_ENTRIES, MAX_LIST_ENTRIES);

/** A group of `owner` and `userIds` (created, then grown, in requests LIM-9 allows). */
async function buildGroup(t: TestContext, owner: Session, userIds: readonly string[], requirement: string): Promise<Conversation> {
  const batch = batchOf(t);
  let conversation = (await t.ask(owner, { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: userIds.slice(0, batch - 1), title: "large", clientConversationId: freshKey("g") } }, "conversationOpened", requirement)).conversation!;
  for (let i = batch - 1; i < userIds.length; i += batch) {
    conversation = (await t.ask(owner, { case: "openConversation", value: { conversationId: conversation.conversationId, userIds: userIds.slice(i, i + batch) } }, "conversationOpened", requirement)).conversation!;
  }
  return conversation;
}

/** Every member list_members gives, page by page from the first (CONV-10); the pages' member_count and last_seq too. */
async function allMembers(t: TestContext, session: Session, conversationId: string, limit: number): Promise<{ members: Member[]; pages: { memberCount: number; lastSeq: bigint }[] }> {
  const members: Member[] = [];
  const pages: { memberCount: number; lastSeq: bigint }[] = [];
  for (let after = ""; ; ) {
    check(pages.length <= 2 * MAX_LIST_ENTRIES, "CONV-10", "an end to the member pages", () => `more than ${pages.length} pages`);
    const page = await t.ask(session, { case: "listMembers", value: { conversationId, afterUserId: after, limit } }, "memberPage", "CONV-10");
    members.push(...page.members);
    pages.push({ memberCount: page.memberCount, lastSeq: page.lastSeq });
    if (page.continueAfter === "") return { members, pages };
    check(page.members.length > 0, "CONV-10", "continue_after only on a page with members", () => json(page));
    after = page.continueAfter;
  }
}

const refersTo = (conversationId: string) => (e: UserEvent) =>
  ((e.body.case === "event" || e.body.case === "notify") && e.body.value.conversationId === conversationId) ||
  (e.body.case === "joined" && e.body.value.conversation?.conversationId === conversationId);

const seqOf = (e: UserEvent): bigint | undefined => (e.body.case === "event" || e.body.case === "notify" ? e.body.value.seq : undefined);

/** A conversation's entries as a device sees them: "joined", or the seq. */
const shapeOf = (entries: readonly UserEvent[]) => entries.map((e) => (e.body.case === "joined" ? "joined" : String(seqOf(e))));

/** The pushes to `session` about `conversationId` until its event `last`, then `quietMs` more: duplicates after the last show too. */
async function pushesUntil(t: TestContext, session: Session, conversationId: string, last: bigint, requirement: string): Promise<UserEvent[]> {
  const entries: UserEvent[] = [];
  const match = (f: { body: { case?: string; value?: unknown } }) => f.body.case === "deliver" && refersTo(conversationId)(f.body.value as UserEvent);
  // A summary (notify #n) stands for every event up to n, so it may cover `last` without naming it (SYNC-8).
  while (!entries.some((e) => (seqOf(e) ?? 0n) >= last)) {
    const frame = await t.nextOrViolation(session.conn, match, requirement, [`the push of ${conversationId}#${last}`]);
    entries.push(frame.body.value as UserEvent);
  }
  const extra = await session.conn.next(match, t.quietMs).catch(() => undefined);
  if (extra) entries.push(extra.body.value as UserEvent);
  return entries;
}

/** A device's stream after `afterCursor`, in pages of `limit` until has_more is false (SYNC-3); the referee checks each page's links. */
async function pageStream(t: TestContext, session: Session, afterCursor: bigint, limit: number, requirement: string): Promise<UserEvent[][]> {
  const pages: UserEvent[][] = [];
  for (let after = afterCursor; ; ) {
    check(pages.length < 1_000, requirement, "an end to the user pages", () => "more than 1,000 pages");
    const page = await t.ask(session, { case: "syncUser", value: { afterCursor: after, epoch: session.authenticated.epoch, limit } }, "userPage", requirement);
    check(page.snapshot === undefined, requirement, `entries after cursor ${after}, not a snapshot: the device is not far behind`, () => "a snapshot");
    pages.push(page.events);
    if (!page.hasMore) return pages;
    after = page.events.at(-1)!.cursor;
  }
}

/** `entries` must be "joined" (when `joined`) and then exactly the events `from`..`to`, each once, in seq order. */
function expectEvents(entries: readonly UserEvent[], from: bigint, to: bigint, joined: boolean, requirement: string, who: string): void {
  const want = [...(joined ? ["joined"] : []), ...Array.from({ length: Number(to - from + 1n) }, (_, i) => String(from + BigInt(i)))];
  const got = shapeOf(entries);
  check(got.join(",") === want.join(","), requirement, `${who}: ${want.join(",")} (each event once, in seq order${joined ? ", after its joined entry" : ""})`, () => got.join(","));
}

export const largeConversationTests: ConformanceTest[] = [
  {
    id: "EXT-5/features-in-force-are-offered-ones",
    requirements: ["EXT-5", "CONN-2", "CONN-3", "ENV-6"],
    level: "required",
    group,
    title: "welcome.features lists only features hello offered, each once, never a number the server does not know; a hello without features gets none",
    async run(t) {
      const offers: WireFeature[][] = [[PAGES, SUMMARIES, 99 as WireFeature, PAGES], [PAGES], [SUMMARIES], []];
      for (const offered of offers) {
        const conn = await t.open();
        const welcome = await t.hello(conn, "d1", [1], 0, 0, offered);
        const got = welcome.features;
        const known = new Set<number>([SUMMARIES, PAGES]);
        check(got.every((f) => offered.includes(f) && known.has(f)) && new Set(got).size === got.length, "EXT-5", `welcome.features a subset of [${offered.filter((f) => known.has(f)).join(", ")}], each once`, () => `[${got.join(", ")}]`);
      }
    },
  },
  {
    id: "CONV-10/member-pages-in-utf8-order",
    requirements: ["CONV-10", "CONV-9", "LIM-5", "LIM-2", "SEC-7", "EXT-5"],
    level: "required",
    group,
    title: "list_members in pages of 2 gives every current member once, ascending as UTF-8 bytes (not UTF-16), with role and joined_seq, member_count and last_seq; any member may list; former members, outsiders and subscribers are PERMISSION_DENIED, the channel's owner may list, an unknown id is NOT_FOUND, an over-long after_user_id INVALID_ARGUMENT",
    async run(t) {
      // U+E000 and U+FFFD sort before U+1F600 as UTF-8 bytes, after it as UTF-16 code units.
      const [a, z, pua, emoji, replacement, late, gone, outsider] = await featured(t, [PAGES], PAGES, "a", "m-z", "m-\uE000", "m-😀", "m-\uFFFD", "m-late", "m-gone", "out");
      const id = (await buildGroup(t, a!, [z!, pua!, emoji!, gone!].map((s) => s.userId), "CONV-3")).conversationId;
      await t.ask(a!, { case: "openConversation", value: { conversationId: id, userIds: [replacement!.userId, late!.userId] } }, "conversationOpened", "CONV-4");
      await t.ask(gone!, { case: "leaveConversation", value: { conversationId: id } }, "conversationLeft", "CONV-5");
      const joinedAt = new Map<string, bigint>([a!, z!, pua!, emoji!].map((s) => [s.userId, 1n]));
      for (const s of [replacement!, late!]) joinedAt.set(s.userId, 2n);
      const expected = [...joinedAt.keys()].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));

      const { members, pages } = await allMembers(t, a!, id, 2);
      const got = members.map((m) => m.userId);
      check(got.join("|") === expected.join("|"), "CONV-10", `every current member once, ascending as UTF-8 bytes: ${expected.join(" | ")}`, () => got.join(" | "));
      for (const m of members) {
        const role = m.userId === a!.userId ? Role.OWNER : Role.MEMBER;
        check(m.role === role && m.joinedSeq === joinedAt.get(m.userId), "CONV-10", `${m.userId}: role ${Role[role]}, joined_seq ${joinedAt.get(m.userId)} (its first_visible_seq)`, () => json(m));
      }
      check(pages.length >= 3 && pages.every((p) => p.memberCount === expected.length && p.lastSeq === 3n), "CONV-10", `at least 3 pages of at most 2, each with member_count ${expected.length} and last_seq 3`, () => json(pages));

      // Any current member may list, not only the owner; one who never belonged may not; after_user_id is an identifier (LIM-2).
      const byMember = await allMembers(t, z!, id, 0);
      check(byMember.members.length === expected.length, "CONV-10", `a member who is not the owner lists all ${expected.length}`, () => `${byMember.members.length}`);
      const former = gone!.conn.send({ case: "listMembers", value: { conversationId: id } });
      await t.expectErrorFrom(gone!.conn, [ErrorCode.PERMISSION_DENIED], "CONV-10", { requestId: former, closing: false });
      const stranger = outsider!.conn.send({ case: "listMembers", value: { conversationId: id } });
      await t.expectErrorFrom(outsider!.conn, [ErrorCode.PERMISSION_DENIED], "CONV-10", { requestId: stranger, closing: false });
      const longAfter = a!.conn.send({ case: "listMembers", value: { conversationId: id, afterUserId: "x".repeat(129) } });
      await t.expectErrorFrom(a!.conn, [ErrorCode.INVALID_ARGUMENT], "LIM-2", { requestId: longAfter, closing: false });
      const unknown = a!.conn.send({ case: "listMembers", value: { conversationId: `${id}-nowhere` } });
      await t.expectErrorFrom(a!.conn, [ErrorCode.NOT_FOUND], "CONV-10", { requestId: unknown, closing: false });

      if (!t.target.features.has("channels")) return;
      const channel = (await t.ask(a!, { case: "openConversation", value: { kind: ConversationKind.CHANNEL, title: "c", clientConversationId: freshKey("c") } }, "conversationOpened", "CONV-6")).conversation!.conversationId;
      await t.ask(z!, { case: "openConversation", value: { conversationId: channel } }, "conversationOpened", "CONV-6");
      const subscriber = z!.conn.send({ case: "listMembers", value: { conversationId: channel } });
      await t.expectErrorFrom(z!.conn, [ErrorCode.PERMISSION_DENIED], "SEC-7", { requestId: subscriber, closing: false });
      const listed = await allMembers(t, a!, channel, 0);
      const channelMembers = listed.members.map((m) => `${m.userId}:${Role[m.role]}:${m.joinedSeq}`).sort();
      const want = [`${a!.userId}:OWNER:0`, `${z!.userId}:SUBSCRIBER:0`].sort();
      check(channelMembers.join(",") === want.join(","), "CONV-10", `the owner lists the channel: ${want.join(", ")} (joined_seq 0: subscriptions are not events)`, () => channelMembers.join(", "));
    },
  },
  {
    id: "CUR-8/group-moves-to-read-fan-out",
    requirements: ["CUR-8", "CUR-7", "CUR-1", "CUR-3", "CONV-7", "DLV-1", "SYNC-3"],
    level: "required",
    group,
    title: "a group grown across limits.readFanOutMembers, with messages before and after: a connected member is pushed, an offline one pages, every event once in seq order; the new members' joined entries come before the ADDED event's; read_fan_out says which side of the move the group is on",
    async run(t) {
      const threshold = t.limit("readFanOutMembers");
      if (threshold < 3) throw new Unsupported(`limits.readFanOutMembers ${threshold}: a group of three starts under read fan-out`);
      const maxGroup = t.target.limits?.maxGroupSize;
      if (maxGroup !== undefined && maxGroup < threshold + 2) throw new Unsupported(`limits.maxGroupSize ${maxGroup} leaves no room above readFanOutMembers ${threshold}`);
      const [a, c, n1] = await Promise.all(["a", "c", "n1"].map((name) => t.connect(t.user(name), "d1")));
      const offline = await Promise.all(["o", "n2"].map((name) => t.connect(t.user(name), "d1")));
      for (const s of offline) s.conn.close();
      const [o, n2] = offline;
      const fillers = Array.from({ length: threshold - 3 }, (_, i) => t.user(`f${i}`));
      await register(t, fillers);

      const before = await buildGroup(t, a!, [c!.userId, o!.userId, ...fillers], "CONV-3");
      const id = before.conversationId;
      const createdThrough = (await t.ask(a!, { case: "syncConversation", value: { conversationId: id, limit: 1 } }, "conversationPage", "SYNC-1")).lastSeq;
      check(!before.readFanOut, "CUR-7", `read_fan_out false for a group of ${threshold} members (not above limits.readFanOutMembers)`, () => json(before));
      await send(t, a!, id, text("before 1"));
      await send(t, c!, id, text("before 2"));
      const moved = (await t.ask(a!, { case: "openConversation", value: { conversationId: id, userIds: [n1!.userId, n2!.userId] } }, "conversationOpened", "CONV-4")).conversation!;
      const addedAt = moved.lastSeq;
      check(moved.readFanOut && moved.memberCount === threshold + 2, "CUR-7", `read_fan_out true once the group has ${threshold + 2} members`, () => json(moved));
      await send(t, a!, id, text("after 1"));
      await send(t, c!, id, text("after 2"));
      const last = (await send(t, a!, id, text("after 3"))).seq;
      check(addedAt === createdThrough + 3n && last === addedAt + 3n, "SEQ-1", `ADDED at #${createdThrough + 3n}, the last message at #${addedAt + 3n}`, () => `ADDED at #${addedAt}, last #${last}`);

      expectEvents(await pushesUntil(t, c!, id, last, "CUR-8"), 1n, last, true, "CUR-8", `${c!.userId}'s pushes (connected throughout)`);
      expectEvents(await pushesUntil(t, n1!, id, last, "CUR-8"), addedAt, last, true, "CONV-7", `${n1!.userId}'s pushes (added by #${addedAt})`);
      for (const [session, from] of [[o!, 1n], [n2!, addedAt]] as const) {
        const back = await t.connect(session.userId, "d1", { position: false });
        const pages = await pageStream(t, back, session.authenticated.headCursor, 3, "CUR-7");
        expectEvents(pages.flat().filter(refersTo(id)), from, last, true, "CUR-7", `${session.userId}'s pages of 3 after cursor ${session.authenticated.headCursor} (offline throughout)`);
      }
    },
  },
  {
    id: "CUR-7/channel-posts-pushed-and-paged",
    requirements: ["CUR-7", "CUR-1", "DLV-1", "SYNC-3", "CONV-6"],
    level: "required",
    group,
    needs: ["channels"],
    title: "every post of a channel is pushed once, in order, to a connected subscriber, and paged once, in order, to an offline one without the summaries feature",
    async run(t) {
      const [a, live] = await Promise.all(["a", "live"].map((name) => t.connect(t.user(name), "d1")));
      const channel = (await t.ask(a!, { case: "openConversation", value: { kind: ConversationKind.CHANNEL, title: "posts", clientConversationId: freshKey("c") } }, "conversationOpened", "CONV-6")).conversation!.conversationId;
      const away = await t.connect(t.user("away"), "d1");
      for (const s of [live!, away]) await t.ask(s, { case: "openConversation", value: { conversationId: channel } }, "conversationOpened", "CONV-6");
      const joined = await t.nextOrViolation(away.conn, (f) => f.body.case === "deliver" && f.body.value.body.case === "joined", "CONV-7", ["the joined entry of the channel"]);
      const held = joined.body.case === "deliver" ? joined.body.value.cursor : 0n;
      away.conn.close();
      const seqs: bigint[] = [];
      for (let i = 0; i < 5; i++) seqs.push((await send(t, a!, channel, text(`post ${i}`))).seq);
      const first = seqs[0]!;
      const last = seqs.at(-1)!;
      const pushed = (await pushesUntil(t, live!, channel, last, "CUR-7")).filter((e) => e.body.case !== "joined");
      expectEvents(pushed, first, last, false, "CUR-7", `${live!.userId}'s pushes`);
      const back = await t.connect(away.userId, "d1", { position: false });
      const paged = (await pageStream(t, back, held, 2, "CUR-7")).flat().filter(refersTo(channel));
      expectEvents(paged, first, last, false, "CUR-7", `${away.userId}'s pages of 2 after its joined entry`);
    },
  },
  {
    id: "SYNC-8/one-summary-per-read-fan-out-conversation",
    requirements: ["SYNC-8", "EXT-5", "CUR-7", "SYNC-3", "SYNC-1", "RECV-3"],
    level: "required",
    group,
    needs: ["channels"],
    title: "with FEATURE_CONVERSATION_SUMMARIES, five posts to a channel while away page as one notify entry with the newest seq, beside a one-to-one conversation's entries as they are; sync_conversation gives the five once; a device of the same user without the feature pages every post",
    async run(t) {
      const a = await t.connect(t.user("a"), "d1");
      const [summarised] = await featured(t, [SUMMARIES], SUMMARIES, "u");
      const plain = await t.connect(summarised!.userId, "d2");
      const channel = (await t.ask(a, { case: "openConversation", value: { kind: ConversationKind.CHANNEL, title: "news", clientConversationId: freshKey("c") } }, "conversationOpened", "CONV-6")).conversation!.conversationId;
      const subscribed = (await t.ask(summarised!, { case: "openConversation", value: { conversationId: channel } }, "conversationOpened", "CONV-6")).conversation!;
      const joined = await t.nextOrViolation(plain.conn, (f) => f.body.case === "deliver" && f.body.value.body.case === "joined", "CONV-7", ["the joined entry of the channel"]);
      const held = joined.body.case === "deliver" ? joined.body.value.cursor : 0n;
      await t.nextOrViolation(summarised!.conn, (f) => f.body.case === "deliver" && f.body.value.cursor === held, "CUR-2", [`the joined entry at cursor ${held} on the other device`]);
      summarised!.conn.close();
      plain.conn.close();

      const dm = (await t.ask(a!, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: [summarised!.userId] } }, "conversationOpened", "CONV-2")).conversation!.conversationId;
      const dmFirst = (await send(t, a!, dm, text("dm before"))).seq;
      const posts: bigint[] = [];
      for (let i = 0; i < 5; i++) posts.push((await send(t, a!, channel, text(`post ${i}`))).seq);
      const dmLast = (await send(t, a!, dm, text("dm after"))).seq;
      const newest = posts.at(-1)!;

      const back = await t.connect(summarised!.userId, "d1", { position: false, features: [SUMMARIES] });
      check(back.welcome.features.includes(SUMMARIES), "EXT-5", "FEATURE_CONVERSATION_SUMMARIES in force again on the same offer", () => `[${back.welcome.features.join(", ")}]`);
      const pages = await pageStream(t, back, held, 0, "SYNC-8");
      for (const page of pages) {
        const ofChannel = page.filter(refersTo(channel));
        check(ofChannel.length <= 1, "SYNC-8", `at most one entry for the channel in a page`, () => shapeOf(ofChannel).join(","));
      }
      const summaries = pages.flat().filter(refersTo(channel));
      const summary = summaries.at(-1);
      check(summary?.body.case === "notify" && summary.body.value.seq === newest, "SYNC-8", `the channel summarised as notify #${newest}, its newest post`, () => json(summaries.map((e) => e.body)));
      // A one-to-one conversation is under write fan-out where the profile says groups of two are (readFanOutMembers ≥ 2).
      if ((t.target.limits?.readFanOutMembers ?? 0) >= 2) {
        expectEvents(pages.flat().filter(refersTo(dm)), 1n, dmLast, true, "SYNC-8", `the one-to-one conversation's entries, not summarised (#${dmFirst}..#${dmLast})`);
      }
      const pulled = await t.ask(back, { case: "syncConversation", value: { conversationId: channel, afterSeq: subscribed.lastSeq } }, "conversationPage", "SYNC-8");
      const pulledSeqs = pulled.events.map((e) => e.seq).join(",");
      check(pulledSeqs === posts.join(","), "SYNC-8", `sync_conversation after #${subscribed.lastSeq} gives the posts ${posts.join(",")}, each once`, () => pulledSeqs);

      const plainBack = await t.connect(plain.userId, "d2", { position: false });
      expectEvents((await pageStream(t, plainBack, held, 0, "SYNC-8")).flat().filter(refersTo(channel)), posts[0]!, newest, false, "SYNC-8", "the device without the feature: every post");

    },
  },
  {
    id: "SYNC-8/push-backlog-summarised-or-whole",
    requirements: ["SYNC-8", "DLV-1", "FLOW-2", "EXT-5", "RECV-3"],
    level: "required",
    group,
    needs: ["channels"],
    title: "a device with FEATURE_CONVERSATION_SUMMARIES whose window fills gets the backlog of a channel as its posts in order or as summaries of the newest waiting (never of a lone one), ending at the newest post; a lone post to a caught-up device is pushed whole",
    async run(t) {
      const a = await t.connect(t.user("a"), "d1");
      const [live] = await featured(t, [SUMMARIES], SUMMARIES, "u");
      const channel = (await t.ask(a, { case: "openConversation", value: { kind: ConversationKind.CHANNEL, title: "burst", clientConversationId: freshKey("c") } }, "conversationOpened", "CONV-6")).conversation!.conversationId;
      await t.ask(live!, { case: "openConversation", value: { conversationId: channel } }, "conversationOpened", "CONV-6");
      await t.nextOrViolation(live!.conn, (f) => f.body.case === "deliver" && f.body.value.body.case === "joined", "CONV-7", ["the joined entry of the channel"]);
      live!.conn.autoAck = false;
      // A window's worth held unacknowledged, so that the rest waits in the stream as a backlog.
      const window = live!.welcome.receiveWindow;
      const burst: bigint[] = [];
      for (let i = 0; i < window + 3; i++) burst.push((await send(t, a, channel, text(`burst ${i}`))).seq);
      const firstWindow = await pushesUntil(t, live!, channel, burst[window - 1]!, "SYNC-8");
      live!.conn.send({ case: "deliveryAck", value: { cursor: firstWindow.at(-1)!.cursor } }, 0);
      const rest = await pushesUntil(t, live!, channel, burst.at(-1)!, "SYNC-8");
      let held = burst[0]! - 1n;
      for (const entry of [...firstWindow, ...rest]) {
        const seq = seqOf(entry)!;
        if (entry.body.case === "event") {
          check(seq === held + 1n, "SEQ-1", `the next post whole: #${held + 1n}`, () => `#${seq}`);
        } else {
          // A summary stands for more than one waiting event: a lone one goes whole (SYNC-8).
          check(entry.body.case === "notify" && seq >= held + 2n, "SYNC-8", `a summary of at least two waiting posts, past #${held + 1n}`, () => `${entry.body.case} #${seq}`);
        }
        held = seq > held ? seq : held;
      }
      check(held === burst.at(-1)!, "SYNC-8", `the pushes reach the newest post #${burst.at(-1)}`, () => `#${held}`);
      live!.conn.send({ case: "deliveryAck", value: { cursor: rest.at(-1)!.cursor } }, 0);
      const lone = (await send(t, a, channel, text("lone"))).seq;
      const [pushed] = await pushesUntil(t, live!, channel, lone, "SYNC-8");
      check(pushed!.body.case === "event" && seqOf(pushed!) === lone, "SYNC-8", `the lone post #${lone} pushed whole`, () => `${pushed!.body.case} #${seqOf(pushed!)}`);
    },
  },
  {
    id: "LIM-9/members-paged-above-the-inline-limit",
    requirements: ["LIM-9", "CONV-9", "LIM-4", "CONV-10"],
    level: "required",
    group,
    title: "a group of limits.maxInlineMembers lists its members; one more and it has members_paged and an empty member_user_ids; a request bringing in more users than the limit is INVALID_ARGUMENT",
    async run(t) {
      const inline = t.limit("maxInlineMembers");
      const [a] = await featured(t, [PAGES], undefined, "a");
      const others = Array.from({ length: inline + 1 }, (_, i) => t.user(`u${i}`));
      await register(t, others);
      const createRequest = a!.conn.send({ case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: others.slice(0, inline), title: "too many", clientConversationId: freshKey("g") } });
      await t.expectErrorFrom(a!.conn, [ErrorCode.INVALID_ARGUMENT], "LIM-9", { requestId: createRequest, closing: false });
      const small = await buildGroup(t, a!, [], "CONV-3");
      const addRequest = a!.conn.send({ case: "openConversation", value: { conversationId: small.conversationId, userIds: others } });
      await t.expectErrorFrom(a!.conn, [ErrorCode.INVALID_ARGUMENT], "LIM-9", { requestId: addRequest, closing: false });

      // No group above the inline limit where maxGroupSize forbids one, or, undeclared, where the server has no member pages (LIM-4).
      const maxGroup = t.target.limits?.maxGroupSize;
      if (maxGroup !== undefined ? maxGroup <= inline : !a!.welcome.features.includes(PAGES)) return;
      const full = await buildGroup(t, a!, others.slice(0, inline - 1), "LIM-9");
      check(!full.membersPaged && full.memberUserIds.length === inline && full.memberCount === inline, "CONV-9", `a group of ${inline} members listed inline`, () => json({ ...full, memberUserIds: full.memberUserIds.length }));
      const grown = (await t.ask(a!, { case: "openConversation", value: { conversationId: full.conversationId, userIds: [others[inline - 1]!] } }, "conversationOpened", "LIM-9")).conversation!;
      check(grown.membersPaged && grown.memberUserIds.length === 0 && grown.memberCount === inline + 1, "LIM-9", `a group of ${inline + 1} members: members_paged, no member_user_ids, member_count ${inline + 1}`, () => json({ ...grown, memberUserIds: grown.memberUserIds.length }));
      if (a!.welcome.features.includes(PAGES)) {
        const { members } = await allMembers(t, a!, full.conversationId, 0);
        check(members.length === inline + 1 && new Set(members.map((m) => m.userId)).size === inline + 1, "CONV-10", `the paged group's ${inline + 1} members, each once`, () => `${members.length} members`);
      }
    },
  },
];
