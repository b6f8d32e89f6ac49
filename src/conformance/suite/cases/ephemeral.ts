import { Feature as WireFeature } from "../../../gen/imwire/v1/connection_pb.js";
import type { Frame } from "../../../gen/imwire/v1/frame_pb.js";
import { DeviceState, type Presence, type Typing } from "../../../gen/imwire/v1/settings_pb.js";
import type { Session, TestContext } from "../context.js";
import { describe, type ScriptedConnection } from "../scripted-connection.js";
import { Unsupported, type ConformanceTest } from "../types.js";
import { check, direct, group as newGroup } from "./helpers.js";

/**
 * Typing indicators and presence (SPEC.md §15.1, version 1.1): ephemeral
 * notices negotiated as FEATURE_EPHEMERAL (EXT-5), outside every sequence
 * (EPH-1), typing to the devices viewing the conversation (EPH-2) at most
 * once a second (EPH-3), presence to DIRECT contacts (EPH-4) unless hidden
 * (EPH-5). Every EPH test offers the feature and is unsupported where the
 * server does not put it in force. The signals arrive on their own time: each
 * is waited for with the run's timeout, and what must not arrive is watched
 * for the run's quiet period. EPH-3's rule is a second: the runner never
 * depends on a tighter clock than that (its watch for a second `typing` lasts
 * at most 500 ms after the first arrived).
 */

const groupName = "ephemeral";
const EPHEMERAL = WireFeature.EPHEMERAL;
/** EPH-3: how long after a passed-on `typing` true the runner watches for another (well within the rule's second). */
const THROTTLE_WATCH_MS = 500;

/** Sessions of new users offering FEATURE_EPHEMERAL; unsupported unless the server puts it in force (EXT-5). */
async function featured(t: TestContext, ...names: string[]): Promise<Session[]> {
  const sessions = await Promise.all(names.map((name) => t.connect(t.user(name), "d1", { features: [EPHEMERAL] })));
  if (!sessions[0]!.welcome.features.includes(EPHEMERAL)) throw new Unsupported("the server does not put FEATURE_EPHEMERAL in force (EXT-5)");
  return sessions;
}

/** Another device of `userId`, offering FEATURE_EPHEMERAL (or nothing: a version 1.0 device). */
async function device(t: TestContext, userId: string, deviceId: string, ephemeral = true): Promise<Session> {
  const session = await t.connect(userId, deviceId, ephemeral ? { features: [EPHEMERAL] } : {});
  check(session.welcome.features.includes(EPHEMERAL) === ephemeral, "EXT-5", ephemeral ? "FEATURE_EPHEMERAL in force on every connection that offers it" : "no FEATURE_EPHEMERAL for a hello that did not offer it", () => `features [${session.welcome.features.join(", ")}]`);
  return session;
}

/** set_device_state naming the conversation the device views (EPH-2). */
async function view(t: TestContext, session: Session, conversationId: string, state = DeviceState.FOREGROUND): Promise<void> {
  await t.ask(session, { case: "setDeviceState", value: { state, viewingConversationId: conversationId } }, "deviceStateSet", "RECV-5");
}

/** set_typing: a notice, never answered (EPH-1). */
function type(session: Session, conversationId: string, typing = true): void {
  session.conn.send({ case: "setTyping", value: { conversationId, typing } }, 0);
}

let nonces = 7_000n;

/** A ping answered: the server has handled every frame sent on the connection before it (HB-2). */
async function barrier(t: TestContext, session: Session, requirement: string): Promise<void> {
  const nonce = ++nonces;
  session.conn.send({ case: "ping", value: { nonce } }, 0);
  await t.nextOrViolation(session.conn, (f) => f.body.case === "pong" && f.body.value.nonce === nonce, requirement, [`pong ${nonce}: the connection kept after frames the server drops`]);
}

type Match = (frame: Frame) => boolean;
const anyTyping: Match = (f) => f.body.case === "typing";
const anyPresence: Match = (f) => f.body.case === "presence";
const anyEphemeral: Match = (f) => anyTyping(f) || anyPresence(f);
const typingOf = (conversationId: string, userId: string, typing?: boolean): Match => (f) =>
  f.body.case === "typing" && f.body.value.conversationId === conversationId && f.body.value.userId === userId && (typing === undefined || f.body.value.typing === typing);
