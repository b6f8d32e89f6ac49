import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { LocalBusHub, type ClusterBus } from "../../src/cluster/cluster-bus.js";
import { RedisBus } from "../../src/cluster/redis-bus.js";
import { ConversationKind } from "../../src/gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../../src/gen/imwire/v1/error_pb.js";
import type { Frame } from "../../src/gen/imwire/v1/frame_pb.js";
import { startReferenceServer, type ReferenceServer } from "../../src/server/reference-server.js";
import { silentLogger } from "../../src/server/logger.js";
import type { PostgresStore } from "../../src/store/postgres/postgres-store.js";
import { dropSchema, freshSchema, openTestPostgresStore, withPostgres } from "../support/postgres.js";
import { rawLogin, type RawClient } from "../support/raw-client.js";

/**
 * CLU-1, CLU-2: several reference servers (nodes) over one PostgreSQL
 * database, telling each other of their commits on a bus: a device may
 * connect to any node, and sees what was committed on any other, pushed,
 * in near real time; with the bus silent, it still converges by its own
 * catch-up (CUR-6), so correctness never rests on the bus.
 */
const SECRET = "cluster-secret";
const REDIS_URL = process.env.IMWIRE_REDIS_URL;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function cluster(nodes: number, bus: () => Promise<ClusterBus>): Promise<{ servers: ReferenceServer[]; stores: PostgresStore[] }> {
  const schema = freshSchema();
  cleanups.push(() => dropSchema(schema));
  const servers: ReferenceServer[] = [];
  const stores: PostgresStore[] = [];
  for (let i = 0; i < nodes; i++) {
    const store = openTestPostgresStore({ schema });
    const nodeBus = await bus();
    const server = await startReferenceServer({ tcp: { port: 0 }, store, secret: SECRET, bus: nodeBus, log: silentLogger });
    cleanups.push(async () => {
      await server.kill();
      await nodeBus.close();
      store.close();
    });
    servers.push(server);
    stores.push(store);
  }
  return { servers, stores };
}

/** Logged in on `server`, its position set from a sync (SYNC-5), so pushes begin. */
async function device(server: ReferenceServer, user: string, deviceId: string): Promise<RawClient & { position: bigint; epoch: string }> {
  const client = await rawLogin(server.urls.tcp!, SECRET, user, deviceId);
  cleanups.push(() => void client.socket.destroy());
  client.send({ case: "syncUser", value: {} }, 3);
  const page = await client.next((f) => f.body.case === "userPage");
  const cursor = page.body.case === "userPage" ? (page.body.value.snapshot?.cursor ?? page.body.value.events.at(-1)?.cursor ?? 0n) : 0n;
  client.send({ case: "deliveryAck", value: { cursor } }, 0);
  return Object.assign(client, { position: cursor });
}

const pushedMessage = (text: string) => (f: Frame) =>
  f.body.case === "deliver" && f.body.value.body.case === "event" && f.body.value.body.value.body.case === "message" && f.body.value.body.value.body.value.content?.kind.case === "text" && f.body.value.body.value.body.value.content.kind.value.text === text;

async function send(client: RawClient, conversationId: string, id: string, text: string, requestId: number): Promise<bigint> {
  client.send({ case: "sendMessage", value: { conversationId, clientMessageId: id, content: { kind: { case: "text", value: { text } } } } }, requestId);
  const ack = await client.next((f) => f.requestId === requestId);
  if (ack.body.case !== "sendAck") throw new Error(`not acknowledged: ${JSON.stringify(ack.body)}`);
  return ack.body.value.seq;
}

const buses: [string, () => () => Promise<ClusterBus>][] = [
  ["an in-process bus", () => {
    const hub = new LocalBusHub();
    return async () => hub.node();
  }],
];
if (REDIS_URL) {
  buses.push(["Redis pub/sub", () => {
    // A channel of this cluster's own: other test files run clusters on the same Redis at the same time.
    const channel = `imwire:test:${randomUUID()}`;
    return async () => RedisBus.open(REDIS_URL, silentLogger, channel);
  }]);
}
else if (process.env.CI) throw new Error("IMWIRE_REDIS_URL is not set: CI must run the cluster tests on Redis too");

