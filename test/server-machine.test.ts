import { describe, expect, it } from "vitest";
import { ConversationKind, Role } from "../src/gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../src/gen/imwire/v1/error_pb.js";
import type { Frame } from "../src/gen/imwire/v1/frame_pb.js";
import { MembershipAction } from "../src/gen/imwire/v1/message_pb.js";
import { DeviceState, ReceiveMode } from "../src/gen/imwire/v1/settings_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { MessageContentSchema } from "../src/gen/imwire/v1/content_pb.js";
import { ServerHarness } from "./support/server-harness.js";
import fc from "fast-check";
import { encodeFrame } from "../src/codec/frame-codec.js";
import { compareCodePoints } from "../src/machines/server/ids.js";

/** Requirement-by-requirement tests of the server machine, driven frame by frame. */

const text = (t: string) => ({ kind: { case: "text" as const, value: { text: t } } });

function errorOf(frame: Frame | undefined): { code: ErrorCode; closing: boolean; requirement: string } | undefined {
  return frame?.body.case === "error" ? frame.body.value : undefined;
}

function group(h: ServerHarness, connection: number, others: string[], key = "g1"): string {
  const answer = h.request(connection, { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: others, title: "g", clientConversationId: key } });
  if (answer.body.case !== "conversationOpened") throw new Error(JSON.stringify(answer.body));
  return answer.body.value.conversation!.conversationId;
}

function send(h: ServerHarness, connection: number, conversationId: string, id: string, body: MessageInitShape<typeof MessageContentSchema> = text("hi")): Frame {
  return h.request(connection, { case: "sendMessage", value: { conversationId, clientMessageId: id, content: body } });
}

function pushes(frames: Frame[]) {
  return frames.flatMap((f) => (f.body.case === "deliver" ? [f.body.value] : []));
}

describe("connection lifecycle", () => {
  it("CONN-1: a first frame other than hello is a protocol violation that closes", () => {
    const h = new ServerHarness();
    const c = h.open();
    const [reply] = h.send(c, { case: "ping", value: { nonce: 1n } });
    expect(errorOf(reply)).toMatchObject({ code: ErrorCode.PROTOCOL_VIOLATION, closing: true, requirement: "CONN-1" });
    expect(h.closed.has(c)).toBe(true);
  });

  it("CONN-2 FRM-5: hello gets welcome with the highest common version and the limits, and the frame limit is raised", () => {
    const h = new ServerHarness({ maxFrameSize: 2_000_000 });
    const c = h.open();
    const answer = h.request(c, { case: "hello", value: { versions: [7, 1], deviceId: "d", receiveWindow: 10 } });
    expect(answer.body.case === "welcome" && answer.body.value).toMatchObject({ version: 1, maxFrameSize: 2_000_000, receiveWindow: 10, heartbeatIntervalMs: 30_000 });
  });

  it("CONN-2: no common version is UNSUPPORTED_VERSION, listing the server's, and closes", () => {
    const h = new ServerHarness();
    const c = h.open();
    const answer = h.request(c, { case: "hello", value: { versions: [2, 3], deviceId: "d" } });
    expect(answer.body.case === "error" && answer.body.value).toMatchObject({ code: ErrorCode.UNSUPPORTED_VERSION, supportedVersions: [1], closing: true });
    expect(h.closed.has(c)).toBe(true);
  });

  it("CONN-4 SEC-4: a request before authentication is UNAUTHENTICATED and closes; ping is answered", () => {
    const h = new ServerHarness();
    const c = h.open();
    h.request(c, { case: "hello", value: { versions: [1], deviceId: "d" } });
    const [pong] = h.send(c, { case: "ping", value: { nonce: 9n } });
    expect(pong!.body.case === "pong" && pong!.body.value).toMatchObject({ nonce: 9n, headCursor: 0n });
    const answer = h.request(c, { case: "syncUser", value: {} });
    expect(errorOf(answer)).toMatchObject({ code: ErrorCode.UNAUTHENTICATED, closing: true, requirement: "CONN-4" });
  });

  it("CONN-5: hello or authenticate after authentication closes with PROTOCOL_VIOLATION", () => {
    const h = new ServerHarness();
    const c = h.login("u", "d");
    const answer = h.request(c, { case: "authenticate", value: { token: "u|d" } });
    expect(errorOf(answer)).toMatchObject({ code: ErrorCode.PROTOCOL_VIOLATION, requirement: "CONN-5" });
    expect(h.closed.has(c)).toBe(true);
  });

  it("CONN-6: a connection that does not authenticate in time is closed with TIMEOUT", () => {
    const h = new ServerHarness({ handshakeTimeoutMs: 10_000 });
    const c = h.open();
    h.request(c, { case: "hello", value: { versions: [1], deviceId: "d" } });
    h.advance(9_999);
    expect(h.closed.has(c)).toBe(false);
    h.advance(1);
    expect(errorOf(h.take(c)[0])).toMatchObject({ code: ErrorCode.TIMEOUT, requirement: "CONN-6" });
    expect(h.closed.get(c)?.reason).toBe(ErrorCode.TIMEOUT);
  });

  it("CONN-7: go_away, then requests are UNAVAILABLE, nothing more is pushed, and the connection closes after the drain time", () => {
    const h = new ServerHarness({ drainTimeoutMs: 2_000 });
    const a = h.loginAndSync("a", "d");
    const b = h.loginAndSync("b", "d");
    const conversationId = group(h, a, ["b"]);
    h.take(a);
    h.take(b);
    h.server.shutdown(h.now, "maintenance", 500);
    h.server.takeOutputs().forEach((o) => o.kind === "send" && h.inbox.get(o.connection)?.push(o.frame));
    expect(h.take(a)[0]!.body).toMatchObject({ case: "goAway", value: { reason: "maintenance", reconnectDelayMs: 500 } });
    const refused = send(h, a, conversationId, "m1");
    expect(errorOf(refused)).toMatchObject({ code: ErrorCode.UNAVAILABLE, requirement: "CONN-7" });
    expect(refused.body.case === "error" && refused.body.value.retryable).toBe(true);
    h.advance(2_000);
    expect(h.closed.get(a)?.reason).toBe("graceful");
  });

  it("ENV-7: a frame only servers send is a protocol violation", () => {
    const h = new ServerHarness();
    const c = h.login("u", "d");
    const [reply] = h.send(c, { case: "pong", value: {} });
    expect(reply).toBeUndefined(); // pong is fine from clients
    const answer = h.request(c, { case: "welcome", value: { version: 1, maxFrameSize: 65_536, heartbeatIntervalMs: 1000, maxInFlight: 1, receiveWindow: 1, dedupWindowS: 86_400 } });
    expect(errorOf(answer)).toMatchObject({ code: ErrorCode.PROTOCOL_VIOLATION, requirement: "ENV-7" });
  });

  it("ERR-1: an error from the client is never answered; a closing one ends the connection", () => {
    const h = new ServerHarness();
    const c = h.login("u", "d");
    expect(h.send(c, { case: "error", value: { code: ErrorCode.INTERNAL } })).toEqual([]);
    expect(h.closed.has(c)).toBe(false);
    h.send(c, { case: "error", value: { code: ErrorCode.MALFORMED_FRAME, closing: true } });
    expect(h.closed.has(c)).toBe(true);
  });
});

