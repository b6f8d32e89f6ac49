import { ConversationKind, Role, type Conversation, type ConversationOpened } from "../../../gen/imwire/v1/conversation_pb.js";
import type { UserEvent } from "../../../gen/imwire/v1/delivery_pb.js";
import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import type { Frame } from "../../../gen/imwire/v1/frame_pb.js";
import { MembershipAction, type ConversationEvent, type MembershipChange } from "../../../gen/imwire/v1/message_pb.js";
import { DeviceState, ReceiveMode } from "../../../gen/imwire/v1/settings_pb.js";
import { MAX_ID_BYTES, MAX_LIST_ENTRIES, MAX_TITLE_BYTES } from "../../../limits.js";
import type { Session, TestContext } from "../context.js";
import type { PushHandoff } from "../push-listener.js";
import { describe, type FrameBody } from "../scripted-connection.js";
import { Violation, type ConformanceTest } from "../types.js";
import { check, direct, eventPush, freshKey, group as makeGroup, push, send, text, users, type Content } from "./helpers.js";

/**
 * The conversation rules the other case files leave unchecked: the edges of
 * open_conversation's five forms (CONV-1 to CONV-5), `created`, roles and
 * member lists, group limits (LIM-4), identifier and title lengths at every
 * UTF-8 boundary (LIM-2, LIM-7), sha256 in every media kind (MSG-3), device
 * states and settings that change nothing (RECV-4, RECV-5), marks that do not
 * move the marker (READ-1), and the answers that read what many writes left.
 */

const bigJson = (value: unknown) => JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? String(v) : v instanceof Uint8Array ? `<${v.length} bytes>` : v));

function membershipOf(event: ConversationEvent | undefined): MembershipChange | undefined {
  return event?.body.case === "membership" ? event.body.value : undefined;
}

const sameSet = (got: readonly string[], want: readonly string[]) => got.length === want.length && new Set(got).size === got.length && want.every((u) => got.includes(u));

/** open_conversation, expecting conversation_opened. */
function open(t: TestContext, session: Session, value: Extract<FrameBody, { case: "openConversation" }>["value"], requirement: string): Promise<ConversationOpened> {
  return t.ask(session, { case: "openConversation", value }, "conversationOpened", requirement);
}

/** A request that must be refused with one of `codes` (not closing); `what` says why, for the report. */
async function refused(t: TestContext, session: Session, body: FrameBody, codes: readonly ErrorCode[], requirement: string, what: string): Promise<void> {
  const requestId = session.conn.send(body);
  const acceptable = codes.map((c) => `error ERROR_CODE_${ErrorCode[c]}`);
  const frame = await t.nextOrViolation(session.conn, (f) => f.requestId === requestId, requirement, acceptable);
  if (frame.body.case !== "error") throw new Violation(`${requirement}: ${what} must be refused`, acceptable, describe(frame));
  t.expectError(frame, codes, `${requirement} (${what})`, false);
}

/** The conversation's events from the start, every page (SYNC-2). */
async function history(t: TestContext, session: Session, conversationId: string): Promise<{ events: ConversationEvent[]; lastSeq: bigint }> {
  const events: ConversationEvent[] = [];
  for (let pages = 0; ; pages++) {
    check(pages < 50, "SYNC-2", "an end to the pages", () => `more than 50 pages for ${events.length} events`);
    const page = await t.ask(session, { case: "syncConversation", value: { conversationId, afterSeq: events.at(-1)?.seq ?? 0n } }, "conversationPage", "SYNC-1");
    events.push(...page.events);
    if (!page.hasMore) return { events, lastSeq: page.lastSeq };
  }
}

const lastSeqOf = async (t: TestContext, session: Session, conversationId: string) =>
  (await t.ask(session, { case: "syncConversation", value: { conversationId, afterSeq: 0n, limit: 1 } }, "conversationPage", "SYNC-1")).lastSeq;

/**
 * Every conversation of a snapshot (SYNC-4, SYNC-7), its pages followed; with
 * `after`, the pages from snapshot_after = `after` on, as the session's epoch.
 */
async function snapshotConversations(t: TestContext, session: Session, after = ""): Promise<Conversation[]> {
  const listed: Conversation[] = [];
  let request = after === "" ? {} : { epoch: session.authenticated.epoch, snapshotAfter: after };
  for (let pages = 0; ; pages++) {
    check(pages < 100, "SYNC-7", "an end to the snapshot pages", () => "more than 100 pages");
    const page = await t.ask(session, { case: "syncUser", value: request }, "userPage", "SYNC-7");
    const snapshot = page.snapshot;
    check(snapshot !== undefined, "SYNC-4", after === "" ? "a snapshot for a device with no epoch" : `the snapshot page after ${JSON.stringify(after)}`, () => `${page.events.length} entries and no snapshot`);
    listed.push(...snapshot!.conversations);
    if (snapshot!.continueAfter === "") return listed;
    request = { epoch: snapshot!.epoch, snapshotAfter: snapshot!.continueAfter };
  }
}

/** A `joined` entry for conversation `id`. */
const joinedPush = (id: string) => (e: UserEvent) => e.body.case === "joined" && e.body.value.conversation?.conversationId === id;

/** The conversation a joined entry describes, after checking it says created: false (it is no answer: CONV-4). */
async function joinedView(t: TestContext, session: Session, id: string, why: string): Promise<Conversation> {
  const entry = await push(t, session, joinedPush(id), "CONV-7", `a joined entry for ${id} on ${session.userId}/${session.deviceId} (${why})`);
  const joined = entry.body.value as ConversationOpened;
  check(!joined.created, "CONV-4", `the joined entry for ${id} (${why}) with created: false (created is true only in the answer to the request that created it)`, () => bigJson(joined));
  return joined.conversation!;
}

/** Make users exist (AUTH-7: from their first successful authenticate), without keeping their connections. */
async function existingUsers(t: TestContext, prefix: string, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => t.user(`${prefix}${i}`));
  for (let i = 0; i < ids.length; i += 40) {
    await Promise.all(
      ids.slice(i, i + 40).map(async (userId) => {
        const conn = await t.open();
        await t.hello(conn, "d1");
        const answer = await conn.request({ case: "authenticate", value: { token: await t.token(userId, "d1") } }, t.timeoutMs);
        t.answerOf(answer, "authenticated", "AUTH-1");
        conn.close();
      }),
    );
  }
  return ids;
}

/** `s` padded with "x" to exactly `bytes` bytes of UTF-8. */
const padTo = (s: string, bytes: number) => s + "x".repeat(bytes - Buffer.byteLength(s));

/** Strings of `n` copies of the character with code point `cp`, then `tail`. */
const repeated = (cp: number, n: number, tail = "") => String.fromCodePoint(cp).repeat(n) + tail;

/**
 * Identifiers at each UTF-8 width boundary (1/2 bytes at U+007F/U+0080, 2/3 at
 * U+07FF/U+0800, 3/4 at U+FFFF/U+10000, and the last code point U+10FFFF):
 * exactly 128 bytes, and 129.
 */
