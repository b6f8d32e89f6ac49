import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import { MAX_ID_BYTES } from "../../../limits.js";
import type { ConformanceTest } from "../types.js";
import { check, direct, group, users } from "./helpers.js";

/**
 * What the second round of mutation testing found unchecked: a frame out of
 * order before authentication as well as after it (CONN-5), identifiers
 * bounded in the frames that carry no conversation (LIM-2: hello's device id,
 * the epochs of sync_user and resume, mentioned users), member counts after
 * a leave (CONV-9), and a draining server's answer to a request (CONN-7).
 */

const tooLong = "e".repeat(MAX_ID_BYTES + 1);

export const roundTwoGapTests: ConformanceTest[] = [
  {
    id: "CONN-5/second-hello-before-authenticate",
    requirements: ["CONN-5"],
    level: "required",
    group: "handshake",
    title: "a second hello after welcome, before authenticate, is a PROTOCOL_VIOLATION that closes (not an unauthenticated request)",
    async run(t) {
      const c = await t.open();
      await t.hello(c, "d1");
      const id = c.send({ case: "hello", value: { versions: [1], deviceId: "d1" } });
      await t.expectErrorFrom(c, [ErrorCode.PROTOCOL_VIOLATION], "CONN-5", { requestId: id, closing: true });
      await t.expectClosed(c, "CONN-5");
    },
  },
  {
    id: "CONN-5/second-authenticate",
    requirements: ["CONN-5"],
    level: "required",
    group: "handshake",
    title: "authenticate on an authenticated connection is a PROTOCOL_VIOLATION that closes",
    async run(t) {
      const session = await t.connect(t.user("alice"), "d1");
      const id = session.conn.send({ case: "authenticate", value: { token: await t.token(session.userId, "d1") } });
      await t.expectErrorFrom(session.conn, [ErrorCode.PROTOCOL_VIOLATION], "CONN-5", { requestId: id, closing: true });
      await t.expectClosed(session.conn, "CONN-5");
    },
  },
  {
    id: "LIM-2/hello-device-id",
    requirements: ["LIM-2"],
    level: "required",
    group: "handshake",
    title: "hello with a 129-byte device_id is INVALID_ARGUMENT (an empty one is a missing field, ENV-5); 128 bytes are welcomed",
    async run(t) {
      const c = await t.open();
      const id = c.send({ case: "hello", value: { versions: [1], deviceId: tooLong } });
      await t.expectErrorFrom(c, [ErrorCode.INVALID_ARGUMENT], "LIM-2 (a device_id of 129 bytes)", { requestId: id });
      c.close();
      await t.hello(await t.open(), "d".repeat(MAX_ID_BYTES));
    },
  },
  {
    id: "LIM-2/epochs-in-sync-and-resume",
    requirements: ["LIM-2", "CUR-4", "AUTH-5"],
    level: "required",
    group: "sync",
    title: "a sync_user epoch or a resume epoch of 129 bytes is INVALID_ARGUMENT, not a stale epoch answered with a snapshot",
    async run(t) {
      const session = await t.connect(t.user("alice"), "d1");
      const id = session.conn.send({ case: "syncUser", value: { epoch: tooLong, afterCursor: 0n } });
      await t.expectErrorFrom(session.conn, [ErrorCode.INVALID_ARGUMENT], "LIM-2 (a sync_user epoch of 129 bytes)", { requestId: id });
      const c = await t.open();
      await t.hello(c, "d2");
      const auth = c.send({ case: "authenticate", value: { token: await t.token(session.userId, "d2"), resume: { epoch: tooLong, cursor: 0n } } });
      await t.expectErrorFrom(c, [ErrorCode.INVALID_ARGUMENT], "LIM-2 (a resume epoch of 129 bytes)", { requestId: auth });
    },
  },
  {
    id: "LIM-2/mentioned-user-ids",
    requirements: ["LIM-2", "MSG-1"],
    level: "required",
    group: "messaging",
    title: "a message mentioning a 129-byte user id is INVALID_ARGUMENT and stores nothing, however many valid mentions come first",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      for (const before of [0, 3]) {
        const mentions = [...Array.from({ length: before }, () => ({ userId: b!.userId })), { userId: tooLong }];
        const requestId = a!.conn.send({ case: "sendMessage", value: { conversationId: id, clientMessageId: `mention-${before}`, content: { kind: { case: "text", value: { text: "hi" } } }, mentions } });
        await t.expectErrorFrom(a!.conn, [ErrorCode.INVALID_ARGUMENT], `LIM-2 (a mentioned user id of 129 bytes after ${before} valid mentions)`, { requestId });
      }
      const page = await t.ask(a!, { case: "syncConversation", value: { conversationId: id } }, "conversationPage", "SYNC-1");
      check(page.lastSeq === 1n, "LIM-2", "nothing stored by the refused sends (last_seq 1, the creation)", () => `last_seq ${page.lastSeq}`);
    },
  },
  {
    id: "CONV-9/former-members-are-not-counted",
    requirements: ["CONV-9", "CONV-5"],
    level: "required",
    group: "membership",
    title: "after a member leaves a group, member_count and member_user_ids count only the members left",
    async run(t) {
      const [a, b, c] = await users(t, "a", "b", "c");
      const id = await group(t, a!, [b!, c!]);
      await t.ask(c!, { case: "leaveConversation", value: { conversationId: id } }, "conversationLeft", "CONV-5");
      const view = (await t.ask(a!, { case: "openConversation", value: { conversationId: id } }, "conversationOpened", "CONV-4")).conversation!;
      const left = [a!.userId, b!.userId];
      check(view.memberCount === 2, "CONV-9", "member_count 2 (the former member not counted)", () => `member_count ${view.memberCount}`);
      check(view.memberUserIds.length === 2 && left.every((u) => view.memberUserIds.includes(u)), "CONV-9", `member_user_ids ${left.join(",")}`, () => view.memberUserIds.join(","));
    },
  },
  {
    id: "CONN-7/requests-while-draining",
    requirements: ["CONN-7", "HOOK-2"],
    level: "required",
    group: "lifecycle",
    hooks: ["shutdown", "restart"],
    title: "after go_away, a request on the draining connection is not processed: answered UNAVAILABLE (retryable), or unanswered if the drain window has closed the connection",
    async run(t) {
      const [a] = await users(t, "a");
      await t.shutdown();
      try {
        await t.nextOrViolation(a!.conn, (f) => f.body.case === "goAway", "CONN-7", ["go_away"], Math.max(t.timeoutMs, 10_000));
        const id = a!.conn.send({ case: "syncUser", value: {} });
        // CONN-7 sets no least drain window: a server may close before the request arrives.
        const answer = await a!.conn.next((f) => f.requestId === id, t.timeoutMs).catch(() => undefined);
        if (answer === undefined) {
          check(a!.conn.closed, "CONN-7", "an answer, or the connection closed at the end of the drain window", () => `open and unanswered after ${t.timeoutMs} ms`);
          return;
        }
        t.expectError(answer, [ErrorCode.UNAVAILABLE], "CONN-7 (a request after go_away)");
        check(answer.body.case === "error" && answer.body.value.retryable, "CONN-7", "UNAVAILABLE marked retryable", () => JSON.stringify(answer.body.value, (_k, v) => (typeof v === "bigint" ? String(v) : v)));
      } finally {
        await t.restart();
      }
    },
  },
];