describe("authentication", () => {
  it("AUTH-1: an invalid token is UNAUTHENTICATED, an expired one TOKEN_EXPIRED (retryable); both close", () => {
    const h = new ServerHarness();
    for (const [token, code, retryable] of [["garbage", ErrorCode.UNAUTHENTICATED, false], ["expired|d", ErrorCode.TOKEN_EXPIRED, true]] as const) {
      const c = h.open();
      h.request(c, { case: "hello", value: { versions: [1], deviceId: "d" } });
      const answer = h.request(c, { case: "authenticate", value: { token } });
      expect(answer.body.case === "error" && answer.body.value).toMatchObject({ code, retryable, closing: true });
      expect(h.closed.has(c)).toBe(true);
    }
  });

  it("AUTH-3: a token bound to another device is refused", () => {
    const h = new ServerHarness();
    const c = h.open();
    h.request(c, { case: "hello", value: { versions: [1], deviceId: "phone" } });
    expect(errorOf(h.request(c, { case: "authenticate", value: { token: "u|laptop" } }))).toMatchObject({ code: ErrorCode.UNAUTHENTICATED, requirement: "AUTH-3" });
  });

  it("AUTH-4: several devices of a user connect at once; a device's second connection replaces its first", () => {
    const h = new ServerHarness();
    const phone = h.login("u", "phone");
    const laptop = h.login("u", "laptop");
    expect(h.closed.size).toBe(0);
    const phoneAgain = h.login("u", "phone");
    expect(errorOf(h.take(phone).at(-1))).toMatchObject({ code: ErrorCode.SESSION_REPLACED, closing: true });
    expect(h.closed.get(phone)?.reason).toBe(ErrorCode.SESSION_REPLACED);
    expect(h.closed.has(laptop) || h.closed.has(phoneAgain)).toBe(false);
  });

  it("AUTH-4: the connection opened later stays, whichever authenticates last (a late handshake of one the device gave up on replaces nothing)", () => {
    const h = new ServerHarness();
    const stale = h.open();
    h.request(stale, { case: "hello", value: { versions: [1], deviceId: "phone", features: h.features } });
    h.advance(2_000); // the device gave up on it and dialled again; its authenticate is read only now
    const fresh = h.login("u", "phone");
    const late = h.request(stale, { case: "authenticate", value: { token: "u|phone" } });
    expect(errorOf(late)).toMatchObject({ code: ErrorCode.SESSION_REPLACED, closing: true });
    expect(h.closed.get(stale)?.reason).toBe(ErrorCode.SESSION_REPLACED);
    expect(h.closed.has(fresh)).toBe(false);
    // Opened in the same order as they authenticate, the second replaces the first, as before.
    const again = h.login("u", "phone");
    expect(h.closed.get(fresh)?.reason).toBe(ErrorCode.SESSION_REPLACED);
    expect(h.closed.has(again)).toBe(false);
  });

  it("AUTH-5 DLV-3: a resume with the current epoch continues after the cursor, re-sending what was not acknowledged", () => {
    const h = new ServerHarness();
    const a = h.loginAndSync("a", "d");
    const b = h.loginAndSync("b", "d");
    const conversationId = group(h, a, ["b"]);
    for (let i = 0; i < 3; i++) send(h, a, conversationId, `m${i}`);
    // CUR-2, CUR-7: cursors come from one server-wide order, so b's are increasing but not 1, 2, 3.
    const c = streamCursors(h, "b");
    expect(c).toHaveLength(5);
    expect(pushes(h.take(b)).map((p) => p.cursor)).toEqual(c);
    h.send(b, { case: "deliveryAck", value: { cursor: c[1]! } });
    // b reconnects holding its second entry: the third to fifth come again, linked to it.
    const epoch = h.store.epoch("b");
    const again = h.login("b", "d", { epoch, cursor: c[1]! });
    const resumed = pushes(h.take(again));
    expect(resumed.map((p) => [p.prevCursor, p.cursor])).toEqual([[c[1], c[2]], [c[2], c[3]], [c[3], c[4]]]);
  });

  it("AUTH-5 DLV-2: a resume with another epoch is refused (resumed false) and nothing is pushed until the position is set", () => {
    const h = new ServerHarness();
    const a = h.loginAndSync("a", "d");
    h.store.addUser("b");
    group(h, a, ["b"]);
    const b = h.login("b", "d", { epoch: "some-other-epoch", cursor: 1n });
    expect(h.take(b).filter((f) => f.body.case === "deliver")).toEqual([]);
    const page = h.request(b, { case: "syncUser", value: { afterCursor: 1n, epoch: "some-other-epoch" } });
    expect(page.body.case === "userPage" && page.body.value.snapshot?.epoch).toBe(h.store.epoch("b"));
    expect(pushes(h.send(b, { case: "deliveryAck", value: { cursor: 0n } })).map((p) => p.cursor)).toEqual(streamCursors(h, "b"));
  });
});