const ID_BOUNDARIES: readonly { readonly what: string; readonly ok: string; readonly long: string }[] = [
  { what: "U+007F (1 byte)", ok: repeated(0x7f, 128), long: repeated(0x7f, 129) },
  { what: "U+0080 (2 bytes)", ok: repeated(0x80, 64), long: repeated(0x80, 64, "a") },
  { what: "U+07FF (2 bytes)", ok: repeated(0x7ff, 64), long: repeated(0x7ff, 64, "a") },
  { what: "U+0800 (3 bytes)", ok: repeated(0x800, 42, "aa"), long: repeated(0x800, 43) },
  { what: "U+D7FF (3 bytes)", ok: repeated(0xd7ff, 42, "aa"), long: repeated(0xd7ff, 43) },
  { what: "U+E000 (3 bytes)", ok: repeated(0xe000, 42, "aa"), long: repeated(0xe000, 43) },
  { what: "U+FFFF (3 bytes)", ok: repeated(0xffff, 42, "aa"), long: repeated(0xffff, 43) },
  { what: "U+10000 (4 bytes)", ok: repeated(0x10000, 32), long: repeated(0x10000, 32, "a") },
  { what: "U+10FFFF (4 bytes)", ok: repeated(0x10ffff, 32), long: repeated(0x10ffff, 32, "a") },
];

/** Titles of exactly 1,024 bytes and 1,025 at the same boundaries (LIM-7). */
const TITLE_BOUNDARIES: readonly { readonly what: string; readonly ok: string; readonly long: string }[] = [
  { what: "U+0080 (2 bytes)", ok: repeated(0x80, 512), long: repeated(0x80, 512, "a") },
  { what: "U+0800 (3 bytes)", ok: repeated(0x800, 341, "a"), long: repeated(0x800, 341, "aa") },
  { what: "U+FFFF (3 bytes)", ok: repeated(0xffff, 341, "a"), long: repeated(0xffff, 341, "aa") },
  { what: "U+10000 (4 bytes)", ok: repeated(0x10000, 256), long: repeated(0x10000, 256, "a") },
  { what: "U+10FFFF (4 bytes)", ok: repeated(0x10ffff, 256), long: repeated(0x10ffff, 256, "a") },
];

for (const b of ID_BOUNDARIES) if (Buffer.byteLength(b.ok) !== MAX_ID_BYTES || Buffer.byteLength(b.long) !== MAX_ID_BYTES + 1) throw new Error(`bad id boundary ${b.what}`);
for (const b of TITLE_BOUNDARIES) if (Buffer.byteLength(b.ok) !== MAX_TITLE_BYTES || Buffer.byteLength(b.long) !== MAX_TITLE_BYTES + 1) throw new Error(`bad title boundary ${b.what}`);

const media = (sha256?: number) => ({ uri: "https://media.example/m", ...(sha256 === undefined ? {} : { sha256: new Uint8Array(sha256).fill(7) }) });
/** Content of each kind that carries a MediaRef (MSG-3), with a sha256 of `sha256` bytes (none when undefined). */
const MEDIA_KINDS: readonly { readonly kind: string; readonly content: (sha256?: number) => Content }[] = [
  { kind: "image", content: (n) => ({ kind: { case: "image", value: { media: media(n) } } }) },
  { kind: "voice", content: (n) => ({ kind: { case: "voice", value: { media: media(n) } } }) },
  { kind: "video", content: (n) => ({ kind: { case: "video", value: { media: media(n) } } }) },
  { kind: "file", content: (n) => ({ kind: { case: "file", value: { media: media(n), fileName: "notes.txt" } } }) },
  { kind: "sticker", content: (n) => ({ kind: { case: "sticker", value: { stickerId: "wave", media: media(n) } } }) },
];