const presenceOf = (userId: string, online?: boolean): Match => (f) => f.body.case === "presence" && f.body.value.userId === userId && (online === undefined || f.body.value.online === online);

/** The `typing` of `userId` in `conversationId` pushed to `session`, checked for what EPH-2 says it carries. */
async function typingTo(t: TestContext, session: Session, conversationId: string, userId: string, typing: boolean, requirement: string): Promise<Typing> {
  const frame = await t.nextOrViolation(session.conn, typingOf(conversationId, userId, typing), requirement, [`typing ${typing} of ${userId} in ${conversationId} to ${session.userId}/${session.deviceId}`]);
  const value = frame.body.value as Typing;
  check(frame.requestId === 0, "EPH-1", "typing with request_id 0: a notice", () => describe(frame));
  if (typing) check(value.expiresInMs > 0, "EPH-2", "typing true with expires_in_ms above 0 (how long to show it without news)", () => describe(frame));
  return value;
}

/** The `presence` of `userId` pushed to `session`, online or not, checked for what EPH-4 says it carries. */
async function presenceTo(t: TestContext, session: Session, userId: string, online: boolean, requirement: string): Promise<Presence> {
  const frame = await t.nextOrViolation(session.conn, presenceOf(userId, online), requirement, [`presence of ${userId} ${online ? "online" : "offline"} to ${session.userId}/${session.deviceId}`]);
  check(frame.requestId === 0, "EPH-1", "presence with request_id 0: a notice", () => describe(frame));
  return frame.body.value as Presence;
}

/** Take from the connection's inbox whatever arrived so far that matches (signals a step before the one checked may have caused). */
async function discard(connection: ScriptedConnection, match: Match): Promise<void> {
  while (await connection.next(match, 0).then(() => true, () => false));
}

/** Nothing matching arrives on any of the sessions for the quiet period (watched at once). */
async function nothingOn(t: TestContext, sessions: readonly Session[], match: Match, requirement: string, what: (s: Session) => string, ms = t.quietMs): Promise<void> {
  await Promise.all(sessions.map((s) => t.expectNothing(s.conn, match, requirement, what(s), ms)));
}

const name = (s: Session) => `${s.userId}/${s.deviceId}`;

/** The user's head cursor as a user_page says (SYNC-3). */
async function headOf(t: TestContext, session: Session): Promise<bigint> {
  return (await t.ask(session, { case: "syncUser", value: {} }, "userPage", "SYNC-4")).headCursor;
}

async function lastSeqOf(t: TestContext, session: Session, conversationId: string): Promise<bigint> {
  return (await t.ask(session, { case: "syncConversation", value: { conversationId, afterSeq: 0n, limit: 1 } }, "conversationPage", "SYNC-1")).lastSeq;
}

