import { afterEach, describe, expect, it } from "vitest";
import { connect, type Socket } from "node:net";
import WebSocket from "ws";
import { issueToken } from "../../src/auth/hmac-token.js";
import { encodeFrame, frame } from "../../src/codec/frame-codec.js";
import { encodeFramed } from "../../src/framing/frame-stream.js";
import { ConversationKind } from "../../src/gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../../src/gen/imwire/v1/error_pb.js";
import { ClientMachine } from "../../src/machines/client/client-machine.js";
import type { ClientEvent } from "../../src/machines/client/types.js";
import { ClientRunner } from "../../src/client/client-runner.js";
import { ServerMachine } from "../../src/machines/server/server-machine.js";
import type { ServerOutput } from "../../src/machines/server/types.js";
import { startReferenceServer, type ReferenceServer, type ReferenceServerOptions } from "../../src/server/reference-server.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { WEBSOCKET_SUBPROTOCOL } from "../../src/limits.js";
import { rawLogin } from "../support/raw-client.js";
import { ThrottleProxy } from "../support/throttle-proxy.js";

/**
 * Issue 10 on real sockets: slow links (HB-3, HB-4), non-readers and hogs
 * (FLOW-1, FLOW-3), FRM-9 in the runner, WebSocket limits before welcome and
 * close codes (WS-4), dribbled upgrades (CONN-6), and who-closed log lines.
 */

const SECRET = "hostile-secret";
let server: ReferenceServer | undefined;
const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await server?.close();
  server = undefined;
});

async function start(options: Partial<ReferenceServerOptions> = {}, lines: string[] = []): Promise<ReferenceServer> {
  const log = { info: (m: string) => void lines.push(m), warn: (m: string) => void lines.push(m), error: (m: string) => void lines.push(m) };
  server = await startReferenceServer({ tcp: { port: 0 }, ws: { port: 0 }, store: new MemoryStore(), secret: SECRET, log, ...options });
  return server;
}

const track = (socket: Socket) => void cleanups.push(() => socket.destroy());
const login = (port: number, userId: string, deviceId = "d") => rawLogin(`tcp://127.0.0.1:${port}`, SECRET, userId, deviceId, track);

const portOf = (url: string) => Number(new URL(url).port);

