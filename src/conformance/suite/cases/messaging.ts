import { create, toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { ConversationKind } from "../../../gen/imwire/v1/conversation_pb.js";
import { MentionSchema, MessageContentSchema, type Image, type Text } from "../../../gen/imwire/v1/content_pb.js";
import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import { MembershipAction, type ConversationEvent, type Message } from "../../../gen/imwire/v1/message_pb.js";
import type { Session, TestContext } from "../context.js";
import { describe } from "../scripted-connection.js";
import { Violation, type ConformanceTest } from "../types.js";
import { check, direct, eventPush, freshKey, group, push, send, text, users, type Content } from "./helpers.js";

const groupName = "messaging";

const bigJson = (value: unknown) => JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? String(v) : v instanceof Uint8Array ? `<${v.length} bytes>` : v));

/** Encoded messages as one hex string, each preceded by its length, for byte-for-byte comparisons. */
const hex = (encoded: readonly Uint8Array[]) => encoded.map((bytes) => `${bytes.length}:${Buffer.from(bytes).toString("hex")}`).join(" ");

/** Every event of a conversation after `afterSeq`, page after page (SYNC-1, SYNC-2). */
async function history(t: TestContext, session: Session, conversationId: string, afterSeq: bigint): Promise<ConversationEvent[]> {
  const events: ConversationEvent[] = [];
  for (let pages = 1; ; pages++) {
    const page = await t.ask(session, { case: "syncConversation", value: { conversationId, afterSeq: events.at(-1)?.seq ?? afterSeq } }, "conversationPage", "SYNC-1");
    events.push(...page.events);
    if (!page.hasMore || page.events.length === 0) return events;
    check(pages < 1_000, "SYNC-2", "a last page", () => `${pages} pages`);
  }
}

/** The bytes of `value` as a Protobuf varint. */
function varint(value: number): number[] {
  const bytes: number[] = [];
  for (; value >= 0x80; value = Math.floor(value / 128)) bytes.push((value % 128) | 0x80);
  return [...bytes, value];
}

/** Text content whose encoding is `bytes` long (or, where no text length gives exactly that, the shortest one longer). */
function textOfSize(bytes: number): Content {
  const size = (n: number) => {
    const inner = 1 + varint(n).length + n; // Text: tag, length, the string
    return 1 + varint(inner).length + inner; // MessageContent: tag, length, the Text
  };
  let n = Math.max(0, bytes - 12);
  while (size(n) < bytes) n++;
  return text("x".repeat(n));
}