export const ephemeralTests: ConformanceTest[] = [
  {
    id: "EPH-1/outside-every-sequence",
    requirements: ["EPH-1", "EPH-2", "EPH-4", "SYNC-3", "CUR-2"],
    level: "required",
    group: groupName,
    title: "typing and presence are notices (request_id 0) that move nothing: no user's head cursor or conversation's last_seq changes, a user_page after the head holds nothing, no push follows; a device without FEATURE_EPHEMERAL is sent neither, even when it names the conversation in viewing_conversation_id",
    async run(t) {
      const [a, b, c] = await featured(t, "a", "b", "c");
      const id = await newGroup(t, a!, [b!]);
      const withB = await direct(t, a!, b!);
      const withC = await direct(t, c!, a!);
      const oldA = await device(t, a!.userId, "old", false);
      const oldB = await device(t, b!.userId, "old", false);
      await view(t, b!, id);
      await view(t, oldB, id);
      const sessions = [a!, b!, c!];
      const heads = await Promise.all(sessions.map((s) => headOf(t, s)));
      const conversations = [id, withB, withC];
      const seqs = await Promise.all(conversations.map((conversation) => lastSeqOf(t, conversation === withC ? c! : a!, conversation)));

      // Typing, on and off; presence, off and on.
      type(a!, id, true);
      await typingTo(t, b!, id, a!.userId, true, "EPH-2");
      type(a!, id, false);
      await typingTo(t, b!, id, a!.userId, false, "EPH-2");
      await discard(a!.conn, presenceOf(c!.userId));
      c!.conn.close();
      await presenceTo(t, a!, c!.userId, false, "EPH-4");
      const c2 = await device(t, c!.userId, "d2");
      await presenceTo(t, a!, c!.userId, true, "EPH-4");
      await presenceTo(t, c2, a!.userId, true, "EPH-4");

      for (const [i, s] of [a!, b!, c2].entries()) {
        const page = await t.ask(s, { case: "syncUser", value: { afterCursor: heads[i]!, epoch: s.authenticated.epoch } }, "userPage", "SYNC-3");
        check(page.headCursor === heads[i] && page.events.length === 0 && page.snapshot === undefined, "EPH-1", `${s.userId}'s head cursor still ${heads[i]} and no entry after it: typing and presence are not in a user's stream`, () => `head_cursor ${page.headCursor}, ${page.events.length} entries${page.snapshot ? ", a snapshot" : ""}`);
      }
      for (const [i, conversation] of conversations.entries()) {
        const lastSeq = await lastSeqOf(t, conversation === withC ? c2 : a!, conversation);
        check(lastSeq === seqs[i], "EPH-1", `${conversation}'s last_seq still ${seqs[i]}: typing and presence are not in a conversation's sequence`, () => `last_seq ${lastSeq}`);
      }
      const pushedPast = (head: bigint): Match => (f) => f.body.case === "deliver" && f.body.value.cursor > head;
      await Promise.all([
        t.expectNothing(a!.conn, pushedPast(heads[0]!), "EPH-1", `no push past cursor ${heads[0]} to ${name(a!)}`),
        t.expectNothing(b!.conn, pushedPast(heads[1]!), "EPH-1", `no push past cursor ${heads[1]} to ${name(b!)}`),
        nothingOn(t, [oldA, oldB], anyEphemeral, "EPH-1", (s) => `no typing or presence to ${name(s)}, which did not offer FEATURE_EPHEMERAL`),
      ]);
    },
  },
  {
    id: "EPH-2/typing-to-foreground-viewers-only",
    requirements: ["EPH-2", "EPH-1", "RECV-5"],
    level: "required",
    group: groupName,
    title: "a member's set_typing reaches, as typing, the other members' devices viewing the conversation in the foreground; not a background device, one viewing another conversation or none, one that stopped viewing, a former member's, nor the typer's own; a non-member's, a former member's or an unknown conversation's set_typing is dropped, unanswered and without closing the connection",
    async run(t) {
      const [a, b, c, gone, z] = await featured(t, "a", "b", "c", "gone", "z");
      const id = await newGroup(t, a!, [b!, c!, gone!]);
      const other = await newGroup(t, a!, [b!]);
      const [a2, b2, b3, b4] = await Promise.all([device(t, a!.userId, "d2"), device(t, b!.userId, "d2"), device(t, b!.userId, "d3"), device(t, b!.userId, "d4")]);
      await Promise.all([view(t, a!, id), view(t, a2, id), view(t, b!, id), view(t, b2, id, DeviceState.BACKGROUND), view(t, b3, other), view(t, b4, id), view(t, gone!, id)]);
      await view(t, b4, "");
      await t.ask(gone!, { case: "leaveConversation", value: { conversationId: id } }, "conversationLeft", "CONV-5");

      // Dropped: a user who never belonged, a former member, an unknown conversation.
      type(z!, id);
      type(gone!, id);
      type(a!, `${id}-nowhere`);
      // A member typing where no device views the conversation: passed on to no one, the connection kept.
      type(a!, await newGroup(t, a!, [c!]));
      await Promise.all([barrier(t, z!, "EPH-2"), barrier(t, gone!, "EPH-2"), barrier(t, a!, "EPH-2")]);

      type(a!, id, true);
      await typingTo(t, b!, id, a!.userId, true, "EPH-2");
      type(a!, id, false);
      await typingTo(t, b!, id, a!.userId, false, "EPH-2");

      const notFromA: Match = (f) => f.body.case === "typing" && f.body.value.userId !== a!.userId;
      const nonViewers: [Session, string][] = [
        [a!, "the typer's own device"],
        [a2, "another device of the typer"],
        [b2, "a device in the background"],
        [b3, "a device viewing another conversation"],
        [b4, "a device that stopped viewing"],
        [c!, "a member's device viewing nothing"],
        [gone!, "a former member's device"],
        [z!, "a non-member's device"],
      ];
      await Promise.all([
        t.expectNothing(b!.conn, notFromA, "EPH-2", `no typing to ${name(b!)} from a non-member (${z!.userId}) or a former member (${gone!.userId})`),
        ...nonViewers.map(([s, what]) => t.expectNothing(s.conn, anyTyping, "EPH-2", `no typing to ${name(s)}, ${what}`)),
        ...[z!, gone!, a!].map((s) => t.expectNothing(s.conn, (f) => f.body.case === "error", "EPH-1", `no error to ${name(s)}: set_typing is a notice, dropped silently when it does not apply`)),
      ]);
    },
  },
  {
    id: "EPH-3/one-typing-per-second",
    requirements: ["EPH-3", "EPH-2"],
    level: "required",
    group: groupName,
    title: "three set_typing true written at once are passed on as one typing (no second within 500 ms of the first); another member's typing in the same second is passed on; set_typing false is passed on at once",
    async run(t) {
      const [a, b, c] = await featured(t, "a", "b", "c");
      const id = await newGroup(t, a!, [b!, c!]);
      await view(t, b!, id);
      const typingTrue = { case: "setTyping", value: { conversationId: id, typing: true } } as const;
      a!.conn.sendTogether([typingTrue, typingTrue, typingTrue], [0, 0, 0]);
      await typingTo(t, b!, id, a!.userId, true, "EPH-2");
      // Watched from the first's arrival, so the watch ends well within the rule's second whatever the link's delay.
      const watch = Math.min(t.quietMs, THROTTLE_WATCH_MS);
      const second = t.expectNothing(b!.conn, typingOf(id, a!.userId, true), "EPH-3", `no second typing true of ${a!.userId} within ${watch} ms of the first: at most one per user and conversation per second`, watch);
      type(c!, id, true);
      await typingTo(t, b!, id, c!.userId, true, "EPH-3");
      await second;
      type(a!, id, false);
      await typingTo(t, b!, id, a!.userId, false, "EPH-3");
    },
  },
  {
    id: "EPH-4/contacts-told-online-and-offline",
    requirements: ["EPH-4", "EPH-1"],
    level: "required",
    group: groupName,
    title: "a DIRECT contact's every device with the feature is sent presence offline (last_seen_ms above 0) when a user's last device goes, online when its first comes back, nothing when one of two goes; each device that authenticates is sent the presence of its online contacts once; a user sharing only a group is sent none",
    async run(t) {
      const [a, b, g] = await featured(t, "a", "b", "g");
      const a2 = await device(t, a!.userId, "d2");
      await direct(t, a!, b!);
      await newGroup(t, a!, [b!, g!]);
      await Promise.all([barrier(t, a!, "EPH-4"), barrier(t, a2, "EPH-4")]);
      for (const s of [a!, a2]) await discard(s.conn, presenceOf(b!.userId));

      b!.conn.close();
      for (const s of [a!, a2]) {
        const offline = await presenceTo(t, s, b!.userId, false, "EPH-4");
        check(offline.lastSeenMs > 0n, "EPH-4", `presence of ${b!.userId} offline to ${name(s)} with last_seen_ms above 0 (when its last device left)`, () => `last_seen_ms ${offline.lastSeenMs}`);
      }
      const b2 = await device(t, b!.userId, "d2");
      for (const s of [a!, a2]) await presenceTo(t, s, b!.userId, true, "EPH-4");
      await presenceTo(t, b2, a!.userId, true, "EPH-4");
      const b3 = await device(t, b!.userId, "d3");
      await presenceTo(t, b3, a!.userId, true, "EPH-4");
      await nothingOn(t, [b2, b3], presenceOf(a!.userId), "EPH-4", (s) => `one presence of ${a!.userId} to ${name(s)} after authenticated, not two`);

      b3.conn.close();
      await nothingOn(t, [a!, a2], presenceOf(b!.userId, false), "EPH-4", (s) => `no presence of ${b!.userId} offline to ${name(s)} while another device of ${b!.userId} is connected`);
      b2.conn.close();
      for (const s of [a!, a2]) {
        const offline = await presenceTo(t, s, b!.userId, false, "EPH-4");
        check(offline.lastSeenMs > 0n, "EPH-4", `presence of ${b!.userId} offline to ${name(s)} with last_seen_ms above 0`, () => `last_seen_ms ${offline.lastSeenMs}`);
      }
      await t.expectNothing(g!.conn, anyPresence, "EPH-4", `no presence to ${name(g!)}, which shares no DIRECT conversation with anyone`);
      // Offline now: a device of its contact that authenticates is not told it is online.
      const a3 = await device(t, a!.userId, "d3");
      await nothingOn(t, [a3], presenceOf(b!.userId, true), "EPH-4", (s) => `no presence of ${b!.userId} online to ${name(s)}: it has no connection`);
    },
  },
  {
    id: "EPH-5/hidden-presence-sent-to-no-one",
    requirements: ["EPH-5", "EPH-4"],
    level: "required",
    group: groupName,
    title: "set_presence_sharing hidden is answered presence_sharing hidden and sends the user's contacts presence offline with last_seen_ms 0, once; while hidden, its devices coming and going tell no one, its new devices are sent no one's presence, and the setting holds for a device that connects later; hidden false is answered and sends the contacts presence online",
    async run(t) {
      const [a, b] = await featured(t, "a", "b");
      await direct(t, a!, b!);
      await Promise.all([barrier(t, a!, "EPH-5"), barrier(t, b!, "EPH-5")]);
      await discard(a!.conn, anyPresence);
      await discard(b!.conn, anyPresence);
      const hide = async (s: Session, hidden: boolean) => {
        const answer = await t.ask(s, { case: "setPresenceSharing", value: { hidden } }, "presenceSharing", "EPH-5");
        check(answer.hidden === hidden, "EPH-5", `presence_sharing hidden ${hidden}`, () => `hidden ${answer.hidden}`);
      };

      await hide(b!, true);
      const offline = await presenceTo(t, a!, b!.userId, false, "EPH-5");
      check(offline.lastSeenMs === 0n, "EPH-5", `presence of ${b!.userId} offline with last_seen_ms 0 once it hides`, () => `last_seen_ms ${offline.lastSeenMs}`);
      await hide(b!, true);
      const b2 = await device(t, b!.userId, "d2");
      await nothingOn(t, [a!], presenceOf(b!.userId), "EPH-5", (s) => `no more presence of ${b!.userId} to ${name(s)} after the one offline: it is hidden`);

      // Reciprocal: while b hides, a's coming and going is not sent to b's devices, nor b's presence to a's new device.
      a!.conn.close();
      const a2 = await device(t, a!.userId, "d2");
      b!.conn.close();
      b2.conn.close();
      const b3 = await device(t, b!.userId, "d3");
      await Promise.all([
        nothingOn(t, [b!, b2, b3], anyPresence, "EPH-5", (s) => `no presence to ${name(s)}: its user hides, so others' presence is not sent to it`),
        nothingOn(t, [a2], presenceOf(b!.userId), "EPH-5", (s) => `no presence of ${b!.userId} to ${name(s)}: the user's setting holds for every device, across connections`),
      ]);

      const oldB = await device(t, b!.userId, "old", false);
      await hide(b3, false);
      await presenceTo(t, a2, b!.userId, true, "EPH-5");
      await nothingOn(t, [oldB], anyPresence, "EPH-1", (s) => `no presence to ${name(s)}, which did not offer FEATURE_EPHEMERAL, when its user shares again`);
    },
  },
];
