import { toBinary } from "@bufbuild/protobuf";
import { ConversationKind } from "../../../gen/imwire/v1/conversation_pb.js";
import { MessageContentSchema } from "../../../gen/imwire/v1/content_pb.js";
import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import { MembershipAction } from "../../../gen/imwire/v1/message_pb.js";
import type { ConformanceTest } from "../types.js";
import { check, direct, eventPush, freshKey, group, push, send, text, users, type Content } from "./helpers.js";

const groupName = "messaging";

const bigJson = (value: unknown) => JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? String(v) : v instanceof Uint8Array ? `<${v.length} bytes>` : v));

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
];