describe("conversations", () => {
  it("CONV-1 CONV-2: one-to-one conversations are one per pair, in either direction; the peer must exist and differ", () => {
    const h = new ServerHarness();
    const a = h.login("a", "d");
    const b = h.login("b", "d");
    const first = h.request(a, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["b"] } });
    const second = h.request(b, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["a"] } });
    expect(first.body.case === "conversationOpened" && first.body.value.created).toBe(true);
    expect(second.body.case === "conversationOpened" && second.body.value).toMatchObject({ created: false, conversation: { conversationId: first.body.case === "conversationOpened" ? first.body.value.conversation!.conversationId : "" } });
    expect(errorOf(h.request(a, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["a"] } }))?.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(errorOf(h.request(a, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["nobody"] } }))?.code).toBe(ErrorCode.NOT_FOUND);
  });

  it("CONV-3 IDEM-6: a group creation needs a key, and a retry with it returns the same group", () => {
    const h = new ServerHarness();
    const a = h.login("a", "d");
    h.login("b", "d");
    expect(errorOf(h.request(a, { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: ["b"] } }))).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, requirement: "CONV-3" });
    const id = group(h, a, ["b"], "k");
    expect(group(h, a, ["b"], "k")).toBe(id);
    expect(group(h, a, ["b"], "k2")).not.toBe(id);
    const created = h.store.event(id, 1)!;
    expect(created.body.case === "membership" && created.body.value).toMatchObject({ action: MembershipAction.CREATED, userIds: ["a", "b"] });
  });

  it("CONV-4 CONV-6 CONV-7: adding members appends one ADDED event and tells every device of each added user", () => {
    const h = new ServerHarness();
    const a = h.loginAndSync("a", "d");
    const c1 = h.loginAndSync("c", "phone");
    const c2 = h.loginAndSync("c", "laptop");
    h.login("b", "d");
    const id = group(h, a, ["b"]);
    h.request(a, { case: "openConversation", value: { conversationId: id, userIds: ["c", "b"] } });
    expect(h.store.lastSeq(id)).toBe(2);
    const added = h.store.event(id, 2)!;
    expect(added.body.case === "membership" && added.body.value).toMatchObject({ action: MembershipAction.ADDED, userIds: ["c"] });
    for (const device of [c1, c2]) {
      const got = pushes(h.take(device));
      expect(got.map((p) => p.body.case)).toEqual(["joined", "event"]);
      expect(got[0]!.body.case === "joined" && got[0]!.body.value.conversation).toMatchObject({ firstVisibleSeq: 2n, role: Role.MEMBER });
    }
    h.login("x", "d");
    expect(errorOf(h.request(h.login("x", "d2"), { case: "openConversation", value: { conversationId: id, userIds: ["x"] } }))?.code).toBe(ErrorCode.PERMISSION_DENIED);
  });

  it("CONV-5: leaving a group appends LEFT and is idempotent; direct conversations and owned channels cannot be left", () => {
    const h = new ServerHarness();
    const a = h.login("a", "d");
    const b = h.login("b", "d");
    const id = group(h, a, ["b"]);
    const left = h.request(b, { case: "leaveConversation", value: { conversationId: id } });
    expect(left.body.case === "conversationLeft" && left.body.value.lastVisibleSeq).toBe(2n);
    const again = h.request(b, { case: "leaveConversation", value: { conversationId: id } });
    expect(again.body.case === "conversationLeft" && again.body.value.lastVisibleSeq).toBe(2n);
    expect(h.store.lastSeq(id)).toBe(2);
    const direct = h.request(a, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["b"] } });
    const directId = direct.body.case === "conversationOpened" ? direct.body.value.conversation!.conversationId : "";
    expect(errorOf(h.request(a, { case: "leaveConversation", value: { conversationId: directId } }))?.code).toBe(ErrorCode.FAILED_PRECONDITION);
  });

  it("CONV-6 SEC-7 MSG-1: channels show no members, subscriptions are not events, only the owner sends", () => {
    const h = new ServerHarness();
    const owner = h.login("o", "d");
    const fan = h.login("f", "d");
    const created = h.request(owner, { case: "openConversation", value: { kind: ConversationKind.CHANNEL, title: "news", clientConversationId: "ch" } });
    const id = created.body.case === "conversationOpened" ? created.body.value.conversation!.conversationId : "";
    const subscribed = h.request(fan, { case: "openConversation", value: { conversationId: id } });
    expect(subscribed.body.case === "conversationOpened" && subscribed.body.value.conversation).toMatchObject({ memberUserIds: [], role: Role.SUBSCRIBER, firstVisibleSeq: 1n, memberCount: 2 });
    expect(h.store.lastSeq(id)).toBe(1);
    expect(errorOf(send(h, fan, id, "x"))?.code).toBe(ErrorCode.PERMISSION_DENIED);
    expect(send(h, owner, id, "y").body.case).toBe("sendAck");
  });

  it("CONV-8 SYNC-1: a former member reads up to its LEFT event; one added again reads from its ADDED event", () => {
    const h = new ServerHarness();
    const a = h.login("a", "d");
    const b = h.login("b", "d");
    const id = group(h, a, ["b"]);
    send(h, a, id, "m1"); // 2
    h.request(b, { case: "leaveConversation", value: { conversationId: id } }); // 3
    send(h, a, id, "m2"); // 4
    const seqs = (c: number) => {
      const page = h.request(c, { case: "syncConversation", value: { conversationId: id } });
      return page.body.case === "conversationPage" ? page.body.value.events.map((e) => Number(e.seq)) : [];
    };
    expect(seqs(b)).toEqual([1, 2, 3]);
    h.request(a, { case: "openConversation", value: { conversationId: id, userIds: ["b"] } }); // 5
    send(h, a, id, "m3"); // 6
    expect(seqs(b)).toEqual([5, 6]);
    expect(errorOf(h.request(h.login("z", "d"), { case: "syncConversation", value: { conversationId: id } }))?.code).toBe(ErrorCode.PERMISSION_DENIED);
  });
});

