import { ConversationKind } from "../../../gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import type { SendAck } from "../../../gen/imwire/v1/message_pb.js";
import type { ConformanceTest } from "../types.js";
import { check, direct, freshKey, send, text, users } from "./helpers.js";

const group = "idempotency";

export const idempotencyTests: ConformanceTest[] = [
  {
    id: "IDEM-2/retry-gets-the-first-answer",
    requirements: ["IDEM-2", "IDEM-1"],
    level: "required",
    group,
    title: "a send retried with its client_message_id gets the identical send_ack, and one message exists",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const key = freshKey();
      const first = await send(t, a!, id, text("once"), key);
      // A pause, so that a server recomputing server_time_ms for the retry cannot match by chance (same millisecond).
      await new Promise((resolve) => setTimeout(resolve, 25));
      const retry = await send(t, a!, id, text("once, again"), key);
      check(first.seq === retry.seq && first.messageId === retry.messageId && first.serverTimeMs === retry.serverTimeMs, "IDEM-2", `seq ${first.seq}, message_id ${first.messageId}, time ${first.serverTimeMs}`, () => `seq ${retry.seq}, message_id ${retry.messageId}, time ${retry.serverTimeMs}`);
      const page = await t.ask(a!, { case: "syncConversation", value: { conversationId: id } }, "conversationPage", "SYNC-1");
      const copies = page.events.filter((e) => e.body.case === "message" && e.body.value.clientMessageId === key).length;
      check(copies === 1, "IDEM-2", "one message with that key", () => `${copies}`);
    },
  },
  {
    id: "IDEM-2/retry-on-another-connection",
    requirements: ["IDEM-2", "IDEM-3"],
    level: "required",
    group,
    title: "the retry on a new connection of the same device, with another request id, gets the first answer",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const key = freshKey();
      const first = await send(t, a!, id, text("x"), key);
      a!.conn.close();
      const again = await t.connect(a!.userId, a!.deviceId);
      again.conn.send({ case: "ping", value: {} }, 0);
      const retry = await send(t, again, id, text("x"), key);
      check(retry.seq === first.seq && retry.messageId === first.messageId, "IDEM-2", `seq ${first.seq}`, () => `seq ${retry.seq}`);
    },
  },
  {
    id: "IDEM-2/keys-are-per-device",
    requirements: ["IDEM-2"],
    level: "required",
    group,
    title: "the same key from two devices of one user makes two messages",
    async run(t) {
      const phone = await t.connect(t.user("a"), "phone");
      const laptop = await t.connect(t.user("a"), "laptop");
      const [b] = await users(t, "b");
      const id = await direct(t, phone, b!);
      const key = freshKey();
      const one = await send(t, phone, id, text("1"), key);
      const two = await send(t, laptop, id, text("2"), key);
      check(one.seq !== two.seq, "IDEM-2", "two different seqs", () => `both ${one.seq}`);
    },
  },
  {
    id: "IDEM-3/request-ids-are-not-keys",
    requirements: ["IDEM-3"],
    level: "required",
    group,
    title: "two sends with different keys under the same request id (one after the other) are two messages",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const seqs: bigint[] = [];
      for (const key of [freshKey(), freshKey()]) {
        a!.conn.send({ case: "sendMessage", value: { conversationId: id, clientMessageId: key, content: text("same request id") } }, 4242);
        const answer = await t.nextOrViolation(a!.conn, (f) => f.requestId === 4242, "IDEM-3", ["send_ack"]);
        seqs.push(t.answerOf(answer, "sendAck", "IDEM-3").seq);
      }
      check(seqs[0] !== seqs[1], "IDEM-3", "two different seqs", () => seqs.join(" and "));
    },
  },
  {
    id: "IDEM-2/retry-before-the-first-answer",
    requirements: ["IDEM-2", "IDEM-1"],
    level: "required",
    group,
    title: "the same send twice in one write, before any answer: two identical send_acks and one message",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const key = freshKey();
      const body = { case: "sendMessage" as const, value: { conversationId: id, clientMessageId: key, content: text("twice at once") } };
      const [one, two] = a!.conn.sendTogether([body, body]);
      const answers = [];
      for (const requestId of [one!, two!]) answers.push(t.answerOf(await t.nextOrViolation(a!.conn, (f) => f.requestId === requestId, "IDEM-2", ["send_ack"]), "sendAck", "IDEM-2"));
      const [x, y] = answers as [SendAck, SendAck];
      check(x.seq === y.seq && x.messageId === y.messageId && x.serverTimeMs === y.serverTimeMs, "IDEM-2", "two identical answers", () => `#${x.seq} ${x.messageId} ${x.serverTimeMs} and #${y.seq} ${y.messageId} ${y.serverTimeMs}`);
      const page = await t.ask(a!, { case: "syncConversation", value: { conversationId: id } }, "conversationPage", "SYNC-1");
      const copies = page.events.filter((e) => e.body.case === "message" && e.body.value.clientMessageId === key).length;
      check(copies === 1, "IDEM-2", "one message with that key", () => `${copies}`);
    },
  },
  {
    id: "IDEM-7/message-key-reused-for-another-conversation",
    requirements: ["IDEM-7", "IDEM-2"],
    level: "required",
    group,
    title: "a message key reused for another conversation is INVALID_ARGUMENT and appends nothing; the key keeps its first answer",
    async run(t) {
      const [a, b, c] = await users(t, "a", "b", "c");
      const first = await direct(t, a!, b!);
      const other = await direct(t, a!, c!);
      const key = freshKey();
      const ack = await send(t, a!, first, text("to b"), key);
      const before = await t.ask(a!, { case: "syncConversation", value: { conversationId: other } }, "conversationPage", "SYNC-1");
      const requestId = a!.conn.send({ case: "sendMessage", value: { conversationId: other, clientMessageId: key, content: text("to c, with b's key") } });
      await t.expectErrorFrom(a!.conn, [ErrorCode.INVALID_ARGUMENT], "IDEM-7", { requestId, closing: false });
      const after = await t.ask(a!, { case: "syncConversation", value: { conversationId: other } }, "conversationPage", "SYNC-1");
      check(after.lastSeq === before.lastSeq, "IDEM-7", `nothing appended to ${other}`, () => `last_seq ${before.lastSeq} → ${after.lastSeq}`);
      const retry = await send(t, a!, first, text("to b"), key);
      check(retry.seq === ack.seq && retry.messageId === ack.messageId, "IDEM-7", `the first answer, #${ack.seq}`, () => `#${retry.seq}`);
    },
  },
  {
    id: "IDEM-7/conversation-key-reused-for-another-kind",
    requirements: ["IDEM-7", "IDEM-6"],
    level: "required",
    group,
    needs: ["channels"],
    title: "a client_conversation_id that created a group, reused to create a channel, is INVALID_ARGUMENT; retried for the group it returns the group",
    async run(t) {
      const [a] = await users(t, "a");
      const key = freshKey("g");
      const created = await t.ask(a!, { case: "openConversation", value: { kind: ConversationKind.GROUP, title: "g", clientConversationId: key } }, "conversationOpened", "CONV-3");
      const requestId = a!.conn.send({ case: "openConversation", value: { kind: ConversationKind.CHANNEL, title: "c", clientConversationId: key } });
      await t.expectErrorFrom(a!.conn, [ErrorCode.INVALID_ARGUMENT], "IDEM-7", { requestId, closing: false });
      const again = await t.ask(a!, { case: "openConversation", value: { kind: ConversationKind.GROUP, title: "g", clientConversationId: key } }, "conversationOpened", "IDEM-6");
      check(again.conversation!.conversationId === created.conversation!.conversationId && !again.created, "IDEM-6", `the same group, created: false`, () => `${again.conversation!.conversationId}, created: ${again.created}`);
    },
  },
];