export const messagingTests: ConformanceTest[] = [
  {
    id: "MSG-1/send-reaches-every-device",
    requirements: ["MSG-1", "SEQ-1", "DLV-1", "DLV-4", "CUR-1"],
    level: "required",
    group: groupName,
    title: "a message is acknowledged with its seq and pushed to every device of both users, the sender's own included",
    async run(t) {
      const alice = [await t.connect(t.user("alice"), "phone"), await t.connect(t.user("alice"), "laptop")];
      const bob = [await t.connect(t.user("bob"), "phone"), await t.connect(t.user("bob"), "laptop")];
      const id = await direct(t, alice[0]!, bob[0]!);
      const ack = await send(t, alice[0]!, id, text("hello from the phone"));
      check(ack.seq >= 1n && ack.messageId !== "", "MSG-1", "send_ack with seq and message_id", () => bigJson(ack));
      for (const device of [...alice, ...bob]) {
        const entry = await push(t, device, eventPush(id, ack.seq), "DLV-4", `the event ${id}#${ack.seq}`);
        if (entry.body.case === "event") {
          const event = entry.body.value;
          check(event.senderUserId === alice[0]!.userId, "DLV-1", `sender ${alice[0]!.userId}`, () => bigJson(event));
        }
      }
    },
  },
  {
    id: "SEQ-1/gapless-under-concurrent-senders",
    requirements: ["SEQ-1", "SEQ-4", "SEQ-2"],
    level: "required",
    group: groupName,
    title: "three members sending at once get distinct, gapless seqs, and every member is pushed them in order",
    async run(t) {
      const [a, b, c] = await users(t, "a", "b", "c");
      const id = await group(t, a!, [b!, c!]);
      const sends = [a!, b!, c!].flatMap((s) => Array.from({ length: 8 }, (_, i) => send(t, s, id, text(`${s.userId} #${i}`))));
      const seqs = (await Promise.all(sends)).map((ack) => ack.seq).sort((x, y) => (x < y ? -1 : 1));
      const first = seqs[0]!;
      check(seqs.every((s, i) => s === first + BigInt(i)), "SEQ-1", `24 consecutive seqs from ${first}`, () => seqs.join(","));
      for (const member of [a!, b!, c!]) {
        const seen: bigint[] = [];
        while (seen.length < 24) {
          const entry = await push(t, member, (e) => e.body.case === "event" && e.body.value.conversationId === id && e.body.value.seq >= first, "SEQ-4", "the next message");
          if (entry.body.case === "event") seen.push(entry.body.value.seq);
        }
        check(seen.every((s, i) => s === first + BigInt(i)), "SEQ-4", "pushes in seq order", () => seen.join(","));
      }
    },
  },
  {
    id: "MSG-7/every-content-kind-round-trips",
    requirements: ["MSG-7", "MSG-2", "MSG-3", "MSG-4"],
    level: "required",
    group: groupName,
    title: "every content kind, media references and ciphertext included, reaches the receiver byte for byte",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const media = { uri: "https://media.example/x", mimeType: "image/jpeg", byteSize: 12_345n, sha256: new Uint8Array(32).fill(7), width: 640, height: 480, durationMs: 1500, thumbnail: { mimeType: "image/jpeg", data: new Uint8Array(300).fill(1), width: 64, height: 48 } };
      const contents: Content[] = [
        text("naïve café 🙂 𝄞"),
        { kind: { case: "image", value: { media, caption: "a caption" } } },
        { kind: { case: "voice", value: { media, waveform: new Uint8Array([1, 2, 3]) } } },
        { kind: { case: "video", value: { media, caption: "v" } } },
        { kind: { case: "file", value: { media, fileName: "report.pdf" } } },
        { kind: { case: "sticker", value: { packId: "p", stickerId: "s1", emoji: "👍", media } } },
        { kind: { case: "encrypted", value: { scheme: "mls", ciphertext: new Uint8Array(1024).map((_, i) => i % 256), keyId: new Uint8Array([9]) } } },
      ];
      for (const content of contents) {
        const ack = await send(t, a!, id, content);
        const entry = await push(t, b!, eventPush(id, ack.seq), "MSG-7", `the event ${id}#${ack.seq}`);
        if (entry.body.case !== "event" || entry.body.value.body.case !== "message") continue;
        const got = toBinary(MessageContentSchema, entry.body.value.body.value.content!);
        const sent = toBinary(MessageContentSchema, (await import("@bufbuild/protobuf")).create(MessageContentSchema, content));
        check(Buffer.compare(Buffer.from(got), Buffer.from(sent)) === 0, "MSG-7", `the ${content.kind?.case} content as sent`, () => `${got.length} different bytes`);
      }
    },
  },
  {
    id: "MSG-3/sha256-of-wrong-size",
    requirements: ["MSG-3"],
    level: "required",
    group: groupName,
    title: "a media sha256 that is not 32 bytes is INVALID_ARGUMENT",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const requestId = a!.conn.send({ case: "sendMessage", value: { conversationId: id, clientMessageId: freshKey(), content: { kind: { case: "image", value: { media: { uri: "https://x/y", sha256: new Uint8Array(20) } } } } } });
      await t.expectErrorFrom(a!.conn, [ErrorCode.INVALID_ARGUMENT], "MSG-3", { requestId, closing: false });
    },
  },
  {
    id: "CONV-2/one-direct-conversation-per-pair",
    requirements: ["CONV-2", "CONV-1"],
    level: "required",
    group: groupName,
    title: "opening a one-to-one conversation again, from either side, returns the same one",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const first = await direct(t, a!, b!);
      const second = await direct(t, b!, a!);
      check(first === second, "CONV-2", `the same conversation ${first}`, () => second);
    },
  },
  {
    id: "CONV-3/group-creation-is-idempotent",
    requirements: ["CONV-3", "IDEM-6"],
    level: "required",
    group: groupName,
    title: "creating a group twice with one client_conversation_id returns one group; its seq 1 is CREATED with all members",
    async run(t) {
      const [a, b, c] = await users(t, "a", "b", "c");
      const key = freshKey("g");
      const open = () => t.ask(a!, { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: [b!.userId, c!.userId], title: "g", clientConversationId: key } }, "conversationOpened", "CONV-3");
      const [first, second] = [await open(), await open()];
      check(first.conversation!.conversationId === second.conversation!.conversationId, "IDEM-6", "the same group", () => `${first.conversation!.conversationId} and ${second.conversation!.conversationId}`);
      const page = await t.ask(a!, { case: "syncConversation", value: { conversationId: first.conversation!.conversationId } }, "conversationPage", "SYNC-1");
      const created = page.events[0];
      check(created?.seq === 1n && created.body.case === "membership" && created.body.value.action === MembershipAction.CREATED && created.body.value.userIds.length === 3, "CONV-3", "seq 1: CREATED with the 3 members", () => bigJson(created));
      check(page.events.length === 1, "IDEM-6", "one CREATED event", () => `${page.events.length} events`);
    },
  },
  {
    id: "CONV-5/leave-a-group",
    requirements: ["CONV-5", "CONV-6", "CONV-7"],
    level: "required",
    group: groupName,
    title: "leaving appends a LEFT event the members see; leaving again gives the same answer",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await group(t, a!, [b!]);
      const left = await t.ask(b!, { case: "leaveConversation", value: { conversationId: id } }, "conversationLeft", "CONV-5");
      const again = await t.ask(b!, { case: "leaveConversation", value: { conversationId: id } }, "conversationLeft", "CONV-5");
      check(left.lastVisibleSeq === again.lastVisibleSeq, "CONV-5", `last_visible_seq ${left.lastVisibleSeq} again`, () => String(again.lastVisibleSeq));
      const entry = await push(t, a!, eventPush(id, left.lastVisibleSeq), "CONV-6", `the LEFT event #${left.lastVisibleSeq}`);
      if (entry.body.case === "event") {
        check(entry.body.value.body.case === "membership" && entry.body.value.body.value.action === MembershipAction.LEFT, "CONV-6", "a LEFT membership event", () => bigJson(entry.body.value));
      }
    },
  },
  {
    id: "CONV-5/direct-conversations-cannot-be-left",
    requirements: ["CONV-5"],
    level: "required",
    group: groupName,
    title: "leaving a one-to-one conversation is FAILED_PRECONDITION",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const requestId = a!.conn.send({ case: "leaveConversation", value: { conversationId: id } });
      await t.expectErrorFrom(a!.conn, [ErrorCode.FAILED_PRECONDITION], "CONV-5", { requestId, closing: false });
    },
  },
  {
    id: "CONV-6/broadcast-channel",
    requirements: ["CONV-6", "CONV-1", "SEC-7", "MSG-1"],
    level: "required",
    group: groupName,
    needs: ["channels"],
    title: "a channel: subscribers get the owner's posts, see no member list, and may not post",
    async run(t) {
      const [owner, fan] = await users(t, "owner", "fan");
      const created = await t.ask(owner!, { case: "openConversation", value: { kind: ConversationKind.CHANNEL, title: "news", clientConversationId: freshKey("ch") } }, "conversationOpened", "CONV-3");
      const id = created.conversation!.conversationId;
      const subscribed = await t.ask(fan!, { case: "openConversation", value: { conversationId: id } }, "conversationOpened", "CONV-4");
      check(subscribed.conversation!.memberUserIds.length === 0, "SEC-7", "no member list", () => subscribed.conversation!.memberUserIds.join(","));
      const ack = await send(t, owner!, id, text("breaking news"));
      await push(t, fan!, eventPush(id, ack.seq), "CONV-6", `the post #${ack.seq}`);
      const requestId = fan!.conn.send({ case: "sendMessage", value: { conversationId: id, clientMessageId: freshKey(), content: text("me too") } });
      await t.expectErrorFrom(fan!.conn, [ErrorCode.PERMISSION_DENIED], "MSG-1", { requestId, closing: false });
    },
  },
  {
    id: "MSG-6/reply-to-an-existing-event",
    requirements: ["MSG-6", "MSG-7", "MSG-5"],
    level: "required",
    group: groupName,
    title: "a reply names an existing event of its conversation and travels with its mentions as sent; a reply to a seq the conversation does not have is INVALID_ARGUMENT",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const original = await send(t, a!, id, text("what do you think?"));
      // Mentions count code points (MSG-5): the emoji before "@b" is one code point, two UTF-16 units, four bytes.
      const prefix = "👋 héllo ";
      const words = `${prefix}@b and 𝄞 @a`;
      const mentions = [
        create(MentionSchema, { userId: b!.userId, offset: [...prefix].length, length: 2 }),
        create(MentionSchema, { userId: a!.userId, offset: [...words].length - 2, length: 2 }),
      ];
      mentions[1]!.$unknown = [{ no: 90, wireType: WireType.Varint, data: new Uint8Array([0x2a]) }];
      const content = create(MessageContentSchema, text(words));
      const key = freshKey();
      const reply = await t.ask(a!, { case: "sendMessage", value: { conversationId: id, clientMessageId: key, content, replyToSeq: original.seq, mentions } }, "sendAck", "MSG-6");
      const expectAsSent = (event: ConversationEvent | undefined, where: string) => {
        check(event?.body.case === "message", "MSG-7", `${where}: the message #${reply.seq}`, () => (event ? bigJson(event) : "no such event"));
        const message = event!.body.value as Message;
        check(message.replyToSeq === original.seq, "MSG-7", `${where}: reply_to_seq ${original.seq}, as sent`, () => `reply_to_seq ${message.replyToSeq}`);
        check(hex(message.mentions.map((m) => toBinary(MentionSchema, m))) === hex(mentions.map((m) => toBinary(MentionSchema, m))), "MSG-7", `${where}: the mentions as sent, byte for byte, an unknown field included: ${bigJson(mentions)}`, () => bigJson(message.mentions));
        check(message.clientMessageId === key, "MSG-7", `${where}: client_message_id ${key}`, () => message.clientMessageId);
        check(hex([toBinary(MessageContentSchema, message.content!)]) === hex([toBinary(MessageContentSchema, content)]), "MSG-7", `${where}: the content as sent`, () => bigJson(message.content));
      };
      const pushed = await push(t, b!, eventPush(id, reply.seq), "MSG-7", `the event ${id}#${reply.seq}`);
      check(pushed.body.case === "event", "DLV-1", `the whole event #${reply.seq}`, () => `${pushed.body.case} form`);
      expectAsSent(pushed.body.value as ConversationEvent, "the event pushed to the peer");
      const page = await t.ask(b!, { case: "syncConversation", value: { conversationId: id, afterSeq: reply.seq - 1n } }, "conversationPage", "SYNC-1");
      expectAsSent(page.events.find((e) => e.seq === reply.seq), "the event in sync_conversation");

      const refuse = async (replyToSeq: bigint, why: string) => {
        const requestId = a!.conn.send({ case: "sendMessage", value: { conversationId: id, clientMessageId: freshKey(), content: text(`a reply to #${replyToSeq}`), replyToSeq } });
        const frame = await t.nextOrViolation(a!.conn, (f) => f.requestId === requestId, "MSG-6", ["error ERROR_CODE_INVALID_ARGUMENT"]);
        if (frame.body.case !== "error") throw new Violation(`MSG-6: reply_to_seq ${replyToSeq} (${why}) must be INVALID_ARGUMENT`, ["error ERROR_CODE_INVALID_ARGUMENT"], describe(frame));
        t.expectError(frame, [ErrorCode.INVALID_ARGUMENT], `MSG-6 (reply_to_seq ${replyToSeq}: ${why})`, false);
      };
      await refuse(reply.seq + 1n, `the seq after ${id}'s last, ${reply.seq}`);
      const longer = await group(t, a!, [b!]);
      let elsewhere = 0n;
      while (elsewhere < reply.seq + 3n) elsewhere = (await send(t, a!, longer, text(`filler #${elsewhere + 1n}`))).seq;
      await refuse(elsewhere, `a seq of another conversation, ${longer}, that ${id} does not have`);
      const after = await t.ask(a!, { case: "syncConversation", value: { conversationId: id, afterSeq: reply.seq } }, "conversationPage", "SYNC-1");
      check(after.lastSeq === reply.seq && after.events.length === 0, "IDEM-5", `${id} still ending at #${reply.seq}: a refused send appends nothing`, () => `last_seq ${after.lastSeq}, ${after.events.length} events after #${reply.seq}`);
    },
  },
  {
    id: "MSG-7/unknown-fields-in-content-at-every-depth",
    requirements: ["MSG-7", "ENV-6", "ENV-3", "EXT-3"],
    level: "required",
    group: groupName,
    title: "unknown fields in content, at every depth and of every wire type, and a content kind of a later version, reach the receiver byte for byte",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const unknown = (no: number, wireType: WireType, data: number[]) => ({ no, wireType, data: new Uint8Array(data) });
      const lengthDelimited = (no: number, bytes: number[]) => unknown(no, WireType.LengthDelimited, [bytes.length, ...bytes]);

      const image = create(MessageContentSchema, { kind: { case: "image", value: { media: { uri: "https://media.example/u", mimeType: "image/png", byteSize: 99n, width: 10, thumbnail: { mimeType: "image/png", data: new Uint8Array([1, 2, 3]), width: 2 } }, caption: "layers" } } });
      const imageKind = image.kind.value as Image;
      image.$unknown = [unknown(50, WireType.Varint, [0x96, 0x01])];
      imageKind.$unknown = [lengthDelimited(51, [...new TextEncoder().encode("a later caption field")])];
      imageKind.media!.$unknown = [
        unknown(52, WireType.Bit32, [1, 2, 3, 4]),
        // A known field (height, a varint) sent as bytes is an unknown field, not a height (ENV-3).
        lengthDelimited(6, [0x68, 0x69]),
      ];
      imageKind.media!.thumbnail!.$unknown = [
        unknown(53, WireType.Bit64, [1, 2, 3, 4, 5, 6, 7, 8]),
        // A group holding a varint: field 1 = 7, then the end-group tag of field 2000.
        unknown(2000, WireType.StartGroup, [0x08, 0x07, ...varint((2000 << 3) | WireType.EndGroup)]),
      ];

      const words = create(MessageContentSchema, text("plain words, with extras"));
      words.$unknown = [lengthDelimited(60, [0x0a, 0x02, 0x6f, 0x6b])];
      (words.kind.value as Text).$unknown = [unknown(2 ** 29 - 1, WireType.Varint, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])];

      // A kind of a later version: no known member of the oneof, the new one among the unknown fields (EXT-3, ENV-5).
      const later = create(MessageContentSchema, {});
      later.$unknown = [lengthDelimited(8, [0x0a, 0x03, 0x6e, 0x65, 0x77])];

      for (const [what, content] of [["an image with unknown fields at every depth", image], ["a text with unknown fields", words], ["a content kind of a later version", later]] as const) {
        const sent = hex([toBinary(MessageContentSchema, content)]);
        const requirement = content.kind.case === undefined ? "EXT-3" : "MSG-7";
        const ack = await t.ask(a!, { case: "sendMessage", value: { conversationId: id, clientMessageId: freshKey(), content } }, "sendAck", `${requirement} (${what})`);
        const entry = await push(t, b!, eventPush(id, ack.seq), requirement, `the event ${id}#${ack.seq}`);
        check(entry.body.case === "event" && entry.body.value.body.case === "message", "MSG-7", `the whole message event #${ack.seq}`, () => bigJson(entry.body.value));
        const message = (entry.body.value as ConversationEvent).body.value as Message;
        check(hex([toBinary(MessageContentSchema, message.content!)]) === sent, "MSG-7", `${what}, as sent, byte for byte (${sent})`, () => `pushed: ${hex([toBinary(MessageContentSchema, message.content!)])}`);
        const page = await t.ask(b!, { case: "syncConversation", value: { conversationId: id, afterSeq: ack.seq - 1n, untilSeq: ack.seq } }, "conversationPage", "SYNC-1");
        const synced = page.events.find((e) => e.seq === ack.seq);
        check(synced?.body.case === "message", "MSG-7", `the message #${ack.seq} in sync_conversation`, () => (synced ? bigJson(synced) : `${page.events.length} events`));
        const stored = hex([toBinary(MessageContentSchema, (synced!.body.value as Message).content!)]);
        check(stored === sent, "MSG-7", `${what} in sync_conversation, as sent, byte for byte (${sent})`, () => `synced: ${stored}`);
      }
    },
  },
  {
    id: "SEQ-1/refused-requests-consume-no-seq",
    requirements: ["SEQ-1", "IDEM-5", "MSG-3", "MSG-6", "LIM-2", "LIM-3"],
    level: "required",
    group: groupName,
    title: "sends the server refuses take no seq: the next message follows the last one stored, and a refused send's key is free for a new message",
    async run(t) {
      const [a, b, outsider] = await users(t, "a", "b", "outsider");
      const id = await direct(t, a!, b!);
      const nextKey = freshKey("next");
      const first = await send(t, a!, id, text("before the refusals"));
      const n = first.seq;
      const limit = a!.welcome.maxFrameSize - 4096;
      const keys = { media: freshKey("media"), reply: freshKey("reply"), large: freshKey("large") };
      const refusals: { what: string; session: Session; key: string; content: Content; replyToSeq?: bigint; code: ErrorCode; requirement: string }[] = [
        { what: "a 20-byte sha256", session: a!, key: keys.media, content: { kind: { case: "image", value: { media: { uri: "https://media.example/x", sha256: new Uint8Array(20).fill(3) } } } }, code: ErrorCode.INVALID_ARGUMENT, requirement: "MSG-3" },
        { what: `reply_to_seq ${n + 1n}, which does not exist yet`, session: a!, key: keys.reply, content: text("a reply to the future"), replyToSeq: n + 1n, code: ErrorCode.INVALID_ARGUMENT, requirement: "MSG-6" },
        { what: "a 129-byte client_message_id", session: a!, key: "k".repeat(129), content: text("a key too long"), code: ErrorCode.INVALID_ARGUMENT, requirement: "LIM-2" },
        { what: `content of ${limit + 1} bytes, over max_frame_size - 4096`, session: a!, key: keys.large, content: textOfSize(limit + 1), code: ErrorCode.INVALID_ARGUMENT, requirement: "LIM-3" },
        { what: "a send from a user who is not a member", session: outsider!, key: freshKey("outsider"), content: text("let me in"), code: ErrorCode.PERMISSION_DENIED, requirement: "MSG-1" },
      ];
      for (const refusal of refusals) {
        const requestId = refusal.session.conn.send({ case: "sendMessage", value: { conversationId: id, clientMessageId: refusal.key, content: refusal.content, replyToSeq: refusal.replyToSeq ?? 0n } });
        const frame = await t.nextOrViolation(refusal.session.conn, (f) => f.requestId === requestId, refusal.requirement, [`error ERROR_CODE_${ErrorCode[refusal.code]}`]);
        t.expectError(frame, [refusal.code], `${refusal.requirement} (${refusal.what})`, false);
      }
      const next = await send(t, a!, id, text("after the refusals"), nextKey);
      check(next.seq === n + 1n, "SEQ-1", `seq ${n + 1n}: the refused sends took no seq`, () => `seq ${next.seq}`);
      // IDEM-5: the keys of refused sends were not remembered; each is processed anew, as a new message.
      const retries = [];
      for (const key of [keys.media, keys.reply, keys.large]) {
        const retry = await t.ask(a!, { case: "sendMessage", value: { conversationId: id, clientMessageId: key, content: text(`retry of ${key}`) } }, "sendAck", "IDEM-5");
        const at = n + 2n + BigInt(retries.length);
        check(retry.seq === at, "IDEM-5", `the retry of refused key ${key} appended as a new message at #${at}`, () => `send_ack seq ${retry.seq}`);
        check(retry.messageId !== next.messageId && retries.every((r) => r.messageId !== retry.messageId), "MSG-1", "a message_id of its own", () => retry.messageId);
        retries.push(retry);
      }
      const events = await history(t, b!, id, n - 1n);
      const expected = [nextKey, keys.media, keys.reply, keys.large];
      const got = events.map((e) => `#${e.seq} ${e.body.case === "message" ? e.body.value.clientMessageId : e.body.case}`);
      const want = [first.clientMessageId, ...expected].map((key, i) => `#${n + BigInt(i)} ${key}`);
      check(got.join(" ") === want.join(" "), "SEQ-1", `events ${want.join(", ")}: consecutive, and nothing of the refused sends`, () => got.join(", "));
      for (const [i, retry] of retries.entries()) {
        const event = events[i + 2];
        const content = event?.body.case === "message" ? event.body.value.content : undefined;
        check(content?.kind.case === "text" && content.kind.value.text === `retry of ${expected[i + 1]}`, "IDEM-5", `#${retry.seq} holding the retry's content, not the refused one's`, () => (event ? bigJson(event) : "no event"));
      }
    },
  },
  {
    id: "MSG-6/no-reply-to-history-before-joining",
    requirements: ["MSG-6", "CONV-8"],
    level: "required",
    group: groupName,
    title: "a member added at seq k may reply to k, not to an event before it, which it may not read",
    async run(t) {
      const [a, b, c] = await users(t, "a", "b", "c");
      const id = await group(t, a!, [b!]);
      const before = await send(t, a!, id, text("before c joined"));
      const added = await t.ask(a!, { case: "openConversation", value: { conversationId: id, userIds: [c!.userId] } }, "conversationOpened", "CONV-4");
      const page = await t.ask(c!, { case: "syncConversation", value: { conversationId: id } }, "conversationPage", "SYNC-1");
      const joinedAt = page.firstVisibleSeq;
      check(joinedAt > before.seq, "CONV-8", `c's history starting after #${before.seq}`, () => `first_visible_seq ${joinedAt} (${added.conversation!.conversationId})`);
      const requestId = c!.conn.send({ case: "sendMessage", value: { conversationId: id, clientMessageId: freshKey(), content: text("re: what I cannot see"), replyToSeq: before.seq } });
      await t.expectErrorFrom(c!.conn, [ErrorCode.INVALID_ARGUMENT], "MSG-6", { requestId, closing: false });
      const reply = await t.ask(c!, { case: "sendMessage", value: { conversationId: id, clientMessageId: freshKey(), content: text("re: my joining"), replyToSeq: joinedAt } }, "sendAck", "MSG-6");
      check(reply.seq === joinedAt + 1n, "SEQ-1", `seq ${joinedAt + 1n}`, () => `seq ${reply.seq}`);
    },
  },
];