withPostgres("a cluster of reference servers over PostgreSQL (CLU-1, CLU-2)", () => {
  for (const [busName, makeBus] of buses) {
    describe(`over ${busName}`, () => {
      it("CLU-1 CLU-2 SEQ-1 IDEM-2: devices on three nodes: a message sent on one is pushed on the others at once; seqs gapless whichever node sends; a retry on another node gets the first answer", async () => {
        const { servers } = await cluster(3, makeBus());
        const alice = await device(servers[0]!, "alice", "phone");
        const bobPhone = await device(servers[1]!, "bob", "phone");
        const bobLaptop = await device(servers[2]!, "bob", "laptop");
        alice.send({ case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["bob"] } }, 10);
        const opened = await alice.next((f) => f.requestId === 10);
        const conversationId = opened.body.case === "conversationOpened" ? opened.body.value.conversation!.conversationId : "";
        // Pushed well inside a heartbeat (30 s): the bus, not a device's catch-up, brought it.
        const seen = [bobPhone.next(pushedMessage("hello from node 0"), 3_000), bobLaptop.next(pushedMessage("hello from node 0"), 3_000)];
        const first = await send(alice, conversationId, "m1", "hello from node 0", 11);
        await Promise.all(seen);
        const reply = alice.next(pushedMessage("hi from node 1"), 3_000);
        const second = await send(bobPhone, conversationId, "b1", "hi from node 1", 12);
        await reply;
        expect(second).toBe(first + 1n);
        // IDEM-2: bob's phone retries on node 2 with the same key: the first answer, nothing stored twice.
        const retry = await device(servers[2]!, "bob", "phone");
        expect(await send(retry, conversationId, "b1", "hi from node 1", 13)).toBe(second);
        const third = await send(alice, conversationId, "m2", "after the retry", 14);
        expect(third).toBe(second + 1n);
      });

      it("AUTH-4 across nodes: a device that authenticates on another node replaces its connection here", async () => {
        const { servers } = await cluster(2, makeBus());
        const first = await device(servers[0]!, "carol", "tablet");
        const replaced = first.next((f) => f.body.case === "error" || f.body.case === "goAway", 3_000).catch((error: Error) => error);
        await device(servers[1]!, "carol", "tablet");
        const frame = await replaced;
        expect(String(frame instanceof Error ? frame.message : frame.body.case === "error" ? frame.body.value.code : frame.body.case)).toMatch(new RegExp(`${ErrorCode.SESSION_REPLACED}|SESSION_REPLACED`));
      });
    });
  }

  it("CLU-2: with the bus dropping everything, a device still gets what another node committed, by its own catch-up (CUR-6)", async () => {
    const hub = new LocalBusHub();
    const { servers } = await cluster(2, async () => hub.node());
    hub.dropping = true;
    const alice = await device(servers[0]!, "alice", "phone");
    await device(servers[1]!, "bob", "laptop"); // bob exists
    alice.send({ case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["bob"] } }, 10);
    const opened = await alice.next((f) => f.requestId === 10);
    const conversationId = opened.body.case === "conversationOpened" ? opened.body.value.conversation!.conversationId : "";
    // Bob's phone holds the stream up to the conversation's joined entry; the message comes after.
    const bob = await device(servers[1]!, "bob", "phone");
    await send(alice, conversationId, "m1", "through no bus", 11);
    await expect(bob.next(pushedMessage("through no bus"), 500)).rejects.toThrow(); // nothing told bob's node
    // What a device does on a pong whose head is ahead (CUR-6): sync_user from its position.
    bob.send({ case: "ping", value: { nonce: 1n } }, 0);
    const pong = await bob.next((f) => f.body.case === "pong");
    expect(pong.body.case === "pong" && pong.body.value.headCursor > 0n).toBe(true);
    bob.send({ case: "syncUser", value: { afterCursor: bob.position, epoch: bob.epoch } }, 20);
    const page = await bob.next((f) => f.requestId === 20);
    const texts = page.body.case === "userPage" ? page.body.value.events.flatMap((e) => (e.body.case === "event" && e.body.value.body.case === "message" && e.body.value.body.value.content?.kind.case === "text" ? [e.body.value.body.value.content.kind.value.text] : [])) : [];
    expect(texts).toContain("through no bus");
    expect(hub.published).toBeGreaterThan(0);
  });
});

