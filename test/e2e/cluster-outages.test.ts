import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { RedisBus } from "../../src/cluster/redis-bus.js";
import { ConversationKind } from "../../src/gen/imwire/v1/conversation_pb.js";
import { ErrorCode, type Error as ErrorBody } from "../../src/gen/imwire/v1/error_pb.js";
import type { SendAck } from "../../src/gen/imwire/v1/message_pb.js";
import type { Frame } from "../../src/gen/imwire/v1/frame_pb.js";
import type { Logger } from "../../src/server/logger.js";
import { startReferenceServer, type ReferenceServer } from "../../src/server/reference-server.js";
import { PostgresStore } from "../../src/store/postgres/postgres-store.js";
import { SyncPostgres } from "../../src/store/postgres/sync-postgres.js";
import { CuttableProxy } from "../support/cuttable-proxy.js";
import { dropSchema, freshSchema, openTestPostgresStore, POSTGRES_URL, withPostgres } from "../support/postgres.js";
import { REDIS_URL, withRedis } from "../support/redis.js";
import { RedisServerProcess } from "../support/redis-server.js";
import { ConnectionLost, DeviceRefused, StreamDevice, type HeldMessage } from "../support/stream-device.js";

/**
 * The cluster's two dependencies going away under load and coming back:
 * Redis (the bus) killed and restarted — latency degrades, nothing is lost;
 * PostgreSQL (the system of record) restarted — sends fail with a retryable
 * error, nothing acknowledged is lost. In-process nodes as in
 * cluster.test.ts; every wait is for a condition, with a deadline.
 */
const SECRET = "outage-secret";
/** How often the devices ping (HB-1), standing for welcome.heartbeat_interval_ms (30 s by default): it bounds how late a device learns of what no node told it (CUR-6). */
const PING_MS = 200;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A node's log, kept: an error line is a failure the node reported (warnings are expected while a dependency is away). */
function keptLog(): Logger & { readonly errors: string[]; readonly warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  return { errors, warnings, info: () => {}, warn: (message) => void warnings.push(message), error: (message) => void errors.push(message) };
}

async function startNode(store: PostgresStore, bus: RedisBus, log: Logger): Promise<ReferenceServer> {
  const server = await startReferenceServer({ tcp: { port: 0 }, store, secret: SECRET, bus, log });
  cleanups.push(async () => {
    await server.kill();
    await bus.close();
    store.close();
  });
  return server;
}

async function device(server: ReferenceServer, user: string, deviceId: string, options: { pingEveryMs?: number } = {}): Promise<StreamDevice> {
  const connected = await StreamDevice.connect(server.urls.tcp!, SECRET, user, deviceId, options);
  cleanups.push(() => connected.close());
  return connected;
}

async function openDirect(from: StreamDevice, to: string): Promise<string> {
  const opened = await from.request({ case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: [to] } });
  if (opened.body.case !== "conversationOpened") throw new Error(`not opened: ${opened.body.case}`);
  return opened.body.value.conversation!.conversationId;
}

function ackOf(answer: Frame): SendAck {
  if (answer.body.case !== "sendAck") throw new Error(`not acknowledged: ${answer.body.case} ${answer.body.case === "error" ? `${answer.body.value.code} ${answer.body.value.message}` : ""}`);
  return answer.body.value;
}

function errorOf(answer: Frame): ErrorBody {
  if (answer.body.case !== "error") throw new Error(`an error expected, got ${answer.body.case}`);
  return answer.body.value;
}

/**
 * A client's retry of a send (IDEM-1, ERR-3): the same client_message_id, again after the retry_after_ms
 * each UNAVAILABLE asks for, until it is acknowledged. The attempts it took, and the acknowledgement.
 */
async function sendUntilAcknowledged(from: StreamDevice, conversationId: string, id: string): Promise<{ ack: SendAck; attempts: number }> {
  for (let attempts = 1; ; attempts++) {
    const answer = await from.sendText(conversationId, id, `text of ${id}`);
    const refused = answer.body.case === "error" && answer.body.value.code === ErrorCode.UNAVAILABLE ? answer.body.value : undefined;
    if (!refused || attempts === 10) return { ack: ackOf(answer), attempts };
    await new Promise((resolve) => setTimeout(resolve, refused.retryAfterMs));
  }
}

