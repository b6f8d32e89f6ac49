import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import type { ConformanceTest } from "../types.js";
import { check, freshKey, group, send, text, users } from "./helpers.js";

const groupName = "authorization";

/** One refused request per operation on a conversation by a user outside it (SEC-3). */
const outsiderRequests = [
  { name: "send", requirement: "MSG-1", body: (id: string) => ({ case: "sendMessage" as const, value: { conversationId: id, clientMessageId: freshKey(), content: text("let me in") } }) },
  { name: "sync", requirement: "SYNC-1", body: (id: string) => ({ case: "syncConversation" as const, value: { conversationId: id } }) },
  { name: "mark-read", requirement: "READ-1", body: (id: string) => ({ case: "markRead" as const, value: { conversationId: id, seq: 1n } }) },
  { name: "add-members", requirement: "CONV-4", body: (id: string) => ({ case: "openConversation" as const, value: { conversationId: id, userIds: ["someone"] } }) },
  { name: "settings", requirement: "RECV-1", body: (id: string) => ({ case: "setReceiveSettings" as const, value: { settings: { conversationId: id, mode: 1 } } }) },
  { name: "leave", requirement: "CONV-5", body: (id: string) => ({ case: "leaveConversation" as const, value: { conversationId: id } }) },
  { name: "open", requirement: "CONV-4", body: (id: string) => ({ case: "openConversation" as const, value: { conversationId: id } }) },
];

/** One request per operation on a conversation id that names no conversation (MSG-1, SYNC-1, READ-1, RECV-1, CONV-4, CONV-5). */
const unknownConversationRequests = [
  { name: "send", requirement: "MSG-1", body: (id: string) => ({ case: "sendMessage" as const, value: { conversationId: id, clientMessageId: freshKey(), content: text("anyone?") } }) },
  { name: "sync", requirement: "SYNC-1", body: (id: string) => ({ case: "syncConversation" as const, value: { conversationId: id } }) },
  { name: "mark-read", requirement: "READ-1", body: (id: string) => ({ case: "markRead" as const, value: { conversationId: id, seq: 1n } }) },
  { name: "settings", requirement: "RECV-1", body: (id: string) => ({ case: "setReceiveSettings" as const, value: { settings: { conversationId: id, mode: 1 } } }) },
  { name: "open", requirement: "CONV-4", body: (id: string) => ({ case: "openConversation" as const, value: { conversationId: id } }) },
  { name: "add-members", requirement: "CONV-4", body: (id: string, peer: string) => ({ case: "openConversation" as const, value: { conversationId: id, userIds: [peer] } }) },
  { name: "leave", requirement: "CONV-5", body: (id: string) => ({ case: "leaveConversation" as const, value: { conversationId: id } }) },
];

