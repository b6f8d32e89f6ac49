import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import type { ConformanceTest } from "../types.js";
import { check, freshKey, group, text, users } from "./helpers.js";

const groupName = "authorization";

/** One refused request per operation on a conversation by a user outside it (SEC-3). */
const outsiderRequests = [
  { name: "send", requirement: "MSG-1", body: (id: string) => ({ case: "sendMessage" as const, value: { conversationId: id, clientMessageId: freshKey(), content: text("let me in") } }) },
  { name: "sync", requirement: "SYNC-1", body: (id: string) => ({ case: "syncConversation" as const, value: { conversationId: id } }) },
  { name: "mark-read", requirement: "READ-1", body: (id: string) => ({ case: "markRead" as const, value: { conversationId: id, seq: 1n } }) },
  { name: "add-members", requirement: "CONV-4", body: (id: string) => ({ case: "openConversation" as const, value: { conversationId: id, userIds: ["someone"] } }) },
  { name: "settings", requirement: "RECV-1", body: (id: string) => ({ case: "setReceiveSettings" as const, value: { settings: { conversationId: id, mode: 1 } } }) },
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