describe("messages", () => {
  it("MSG-1 SEQ-1 DLV-4 CUR-1: a member's send gets the next seq, and every device of every member — the sender's included — is pushed it", () => {
    const h = new ServerHarness();
    const a1 = h.loginAndSync("a", "phone");
    const a2 = h.loginAndSync("a", "laptop");
    const b = h.loginAndSync("b", "d");
    const id = group(h, a1, ["b"]);
    [a1, a2, b].forEach((c) => h.take(c));
    const ack = send(h, a1, id, "m1", text("hello"));
    expect(ack.body.case === "sendAck" && ack.body.value).toMatchObject({ conversationId: id, clientMessageId: "m1", seq: 2n });
    for (const c of [a1, a2, b]) {
      const [entry] = pushes(h.take(c));
      expect(entry!.body.case === "event" && entry!.body.value).toMatchObject({ seq: 2n, senderUserId: "a", senderDeviceId: "phone" });
    }
    expect(errorOf(send(h, h.login("z", "d"), id, "m2"))?.code).toBe(ErrorCode.PERMISSION_DENIED);
    expect(errorOf(send(h, a1, "no-such", "m3"))?.code).toBe(ErrorCode.NOT_FOUND);
  });

  it("IDEM-2 IDEM-3: a retry with the same key, even under a new request id and connection, gets the first answer", () => {
    const h = new ServerHarness();
    const a = h.login("a", "d");
    const id = group(h, a, []);
    const first = send(h, a, id, "same");
    h.advance(5_000);
    const second = send(h, h.login("a", "d"), id, "same", text("different content"));
    expect(second.body).toEqual(first.body);
    expect(h.store.lastSeq(id)).toBe(2);
  });

  it("IDEM-4 IDEM-6: a key is remembered for the whole dedup window, and forgotten within one expiry interval after it", () => {
    const day = 86_400_000;
    const h = new ServerHarness({ dedupWindowS: 86_400, dedupExpiryIntervalMs: 60_000 });
    const a = h.login("a", "d");
    const id = group(h, a, [], "g-key");
    const first = send(h, a, id, "k0");
    const messageKey = { scope: "message", userId: "a", deviceId: "d", key: "k0" } as const;
    const groupKey = { scope: "conversation", userId: "a", deviceId: "d", key: "g-key" } as const;

    h.advance(day - 1);
    const later = h.login("a", "d");
    expect(send(h, later, id, "k0", text("a late retry")).body).toEqual(first.body);
    expect(group(h, later, [], "g-key")).toBe(id);
    expect(h.store.lastSeq(id)).toBe(2);

    // Past the window the keys may go; the next input after the expiry interval takes them.
    h.advance(60_000 + 1);
    h.send(h.open(), { case: "hello", value: { versions: [1], deviceId: "d" } });
    expect(h.store.dedup(messageKey)).toBeUndefined();
    expect(h.store.dedup(groupKey)).toBeUndefined();
  });

  it("IDEM-4: expiry forgets at most 1,000 keys per input, oldest first, and keeps going while batches come back full", () => {
    // 2,500 sends at one instant: more than FLOW-4's bursts allow, which this test is not about.
    const unlimited = { perSecond: 1e9, burst: 1e9 };
    const h = new ServerHarness({ dedupWindowS: 86_400, rateLimits: { connection: unlimited, user: unlimited } });
    const a = h.login("a", "d");
    const id = group(h, a, [], "g-key");
    const keys = Array.from({ length: 2_500 }, (_, i) => `k${i}`);
    for (const key of keys) send(h, a, id, key);
    const remembered = () => keys.filter((key) => h.store.dedup({ scope: "message", userId: "a", deviceId: "d", key })).length;
    h.advance(86_400_000 + 60_000);
    const c = h.open();
    h.send(c, { case: "hello", value: { versions: [1], deviceId: "d" } });
    expect(remembered()).toBe(2_500 - 999); // the group's key went first
    h.send(c, { case: "authenticate", value: { token: "a|d" } });
    expect(remembered()).toBe(501);
    h.send(c, { case: "ping", value: {} });
    expect(remembered()).toBe(0);
  });

  it("IDEM-2: keys are per device: another device's identical key is another message", () => {
    const h = new ServerHarness();
    const phone = h.login("a", "phone");
    const laptop = h.login("a", "laptop");
    const id = group(h, phone, []);
    send(h, phone, id, "k");
    send(h, laptop, id, "k");
    expect(h.store.lastSeq(id)).toBe(3);
  });

  it("IDEM-5: a refused send is not remembered; its retry is processed anew", () => {
    const h = new ServerHarness();
    const a = h.login("a", "d");
    const b = h.login("b", "d");
    const id = group(h, a, []);
    expect(errorOf(send(h, b, id, "k"))?.code).toBe(ErrorCode.PERMISSION_DENIED);
    h.request(a, { case: "openConversation", value: { conversationId: id, userIds: ["b"] } });
    expect(send(h, b, id, "k").body.case).toBe("sendAck");
  });

  it("MSG-3 MSG-6 LIM-2: a wrong-size sha256, a reply to a missing event, an over-long id are INVALID_ARGUMENT", () => {
    const h = new ServerHarness();
    const a = h.login("a", "d");
    const id = group(h, a, []);
    const image = (sha256: Uint8Array) => ({ kind: { case: "image" as const, value: { media: { uri: "https://x/y.jpg", sha256 } } } });
    expect(errorOf(send(h, a, id, "1", image(new Uint8Array(31))))).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, requirement: "MSG-3" });
    expect(send(h, a, id, "2", image(new Uint8Array(32))).body.case).toBe("sendAck");
    const reply = h.request(a, { case: "sendMessage", value: { conversationId: id, clientMessageId: "3", content: text("re"), replyToSeq: 99n } });
    expect(errorOf(reply)).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, requirement: "MSG-6" });
    expect(errorOf(send(h, a, id, "x".repeat(129)))).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, requirement: "LIM-2" });
    expect(send(h, a, id, "é".repeat(64)).body.case).toBe("sendAck"); // 128 bytes exactly
  });

  it("LIM-3 MSG-4 MSG-7: content larger than max_frame_size − 4096 is refused; smaller content, ciphertext included, is stored byte for byte", () => {
    const h = new ServerHarness({ maxFrameSize: 65_536 });
    const a = h.login("a", "d");
    const id = group(h, a, []);
    const blob = (n: number) => ({ kind: { case: "encrypted" as const, value: { scheme: "x", ciphertext: new Uint8Array(n).fill(7) } } });
    expect(errorOf(send(h, a, id, "big", blob(62_000)))).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, requirement: "LIM-3" });
    expect(send(h, a, id, "ok", blob(61_000)).body.case).toBe("sendAck");
    const stored = h.store.event(id, 2)!;
    expect(stored.body.case === "message" && stored.body.value.content?.kind.case === "encrypted" && stored.body.value.content.kind.value.ciphertext.length).toBe(61_000);
  });

  it("LIM-4: groups are limited to maxGroupSize members", () => {
    const h = new ServerHarness({ maxGroupSize: 3 });
    const a = h.login("a", "d");
    for (const u of ["b", "c", "e"]) h.login(u, "d");
    expect(errorOf(h.request(a, { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: ["b", "c", "e"], clientConversationId: "k" } }))).toMatchObject({ requirement: "LIM-4" });
    const id = group(h, a, ["b", "c"]);
    expect(errorOf(h.request(a, { case: "openConversation", value: { conversationId: id, userIds: ["e"] } }))).toMatchObject({ requirement: "LIM-4" });
  });
});

