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
];
