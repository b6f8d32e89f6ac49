import { create } from "@bufbuild/protobuf";
import { ConversationKind } from "../../../gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import { FrameSchema } from "../../../gen/imwire/v1/frame_pb.js";
import { SyncUserSchema, type SyncUser } from "../../../gen/imwire/v1/sync_pb.js";
import { HelloSchema, type Hello } from "../../../gen/imwire/v1/connection_pb.js";
import { SendMessageSchema, type SendMessage } from "../../../gen/imwire/v1/message_pb.js";
import { sizeSendMessage } from "../../../gen/imwire/v1/message_fast.js";
import { encodeFrame } from "../../../codec/frame-codec.js";
import { HANDSHAKE_MAX_FRAME_SIZE, MAX_ID_BYTES, MAX_LIST_ENTRIES, MAX_TITLE_BYTES, maxSendMessageSize } from "../../../limits.js";
import type { ConformanceTest } from "../types.js";
import { check, direct, eventPush, freshKey, push, send, users } from "./helpers.js";

const group = "limits";

/** Strings of exactly `bytes` bytes of UTF-8 in 2- and 4-byte characters, so that a server counting UTF-16 units or characters misjudges them. */
const twoByte = (bytes: number) => "é".repeat(Math.floor(bytes / 2)) + "a".repeat(bytes % 2);
const fourByte = (bytes: number) => "😀".repeat(Math.floor(bytes / 4)) + "a".repeat(bytes % 4);
/** A title of exactly `bytes` bytes, mostly 3-byte characters. */
const threeByte = (bytes: number) => "€".repeat(Math.floor(bytes / 3)) + "a".repeat(bytes % 3);

/** A send_message of exactly `bytes` bytes encoded (LIM-3 measures all of it), with these mentions and text filling the rest. */
function sendMessageOf(conversationId: string, clientMessageId: string, mentions: readonly string[], bytes: number): SendMessage {
  const make = (key: string, n: number) =>
    create(SendMessageSchema, { conversationId, clientMessageId: key, content: { kind: { case: "text", value: { text: "x".repeat(n) } } }, mentions: mentions.map((userId) => ({ userId })) });
  // Size grows by one per character but for length varints growing a byte, which can skip an exact size:
  // start from the estimate, step down, and with a key one byte shorter if needed.
  for (const key of [clientMessageId, clientMessageId.slice(1)]) {
    const base = sizeSendMessage(make(key, 0));
    for (let n = Math.max(0, bytes - base); n >= 0 && n > bytes - base - 16; n--) {
      const message = make(key, n);
      const size = sizeSendMessage(message);
      if (size === bytes) return message;
      if (size < bytes) break;
    }
  }
  throw new Error(`no send_message of exactly ${bytes} bytes`);
}

/** A frame of exactly `bytes` bytes: `value` padded with an unknown field (ENV-6: ignored). */
function padded<T extends SyncUser | Hello>(requestId: number, kind: "syncUser" | "hello", value: T, bytes: number) {
  for (let pad = bytes; pad > 0; pad--) {
    // An unknown field's data is its value as on the wire: for a length-delimited one, the length, then the bytes.
    value.$unknown = [{ no: 1000, wireType: 2, data: new Uint8Array([...varint(pad), ...new Uint8Array(pad)]) }];
    const frame = create(FrameSchema, { requestId, body: { case: kind, value } as never });
    const size = encodeFrame(frame, { validate: false }).length;
    if (size === bytes) return frame;
    if (size < bytes) break;
  }
  throw new Error(`no ${kind} frame of exactly ${bytes} bytes`);
}

function varint(value: number): number[] {
  const out: number[] = [];
  for (; value >= 0x80; value >>>= 7) out.push((value & 0x7f) | 0x80);
  out.push(value);
  return out;
}