describe("server options (LIM-1, LIM-4, LIM-6)", () => {
  it("refuse what could not be announced in a valid welcome", () => {
    expect(() => new ServerHarness({ maxFrameSize: 1_000 })).toThrow(/maxFrameSize 1000 is outside 65536\.\.16777216 \(LIM-1\)/);
    expect(() => new ServerHarness({ heartbeatIntervalMs: 500 })).toThrow(/LIM-6/);
    expect(() => new ServerHarness({ dedupWindowS: 3_600 })).toThrow(/LIM-6/);
    expect(() => new ServerHarness({ maxFrameSize: 65_536, maxInlineMembers: 1_000 })).toThrow(/at most 480 fit/);
  });

  it("LIM-4 LIM-9 LIM-7 SYNC-7: the inline member limit follows the frame limit, and the largest group created at once still fits every frame that carries it", () => {
    expect(new ServerHarness().server.options.maxInlineMembers).toBe(1_000);
    expect(new ServerHarness().server.options.maxGroupSize).toBe(200_000);
    const h = new ServerHarness({ maxFrameSize: 65_536 });
    const limit = h.server.options.maxInlineMembers;
    expect(limit).toBe(480);
    // The worst case: every member id 128 bytes, a 1,024-byte title.
    const id = (n: number) => `${n}`.padStart(128, "u");
    const owner = h.login(id(0), "d");
    for (let n = 1; n < limit; n++) h.store.addUser(id(n));
    const frames = h.send(owner, { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: Array.from({ length: limit - 1 }, (_, n) => id(n + 1)), title: "t".repeat(1_024), clientConversationId: "big" } });
    const opened = frames.find((f) => f.body.case === "conversationOpened");
    const conversationId = opened?.body.case === "conversationOpened" ? opened.body.value.conversation!.conversationId : "";
    expect(conversationId).not.toBe("");
    const snapshot = h.request(owner, { case: "syncUser", value: {} });
    const entries = h.request(owner, { case: "syncUser", value: { epoch: h.store.epoch(id(0)), afterCursor: 0n, limit: 1 } });
    const history = h.request(owner, { case: "syncConversation", value: { conversationId, limit: 1 } });
    for (const frame of [...frames, snapshot, entries, history]) expect(encodeFrame(frame).length, frame.body.case).toBeLessThanOrEqual(65_536);
    expect(encodeFrame(snapshot).length).toBeGreaterThan(60_000); // the bound is close to tight
  });
});

describe("acknowledgements and delivery", () => {
  it("ACK-1 ACK-3 FLOW-2 CUR-2: cumulative acks open the window; stale acks change nothing", () => {
    const h = new ServerHarness({ receiveWindow: 2 });
    const a = h.loginAndSync("a", "d");
    const b = h.loginAndSync("b", "d");
    const id = group(h, a, ["b"]);
    for (let i = 0; i < 4; i++) send(h, a, id, `m${i}`);
    const c = streamCursors(h, "b");
    expect(pushes(h.take(b)).map((p) => p.cursor)).toEqual(c.slice(0, 2));
    const ack = (cursor: bigint) => pushes(h.send(b, { case: "deliveryAck", value: { cursor } }));
    expect(ack(c[0]!).map((p) => p.cursor)).toEqual([c[2]]);
    expect(ack(c[0]!)).toEqual([]); // stale
    expect(ack(c[2]!).map((p) => [p.prevCursor, p.cursor])).toEqual([[c[2], c[3]], [c[3], c[4]]]);
  });

  it("ACK-2: acknowledging beyond what was sent closes the connection", () => {
    const h = new ServerHarness();
    const a = h.loginAndSync("a", "d");
    group(h, a, []);
    const [error] = h.send(a, { case: "deliveryAck", value: { cursor: 99n } }).filter((f) => f.body.case === "error");
    expect(errorOf(error)).toMatchObject({ code: ErrorCode.PROTOCOL_VIOLATION, requirement: "ACK-2", closing: true });
    expect(error!.requestId).toBe(0); // ACK-5
  });

  it("ACK-4: a conversation acknowledgement beyond its last readable seq is a violation; within it, fine", () => {
    const h = new ServerHarness();
    const a = h.loginAndSync("a", "d");
    const id = group(h, a, []);
    expect(h.send(a, { case: "deliveryAck", value: { conversations: [{ conversationId: id, seq: 1n }] } }).filter((f) => f.body.case === "error")).toEqual([]);
    const [error] = h.send(a, { case: "deliveryAck", value: { conversations: [{ conversationId: id, seq: 2n }] } });
    expect(errorOf(error)).toMatchObject({ requirement: "ACK-4" });
  });

  it("HB-2 CUR-6: pong echoes the nonce and carries the stream head", () => {
    const h = new ServerHarness();
    const a = h.loginAndSync("a", "d");
    group(h, a, []);
    const [pong] = h.send(a, { case: "ping", value: { nonce: 42n } }).filter((f) => f.body.case === "pong");
    expect(pong!.body.value).toMatchObject({ nonce: 42n, headCursor: 2n });
  });

  it("HB-3: nothing received for 1.5 intervals closes with TIMEOUT; any frame resets the clock", () => {
    const h = new ServerHarness({ heartbeatIntervalMs: 10_000 });
    const a = h.login("a", "d");
    h.advance(14_000);
    h.send(a, { case: "ping", value: {} });
    h.advance(14_999);
    expect(h.closed.has(a)).toBe(false);
    h.advance(1);
    expect(h.closed.get(a)?.reason).toBe(ErrorCode.TIMEOUT);
  });
});