export const authorizationTests: ConformanceTest[] = [
  ...outsiderRequests.map(
    (request): ConformanceTest => ({
      id: `SEC-3/outsider-${request.name}`,
      requirements: ["SEC-3", request.requirement],
      level: "required",
      group: groupName,
      title: `a user outside a group may not ${request.name.replace("-", " ")} it: PERMISSION_DENIED`,
      async run(t) {
        const [a, b, outsider] = await users(t, "a", "b", "outsider");
        const id = await group(t, a!, [b!]);
        const requestId = outsider!.conn.send(request.body(id));
        await t.expectErrorFrom(outsider!.conn, [ErrorCode.PERMISSION_DENIED], request.requirement, { requestId, closing: false });
      },
    }),
  ),
  {
    id: "SEC-3/former-member-may-not-send",
    requirements: ["SEC-3", "MSG-1", "CONV-8"],
    level: "required",
    group: groupName,
    title: "after leaving a group, sending to it is PERMISSION_DENIED (checked at request time, not connect time)",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await group(t, a!, [b!]);
      await t.ask(b!, { case: "leaveConversation", value: { conversationId: id } }, "conversationLeft", "CONV-5");
      const requestId = b!.conn.send({ case: "sendMessage", value: { conversationId: id, clientMessageId: freshKey(), content: text("still here?") } });
      await t.expectErrorFrom(b!.conn, [ErrorCode.PERMISSION_DENIED], "SEC-3", { requestId, closing: false });
    },
  },
  ...unknownConversationRequests.map(
    (request): ConformanceTest => ({
      id: `SEC-3/unknown-conversation-is-not-found-${request.name}`,
      requirements: ["SEC-3", request.requirement],
      level: "required",
      group: groupName,
      title: `${request.name.replace("-", " ")} on a conversation id that names no conversation: NOT_FOUND`,
      async run(t) {
        const [a, b] = await users(t, "a", "b");
        const requestId = a!.conn.send(request.body(`no-such-${freshKey("c")}`, b!.userId));
        await t.expectErrorFrom(a!.conn, [ErrorCode.NOT_FOUND], request.requirement, { requestId, closing: false });
      },
    }),
  ),
  {
    id: "ACK-4/outsider-conversation-acknowledgement",
    requirements: ["ACK-4", "SEC-3", "ACK-5"],
    level: "required",
    group: groupName,
    title: "acknowledging a seq of a group one is not in is a PROTOCOL_VIOLATION (request id 0) that closes",
    async run(t) {
      const [a, b, outsider] = await users(t, "a", "b", "outsider");
      const id = await group(t, a!, [b!]);
      outsider!.conn.send({ case: "deliveryAck", value: { conversations: [{ conversationId: id, seq: 1n }] } }, 0);
      const frame = await t.expectErrorFrom(outsider!.conn, [ErrorCode.PROTOCOL_VIOLATION], "ACK-4", { closing: true });
      check(frame.requestId === 0, "ACK-5", "request_id 0", () => `request_id ${frame.requestId}`);
      await t.expectClosed(outsider!.conn, "ACK-4");
    },
  },
  {
    id: "SEC-3/former-member-operations",
    requirements: ["SEC-3", "CONV-8", "READ-1"],
    level: "required",
    group: groupName,
    title: "a former member may mark read and sync up to its LEFT event, and no further",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await group(t, a!, [b!]);
      const left = await t.ask(b!, { case: "leaveConversation", value: { conversationId: id } }, "conversationLeft", "CONV-5");
      const k = left.lastVisibleSeq;
      const later = await send(t, a!, id, text("after b left"));
      check(later.seq > k, "SEQ-1", `a seq after the LEFT event #${k}`, () => `seq ${later.seq}`);
      const marker = await t.ask(b!, { case: "markRead", value: { conversationId: id, seq: k } }, "readMarker", "READ-1");
      check(marker.seq === k, "READ-1", `read_marker ${k}`, () => `read_marker ${marker.seq}`);
      const requestId = b!.conn.send({ case: "markRead", value: { conversationId: id, seq: k + 1n } });
      await t.expectErrorFrom(b!.conn, [ErrorCode.INVALID_ARGUMENT], "READ-1", { requestId, closing: false });
      for (const untilSeq of [0n, later.seq]) {
        // Every page, whatever the server's page size (SYNC-2).
        const seqs: bigint[] = [];
        let lastSeq = 0n;
        for (let afterSeq = 0n, pages = 0; ; pages++) {
          check(pages < 20, "SYNC-2", "an end to the pages", () => `more than 20 pages for ${seqs.length} events`);
          const page = await t.ask(b!, { case: "syncConversation", value: { conversationId: id, afterSeq, untilSeq } }, "conversationPage", "SYNC-1");
          seqs.push(...page.events.map((e) => e.seq));
          lastSeq = page.lastSeq;
          if (!page.hasMore || page.events.length === 0) break; // has_more on an empty page is the referee's SYNC-2 foul
          afterSeq = page.events.at(-1)!.seq;
        }
        check(lastSeq === k && seqs.every((s) => s <= k) && seqs.at(-1) === k, "CONV-8", `events up to #${k}, last_seq ${k}`, () => `last_seq ${lastSeq}, seqs ${seqs.join(",")}${untilSeq ? ` (until_seq ${untilSeq})` : ""}`);
      }
    },
  },
  {
    id: "MSG-1/unknown-conversation",
    requirements: ["MSG-1"],
    level: "required",
    group: groupName,
    title: "sending to a conversation that does not exist is NOT_FOUND",
    async run(t) {
      const [a] = await users(t, "a");
      const requestId = a!.conn.send({ case: "sendMessage", value: { conversationId: `no-such-${freshKey()}`, clientMessageId: freshKey(), content: text("?") } });
      await t.expectErrorFrom(a!.conn, [ErrorCode.NOT_FOUND], "MSG-1", { requestId, closing: false });
    },
  },
  {
    id: "SEC-6/conversation-ids-not-guessable",
    requirements: ["SEC-6"],
    level: "required",
    group: groupName,
    title: "conversation ids can hold 96 random bits: in 8 new groups, what varies between the ids is at least 12 bytes of each",
    async run(t) {
      const [a] = await users(t, "a");
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) ids.push(await group(t, a!, []));
      // A necessary condition only, so it cannot fail a compliant server: strip what all ids share at
      // either end (a fixed prefix, a type suffix); fewer than 12 bytes left cannot hold 96 bits in any
      // encoding. Counters and timestamps fail it; 8 random ids share a first character with odds of 64^-7.
      const bytes = ids.map((id) => Buffer.from(id, "utf8"));
      const varying = bytes.map((b) => b.length - commonPrefix(bytes) - commonSuffix(bytes));
      const shortest = Math.min(...varying);
      check(new Set(ids).size === ids.length, "SEC-6", "8 distinct conversation ids", () => `ids ${JSON.stringify(ids)}`);
      check(shortest >= 12, "SEC-6", "at least 12 bytes of every id varying between ids", () => `only ${shortest} varying bytes in ${JSON.stringify(ids)}`);
    },
  },
];

function commonPrefix(values: readonly Buffer[]): number {
  const shortest = Math.min(...values.map((v) => v.length));
  let n = 0;
  while (n < shortest && values.every((v) => v[n] === values[0]![n])) n++;
  return n;
}

function commonSuffix(values: readonly Buffer[]): number {
  return commonPrefix(values.map((v) => Buffer.from(v).reverse()));
}