describe("HB-3, HB-4: a large frame over a slow link is progress, not silence", () => {
  it("a 300 KB message crosses 100 KB/s links up and down (3 s each, heartbeat 1 s: 1.5 s of silence allowed) without a cut or a reconnect", async () => {
    const s = await start({ protocol: { heartbeatIntervalMs: 1_000 } });
    const proxy = await ThrottleProxy.start(portOf(s.urls.tcp!), 100_000);
    cleanups.push(() => proxy.close());
    const url = `tcp://127.0.0.1:${proxy.port}`;
    const devices = ["alice", "bob"].map((userId) => {
      const events: ClientEvent[] = [];
      let connects = 0;
      const machine = new ClientMachine({ deviceId: "d" }, { token: () => issueToken({ userId, deviceId: "d", expiresAtMs: 0 }, SECRET), random: Math.random, newId: () => `${userId}-${Math.random()}` });
      const takeOutputs = machine.takeOutputs.bind(machine);
      machine.takeOutputs = () => {
        const outputs = takeOutputs();
        connects += outputs.filter((o) => o.kind === "connect").length;
        return outputs;
      };
      const runner = new ClientRunner(machine, { url, onEvent: (e) => void events.push(e) });
      runner.start();
      cleanups.push(() => runner.stop());
      return { runner, events, connects: () => connects };
    });
    const [alice, bob] = devices as [(typeof devices)[0], (typeof devices)[0]];
    const until = async (what: () => boolean, ms: number) => {
      const deadline = Date.now() + ms;
      while (!what()) {
        if (Date.now() > deadline) throw new Error(`timed out; alice: ${alice.events.map((e) => e.kind).join(",")}; bob: ${bob.events.map((e) => e.kind).join(",")}; connects ${alice.connects()} ${bob.connects()}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await until(() => alice.events.some((e) => e.kind === "status" && e.status === "ready") && bob.events.some((e) => e.kind === "status" && e.status === "ready"), 10_000);
    alice.runner.act((m, now) => m.open({ kind: ConversationKind.DIRECT, userIds: ["bob"] }, now));
    await until(() => alice.events.some((e) => e.kind === "joined") && bob.events.some((e) => e.kind === "joined"), 10_000);
    const conversationId = (alice.events.find((e) => e.kind === "joined") as { conversation: { conversationId: string } }).conversation.conversationId;
    const text = "x".repeat(300_000);
    alice.runner.act((m, now) => m.send(conversationId, { kind: { case: "text", value: { text } } }, now));
    await until(() => alice.events.some((e) => e.kind === "sent"), 20_000);
    await until(() => bob.events.some((e) => e.kind === "event" && e.event.body.case === "message"), 20_000);
    // One connection each, from start to end: neither end took the crossing frame for a dead link.
    expect([alice.connects(), bob.connects()]).toEqual([1, 1]);
  }, 40_000);
});

describe("FLOW-1, FLOW-3: hogs cannot stall the server or grow its memory", () => {
  it("FLOW-1: 150 requests in one write with max_in_flight 100: the 101st is PROTOCOL_VIOLATION and the connection closes", async () => {
    const s = await start();
    const hog = await login(portOf(s.urls.tcp!), "hog");
    const requests = Array.from({ length: 150 }, (_, i) => encodeFramed(frame({ requestId: 100 + i, body: { case: "syncUser", value: {} } })));
    hog.socket.write(Buffer.concat(requests));
    const error = await hog.next((f) => f.body.case === "error");
    expect(error.body.case === "error" && [error.requestId, error.body.value.code, error.body.value.requirement]).toEqual([200, ErrorCode.PROTOCOL_VIOLATION, "FLOW-1"]);
    await hog.closed;
  });

  it("30 connections pipelining requests for large pages and never reading: each held at its bound, an honest pair is served throughout", async () => {
    const lines: string[] = [];
    const bound = 256 * 1024;
    const s = await start({ pauseReadingAbove: bound, protocol: { heartbeatIntervalMs: 2_000 } }, lines);
    const port = portOf(s.urls.tcp!);
    // The hogs share a conversation of 200 messages of 2 KB: every sync_conversation answer is a ~400 KB page.
    const owner = await login(port, "owner");
    const hogs = await Promise.all(Array.from({ length: 30 }, (_, i) => login(port, `hog${i}`)));
    owner.send({ case: "openConversation", value: { kind: ConversationKind.GROUP, clientConversationId: "g", userIds: hogs.map((_, i) => `hog${i}`) } }, 3);
    const opened = await owner.next((f) => f.body.case === "conversationOpened");
    const conversationId = opened.body.case === "conversationOpened" ? opened.body.value.conversation!.conversationId : "";
    for (let i = 0; i < 200; i++) owner.send({ case: "sendMessage", value: { conversationId, clientMessageId: `m${i}`, content: { kind: { case: "text", value: { text: "y".repeat(2_000) } } } } }, 10 + i);
    for (let i = 0; i < 200; i++) await owner.next((f) => f.body.case === "sendAck");
    owner.socket.destroy();

    const alice = await login(port, "alice");
    const bob = await login(port, "bob");
    alice.send({ case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["bob"] } }, 3);
    const direct = await alice.next((f) => f.body.case === "conversationOpened");
    const directId = direct.body.case === "conversationOpened" ? direct.body.value.conversation!.conversationId : "";

    // HB-1: the honest pair pings as a client does, on its own timer.
    const heartbeat = setInterval(() => {
      alice.send({ case: "ping", value: {} });
      bob.send({ case: "ping", value: {} });
    }, 400);
    cleanups.push(() => clearInterval(heartbeat));
    let requestId = 1_000;
    let mostUnsent = 0;
    const asking = setInterval(() => {
      for (const hog of hogs) {
        if (hog.socket.destroyed) continue;
        hog.socket.pause();
        // Within FLOW-1 per write: the server must bound them by not reading.
        for (let i = 0; i < 50; i++) hog.send({ case: "syncConversation", value: { conversationId, limit: 1000 } }, requestId++);
        hog.send({ case: "ping", value: {} });
      }
      mostUnsent = Math.max(mostUnsent, s.runner.unsentBytes);
    }, 50);
    cleanups.push(() => clearInterval(asking));

    const latencies: number[] = [];
    for (let i = 0; i < 40; i++) {
      const sentAt = Date.now();
      alice.send({ case: "sendMessage", value: { conversationId: directId, clientMessageId: `h${i}`, content: { kind: { case: "text", value: { text: `honest ${i}` } } } } }, 500 + i);
      await alice.next((f) => f.requestId === 500 + i);
      latencies.push(Date.now() - sentAt);
      await new Promise((r) => setTimeout(r, 25));
    }
    clearInterval(asking);
    // Every honest message is there for Bob, in order.
    bob.send({ case: "syncConversation", value: { conversationId: directId, limit: 1000 } }, 900);
    const page = await bob.next((f) => f.requestId === 900);
    const got = page.body.case === "conversationPage" ? page.body.value.events.flatMap((e) => (e.body.case === "message" && e.body.value.content?.kind.case === "text" ? [e.body.value.content.kind.value.text] : [])) : [];
    expect(got).toEqual(Array.from({ length: 40 }, (_, i) => `honest ${i}`));
    // Each hog holds at most its bound and the answers of one read (~50 pages of 400 KB would be 20 MB each without it).
    expect(mostUnsent).toBeLessThan(30 * (bound + 4 * 410 * 1024));
    expect(s.runner.heldBackCount).toBeGreaterThan(20);
    latencies.sort((x, y) => x - y);
    console.log(`honest ack latency with 30 hogs: p50 ${latencies[20]} ms, max ${latencies[39]} ms; most unsent ${(mostUnsent / 1048576).toFixed(1)} MiB`);
  }, 60_000);
});

describe("FRM-9 in the runner", () => {
  /** A machine with a bug: it answers sync_user with a frame over the limit, and pushes one on ping. */
  class OversizeMachine extends ServerMachine {
    override takeOutputsUnsettled(): ServerOutput[] {
      return super.takeOutputsUnsettled().map((output) => {
        if (output.kind !== "send") return output;
        const huge = { kind: { case: "text" as const, value: { text: "z".repeat(70_000) } } };
        if (output.frame.body.case === "userPage") return { ...output, frame: frame({ requestId: output.frame.requestId, body: { case: "conversationPage", value: { conversationId: "c", events: [{ conversationId: "c", seq: 1n, senderUserId: "u", senderDeviceId: "d", body: { case: "message", value: { messageId: "m", clientMessageId: "k", content: huge } } }] } } }) };
        if (output.frame.body.case === "pong") return { ...output, frame: frame({ body: { case: "deliver", value: { cursor: 1n, body: { case: "event", value: { conversationId: "c", seq: 1n, senderUserId: "u", senderDeviceId: "d", body: { case: "message", value: { messageId: "m", clientMessageId: "k", content: huge } } } } } } }) };
        return output;
      });
    }
  }

  it("an answer over max_frame_size becomes INTERNAL to its request and the connection goes on; a push over it closes with INTERNAL", async () => {
    const lines: string[] = [];
    const s = await start({ protocol: { maxFrameSize: 65_536 }, machine: (deps, options) => new OversizeMachine(deps, options) }, lines);
    const c = await login(portOf(s.urls.tcp!), "u");
    c.send({ case: "syncUser", value: {} }, 7);
    const answer = await c.next((f) => f.requestId === 7);
    expect(answer.body.case === "error" && [answer.body.value.code, answer.body.value.requirement]).toEqual([ErrorCode.INTERNAL, "FRM-9"]);
    c.send({ case: "ping", value: { nonce: 1n } });
    const pushError = await c.next((f) => f.body.case === "error");
    expect(pushError.body.case === "error" && pushError.body.value.code).toBe(ErrorCode.INTERNAL);
    await c.closed;
    expect(lines.filter((l) => l.includes("FRM-9"))).toHaveLength(2);
  });
});

describe("WebSocket limits and close codes", () => {
  it("WS-4 before welcome: a message declaring 1 MiB is refused from its header with 1009, after a few KB, not after buffering it", async () => {
    const s = await start();
    const { port } = new URL(s.urls.ws!);
    const socket = connect({ host: "127.0.0.1", port: Number(port) });
    cleanups.push(() => socket.destroy());
    socket.on("error", () => {});
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${WEBSOCKET_SUBPROTOCOL}\r\n\r\n`);
    let received = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
    await new Promise((r) => setTimeout(r, 200));
    expect(received.toString("latin1")).toMatch(/^HTTP\/1.1 101/);
    const upgradeLength = received.length;
    // A masked binary frame header declaring 1,048,576 bytes, then 4 KB of them only.
    const header = Buffer.from([0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4]);
    socket.write(Buffer.concat([header, Buffer.alloc(4_096)]));
    await new Promise((r) => setTimeout(r, 300));
    const closeFrame = received.subarray(upgradeLength);
    // A server close frame: 0x88, length, then the code.
    expect(closeFrame[0]).toBe(0x88);
    expect(closeFrame.readUInt16BE(2)).toBe(1009);
  });

  it("WS-4 after welcome: 60 connections at once each sending one message over the limit all close with 1009, never 1006", async () => {
    const s = await start({ protocol: { maxFrameSize: 65_536 } });
    const codes = await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const ws = new WebSocket(s.urls.ws!, [WEBSOCKET_SUBPROTOCOL]);
        cleanups.push(() => ws.terminate());
        await new Promise<void>((resolve, reject) => (ws.once("open", () => resolve()), ws.once("error", reject)));
        const welcome = new Promise<void>((resolve) => ws.once("message", () => resolve()));
        ws.send(encodeFrame(frame({ requestId: 1, body: { case: "hello", value: { versions: [1], deviceId: `d${i}` } } })));
        await welcome;
        ws.send(Buffer.alloc(65_537 + i));
        return new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
      }),
    );
    expect(new Set(codes)).toEqual(new Set([1009]));
  });

  it("CONN-6: an HTTP upgrade dribbled a byte at a time is cut at the handshake timeout, as a silent TCP connection is", async () => {
    const s = await start({ protocol: { handshakeTimeoutMs: 1_000 } });
    const { port } = new URL(s.urls.ws!);
    const socket = connect({ host: "127.0.0.1", port: Number(port) });
    cleanups.push(() => socket.destroy());
    socket.on("error", () => {});
    const openedAt = Date.now();
    const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now() - openedAt)));
    const request = "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + "a".repeat(1_000);
    let i = 0;
    const dribble = setInterval(() => !socket.destroyed && socket.write(request[i++ % request.length]!), 100);
    cleanups.push(() => clearInterval(dribble));
    const after = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 5_000))]);
    expect(after).toBeGreaterThanOrEqual(900);
    expect(after).toBeLessThan(3_000);
  });
});

describe("close log lines say who closed", () => {
  it("a client's closing TIMEOUT is logged as closed by the client; the server's own HB-3 as closed by the server", async () => {
    const lines: string[] = [];
    const s = await start({ protocol: { heartbeatIntervalMs: 1_000 } }, lines);
    const port = portOf(s.urls.tcp!);
    const leaving = await login(port, "a");
    const port1 = leaving.socket.localPort;
    leaving.send({ case: "error", value: { code: ErrorCode.TIMEOUT, closing: true, message: "the server went quiet" } });
    await leaving.closed;
    const silent = await login(port, "b");
    const port2 = silent.socket.localPort;
    await silent.closed;
    expect(lines.filter((l) => l.includes(`:${port1}:`))).toEqual([expect.stringMatching(/closed by the client \(TIMEOUT\)$/)]);
    expect(lines.filter((l) => l.includes(`:${port2}:`))).toEqual([expect.stringMatching(/closed by the server \(TIMEOUT\)$/)]);
  });
});