describe("sync", () => {
  it("SYNC-2 LIM-5: pages are bounded by limit and by the frame size, with has_more", () => {
    const h = new ServerHarness({ maxFrameSize: 65_536 });
    const a = h.login("a", "d");
    const id = group(h, a, []);
    for (let i = 0; i < 5; i++) send(h, a, id, `m${i}`);
    const small = h.request(a, { case: "syncConversation", value: { conversationId: id, limit: 2 } });
    expect(small.body.case === "conversationPage" && [small.body.value.events.length, small.body.value.hasMore]).toEqual([2, true]);
    const big = { kind: { case: "encrypted" as const, value: { scheme: "x", ciphertext: new Uint8Array(30_000) } } };
    for (let i = 0; i < 3; i++) send(h, a, id, `big${i}`, big);
    const page = h.request(a, { case: "syncConversation", value: { conversationId: id, afterSeq: 6n } });
    expect(page.body.case === "conversationPage" && [page.body.value.events.length, page.body.value.hasMore]).toEqual([2, true]);
  });

  it("SYNC-3: user pages link each entry to the one before, the first to after_cursor", () => {
    const h = new ServerHarness();
    const a = h.loginAndSync("a", "d");
    const id = group(h, a, []);
    send(h, a, id, "m");
    const page = h.request(a, { case: "syncUser", value: { afterCursor: 1n, epoch: h.store.epoch("a"), limit: 1 } });
    expect(page.body.case === "userPage" && page.body.value).toMatchObject({ hasMore: true, headCursor: 3n, events: [{ prevCursor: 1n, cursor: 2n }] });
  });

  it("SYNC-4: a snapshot for a fresh device, another epoch, a cursor beyond the head or too far behind", () => {
    const h = new ServerHarness({ snapshotAfterEntries: 2 });
    const a = h.loginAndSync("a", "d");
    const id = group(h, a, []);
    for (let i = 0; i < 3; i++) send(h, a, id, `m${i}`);
    const epoch = h.store.epoch("a");
    const snapshotFor = (afterCursor: bigint, e: string) => {
      const page = h.request(a, { case: "syncUser", value: { afterCursor, epoch: e } });
      return page.body.case === "userPage" && page.body.value.snapshot !== undefined;
    };
    expect(snapshotFor(0n, "")).toBe(true);
    expect(snapshotFor(4n, "other")).toBe(true);
    expect(snapshotFor(99n, epoch)).toBe(true);
    expect(snapshotFor(1n, epoch)).toBe(true); // 4 behind, more than 2
    expect(snapshotFor(3n, epoch)).toBe(false);
    const page = h.request(a, { case: "syncUser", value: { afterCursor: 0n, epoch: "" } });
    expect(page.body.case === "userPage" && page.body.value.snapshot).toMatchObject({ epoch, cursor: 5n, conversations: [{ conversationId: id, lastSeq: 4n }], continueAfter: "" });
  });

  it("SYNC-7 LIM-7: a snapshot over the frame limit comes in pages, ascending by id, each fitting the frame, each listing the state of its moment", () => {
    const h = new ServerHarness({ maxFrameSize: 65_536 });
    const a = h.loginAndSync("a", "d");
    const title = "t".repeat(1_024);
    expect(errorOf(h.request(a, { case: "openConversation", value: { kind: ConversationKind.GROUP, title: `${title}!`, clientConversationId: "too-long" } }))).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, requirement: "LIM-7" });
    const ids = Array.from({ length: 100 }, (_, i) => h.request(a, { case: "openConversation", value: { kind: ConversationKind.GROUP, title, clientConversationId: `g${i}` } })).map((f) =>
      f.body.case === "conversationOpened" ? f.body.value.conversation!.conversationId : "",
    );
    const epoch = h.store.epoch("a");
    const snapshotOf = (f: Frame) => (f.body.case === "userPage" ? f.body.value.snapshot! : undefined)!;

    const first = h.request(a, { case: "syncUser", value: { epoch: "" } });
    const page1 = snapshotOf(first);
    expect(encodeFrame(first).length).toBeLessThanOrEqual(65_536);
    expect(page1.conversations.length).toBeGreaterThan(10);
    expect(page1.continueAfter).toBe(page1.conversations.at(-1)!.conversationId);

    // A group created between pages: the later pages list the state of their own moment.
    const late = h.request(a, { case: "openConversation", value: { kind: ConversationKind.GROUP, title: "late", clientConversationId: "late" } });
    const lateId = late.body.case === "conversationOpened" ? late.body.value.conversation!.conversationId : "";
    const pages = [page1];
    for (let next = page1.continueAfter; next !== ""; ) {
      const frame = h.request(a, { case: "syncUser", value: { epoch, afterCursor: 1n, snapshotAfter: next } });
      expect(encodeFrame(frame).length).toBeLessThanOrEqual(65_536);
      const page = snapshotOf(frame);
      expect(page.epoch).toBe(epoch);
      pages.push(page);
      next = page.continueAfter;
    }
    expect(pages.length).toBeGreaterThanOrEqual(2);
    expect(pages.at(-1)!.cursor).toBeGreaterThan(page1.cursor);
    const listed = pages.flatMap((p) => p.conversations.map((c) => c.conversationId));
    const utf8Order = [...listed].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect(listed).toEqual(utf8Order);
    // The late group is listed when its id sorts after the first page; otherwise the stream's joined entry tells of it.
    const expected = [...ids, ...(Buffer.compare(Buffer.from(lateId), Buffer.from(page1.continueAfter)) > 0 ? [lateId] : [])];
    expect(new Set(listed)).toEqual(new Set(expected));
    expect(listed).toHaveLength(expected.length);

    // A continuation under an epoch that is no longer the stream's starts a new snapshot.
    const stale = snapshotOf(h.request(a, { case: "syncUser", value: { epoch: "gone", snapshotAfter: page1.continueAfter } }));
    expect(stale.conversations[0]!.conversationId).toBe(utf8Order[0]);
  });

  it("SYNC-7: conversation ids are ordered as their UTF-8 bytes, which is not JavaScript's UTF-16 order", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: "grapheme", maxLength: 6 }), { maxLength: 20 }), (ids) => {
        const byBytes = [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        expect([...ids].sort(compareCodePoints)).toEqual(byBytes);
      }),
      { numRuns: 500 },
    );
    expect(compareCodePoints("\u{1F600}", "\uFFFD")).toBeGreaterThan(0); // UTF-16 order says the opposite
  });
});