/** Poll `probe` until it holds, at most `timeoutMs`: for conditions outside any connection (a process, a proxy). */
async function eventually(probe: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The device's messages in `conversationId`, checked: exactly the acknowledged ones, each once, in seq order. */
function expectExactlyAcknowledged(held: readonly HeldMessage[], conversationId: string, acknowledged: readonly { readonly id: string; readonly seq: bigint }[], who: string): void {
  const mine = held.filter((m) => m.conversationId === conversationId);
  expect(
    mine.map((m) => `${m.seq}:${m.clientMessageId}`),
    who,
  ).toEqual([...acknowledged].sort((a, b) => Number(a.seq - b.seq)).map((a) => `${a.seq}:${a.id}`));
}

const quantile = (values: readonly number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};
const ms = (value: number) => (Number.isNaN(value) ? "-" : `${value.toFixed(1)} ms`);

withPostgres("a cluster through outages of Redis and PostgreSQL (CLU-2, CLU-3)", () => {
  withRedis("a cluster through outages of Redis and PostgreSQL (CLU-2, CLU-3)", () => {
    describe("a cluster through outages of Redis and PostgreSQL (CLU-2, CLU-3)", () => {
      it("CLU-2 CLU-1 CUR-6 SEQ-1: Redis SIGKILLed and restarted under a steady send: every send acknowledged; devices on other nodes get every message once, in order (by their own catch-up while the bus is down); pushes resume when the bus reconnects", async () => {
        const redis = await RedisServerProcess.start();
        cleanups.push(() => redis.stop());
        const channel = `imwire:test:${randomUUID()}`;
        const schema = freshSchema();
        cleanups.push(() => dropSchema(schema));
        const logs = [keptLog(), keptLog(), keptLog()];
        const servers: ReferenceServer[] = [];
        for (const log of logs) servers.push(await startNode(openTestPostgresStore({ schema }), await RedisBus.open(redis.url, log, channel), log));

        // Alice sends on node 0; her tablet and bob's two devices are on the other nodes.
        const sender = await device(servers[0]!, "alice", "phone", { pingEveryMs: PING_MS });
        const remote = [await device(servers[1]!, "alice", "tablet", { pingEveryMs: PING_MS }), await device(servers[1]!, "bob", "phone", { pingEveryMs: PING_MS }), await device(servers[2]!, "bob", "laptop", { pingEveryMs: PING_MS })];
        const conversationId = await openDirect(sender, "bob");

        type Phase = "before" | "killing" | "down" | "restarting" | "after";
        let phase: Phase = "before";
        const acknowledged: { id: string; seq: bigint; sentAt: number; ackedAt: number; phase: Phase | "between" }[] = [];
        let sending = true;
        let sendFailed: Error | undefined;
        // A steady series, each send awaited for its send_ack; the pause sets the rate, it synchronises nothing.
        const sender$ = (async () => {
          for (let i = 0; sending; i++) {
            const sentIn = phase;
            const sentAt = performance.now();
            const ack = ackOf(await sender.sendText(conversationId, `m${i}`, `message ${i}`));
            acknowledged.push({ id: `m${i}`, seq: ack.seq, sentAt, ackedAt: performance.now(), phase: sentIn === phase ? sentIn : "between" });
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        })().catch((error: Error) => {
          sendFailed = new Error(`a send failed in phase ${phase}: ${error.message}${sender.closedWith ? ` (closed with ${sender.closedWith.code} ${sender.closedWith.message})` : ""}`);
        });
        const ackedIn = (p: Phase) => acknowledged.filter((a) => a.phase === p);
        /** At least `n` acknowledged in phase `p`; if a send failed instead, that failure, saying how. */
        const acknowledgedIn = async (p: Phase, n: number) => {
          await sender.until(() => ackedIn(p).length >= n, 10_000, `${n} messages acknowledged in phase ${p}`).catch((error: Error) => {
            throw sendFailed ?? error;
          });
        };
        const holdsAll = (d: StreamDevice, of: readonly { id: string }[]) => of.every((a) => d.messages.some((m) => m.clientMessageId === a.id));

        await acknowledgedIn("before", 10);
        phase = "killing";
        await redis.kill();
        phase = "down";
        await acknowledgedIn("down", 10);
        // No node can be told of these: each device learns of them from a pong's head (CUR-6) and fetches them.
        const whileDown = ackedIn("down");
        await Promise.all(remote.map((d) => d.until(() => holdsAll(d, whileDown), 5_000, "every message sent while Redis was down")));

        phase = "restarting";
        await redis.restart();
        // The buses are back once every node's two connections are (past their first command) and each node is subscribed again.
        await eventually(
          async () => {
            const clients = await redis.clients();
            const subscribed = (await redis.command("PUBSUB", "NUMSUB", channel)) as [string, number];
            return clients.filter((c) => c.cmd !== "NULL").length >= 2 * servers.length && subscribed[1] === servers.length;
          },
          10_000,
          "the buses reconnected and resubscribed",
        );
        phase = "after";
        await acknowledgedIn("after", 10);
        sending = false;
        await sender$;
        if (sendFailed) throw sendFailed;

        // Every acknowledged message, on every device, once, in seq order, gapless.
        const seqs = acknowledged.map((a) => a.seq);
        expect(seqs.slice(1).every((seq, i) => seq === seqs[i]! + 1n), "acknowledged seqs are consecutive").toBe(true);
        for (const d of [sender, ...remote]) {
          await d.until(() => holdsAll(d, acknowledged), 5_000, "every acknowledged message");
          expectExactlyAcknowledged(d.messages, conversationId, acknowledged, d.name);
        }

        // Latency, ack to applied, on the devices of the other nodes, by phase.
        const report: Record<string, string | number>[] = [];
        const arrivals = (p: Phase) =>
          ackedIn(p).flatMap((a) =>
            remote.map((d) => {
              const held = d.messages.find((m) => m.clientMessageId === a.id)!;
              return { fromAck: held.at - a.ackedAt, fromSend: held.at - a.sentAt, pushed: held.via === "push" };
            }),
          );
        for (const p of ["before", "down", "after"] as const) {
          const got = arrivals(p);
          report.push({ phase: p, messages: ackedIn(p).length, deliveries: got.length, pushed: got.filter((g) => g.pushed).length, "p50 send→device": ms(quantile(got.map((g) => g.fromSend), 0.5)), "p50 ack→device": ms(quantile(got.map((g) => g.fromAck), 0.5)), "max ack→device": ms(Math.max(...got.map((g) => g.fromAck))) });
        }
        console.log(`Redis killed and restarted (devices ping every ${PING_MS} ms):`);
        console.table(report);
        // Before and after: pushed over the bus, near real time (a few may be fetched first by a ping's catch-up that won the race).
        for (const p of ["before", "after"] as const) {
          const got = arrivals(p);
          expect(got.filter((g) => g.pushed).length, `${p}: most pushed`).toBeGreaterThanOrEqual(0.75 * got.length);
          expect(Math.max(...got.map((g) => g.fromAck)), `${p}: within 1 s of the ack`).toBeLessThan(1_000);
        }
        // Down: no node hears of another's commits. A device learns of them from a pong's head and fetches them
        // (CUR-6); its delivery_ack for them makes its node read its stream again, pushing what was committed since
        // (the "pushed" ones while down) — until nothing new is there, and the next ping starts it again.
        expect(arrivals("down").filter((g) => !g.pushed).length, "down: fetched by the devices' catch-up").toBeGreaterThan(0);

        // No node failed: none logged an error (the buses warned of Redis), and each still serves a device.
        expect(logs.flatMap((log) => log.errors)).toEqual([]);
        expect(logs.some((log) => log.warnings.some((w) => w.startsWith("redis bus:")))).toBe(true);
        for (const [i, server] of servers.entries()) await device(server, "bob", `check-${i}`);
      }, 30_000);

      it("CLU-3 ERR-2 IDEM-2 SEQ-2: PostgreSQL restarted (connections cut and terminated, new ones refused): sends fail fast with UNAVAILABLE, retryable; once it is back, retries with the same client_message_id succeed, one whose COMMIT lost its answer gets its first answer; everything acknowledged is stored once, gapless, in order", async () => {
        const direct = new URL(POSTGRES_URL!);
        const proxy = await CuttableProxy.start({ host: direct.hostname, port: Number(direct.port || 5432) });
        cleanups.push(() => proxy.close());
        // The test's own connection, not through the proxy: it outlives the outage and sees what is durable.
        const admin = new SyncPostgres(POSTGRES_URL!);
        cleanups.push(() => admin.close());
        const schema = freshSchema();
        cleanups.push(() => dropSchema(schema));
        const channel = `imwire:test:${randomUUID()}`;
        const logs = [keptLog(), keptLog()];
        const servers: ReferenceServer[] = [];
        for (const log of logs) servers.push(await startNode(PostgresStore.open(proxy.via(POSTGRES_URL!), { schema }), await RedisBus.open(REDIS_URL!, log, channel), log));

        // No pingers: a ping (or a delivery_ack) that reaches a node while storage is away closes its connection
        // UNAVAILABLE — its answer needs the store, and outside a request the server closes rather than answer
        // (CLU-3, README "Storage away") — and bob's connection is to stay open through the outage.
        let alice = await device(servers[0]!, "alice", "phone");
        const bob = await device(servers[1]!, "bob", "phone");
        const conversationId = await openDirect(alice, "bob");
        const acknowledged = new Map<string, SendAck>();
        const send = async (from: StreamDevice, id: string) => acknowledged.set(id, ackOf(await from.sendText(conversationId, id, `text of ${id}`)));
        for (let i = 0; i < 3; i++) {
          await send(alice, `a-before-${i}`);
          await send(bob, `b-before-${i}`);
        }

        // Quiet first: each device holds what was sent, and its node has processed its acknowledgements of it.
        const before = [...acknowledged.keys()];
        for (const d of [alice, bob]) {
          await d.until(() => before.every((id) => d.messages.some((m) => m.clientMessageId === id)), 5_000, "every message sent before the cut");
          await d.roundTrip();
        }

        // The outage begins at the worst moment for alice's next send: its COMMIT reaches PostgreSQL and is
        // durable there, but the answer never comes back, and from then on connecting is refused.
        const inflightId = `a-inflight-${randomUUID()}`;
        const commitCut = proxy.cutAfterCommitOf(inflightId);
        await commitCut.armed;
        const inflight = alice.sendText(conversationId, inflightId, "in flight at the cut").catch((error: Error) => error);
        await commitCut.cut;
        // Node 0's group commit failed, so it cut every connection with nothing of the batch answered (SEQ-2).
        expect(await inflight).toBeInstanceOf(ConnectionLost);
        const durable = admin.query<{ seq: number; message_id: string }>(`SELECT seq, message_id FROM "${schema}".dedup_keys WHERE key = $1`, [inflightId]).rows;
        expect(durable, "the in-flight send was committed").toHaveLength(1);
        // PostgreSQL's side of a restart: it ends its backends. Only those that came through the proxy (node 1's),
        // by their client port: other test files use the same database at the same time.
        const { upstreamPorts } = await proxy.carried();
        expect(upstreamPorts.length).toBeGreaterThan(0);
        const terminated = admin.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE usename = current_user AND pid <> pg_backend_pid() AND client_addr = '127.0.0.1' AND client_port = ANY($1::int[]) AND pg_terminate_backend(pid)",
          [upstreamPorts],
        ).rows;
        expect(terminated.length).toBe(upstreamPorts.length);
        await eventually(async () => (await proxy.carried()).connections === 0, 5_000, "PostgreSQL closed the terminated connections");

        // While it is away: a send is answered UNAVAILABLE, retryable, with a delay, and the connection stays open.
        const failures: { id: string; ms: number }[] = [];
        for (const id of Array.from({ length: 10 }, (_, i) => `b-cut-${i}`)) {
          const started = performance.now();
          const refused = errorOf(await bob.sendText(conversationId, id, `text of ${id}`));
          failures.push({ id, ms: performance.now() - started });
          expect({ code: refused.code, retryable: refused.retryable, closing: refused.closing }).toEqual({ code: ErrorCode.UNAVAILABLE, retryable: true, closing: false });
          expect(refused.retryAfterMs).toBeGreaterThan(0);
        }
        expect(bob.socket.destroyed).toBe(false);
        // Authentication needs the store: a device (alice, coming back) is refused UNAVAILABLE, retryable, and closed.
        const reconnectStarted = performance.now();
        const refusedLogin = await StreamDevice.connect(servers[0]!.urls.tcp!, SECRET, "alice", "phone").then(
          () => undefined,
          (error: Error) => error,
        );
        const reconnectRefusedMs = performance.now() - reconnectStarted;
        expect(refusedLogin).toBeInstanceOf(DeviceRefused);
        const loginError = (refusedLogin as DeviceRefused).error;
        expect({ code: loginError.code, retryable: loginError.retryable }).toEqual({ code: ErrorCode.UNAVAILABLE, retryable: true });
        // Nothing refused was stored (CLU-3, IDEM-5).
        expect(admin.query(`SELECT key FROM "${schema}".dedup_keys WHERE key LIKE 'b-cut-%'`).rows).toEqual([]);

        // PostgreSQL is back: each node's store connects again by itself, at its first statement past the wait
        // that followed its last failed attempt (at most 1 s, the retry_after_ms the errors carried).
        await proxy.restore();
        const restoredAt = performance.now();
        // CONN-10, IDEM-1: the same keys. Bob, still connected, retries his refused sends as told.
        const first = await sendUntilAcknowledged(bob, conversationId, failures[0]!.id);
        acknowledged.set(failures[0]!.id, first.ack);
        const resumedMs = performance.now() - restoredAt;
        for (const { id } of failures.slice(1)) await send(bob, id);
        const allRetriedMs = performance.now() - restoredAt;
        // Alice reconnects and retries the send whose outcome she never learnt: its first answer, stored once (IDEM-2).
        alice = await device(servers[0]!, "alice", "phone");
        const retried = ackOf(await alice.sendText(conversationId, inflightId, "in flight at the cut"));
        expect({ seq: Number(retried.seq), messageId: retried.messageId }).toEqual({ seq: durable[0]!.seq, messageId: durable[0]!.message_id });
        const again = ackOf(await alice.sendText(conversationId, inflightId, "in flight at the cut"));
        expect(again).toEqual(retried);
        acknowledged.set(inflightId, retried);
        for (let i = 0; i < 3; i++) {
          await send(alice, `a-after-${i}`);
          await send(bob, `b-after-${i}`);
        }

        console.log("PostgreSQL cut and restored:");
        console.table({
          "UNAVAILABLE answers to sends while cut": failures.map((f) => ms(f.ms)).join(", "),
          "a reconnect refused while cut": `${ms(reconnectRefusedMs)} (retry_after_ms ${loginError.retryAfterMs}, closing ${loginError.closing})`,
          "restore → bob's first retry acknowledged": `${ms(resumedMs)} (${first.attempts} attempt${first.attempts === 1 ? "" : "s"})`,
          [`restore → all ${failures.length} of bob's retries acknowledged`]: ms(allRetriedMs),
        });

        // Everything acknowledged — before, during (by retry), after — is stored once, in order, gapless;
        // read by fresh devices on both nodes (SYNC-1), and held by bob's device, connected throughout.
        const all = [...acknowledged].map(([id, ack]) => ({ id, seq: ack.seq }));
        for (const [i, server] of servers.entries()) {
          const reader = await device(server, "bob", `reader-${i}`);
          const page = await reader.request({ case: "syncConversation", value: { conversationId, afterSeq: 0n, limit: 1_000 } });
          if (page.body.case !== "conversationPage") throw new Error(`no page: ${page.body.case}`);
          const events = page.body.value.events;
          expect(events.map((e) => e.seq)).toEqual(events.map((_, j) => BigInt(j + 1))); // gapless from 1
          const stored = events.flatMap((e) => (e.body.case === "message" ? [{ id: e.body.value.clientMessageId, seq: e.seq }] : []));
          expect(stored.map((s) => `${s.seq}:${s.id}`)).toEqual([...all].sort((a, b) => Number(a.seq - b.seq)).map((a) => `${a.seq}:${a.id}`));
        }
        bob.ping(); // CUR-6: whatever no node told him of (the commit whose notice was lost with node 0's batch)
        await bob.until(() => all.every((a) => bob.messages.some((m) => m.clientMessageId === a.id)), 5_000, "every acknowledged message");
        expectExactlyAcknowledged(bob.messages, conversationId, all, bob.name);
        // Alice's own sends keep her order.
        const alices = [...acknowledged].filter(([id]) => id.startsWith("a-")).map(([, ack]) => ack.seq);
        expect(alices).toEqual([...alices].sort((a, b) => Number(a - b)));
        // Node 0 reported its failed commit; node 1 only answered UNAVAILABLE. Both serve on.
        expect(logs[0]!.errors.length).toBeGreaterThan(0);
        expect(logs[0]!.errors.every((e) => e.startsWith("group commit failed"))).toBe(true);
        expect(logs[1]!.errors).toEqual([]);
      }, 30_000);
    });
  });
});