export const limitTests: ConformanceTest[] = [
  {
    id: "LIM-2/identifiers-of-exactly-128-bytes",
    requirements: ["LIM-2", "IDEM-1", "SEQ-1"],
    level: "required",
    group,
    title: "a client_message_id of exactly 128 bytes of UTF-8 (2- or 4-byte characters) is accepted and kept; 129 bytes is INVALID_ARGUMENT and takes no seq",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      let last = 0n;
      for (const key of [twoByte(MAX_ID_BYTES), fourByte(MAX_ID_BYTES)]) {
        const ack = await send(t, a!, id, { kind: { case: "text", value: { text: "long key" } } }, key);
        check(ack.clientMessageId === key, "LIM-2", "the 128-byte key echoed", () => ack.clientMessageId);
        const entry = await push(t, b!, eventPush(id, ack.seq), "MSG-7", `the event #${ack.seq}`);
        const event = entry.body.case === "event" ? entry.body.value : undefined;
        const sentKey = event?.body.case === "message" ? event.body.value.clientMessageId : undefined;
        check(sentKey === key, "MSG-7", "the 128-byte key in the event", () => `${sentKey}`);
        last = ack.seq;
      }
      for (const key of [twoByte(MAX_ID_BYTES + 1), fourByte(MAX_ID_BYTES + 1)]) {
        const requestId = a!.conn.send({ case: "sendMessage", value: { conversationId: id, clientMessageId: key, content: { kind: { case: "text", value: { text: "too long" } } } } });
        await t.expectErrorFrom(a!.conn, [ErrorCode.INVALID_ARGUMENT], "LIM-2", { requestId, closing: false });
      }
      const next = await send(t, a!, id, { kind: { case: "text", value: { text: "after" } } });
      check(next.seq === last + 1n, "SEQ-1", `seq ${last + 1n}: refused sends take no seq`, () => `seq ${next.seq}`);
    },
  },
  {
    id: "LIM-2/device-id-of-exactly-128-bytes",
    requirements: ["LIM-2", "CONN-2"],
    level: "required",
    group,
    title: "hello with a device_id of exactly 128 bytes is welcomed; 129 bytes is INVALID_ARGUMENT",
    async run(t) {
      const ok = await t.open();
      await t.hello(ok, fourByte(MAX_ID_BYTES));
      const long = await t.open();
      const requestId = long.send({ case: "hello", value: { versions: [1], deviceId: twoByte(MAX_ID_BYTES + 1) } });
      await t.expectErrorFrom(long, [ErrorCode.INVALID_ARGUMENT], "LIM-2", { requestId });
    },
  },
  {
    id: "LIM-7/title-of-exactly-1024-bytes",
    requirements: ["LIM-7", "CONV-3"],
    level: "required",
    group,
    title: "a group title of exactly 1,024 bytes of UTF-8 is accepted and kept; 1,025 bytes is INVALID_ARGUMENT",
    async run(t) {
      const [a] = await users(t, "a");
      const title = threeByte(MAX_TITLE_BYTES);
      const opened = await t.ask(a!, { case: "openConversation", value: { kind: ConversationKind.GROUP, title, clientConversationId: freshKey("g") } }, "conversationOpened", "LIM-7");
      check(opened.conversation!.title === title, "LIM-7", "the 1,024-byte title as sent", () => `${Buffer.byteLength(opened.conversation!.title)} bytes`);
      const requestId = a!.conn.send({ case: "openConversation", value: { kind: ConversationKind.GROUP, title: threeByte(MAX_TITLE_BYTES + 1), clientConversationId: freshKey("g") } });
      await t.expectErrorFrom(a!.conn, [ErrorCode.INVALID_ARGUMENT], "LIM-7", { requestId, closing: false });
    },
  },
  {
    id: "LIM-3/send-message-at-the-limit",
    requirements: ["LIM-3", "LIM-8", "FRM-4", "FRM-9", "SYNC-2", "MSG-7"],
    level: "required",
    group,
    title: "a send_message of exactly max_frame_size − 4,096 bytes, 1,000 mentions and text, is accepted, pushed and paged within the frame limit; one byte more is INVALID_ARGUMENT and stores nothing",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const limit = maxSendMessageSize(a!.welcome.maxFrameSize);
      const mentions = Array.from({ length: MAX_LIST_ENTRIES }, () => b!.userId);
      // Over the limit first: if it were stored, the page below would hold it before the one at the limit.
      const over = sendMessageOf(id, freshKey("over"), mentions, limit + 1);
      const overId = a!.conn.send({ case: "sendMessage", value: over });
      await t.expectErrorFrom(a!.conn, [ErrorCode.INVALID_ARGUMENT], "LIM-3", { requestId: overId, closing: false });
      const atLimit = sendMessageOf(id, freshKey("at"), mentions, limit);
      const ack = await t.ask(a!, { case: "sendMessage", value: atLimit }, "sendAck", "LIM-3");
      // The referee holds every frame to max_frame_size (FRM-4, FRM-9): the push and the page must fit.
      const entry = await push(t, b!, eventPush(id, ack.seq), "LIM-3", `the event #${ack.seq}`);
      const message = entry.body.case === "event" && entry.body.value.body.case === "message" ? entry.body.value.body.value : undefined;
      check(message !== undefined && message.mentions.length === MAX_LIST_ENTRIES, "MSG-7", `${MAX_LIST_ENTRIES} mentions pushed`, () => `${message?.mentions.length ?? "no"} mentions`);
      const page = await t.ask(b!, { case: "syncConversation", value: { conversationId: id, afterSeq: ack.seq - 1n } }, "conversationPage", "SYNC-2");
      check(page.events[0]?.seq === ack.seq && ack.seq === 2n, "LIM-3", `a page holding #2, the message at the limit, and nothing stored before it but the conversation's creation`, () => `#${ack.seq}, page of ${page.events.length}`);
    },
  },
  {
    id: "FLOW-2/window-in-bytes",
    requirements: ["FLOW-2", "LIM-6"],
    level: "required",
    group,
    title: "a device asking for a 65,536-byte window is pushed one ~40 KB message at a time until it acknowledges, whatever the frame window (or the server bounds frames only: receive_window_bytes 0)",
    async run(t) {
      const [a] = await users(t, "a");
      const b = await t.connect(t.user("b"), "d1", { autoAck: false, receiveWindowBytes: 65_536 });
      const windowBytes = b.welcome.receiveWindowBytes;
      check(windowBytes === 0 || windowBytes === 65_536, "FLOW-2", "receive_window_bytes 65,536 (at most the device's, at least LIM-6's 65,536), or 0", () => `${windowBytes}`);
      if (windowBytes === 0) return; // a server without byte windows (EXT-1): FLOW-2's frame count alone applies
      const id = await direct(t, a!, b);
      const acks: bigint[] = [];
      const take = async (what: string) => {
        const frame = await t.nextOrViolation(b.conn, (f) => f.body.case === "deliver" && f.body.value.body.case === "event" && f.body.value.body.value.body.case === "message", "FLOW-2", [what]);
        acks.push(frame.body.case === "deliver" ? frame.body.value.cursor : 0n);
      };
      for (let i = 0; i < 3; i++) await send(t, a!, id, { kind: { case: "text", value: { text: `${i}`.padEnd(40_000, ".") } } });
      await take("the first message");
      // 40 KB unacknowledged: a second would pass 65,536 bytes.
      await t.expectNothing(b.conn, (f) => f.body.case === "deliver" && f.body.value.body.case === "event" && f.body.value.body.value.body.case === "message", "FLOW-2", "no second message before an acknowledgement");
      b.conn.send({ case: "deliveryAck", value: { cursor: acks[0]! } }, 0);
      await take("the second message, once the first is acknowledged");
    },
  },
  {
    id: "LIM-8/lists-are-bounded",
    requirements: ["LIM-8", "ERR-5"],
    level: "required",
    group,
    title: "1,001 mentions, and an open_conversation naming 1,001 user ids (the same one repeated), are INVALID_ARGUMENT without closing",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const mentions = Array.from({ length: MAX_LIST_ENTRIES + 1 }, () => ({ userId: b!.userId }));
      const sendId = a!.conn.send({ case: "sendMessage", value: { conversationId: id, clientMessageId: freshKey(), content: { kind: { case: "text", value: { text: "hi" } } }, mentions } });
      await t.expectErrorFrom(a!.conn, [ErrorCode.INVALID_ARGUMENT], "LIM-8", { requestId: sendId, closing: false });
      const userIds = Array.from({ length: MAX_LIST_ENTRIES + 1 }, () => b!.userId);
      const openId = a!.conn.send({ case: "openConversation", value: { kind: ConversationKind.GROUP, userIds, clientConversationId: freshKey("g") } });
      await t.expectErrorFrom(a!.conn, [ErrorCode.INVALID_ARGUMENT], "LIM-8", { requestId: openId, closing: false });
      // Still served.
      await send(t, a!, id);
    },
  },
  {
    id: "FRM-4/frames-of-exactly-the-limit",
    requirements: ["FRM-4", "FRM-5", "LIM-1", "WS-4", "ENV-6"],
    level: "required",
    group,
    title: "a hello of exactly 65,536 bytes before welcome, and a request of exactly max_frame_size after it, are accepted and answered",
    async run(t) {
      const c = await t.open();
      const hello = padded(1, "hello", create(HelloSchema, { versions: [1], deviceId: "d1" }), HANDSHAKE_MAX_FRAME_SIZE);
      c.send(hello.body as never, 1);
      const welcome = t.answerOf(await t.nextOrViolation(c, (f) => f.requestId === 1, "FRM-5", ["welcome"]), "welcome", "FRM-5");
      const [a] = await users(t, "a");
      const request = padded(77, "syncUser", create(SyncUserSchema, {}), welcome.maxFrameSize);
      a!.conn.send(request.body as never, 77);
      t.answerOf(await t.nextOrViolation(a!.conn, (f) => f.requestId === 77, "FRM-4", ["user_page #77"]), "userPage", "FRM-4");
    },
  },
];