describe("receive settings, device state and read markers", () => {
  it("RECV-1 RECV-4: settings are stored, answered, and appended to the user's stream once", () => {
    const h = new ServerHarness();
    const a = h.loginAndSync("a", "d");
    const id = group(h, a, []);
    h.take(a);
    const answer = h.request(a, { case: "setReceiveSettings", value: { settings: { conversationId: id, mode: ReceiveMode.MUTED } } });
    expect(answer.body.case === "receiveSettings" && answer.body.value).toMatchObject({ conversationId: id, mode: ReceiveMode.MUTED });
    expect(pushes(h.take(a)).map((p) => p.body.case)).toEqual(["receiveSettings"]);
    h.request(a, { case: "setReceiveSettings", value: { settings: { conversationId: id, mode: ReceiveMode.MUTED } } });
    expect(pushes(h.take(a))).toEqual([]);
    expect(errorOf(h.request(h.login("z", "d"), { case: "setReceiveSettings", value: { settings: { conversationId: id, mode: 1 } } }))?.code).toBe(ErrorCode.PERMISSION_DENIED);
  });

  it("RECV-2 RECV-3 RECV-6: notify-only conversations are pushed in notify form; other entries whole", () => {
    const h = new ServerHarness();
    const a = h.loginAndSync("a", "d");
    const b = h.loginAndSync("b", "d");
    const id = group(h, a, ["b"]);
    h.request(b, { case: "setReceiveSettings", value: { settings: { conversationId: id, mode: ReceiveMode.NOTIFY_ONLY } } });
    h.take(b);
    send(h, a, id, "m");
    const [entry] = pushes(h.take(b));
    expect(entry!.body).toMatchObject({ case: "notify", value: { conversationId: id, seq: 2n } });
  });

  it("RECV-5: a background device gets notify form for every conversation, and its push service is handed the alert", () => {
    const h = new ServerHarness();
    const a = h.loginAndSync("a", "d");
    const b = h.loginAndSync("b", "d");
    const id = group(h, a, ["b"]);
    const set = h.request(b, { case: "setDeviceState", value: { state: DeviceState.BACKGROUND, pushService: "apns", pushToken: "tok" } });
    expect(set.body.case === "deviceStateSet" && set.body.value.state).toBe(DeviceState.BACKGROUND);
    h.take(b);
    send(h, a, id, "m");
    expect(pushes(h.take(b))[0]!.body.case).toBe("notify");
  });

  it("READ-1 READ-2 READ-3: markers only move forward, reach all the user's devices, and the other members as receipts", () => {
    const h = new ServerHarness();
    const a1 = h.loginAndSync("a", "phone");
    const a2 = h.loginAndSync("a", "laptop");
    const b = h.loginAndSync("b", "d");
    const id = group(h, a1, ["b"]);
    send(h, b, id, "m");
    [a1, a2, b].forEach((c) => h.take(c));
    const marker = h.request(a1, { case: "markRead", value: { conversationId: id, seq: 2n } });
    expect(marker.body.case === "readMarker" && marker.body.value.seq).toBe(2n);
    expect(pushes(h.take(a2)).map((p) => p.body.case)).toEqual(["readMarker"]);
    expect(pushes(h.take(b))[0]!.body).toMatchObject({ case: "readReceipt", value: { userId: "a", seq: 2n } });
    const backwards = h.request(a1, { case: "markRead", value: { conversationId: id, seq: 1n } });
    expect(backwards.body.case === "readMarker" && backwards.body.value.seq).toBe(2n);
    expect(errorOf(h.request(a1, { case: "markRead", value: { conversationId: id, seq: 9n } }))?.code).toBe(ErrorCode.INVALID_ARGUMENT);
  });
});

