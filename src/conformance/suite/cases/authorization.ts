import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import type { ConformanceTest } from "../types.js";
import { freshKey, group, text, users } from "./helpers.js";

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
];