export const conversationGapTests: ConformanceTest[] = [
  {
    id: "CONV-1/open-needs-a-kind-or-an-id",
    requirements: ["CONV-1", "ERR-4"],
    level: "required",
    group: "membership",
    title: "open_conversation with neither kind nor conversation_id matches none of its five forms: INVALID_ARGUMENT, and nothing is created",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const forms: [string, Extract<FrameBody, { case: "openConversation" }>["value"]][] = [
        ["no field at all", {}],
        ["only a title", { title: "what am I" }],
        ["user_ids without a kind", { userIds: [b!.userId] }],
        ["a client_conversation_id without a kind", { clientConversationId: freshKey("g"), userIds: [b!.userId], title: "no kind" }],
      ];
      for (const [what, value] of forms) {
        await refused(t, a!, { case: "openConversation", value }, [ErrorCode.INVALID_ARGUMENT], "CONV-1", `open_conversation with ${what}`);
      }
      const opened = await open(t, a!, { kind: ConversationKind.DIRECT, userIds: [b!.userId] }, "CONV-2");
      check(opened.created, "CONV-1", "created: true for the pair's first one-to-one conversation: the refused requests created none", () => bigJson(opened));
    },
  },
  {
    id: "CONV-2/one-to-one-peers-and-answers",
    requirements: ["CONV-2", "CONV-1", "CONV-4", "CONV-7", "CONV-9"],
    level: "required",
    group: "membership",
    title: "a one-to-one conversation names exactly one other user; it is created once, answered created: false ever after from either side, opened by id with its own kind only, and never grows a third member",
    async run(t) {
      const [a, b, c] = await users(t, "a", "b", "c");
      const refuse = (userIds: string[], what: string) =>
        refused(t, a!, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds } }, [ErrorCode.INVALID_ARGUMENT], "CONV-2", `a one-to-one conversation with ${what}`);
      await refuse([], "no peer");
      await refuse([b!.userId, c!.userId], "two peers");
      await refuse([a!.userId], "the requester itself");

      const first = await open(t, a!, { kind: ConversationKind.DIRECT, userIds: [b!.userId] }, "CONV-2");
      const view = first.conversation!;
      const id = view.conversationId;
      check(first.created, "CONV-4", "created: true in the answer to the request that created it (the refused ones created nothing)", () => bigJson(first));
      check(view.kind === ConversationKind.DIRECT && view.role === Role.MEMBER, "CONV-1", "a DIRECT conversation in which the requester is a MEMBER", () => bigJson(view));
      check(view.memberCount === 2 && sameSet(view.memberUserIds, [a!.userId, b!.userId]), "CONV-9", `member_count 2 and member_user_ids ${a!.userId},${b!.userId}`, () => bigJson(view));
      for (const member of [a!, b!]) {
        const joined = await joinedView(t, member, id, "the one-to-one conversation was created");
        check(joined.role === Role.MEMBER && joined.kind === ConversationKind.DIRECT, "CONV-1", `${member.userId} a MEMBER of the DIRECT conversation`, () => bigJson(joined));
      }
      const created = (await history(t, b!, id)).events[0];
      check(created?.seq === 1n && membershipOf(created)?.action === MembershipAction.CREATED && sameSet(membershipOf(created)!.userIds, [a!.userId, b!.userId]), "CONV-2", "seq 1: CREATED with both users", () => bigJson(created));

      for (const [who, session, peer] of [["the creator", a!, b!], ["the peer", b!, a!]] as const) {
        const again = await open(t, session, { kind: ConversationKind.DIRECT, userIds: [peer.userId] }, "CONV-2");
        check(again.conversation!.conversationId === id && !again.created, "CONV-2", `${who} creating it again gets ${id} with created: false`, () => bigJson(again));
      }
      for (const kind of [ConversationKind.UNSPECIFIED, ConversationKind.DIRECT]) {
        const byId = await open(t, a!, { conversationId: id, kind }, "CONV-4");
        check(!byId.created && byId.conversation!.kind === ConversationKind.DIRECT, "CONV-4", `opening by id${kind ? " with kind DIRECT" : ""}: the conversation, created: false`, () => bigJson(byId));
      }
      for (const kind of [ConversationKind.GROUP, ConversationKind.CHANNEL]) {
        await refused(t, b!, { case: "openConversation", value: { conversationId: id, kind } }, [ErrorCode.INVALID_ARGUMENT], "CONV-4", `opening a DIRECT conversation by id with kind ${ConversationKind[kind]}`);
      }

      // CONV-1: exactly two users. However the server answers, the third user must not become a member.
      const before = await lastSeqOf(t, a!, id);
      const answer = await a!.conn.request({ case: "openConversation", value: { conversationId: id, userIds: [c!.userId] } }, t.timeoutMs);
      if (answer.body.case === "conversationOpened") {
        const after = answer.body.value.conversation!;
        check(after.memberCount === 2 && !after.memberUserIds.includes(c!.userId), "CONV-1", "a DIRECT conversation still of exactly two users", () => bigJson(after));
      } else if (answer.body.case !== "error") {
        throw new Violation("CONV-1: an answer to open_conversation", ["conversation_opened", "error"], describe(answer));
      }
      const requestId = c!.conn.send({ case: "syncConversation", value: { conversationId: id } });
      await t.expectErrorFrom(c!.conn, [ErrorCode.PERMISSION_DENIED], "CONV-1", { requestId, closing: false });
      const after = await lastSeqOf(t, a!, id);
      check(after === before, "CONV-1", `last_seq still ${before}: nobody was added to a one-to-one conversation`, () => `last_seq ${after}`);
    },
  },
  {
    id: "CONV-2/one-to-one-beside-groups-and-channels",
    requirements: ["CONV-2", "CONV-1"],
    level: "required",
    group: "membership",
    title: "groups and channels of the same two users are not their one-to-one conversation, whichever came first and whoever asks",
    async run(t) {
      const [a, b, c] = await users(t, "a", "b", "c");
      const features = t.target.features;
      // Groups first: of three, then of just the two (a pair's members, as a DIRECT conversation has).
      const big = await makeGroup(t, a!, [b!, c!]);
      const pairGroup = await makeGroup(t, a!, [b!]);
      const first = await open(t, a!, { kind: ConversationKind.DIRECT, userIds: [b!.userId] }, "CONV-2");
      const id = first.conversation!.conversationId;
      check(first.created && first.conversation!.kind === ConversationKind.DIRECT && id !== big && id !== pairGroup, "CONV-2", `a new DIRECT conversation of ${a!.userId} and ${b!.userId} (created: true), not one of their groups`, () => bigJson(first));
      // Then more groups and a channel of the two, after the one-to-one conversation exists.
      const later = await makeGroup(t, b!, [a!]);
      let channel = "";
      if (features.has("channels")) {
        channel = (await open(t, a!, { kind: ConversationKind.CHANNEL, title: "a's news", clientConversationId: freshKey("ch") }, "CONV-3")).conversation!.conversationId;
        await open(t, b!, { conversationId: channel }, "CONV-4");
      }
      const bc = await makeGroup(t, b!, [c!]);
      for (const [who, session, peer, want] of [
        [a!.userId, a!, b!, id],
        [b!.userId, b!, a!, id],
      ] as const) {
        const again = await open(t, session, { kind: ConversationKind.DIRECT, userIds: [peer.userId] }, "CONV-2");
        check(again.conversation!.conversationId === want && !again.created && again.conversation!.kind === ConversationKind.DIRECT, "CONV-2", `${who} gets the DIRECT conversation ${want} again (created: false), not ${[later, channel, pairGroup].filter(Boolean).join(" or ")}`, () => bigJson(again));
      }
      const cb = await open(t, c!, { kind: ConversationKind.DIRECT, userIds: [b!.userId] }, "CONV-2");
      check(cb.created && cb.conversation!.kind === ConversationKind.DIRECT && ![big, bc, id].includes(cb.conversation!.conversationId), "CONV-2", `a new DIRECT conversation of ${c!.userId} and ${b!.userId}, not their group ${bc}`, () => bigJson(cb));
    },
  },
  {
    id: "CONV-3/group-members-listed-once",
    requirements: ["CONV-3", "CONV-1", "CONV-7", "CONV-9", "CONV-4"],
    level: "required",
    group: "membership",
    title: "a group created with user_ids naming a member twice and the creator itself has each member once, the creator first and OWNER, the others MEMBER; a group needs client_conversation_id",
    async run(t) {
      const [a, b, c] = await users(t, "a", "b", "c");
      await refused(t, a!, { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: [b!.userId], title: "no key" } }, [ErrorCode.INVALID_ARGUMENT], "CONV-3", "a group without client_conversation_id");

      const opened = await open(t, a!, { kind: ConversationKind.GROUP, userIds: [b!.userId, b!.userId, a!.userId, c!.userId], title: "twice", clientConversationId: freshKey("g") }, "CONV-3");
      const view = opened.conversation!;
      const id = view.conversationId;
      const everyone = [a!.userId, b!.userId, c!.userId];
      check(opened.created, "CONV-4", "created: true", () => bigJson(opened));
      check(view.role === Role.OWNER, "CONV-1", "the creator OWNER", () => `role ${Role[view.role]}`);
      check(view.memberCount === 3 && sameSet(view.memberUserIds, everyone), "CONV-9", `member_count 3, member_user_ids ${everyone.join(",")} each once`, () => bigJson(view));
      const created = (await history(t, a!, id)).events[0];
      const change = membershipOf(created);
      check(change?.action === MembershipAction.CREATED && change.userIds[0] === a!.userId && sameSet(change.userIds, everyone), "CONV-3", `CREATED listing ${everyone.join(",")}: the creator first, each member once`, () => bigJson(created));
      for (const member of [b!, c!]) {
        const joined = await joinedView(t, member, id, "added at creation");
        check(joined.role === Role.MEMBER, "CONV-1", `${member.userId} a MEMBER (only the creator is OWNER)`, () => `role ${Role[joined.role]}`);
        const mine = (await open(t, member, { conversationId: id, kind: ConversationKind.GROUP }, "CONV-4")).conversation!;
        check(mine.role === Role.MEMBER && mine.memberCount === 3, "CONV-1", `${member.userId} sees itself a MEMBER of 3`, () => bigJson(mine));
      }

      const alone = await open(t, a!, { kind: ConversationKind.GROUP, userIds: [a!.userId], title: "just me", clientConversationId: freshKey("g") }, "CONV-3");
      const aloneId = alone.conversation!.conversationId;
      check(alone.conversation!.memberCount === 1 && sameSet(alone.conversation!.memberUserIds, [a!.userId]), "CONV-9", `a group of ${a!.userId} alone`, () => bigJson(alone));
      const aloneCreated = membershipOf((await history(t, a!, aloneId)).events[0]);
      check(aloneCreated?.userIds.join(",") === a!.userId, "CONV-3", `CREATED listing ${a!.userId} once`, () => bigJson(aloneCreated));
    },
  },
  {
    id: "CONV-4/created-only-in-the-creating-answer",
    requirements: ["CONV-4", "CONV-7"],
    level: "required",
    group: "membership",
    title: "opening a group by id (with its kind or none), adding members, and adding only members again are all answered created: false, and the joined entries of added users too; another kind is INVALID_ARGUMENT",
    async run(t) {
      const [a, b, c] = await users(t, "a", "b", "c");
      const first = await open(t, a!, { kind: ConversationKind.GROUP, userIds: [b!.userId], title: "g", clientConversationId: freshKey("g") }, "CONV-3");
      const id = first.conversation!.conversationId;
      check(first.created, "CONV-4", "created: true for the creating request", () => bigJson(first));
      await joinedView(t, b!, id, "added at creation");
      for (const kind of [ConversationKind.UNSPECIFIED, ConversationKind.GROUP]) {
        for (const session of [a!, b!]) {
          const byId = await open(t, session, { conversationId: id, kind }, "CONV-4");
          check(!byId.created, "CONV-4", `${session.userId} opening by id${kind ? " with kind GROUP" : ""}: created: false`, () => bigJson(byId));
        }
      }
      for (const kind of [ConversationKind.DIRECT, ConversationKind.CHANNEL]) {
        await refused(t, a!, { case: "openConversation", value: { conversationId: id, kind } }, [ErrorCode.INVALID_ARGUMENT], "CONV-4", `opening a group by id with kind ${ConversationKind[kind]}`);
      }
      const added = await open(t, b!, { conversationId: id, userIds: [c!.userId], kind: ConversationKind.GROUP }, "CONV-4");
      check(!added.created && added.conversation!.memberCount === 3, "CONV-4", "adding a member: created: false, member_count 3", () => bigJson(added));
      await joinedView(t, c!, id, "added by a member");
      const before = await lastSeqOf(t, a!, id);
      const again = await open(t, a!, { conversationId: id, userIds: [b!.userId, c!.userId] }, "CONV-4");
      check(!again.created && again.conversation!.memberCount === 3, "CONV-4", "adding only members: created: false, member_count 3", () => bigJson(again));
      const after = await lastSeqOf(t, a!, id);
      check(after === before, "CONV-4", `last_seq still ${before}: adding only members appends nothing`, () => `last_seq ${after}`);
    },
  },
  {
    id: "CONV-3/channel-creation-and-subscription",
    requirements: ["CONV-3", "CONV-4", "IDEM-5", "CONV-1", "CONV-7"],
    level: "required",
    group: "membership",
    needs: ["channels"],
    title: "a channel created with user_ids is INVALID_ARGUMENT and creates nothing; a channel's CREATED lists its owner; subscribing, subscribing again and opening are answered created: false; another kind is INVALID_ARGUMENT",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const key = freshKey("ch");
      await refused(t, a!, { case: "openConversation", value: { kind: ConversationKind.CHANNEL, title: "news", clientConversationId: key, userIds: [b!.userId] } }, [ErrorCode.INVALID_ARGUMENT], "CONV-3", "a channel created with user_ids");
      const opened = await open(t, a!, { kind: ConversationKind.CHANNEL, title: "news", clientConversationId: key }, "CONV-3");
      check(opened.created, "IDEM-5", "created: true: the refused creation was not remembered under its key", () => bigJson(opened));
      const id = opened.conversation!.conversationId;
      check(opened.conversation!.role === Role.OWNER && opened.conversation!.memberCount === 1, "CONV-1", "the creator the channel's OWNER, its only member", () => bigJson(opened));
      const created = membershipOf((await history(t, a!, id)).events[0]);
      check(created?.action === MembershipAction.CREATED && created.userIds.join(",") === a!.userId, "CONV-3", `CREATED listing the owner ${a!.userId} alone`, () => bigJson(created));

      for (const [what, kind] of [["subscribing", ConversationKind.UNSPECIFIED], ["subscribing again, with kind CHANNEL", ConversationKind.CHANNEL]] as const) {
        const sub = await open(t, b!, { conversationId: id, kind }, "CONV-4");
        check(!sub.created && sub.conversation!.role === Role.SUBSCRIBER && sub.conversation!.memberCount === 2, "CONV-4", `${what}: created: false, role SUBSCRIBER, member_count 2`, () => bigJson(sub));
      }
      await joinedView(t, b!, id, "subscribed");
      const own = await open(t, a!, { conversationId: id }, "CONV-4");
      check(!own.created && own.conversation!.role === Role.OWNER, "CONV-4", "the owner opening its channel: created: false, role OWNER", () => bigJson(own));
      for (const kind of [ConversationKind.GROUP, ConversationKind.DIRECT]) {
        await refused(t, b!, { case: "openConversation", value: { conversationId: id, kind } }, [ErrorCode.INVALID_ARGUMENT], "CONV-4", `opening a channel by id with kind ${ConversationKind[kind]}`);
      }
    },
  },
  {
    id: "CONV-9/former-member-sees-members-added-before-it-left",
    requirements: ["CONV-9", "CONV-4", "CONV-8"],
    level: "required",
    group: "membership",
    title: "a former member opening the group by id gets it as of its LEFT event: the members added before it left, not those added after, and not itself",
    async run(t) {
      const [a, b, c, d] = await users(t, "a", "b", "c", "d");
      const id = await makeGroup(t, a!, [b!]);
      await open(t, a!, { conversationId: id, userIds: [c!.userId] }, "CONV-4");
      await send(t, c!, id, text("c is here"));
      const left = await t.ask(b!, { case: "leaveConversation", value: { conversationId: id } }, "conversationLeft", "CONV-5");
      const k = left.lastVisibleSeq;
      await open(t, a!, { conversationId: id, userIds: [d!.userId] }, "CONV-4");
      await send(t, d!, id, text("d is here"));
      const then = [a!.userId, c!.userId];
      for (const kind of [ConversationKind.UNSPECIFIED, ConversationKind.GROUP]) {
        const opened = await open(t, b!, { conversationId: id, kind }, "CONV-4");
        const view = opened.conversation!;
        check(!opened.created, "CONV-4", "created: false", () => bigJson(opened));
        check(view.lastVisibleSeq === k && view.lastSeq === k, "CONV-9", `last_visible_seq and last_seq ${k}, as the former member last saw it`, () => bigJson(view));
        check(sameSet(view.memberUserIds, then) && view.memberCount === 2, "CONV-9", `member_user_ids ${then.join(",")} and member_count 2 as of #${k}: ${c!.userId}, added before, counts; ${b!.userId}, who left, and ${d!.userId}, added after, do not`, () => bigJson(view));
      }
    },
  },
  {
    id: "CONV-5/leaving-a-channel",
    requirements: ["CONV-5", "CONV-6", "CONV-7", "CONV-9", "SYNC-4"],
    level: "required",
    group: "membership",
    needs: ["channels"],
    title: "a channel's owner cannot leave it (FAILED_PRECONDITION); a subscriber leaves without an event, at the channel's last seq, and its snapshot still counts the owner",
    async run(t) {
      const [owner, fan] = await users(t, "owner", "fan");
      const created = await open(t, owner!, { kind: ConversationKind.CHANNEL, title: "news", clientConversationId: freshKey("ch") }, "CONV-3");
      const id = created.conversation!.conversationId;
      await open(t, fan!, { conversationId: id }, "CONV-4");
      let last = 1n;
      for (let i = 0; i < 2; i++) last = (await send(t, owner!, id, text(`post ${i}`))).seq;
      await push(t, fan!, eventPush(id, last), "CONV-6", `the post #${last}`);

      await refused(t, owner!, { case: "leaveConversation", value: { conversationId: id } }, [ErrorCode.FAILED_PRECONDITION], "CONV-5", "the owner leaving its channel");
      const left = await t.ask(fan!, { case: "leaveConversation", value: { conversationId: id } }, "conversationLeft", "CONV-5");
      check(left.lastVisibleSeq === last, "CONV-5", `last_visible_seq ${last}, the channel's last seq when the subscriber left`, () => bigJson(left));
      const entry = await push(t, fan!, (e) => e.body.case === "left" && e.body.value.conversationId === id, "CONV-7", `a left entry for ${id}`);
      check(entry.body.case === "left" && entry.body.value.lastVisibleSeq === last, "CONV-7", `the left entry with last_visible_seq ${last}`, () => bigJson(entry));
      const ownerView = await t.ask(owner!, { case: "syncConversation", value: { conversationId: id, afterSeq: last } }, "conversationPage", "SYNC-1");
      check(ownerView.lastSeq === last && ownerView.events.length === 0, "CONV-6", `last_seq still ${last}: a subscriber leaving appends no event`, () => `last_seq ${ownerView.lastSeq}, seqs ${ownerView.events.map((e) => e.seq).join(",")}`);
      const next = await send(t, owner!, id, text("after the fan left"));
      check(next.seq === last + 1n, "CONV-6", `the next post at #${last + 1n}`, () => `seq ${next.seq}`);
      const again = await t.ask(fan!, { case: "leaveConversation", value: { conversationId: id } }, "conversationLeft", "CONV-5");
      check(again.lastVisibleSeq === last, "CONV-5", `leaving again: the same answer, last_visible_seq ${last}`, () => bigJson(again));

      const fresh = await t.connect(fan!.userId, "fresh", { position: false });
      const listed = (await snapshotConversations(t, fresh)).find((cv) => cv.conversationId === id);
      if (listed === undefined) throw new Violation(`SYNC-4: the snapshot lists ${id}, which the former subscriber may still read`, [`a snapshot listing ${id}`], "not listed");
      check(listed.lastVisibleSeq === last && listed.lastSeq === last, "SYNC-4", `last_visible_seq and last_seq ${last}`, () => bigJson(listed));
      check(listed.memberUserIds.length === 0, "SEC-7", "no member_user_ids for a channel", () => bigJson(listed));
      check(listed.memberCount >= 1, "CONV-9", "member_count at least 1: a channel's owner, who cannot leave, is a member at every seq", () => bigJson(listed));
    },
  },
  {
    id: "CONV-5/owner-leaves-a-group-until-it-is-empty",
    requirements: ["CONV-5", "CONV-9", "READ-1", "CONV-8"],
    level: "required",
    group: "membership",
    title: "a group's owner may leave it (a LEFT event); once every member has left, the former members still read, mark read and open it as of their LEFT events",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await makeGroup(t, a!, [b!]);
      const message = await send(t, b!, id, text("before everyone leaves"));
      const ka = (await t.ask(a!, { case: "leaveConversation", value: { conversationId: id } }, "conversationLeft", "CONV-5")).lastVisibleSeq;
      const kb = (await t.ask(b!, { case: "leaveConversation", value: { conversationId: id } }, "conversationLeft", "CONV-5")).lastVisibleSeq;
      check(ka === message.seq + 1n && kb === ka + 1n, "CONV-5", `LEFT events #${message.seq + 1n} (the owner) and #${message.seq + 2n}`, () => `last_visible_seq ${ka} and ${kb}`);
      const { events } = await history(t, b!, id);
      const leftBy = (seq: bigint) => events.find((e) => e.seq === seq);
      for (const [who, seq] of [[a!.userId, ka], [b!.userId, kb]] as const) {
        const event = leftBy(seq);
        check(membershipOf(event)?.action === MembershipAction.LEFT && membershipOf(event)!.userIds.join(",") === who && event!.senderUserId === who, "CONV-5", `#${seq} LEFT by ${who}, its sender and sole user`, () => bigJson(event));
      }
      for (const [session, k, members] of [[a!, ka, [b!.userId]], [b!, kb, []]] as const) {
        const marker = await t.ask(session, { case: "markRead", value: { conversationId: id, seq: k } }, "readMarker", "READ-1");
        check(marker.seq === k, "READ-1", `${session.userId}'s marker ${k}, the last seq it may read`, () => bigJson(marker));
        const view = (await open(t, session, { conversationId: id }, "CONV-4")).conversation!;
        check(view.lastVisibleSeq === k && view.readSeq === k, "CONV-9", `${session.userId}'s view: last_visible_seq ${k}, read_seq ${k}`, () => bigJson(view));
        check(sameSet(view.memberUserIds, members) && view.memberCount === members.length, "CONV-9", `${session.userId}'s view as of #${k}: members ${members.join(",") || "none"}`, () => bigJson(view));
      }
    },
  },
  {
    id: "LIM-4/group-size-at-the-limit",
    requirements: ["LIM-4", "LIM-9", "CONV-3", "CONV-4"],
    level: "required",
    group: "limits",
    title: "a group of exactly limits.maxGroupSize members can be created (the creator counted once, even when it names itself) and grown to; one member more is INVALID_ARGUMENT, at creation and when adding",
    async run(t) {
      const max = t.limit("maxGroupSize");
      // LIM-9: one request brings in at most maxInlineMembers users (the creator counted), so a larger group is created, then grown in batches.
      const batch = Math.min(t.target.limits?.maxInlineMembers ?? max + 1, MAX_LIST_ENTRIES);
      const [a] = await users(t, "a");
      const others = await existingUsers(t, "u", max);
      const create = (userIds: string[]) => ({ case: "openConversation" as const, value: { kind: ConversationKind.GROUP, userIds, title: "big", clientConversationId: freshKey("g") } });
      const build = async (userIds: string[]): Promise<Conversation> => {
        let conversation = (await t.ask(a!, create(userIds.slice(0, batch - 1)), "conversationOpened", "LIM-4")).conversation!;
        for (let i = batch - 1; i < userIds.length; i += batch) {
          conversation = (await open(t, a!, { conversationId: conversation.conversationId, userIds: userIds.slice(i, i + batch) }, "LIM-4")).conversation!;
        }
        return conversation;
      };

      const full = await build(others.slice(0, max - 1));
      check(full.memberCount === max, "LIM-4", `a group of exactly ${max} members created`, () => `member_count ${full.memberCount}`);
      // Refused by LIM-4, or by LIM-9 first when the group is also more than one request may bring in.
      await refused(t, a!, create(others), [ErrorCode.INVALID_ARGUMENT], "LIM-4", `a group of ${max + 1} members`);
      const named = await build([a!.userId, ...others.slice(1, max)]);
      check(named.memberCount === max, "LIM-4", `a group of ${max} members, the creator naming itself among them`, () => `member_count ${named.memberCount}`);

      const growing = await build(others.slice(0, max - 2));
      const id = growing.conversationId;
      const grown = await open(t, a!, { conversationId: id, userIds: [others[max - 2]!] }, "LIM-4");
      check(grown.conversation!.memberCount === max, "LIM-4", `the group grown to exactly ${max} members`, () => `member_count ${grown.conversation!.memberCount}`);
      const seq = await lastSeqOf(t, a!, id);
      await refused(t, a!, { case: "openConversation", value: { conversationId: id, userIds: [others[max - 1]!] } }, [ErrorCode.INVALID_ARGUMENT], "LIM-4", `adding a member to a group of ${max}`);
      await refused(t, a!, { case: "openConversation", value: { conversationId: full.conversationId, userIds: [others[max - 1]!, others[0]!] } }, [ErrorCode.INVALID_ARGUMENT], "LIM-4", `adding a new member and a member to a group of ${max}`);
      const members = await open(t, a!, { conversationId: id, userIds: [others[0]!, others[max - 2]!] }, "CONV-4");
      check(members.conversation!.memberCount === max, "CONV-4", `naming only members of a full group adds no one: member_count ${max}`, () => `member_count ${members.conversation!.memberCount}`);
      const after = await lastSeqOf(t, a!, id);
      check(after === seq, "LIM-4", `last_seq still ${seq}: the refused and empty additions appended nothing`, () => `last_seq ${after}`);
    },
  },
  {
    id: "LIM-2/identifiers-at-utf8-boundaries",
    requirements: ["LIM-2", "LIM-7", "ERR-5", "AUTH-7"],
    level: "required",
    group: "limits",
    title: "identifiers of exactly 128 bytes and titles of exactly 1,024 bytes are accepted at every UTF-8 width boundary (U+007F/U+0080, U+07FF/U+0800, U+FFFF/U+10000, U+10FFFF); one byte more is INVALID_ARGUMENT, user_ids included",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      for (const boundary of ID_BOUNDARIES) {
        const ack = await send(t, a!, id, text(`a key of ${boundary.what}`), boundary.ok);
        check(ack.clientMessageId === boundary.ok, "LIM-2", `the 128-byte key of ${boundary.what} echoed`, () => ack.clientMessageId);
        await refused(t, a!, { case: "sendMessage", value: { conversationId: id, clientMessageId: boundary.long, content: text("too long a key") } }, [ErrorCode.INVALID_ARGUMENT], "LIM-2", `a 129-byte client_message_id of ${boundary.what}`);
      }
      for (const boundary of TITLE_BOUNDARIES) {
        const opened = await open(t, a!, { kind: ConversationKind.GROUP, title: boundary.ok, clientConversationId: freshKey("g") }, "LIM-7");
        check(opened.conversation!.title === boundary.ok, "LIM-7", `the 1,024-byte title of ${boundary.what} as sent`, () => `${Buffer.byteLength(opened.conversation!.title)} bytes`);
        await refused(t, a!, { case: "openConversation", value: { kind: ConversationKind.GROUP, title: boundary.long, clientConversationId: freshKey("g") } }, [ErrorCode.INVALID_ARGUMENT], "LIM-7", `a 1,025-byte title of ${boundary.what}`);
      }
      // User ids: 128 bytes is a valid id of a user who does not exist (AUTH-7); 129 bytes is no valid id at all (LIM-2 comes first, ERR-5).
      const ghost = padTo(t.user("ghost"), MAX_ID_BYTES);
      const tooLong = padTo(t.user("ghost"), MAX_ID_BYTES + 1);
      const group = await makeGroup(t, a!, [b!]);
      const forms: [string, (userId: string) => FrameBody][] = [
        ["the peer of a one-to-one conversation", (u) => ({ case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: [u] } })],
        ["an initial member of a group", (u) => ({ case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: [b!.userId, u], clientConversationId: freshKey("g") } })],
        ["a member added to a group", (u) => ({ case: "openConversation", value: { conversationId: group, userIds: [u] } })],
      ];
      for (const [what, body] of forms) {
        await refused(t, a!, body(ghost), [ErrorCode.NOT_FOUND], "AUTH-7", `a 128-byte user id nobody has, as ${what}`);
        await refused(t, a!, body(tooLong), [ErrorCode.INVALID_ARGUMENT], "LIM-2", `a 129-byte user id as ${what}`);
      }
    },
  },
  {
    id: "SYNC-7/snapshot-after-a-prefix-of-an-id",
    requirements: ["SYNC-7", "SYNC-4"],
    level: "required",
    group: "sync",
    title: "snapshot_after need not be an id: the pages after a proper prefix of a conversation id list that conversation and every one sorting after the prefix as UTF-8 bytes, and no other",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      await direct(t, a!, b!);
      await makeGroup(t, a!, [b!]);
      await makeGroup(t, b!, [a!]);
      await makeGroup(t, a!, []);
      const fresh = await t.connect(a!.userId, "fresh", { position: false });
      const ids = (await snapshotConversations(t, fresh)).map((c) => c.conversationId);
      check(ids.length === 4, "SYNC-4", "a snapshot listing the user's 4 conversations", () => ids.join(", "));
      const bytes = (s: string) => Buffer.from(s, "utf8");
      for (const id of ids) {
        const points = [...id];
        // SEC-6: an id holds at least 96 random bits, so it has more than one code point, and a proper prefix is an identifier (LIM-2).
        for (const after of [points.slice(0, -1).join(""), points.slice(0, 1).join(""), id]) {
          const want = ids.filter((other) => Buffer.compare(bytes(other), bytes(after)) > 0).sort((x, y) => Buffer.compare(bytes(x), bytes(y)));
          const got = (await snapshotConversations(t, fresh, after)).map((c) => c.conversationId);
          check(got.join(" ") === want.join(" "), "SYNC-7", `after ${JSON.stringify(after)}: the conversations whose ids sort after it as UTF-8 bytes, ascending: ${want.join(" ") || "none"}`, () => got.join(" ") || "none");
        }
      }
    },
  },
  {
    id: "MSG-3/sha256-in-every-media-kind",
    requirements: ["MSG-3", "MSG-2", "SEQ-1"],
    level: "required",
    group: "messaging",
    title: "in every content kind that carries media (image, voice, video, file, sticker), a sha256 of other than 32 bytes is INVALID_ARGUMENT; 32 bytes, or none, is accepted",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      let last = 1n;
      for (const { kind, content } of MEDIA_KINDS) {
        for (const size of [1, 31, 33]) {
          await refused(t, a!, { case: "sendMessage", value: { conversationId: id, clientMessageId: freshKey(), content: content(size) } }, [ErrorCode.INVALID_ARGUMENT], "MSG-3", `a ${kind} with a ${size}-byte sha256`);
        }
        for (const size of [32, undefined]) {
          const ack = await send(t, a!, id, content(size));
          check(ack.seq === last + 1n, "SEQ-1", `the ${kind} with ${size ? "a 32-byte" : "no"} sha256 at #${last + 1n}: the refused ones took no seq`, () => `seq ${ack.seq}`);
          last = ack.seq;
        }
      }
    },
  },
  {
    id: "RECV-5/foreground-again",
    requirements: ["RECV-5", "RECV-2"],
    level: "required",
    group: "settings",
    title: "set_device_state FOREGROUND is answered device_state_set FOREGROUND, and a device back in the foreground is pushed whole events again",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const foreground = await t.ask(b!, { case: "setDeviceState", value: { state: DeviceState.FOREGROUND } }, "deviceStateSet", "RECV-5");
      check(foreground.state === DeviceState.FOREGROUND, "RECV-5", "device_state_set FOREGROUND", () => `state ${foreground.state}`);
      await t.ask(b!, { case: "setDeviceState", value: { state: DeviceState.BACKGROUND } }, "deviceStateSet", "RECV-5");
      const asleep = await send(t, a!, id, text("while in the background"));
      const notified = await push(t, b!, eventPush(id, asleep.seq), "RECV-5", `the entry for #${asleep.seq}`);
      check(notified.body.case === "notify", "RECV-5", `#${asleep.seq} in notify form in the background`, () => `${notified.body.case} form`);
      const back = await t.ask(b!, { case: "setDeviceState", value: { state: DeviceState.FOREGROUND } }, "deviceStateSet", "RECV-5");
      check(back.state === DeviceState.FOREGROUND, "RECV-5", "device_state_set FOREGROUND", () => `state ${back.state}`);
      const awake = await send(t, a!, id, text("back in the foreground"));
      const whole = await push(t, b!, eventPush(id, awake.seq), "RECV-5", `the entry for #${awake.seq}`);
      check(whole.body.case === "event", "RECV-2", `#${awake.seq} whole in the foreground again`, () => `${whole.body.case} form`);
    },
  },
  {
    id: "RECV-4/unchanged-settings-append-nothing",
    requirements: ["RECV-4", "RECV-1", "DLV-1"],
    level: "required",
    group: "settings",
    title: "setting a receive mode that is already stored is answered with it and appends no receive_settings entry: the user's devices are next pushed the next change",
    async run(t) {
      const [a] = await users(t, "a");
      const phone = await t.connect(t.user("b"), "phone");
      const laptop = await t.connect(t.user("b"), "laptop");
      const id = await direct(t, a!, phone);
      const set = async (conversationId: string, mode: ReceiveMode) => {
        const stored = await t.ask(phone, { case: "setReceiveSettings", value: { settings: { conversationId, mode } } }, "receiveSettings", "RECV-1");
        check(stored.conversationId === conversationId && stored.mode === mode, "RECV-1", `the stored setting ${conversationId || "(account)"}=${ReceiveMode[mode]}`, () => bigJson(stored));
      };
      const nextSetting = (session: Session) => push(t, session, (e) => e.body.case === "receiveSettings", "RECV-4", "a receive_settings entry");
      const expectSetting = async (conversationId: string, mode: ReceiveMode, why: string) => {
        for (const device of [phone, laptop]) {
          const entry = await nextSetting(device);
          const got = entry.body.case === "receiveSettings" ? entry.body.value : undefined;
          check(got?.conversationId === conversationId && got.mode === mode, "RECV-4", `${device.deviceId}'s next receive_settings: ${conversationId || "(account)"}=${ReceiveMode[mode]} (${why})`, () => bigJson(got));
        }
      };
      await set(id, ReceiveMode.MUTED);
      await expectSetting(id, ReceiveMode.MUTED, "the first change");
      await set(id, ReceiveMode.MUTED);
      await set("", ReceiveMode.NOTIFY_ONLY);
      await expectSetting("", ReceiveMode.NOTIFY_ONLY, "setting MUTED again appended nothing");
      await set("", ReceiveMode.NOTIFY_ONLY);
      await set(id, ReceiveMode.UNSPECIFIED);
      await expectSetting(id, ReceiveMode.UNSPECIFIED, "setting the default NOTIFY_ONLY again appended nothing");
    },
  },
  {
    id: "READ-1/marks-that-do-not-move-the-marker",
    requirements: ["READ-1", "READ-2"],
    level: "required",
    group: "settings",
    title: "mark_read at or below the marker answers the marker, leaves it where it was, and appends no read_marker entry: the other device is next told of the next move",
    async run(t) {
      const [a] = await users(t, "a");
      const phone = await t.connect(t.user("b"), "phone");
      const laptop = await t.connect(t.user("b"), "laptop");
      const id = await direct(t, a!, phone);
      await send(t, a!, id, text("one"));
      const second = await send(t, a!, id, text("two"));
      const mark = async (seq: bigint, want: bigint, what: string) => {
        const marker = await t.ask(phone, { case: "markRead", value: { conversationId: id, seq } }, "readMarker", "READ-1");
        check(marker.seq === want, "READ-1", `marker ${want} (${what})`, () => `marker ${marker.seq}`);
      };
      const nextMarker = async (want: bigint, why: string) => {
        const entry = await push(t, laptop, (e) => e.body.case === "readMarker" && e.body.value.conversationId === id, "READ-2", `a read_marker for ${id}`);
        const got = entry.body.case === "readMarker" ? entry.body.value.seq : undefined;
        check(got === want, "READ-2", `the laptop's next read_marker ${want} (${why})`, () => `read_marker ${got}`);
      };
      await mark(second.seq, second.seq, "the first mark");
      await nextMarker(second.seq, "the first mark");
      await mark(second.seq, second.seq, `marking #${second.seq} again`);
      await mark(second.seq - 1n, second.seq, `marking #${second.seq - 1n}, below the marker`);
      const view = (await open(t, phone, { conversationId: id }, "CONV-4")).conversation!;
      check(view.readSeq === second.seq, "READ-1", `read_seq still ${second.seq}: the marker never moves back`, () => `read_seq ${view.readSeq}`);
      const third = await send(t, a!, id, text("three"));
      await mark(third.seq, third.seq, "a mark that moves it");
      await nextMarker(third.seq, "the marks at and below the marker appended nothing");
      const fresh = await t.connect(phone.userId, "fresh", { position: false });
      const listed = (await snapshotConversations(t, fresh)).find((c) => c.conversationId === id);
      check(listed?.readSeq === third.seq, "SYNC-4", `the snapshot's read_seq ${third.seq}`, () => bigJson(listed ?? "not listed"));
    },
  },
  {
    id: "CUR-1/no-read-receipt-of-ones-own-reading",
    requirements: ["CUR-1", "READ-3"],
    level: "required",
    group: "settings",
    title: "a member who marks a group read is told its read_marker, never a read_receipt of its own reading (those go to the other members)",
    async run(t) {
      const [a, b, c] = await users(t, "a", "b", "c");
      const id = await makeGroup(t, a!, [b!, c!]);
      const message = await send(t, a!, id, text("read me"));
      await t.ask(b!, { case: "markRead", value: { conversationId: id, seq: message.seq } }, "readMarker", "READ-1");
      await push(t, b!, (e) => e.body.case === "readMarker" && e.body.value.conversationId === id, "READ-2", "the read_marker");
      // Barrier: an event appended after the mark; anything the mark appended to b's stream is pushed before it.
      const later = await send(t, a!, id, text("later"));
      await push(t, b!, eventPush(id, later.seq), "DLV-1", `the event #${later.seq}`);
      const own = (f: Frame) => f.body.case === "deliver" && f.body.value.body.case === "readReceipt" && f.body.value.body.value.userId === b!.userId;
      await t.expectNothing(b!.conn, own, "CUR-1", `no read_receipt of ${b!.userId}'s own reading in its stream`);
    },
  },
  {
    id: "RECV-5/handoffs-only-for-background-registered-devices",
    requirements: ["RECV-5", "HOOK-3"],
    level: "required",
    group: "settings",
    needs: ["push-handoff"],
    hooks: ["pushWebhook"],
    title: "of one user's devices, only the one in BACKGROUND with a push registration gets a hand-off: not one in the foreground (registered, pushed in notify form), nor one in the background without a registration",
    async run(t) {
      const [a] = await users(t, "a");
      const phone = await t.connect(t.user("b"), "phone");
      const tablet = await t.connect(t.user("b"), "tablet");
      const watch = await t.connect(t.user("b"), "watch");
      const id = await direct(t, a!, phone);
      // NOTIFY_ONLY, so that every device, the foreground tablet too, is pushed the notify form a hand-off goes with.
      await t.ask(phone, { case: "setReceiveSettings", value: { settings: { conversationId: id, mode: ReceiveMode.NOTIFY_ONLY } } }, "receiveSettings", "RECV-1");
      await t.ask(phone, { case: "setDeviceState", value: { state: DeviceState.BACKGROUND, pushService: "conformance", pushToken: freshKey("phone-token") } }, "deviceStateSet", "RECV-5");
      await t.ask(tablet, { case: "setDeviceState", value: { state: DeviceState.FOREGROUND, pushService: "conformance", pushToken: freshKey("tablet-token") } }, "deviceStateSet", "RECV-5");
      await t.ask(watch, { case: "setDeviceState", value: { state: DeviceState.BACKGROUND } }, "deviceStateSet", "RECV-5");
      const ack = await send(t, a!, id, text("who gets woken?"));
      for (const device of [phone, tablet, watch]) {
        const entry = await push(t, device, eventPush(id, ack.seq), "RECV-2", `the notify entry for #${ack.seq} on ${device.deviceId}`);
        check(entry.body.case === "notify", "RECV-2", `#${ack.seq} in notify form on ${device.deviceId}`, () => `${entry.body.case} form`);
      }
      const mine = (deviceId?: string) => (h: PushHandoff) =>
        h.userId === phone.userId && h.conversationId === id && h.seq === String(ack.seq) && (deviceId === undefined || h.deviceId === deviceId);
      // The registered background device's hand-off shows the server hands off for this event; the others' must never come.
      if (!(await t.handoff(mine("phone")))) throw new Violation("RECV-5: a hand-off for the registered background device", [`a hand-off for ${phone.userId}/phone, ${id}#${ack.seq}`], `none within ${t.timeoutMs} ms`);
      const other = await t.handoff((h) => mine()(h) && h.deviceId !== "phone", t.quietMs);
      check(other === undefined, "RECV-5", "no hand-off for the foreground tablet nor the unregistered watch", () => JSON.stringify(other));
    },
  },
  {
    id: "RECV-5/an-empty-push-service-keeps-the-registration",
    requirements: ["RECV-5", "HOOK-3"],
    level: "required",
    group: "settings",
    needs: ["push-handoff"],
    hooks: ["pushWebhook"],
    title: "a device that registered a push service, then changes state without naming one, is still handed off to it",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const token = freshKey("push-token");
      await t.ask(b!, { case: "setDeviceState", value: { state: DeviceState.FOREGROUND, pushService: "conformance", pushToken: token } }, "deviceStateSet", "RECV-5");
      await t.ask(b!, { case: "setDeviceState", value: { state: DeviceState.BACKGROUND } }, "deviceStateSet", "RECV-5");
      const ack = await send(t, a!, id, text("still registered?"));
      const handoff = await t.handoff((h) => h.userId === b!.userId && h.conversationId === id && h.seq === String(ack.seq));
      if (!handoff) throw new Violation("RECV-5: an empty push_service keeps the registration made before", [`a hand-off for ${b!.userId}, ${id}#${ack.seq}`], `none within ${t.timeoutMs} ms`);
      check(handoff.pushService === "conformance" && handoff.pushToken === token, "RECV-5", `push service "conformance", token ${token}`, () => JSON.stringify(handoff));
    },
  },
  {
    id: "RECV-5/unknown-device-state",
    requirements: ["RECV-5", "ERR-4"],
    level: "required",
    group: "settings",
    title: "set_device_state with a state that is neither FOREGROUND nor BACKGROUND is INVALID_ARGUMENT, and the state stays",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const requestId = b!.conn.send({ case: "setDeviceState", value: { state: 7 as DeviceState } });
      await t.expectErrorFrom(b!.conn, [ErrorCode.INVALID_ARGUMENT], "RECV-5", { requestId, closing: false });
      const ack = await send(t, a!, id, text("still in the foreground"));
      const entry = await push(t, b!, eventPush(id, ack.seq), "RECV-5", `the event #${ack.seq}`);
      check(entry.body.case === "event", "RECV-5", "the whole event: the device is still in the foreground", () => `${entry.body.case} form`);
    },
  },
  {
    id: "CONV-4/no-members-added-to-channels-or-one-to-one",
    requirements: ["CONV-4", "CONV-6"],
    level: "required",
    group: "membership",
    needs: ["channels"],
    title: "user_ids with the id of a channel (even from its owner, even naming oneself) or of a one-to-one conversation is INVALID_ARGUMENT, and nobody joins",
    async run(t) {
      const [owner, fan, other] = await users(t, "owner", "fan", "other");
      const created = await t.ask(owner!, { case: "openConversation", value: { kind: ConversationKind.CHANNEL, title: "news", clientConversationId: freshKey("ch") } }, "conversationOpened", "CONV-3");
      const channel = created.conversation!.conversationId;
      for (const [session, userIds] of [[owner!, [fan!.userId]], [fan!, [fan!.userId]]] as const) {
        const requestId = session.conn.send({ case: "openConversation", value: { conversationId: channel, userIds: [...userIds] } });
        await t.expectErrorFrom(session.conn, [ErrorCode.INVALID_ARGUMENT], "CONV-4", { requestId, closing: false });
      }
      const seen = await t.ask(owner!, { case: "openConversation", value: { conversationId: channel } }, "conversationOpened", "CONV-4");
      check(seen.conversation!.memberCount === 1, "CONV-9", "the owner alone (nobody subscribed)", () => `member_count ${seen.conversation!.memberCount}`);
      const pair = await direct(t, owner!, other!);
      const requestId = owner!.conn.send({ case: "openConversation", value: { conversationId: pair, userIds: [fan!.userId] } });
      await t.expectErrorFrom(owner!.conn, [ErrorCode.INVALID_ARGUMENT], "CONV-4", { requestId, closing: false });
    },
  },
];