describe("request ids, flow control, silence before welcome, key reuse", () => {
  it("ENV-2: a request with request_id 0 is not processed: PROTOCOL_VIOLATION with request_id 0, and the connection closes", () => {
    const h = new ServerHarness();
    const c = h.login("u", "d");
    const [reply] = h.send(c, { case: "syncUser", value: {} }, 0);
    expect(reply!.requestId).toBe(0);
    expect(errorOf(reply)).toMatchObject({ code: ErrorCode.PROTOCOL_VIOLATION, closing: true, requirement: "ENV-2" });
    expect(h.closed.has(c)).toBe(true);
  });

  it("FLOW-1: requests read and not yet answered count until the runner takes their answers; one over max_in_flight closes", () => {
    const h = new ServerHarness({ maxInFlight: 3 });
    const c = h.login("u", "d");
    const receive = (id: number) => h.server.frameReceived(c, { $typeName: "imwire.v1.Frame", requestId: id, body: { case: "syncUser", value: { $typeName: "imwire.v1.SyncUser", afterCursor: 0n, epoch: "", limit: 0, snapshotAfter: "" } } }, h.now);
    // Answers taken between requests: never more than one in flight, however many come.
    for (let id = 100; id < 110; id++) {
      receive(id);
      expect(h.server.takeOutputs().map((o) => o.kind === "send" && o.frame.body.case)).toEqual(["userPage"]);
    }
    // Three read together are fine; a fourth before their answers are taken is one too many.
    for (const id of [1, 2, 3]) receive(id);
    receive(4);
    const outputs = h.server.takeOutputs();
    const frames = outputs.flatMap((o) => (o.kind === "send" ? [o.frame] : []));
    expect(frames.slice(0, 3).map((f) => f.body.case)).toEqual(["userPage", "userPage", "userPage"]);
    expect(frames[3]!.requestId).toBe(4);
    expect(errorOf(frames[3])).toMatchObject({ code: ErrorCode.PROTOCOL_VIOLATION, closing: true, requirement: "FLOW-1" });
    expect(outputs.at(-1)).toMatchObject({ kind: "close", connection: c });
  });

  it("FLOW-1: heartbeats and notices do not count", () => {
    const h = new ServerHarness({ maxInFlight: 1 });
    const c = h.login("u", "d");
    for (let i = 0; i < 5; i++) h.server.frameReceived(c, { $typeName: "imwire.v1.Frame", requestId: 0, body: { case: "ping", value: { $typeName: "imwire.v1.Ping", nonce: BigInt(i) } } }, h.now);
    h.server.frameReceived(c, { $typeName: "imwire.v1.Frame", requestId: 9, body: { case: "syncUser", value: { $typeName: "imwire.v1.SyncUser", afterCursor: 0n, epoch: "", limit: 0, snapshotAfter: "" } } }, h.now);
    expect(h.server.takeOutputs().map((o) => o.kind === "send" && o.frame.body.case)).toEqual(["pong", "pong", "pong", "pong", "pong", "userPage"]);
  });

  it("HB-3 CONN-6: before welcome only the handshake timeout bounds a silent connection; from welcome, 1.5 heartbeat intervals", () => {
    const h = new ServerHarness({ heartbeatIntervalMs: 1_000, handshakeTimeoutMs: 10_000 });
    const quiet = h.open();
    h.advance(9_999);
    expect(h.closed.has(quiet)).toBe(false);
    h.advance(1);
    expect(errorOf(h.take(quiet)[0])).toMatchObject({ code: ErrorCode.TIMEOUT, requirement: "CONN-6" });
    const welcomed = h.open();
    h.request(welcomed, { case: "hello", value: { versions: [1], deviceId: "d" } });
    h.advance(1_499);
    expect(h.closed.has(welcomed)).toBe(false);
    h.advance(1);
    expect(errorOf(h.take(welcomed)[0])).toMatchObject({ code: ErrorCode.TIMEOUT, requirement: "HB-3" });
  });

  it("IDEM-7: a message key reused for another conversation is INVALID_ARGUMENT and appends nothing; the key keeps its answer", () => {
    const h = new ServerHarness();
    const a = h.loginAndSync("a", "d");
    h.loginAndSync("b", "d");
    h.loginAndSync("c", "d");
    const first = group(h, a, ["b"], "g1");
    const second = group(h, a, ["c"], "g2");
    const ack = send(h, a, first, "k");
    expect(errorOf(send(h, a, second, "k"))).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, closing: false, requirement: "IDEM-7" });
    expect(h.store.lastSeq(second)).toBe(1);
    const again = send(h, a, first, "k");
    expect(again.body.case === "sendAck" && again.body.value.seq).toBe(ack.body.case === "sendAck" && ack.body.value.seq);
  });

  it("IDEM-7: a conversation key reused for another kind is INVALID_ARGUMENT; for the same kind, the same conversation", () => {
    const h = new ServerHarness();
    const a = h.loginAndSync("a", "d");
    const id = group(h, a, [], "key");
    const channel = h.request(a, { case: "openConversation", value: { kind: ConversationKind.CHANNEL, title: "c", clientConversationId: "key" } });
    expect(errorOf(channel)).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, requirement: "IDEM-7" });
    expect(group(h, a, [], "key")).toBe(id);
  });

  it("MSG-6: a reply to an event before the sender's first visible seq is INVALID_ARGUMENT", () => {
    const h = new ServerHarness();
    const a = h.loginAndSync("a", "d");
    const c = h.loginAndSync("c", "d");
    const id = group(h, a, [], "g");
    send(h, a, id, "before");
    h.request(a, { case: "openConversation", value: { conversationId: id, userIds: ["c"] } });
    const refused = h.request(c, { case: "sendMessage", value: { conversationId: id, clientMessageId: "r1", content: text("re"), replyToSeq: 2n } });
    expect(errorOf(refused)).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, requirement: "MSG-6" });
    const ok = h.request(c, { case: "sendMessage", value: { conversationId: id, clientMessageId: "r2", content: text("re"), replyToSeq: 3n } });
    expect(ok.body.case).toBe("sendAck");
  });
});

/** Every cursor of a user's stream, oldest first. */
function streamCursors(h: ServerHarness, userId: string): bigint[] {
  return h.store.userEntries(userId, 0, Infinity).map((e) => BigInt(e.cursor));
}
