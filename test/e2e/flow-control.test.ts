import { afterEach, expect, it } from "vitest";
import type { Socket } from "node:net";
import { ConversationKind } from "../../src/gen/imwire/v1/conversation_pb.js";
import type { Frame } from "../../src/gen/imwire/v1/frame_pb.js";
import { startReferenceServer, type ReferenceServer } from "../../src/server/reference-server.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { rawLogin } from "../support/raw-client.js";

/**
 * FLOW-3 on real sockets: a peer that keeps asking and never reads is not
 * read from once the server holds its bound of output for it, and is closed
 * by HB-3; a slow reader is never cut; neither loses anything (DLV-3).
 */

const SECRET = "flow-secret";
let server: ReferenceServer | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await server?.close();
  server = undefined;
});

const login = (url: string, userId: string, deviceId: string) => rawLogin(url, SECRET, userId, deviceId, (socket) => sockets.push(socket));

/** A server that holds back connections above `bound` unsent bytes, with a 1 s heartbeat, logging into `lines`; its TCP URL. */
async function startHoldingBackAbove(bound: number, lines: string[]): Promise<string> {
  server = await startReferenceServer({
    tcp: { port: 0 },
    store: new MemoryStore(),
    secret: SECRET,
    pauseReadingAbove: bound,
    protocol: { heartbeatIntervalMs: 1_000 },
    log: { info: (m) => void lines.push(m), warn: (m) => void lines.push(m), error: (m) => void lines.push(m) },
  });
  return server.urls.tcp!;
}

async function fillConversation(alice: Awaited<ReturnType<typeof login>>, count: number, textBytes: number): Promise<string> {
  alice.send({ case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["bob"] } }, 3);
  const opened = await alice.next((f) => f.body.case === "conversationOpened");
  const conversationId = opened.body.case === "conversationOpened" ? opened.body.value.conversation!.conversationId : "";
  // In batches of max_in_flight (FLOW-1).
  for (let batch = 0; batch < count; batch += 100) {
    const end = Math.min(count, batch + 100);
    for (let i = batch; i < end; i++) {
      alice.send({ case: "sendMessage", value: { conversationId, clientMessageId: `m${i}`, content: { kind: { case: "text", value: { text: `message ${i} `.padEnd(textBytes, "·") } } } } }, 10 + i);
    }
    for (let i = batch; i < end; i++) await alice.next((f) => f.body.case === "sendAck");
  }
  return conversationId;
}

function messageNumbers(page: Frame): number[] {
  return page.body.case === "conversationPage"
    ? page.body.value.events.flatMap((e) => (e.body.case === "message" && e.body.value.content?.kind.case === "text" ? [Number(/message (\d+)/.exec(e.body.value.content.kind.value.text)![1])] : []))
    : [];
}

it("FLOW-3 FLOW-1 HB-3 DLV-3: a peer that asks and never reads holds at most the bound plus one read's answers, is closed by HB-3 with one log line, and loses nothing", async () => {
  const lines: string[] = [];
  const bound = 256 * 1024;
  const url = await startHoldingBackAbove(bound, lines);
  const alice = await login(url, "alice", "phone");
  const bob = await login(url, "bob", "laptop");
  const sent = 900;
  const conversationId = await fillConversation(alice, sent, 200);

  // Bob stops reading and keeps asking for full pages (~250 KB each), in batches FLOW-1 allows, and keeps pinging.
  const bobPort = bob.socket.localPort;
  bob.socket.pause();
  let requestId = 1000;
  let mostUnsent = 0;
  const asking = setInterval(() => {
    if (bob.socket.destroyed) return;
    for (let i = 0; i < 10; i++) bob.send({ case: "syncUser", value: { epoch: bob.epoch, afterCursor: 0n, limit: 1000 } }, requestId++);
    bob.send({ case: "ping", value: {} });
    mostUnsent = Math.max(mostUnsent, server!.runner.unsentBytes);
  }, 20);
  await Promise.race([bob.closed, new Promise((_, reject) => setTimeout(() => reject(new Error("bob still open")), 15_000))]).finally(() => clearInterval(asking));
  // Held back at the first read past the bound: its output stays within the bound and one read's pages (at most 10 here).
  expect(mostUnsent).toBeLessThan(bound + 11 * 260 * 1024);
  // And most of what Bob asked for was never read, let alone answered.
  expect(requestId - 1000).toBeGreaterThan(100);
  // One line for the close (Alice, who does not ping, is closed by HB-3 too: not Bob's).
  const closes = lines.filter((l) => l.includes(`:${bobPort}:`));
  expect(closes).toEqual([expect.stringMatching(/closed by the server \(TIMEOUT\)/)]);

  // DLV-3: nothing was lost by the cut. Bob's next connection syncs every message.
  const again = await login(url, "bob", "laptop");
  again.send({ case: "syncConversation", value: { conversationId, limit: 1000 } }, 5);
  expect(messageNumbers(await again.next((f) => f.body.case === "conversationPage"))).toEqual(Array.from({ length: sent }, (_, i) => i));
}, 30_000);

it("FLOW-3 HB-3: a slow reader that keeps reading is held back, never cut, and gets every answer", async () => {
  const bound = 128 * 1024;
  const lines: string[] = [];
  const url = await startHoldingBackAbove(bound, lines);
  const alice = await login(url, "alice", "phone");
  const bob = await login(url, "bob", "laptop");
  const conversationId = await fillConversation(alice, 500, 1000);

  // Bob asks for 20 pages of ~500 KB (10 MB) at once, then reads at about 2 MB/s: about 5 s, longer than 1.5 heartbeats,
  // while the server cannot read his pings (it has stopped reading him).
  bob.socket.pause();
  for (let i = 0; i < 20; i++) bob.send({ case: "syncConversation", value: { conversationId, limit: 1000 } }, 100 + i);
  const pinging = setInterval(() => bob.send({ case: "ping", value: {} }), 300);
  const reading = setInterval(() => {
    bob.socket.resume();
    setTimeout(() => bob.socket.pause(), 20);
  }, 25);
  try {
    for (let i = 0; i < 20; i++) {
      const page = await bob.next((f) => f.body.case === "conversationPage" || f.body.case === "error");
      expect(page.body.case).toBe("conversationPage");
    }
  } finally {
    clearInterval(pinging);
    clearInterval(reading);
  }
  expect(bob.socket.destroyed).toBe(false);
  expect(lines.filter((l) => l.includes(`:${bob.socket.localPort}:`))).toEqual([]);
}, 30_000);
