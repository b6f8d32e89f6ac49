import { afterEach, expect, it } from "vitest";
import { connect, type Socket } from "node:net";
import { issueToken } from "../../src/auth/hmac-token.js";
import { frame } from "../../src/codec/frame-codec.js";
import { encodeFramed, FrameReader } from "../../src/framing/frame-stream.js";
import { ConversationKind } from "../../src/gen/imwire/v1/conversation_pb.js";
import type { Frame } from "../../src/gen/imwire/v1/frame_pb.js";
import type { FrameBody } from "../../src/conformance/suite/scripted-connection.js";
import { startReferenceServer, type ReferenceServer } from "../../src/server/reference-server.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { MAX_MAX_FRAME_SIZE } from "../../src/limits.js";

/**
 * FLOW-3 on real sockets: a peer that keeps asking and never reads cannot
 * make the reference server hold more than its write bound, and the device
 * loses nothing by being cut off (DLV-3).
 */

const SECRET = "flow-secret";
let server: ReferenceServer | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await server?.close();
  server = undefined;
});

/** A raw TCP client that writes frames and reads answers only when asked to. */
async function rawClient(url: string): Promise<{ socket: Socket; send: (body: FrameBody, requestId?: number) => void; next: (match: (f: Frame) => boolean) => Promise<Frame>; closed: Promise<void> }> {
  const { hostname, port } = new URL(url);
  const socket = await new Promise<Socket>((resolve) => {
    const s = connect({ host: hostname, port: Number(port) }, () => resolve(s));
  });
  sockets.push(socket);
  // The server cuts a peer off with a reset; the close event says so, the error adds nothing.
  socket.on("error", () => {});
  const reader = new FrameReader({ maxFrameSize: MAX_MAX_FRAME_SIZE });
  const inbox: Frame[] = [];
  let wake: () => void = () => {};
  socket.on("data", (chunk) => {
    reader.push(chunk);
    for (let f = reader.next(); f !== undefined; f = reader.next()) inbox.push(f);
    wake();
  });
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const next = async (match: (f: Frame) => boolean): Promise<Frame> => {
    for (;;) {
      const index = inbox.findIndex(match);
      if (index >= 0) return inbox.splice(index, 1)[0]!;
      await new Promise<void>((resolve, reject) => {
        wake = resolve;
        setTimeout(() => reject(new Error(`no matching frame; got ${inbox.map((f) => f.body.case).join(", ")}`)), 5_000);
      });
    }
  };
  const send = (body: FrameBody, requestId = 0) => void socket.write(encodeFramed(frame({ requestId, body })));
  return { socket, send, next, closed };
}

async function login(url: string, userId: string, deviceId: string) {
  const client = await rawClient(url);
  client.send({ case: "hello", value: { versions: [1], deviceId } }, 1);
  await client.next((f) => f.body.case === "welcome");
  client.send({ case: "authenticate", value: { token: issueToken({ userId, deviceId, expiresAtMs: 0 }, SECRET) } }, 2);
  const authenticated = await client.next((f) => f.body.case === "authenticated");
  return Object.assign(client, { epoch: authenticated.body.case === "authenticated" ? authenticated.body.value.epoch : "" });
}

it("FLOW-3 DLV-3: a peer that stops reading is cut off once its unsent output passes the bound, and loses nothing", async () => {
  const warnings: string[] = [];
  const bound = 256 * 1024;
  server = await startReferenceServer({
    tcp: { port: 0 },
    store: new MemoryStore(),
    secret: SECRET,
    maxWriteBuffer: bound,
    log: { info: () => {}, warn: (m) => void warnings.push(m), error: (m) => void warnings.push(m) },
  });
  const url = server.urls.tcp!;

  // Alice fills a conversation with Bob: every sync_user answer Bob asks for below is a full page.
  const alice = await login(url, "alice", "phone");
  const bob = await login(url, "bob", "laptop");
  alice.send({ case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["bob"] } }, 3);
  const opened = await alice.next((f) => f.body.case === "conversationOpened");
  const conversationId = opened.body.case === "conversationOpened" ? opened.body.value.conversation!.conversationId : "";
  // Enough that max_in_flight full pages (FLOW-1 lets a compliant client ask no more) outgrow the kernel's socket buffers.
  const sent = 900;
  // In batches of max_in_flight (FLOW-1).
  for (let batch = 0; batch < sent; batch += 100) {
    for (let i = batch; i < batch + 100; i++) {
      alice.send({ case: "sendMessage", value: { conversationId, clientMessageId: `m${i}`, content: { kind: { case: "text", value: { text: `message ${i} `.padEnd(200, "·") } } } } }, 10 + i);
    }
    for (let i = batch; i < batch + 100; i++) await alice.next((f) => f.body.case === "sendAck");
  }

  // Bob stops reading and asks as much as FLOW-1 lets it (max_in_flight requests, all unanswered):
  // each answer is queued for a socket nobody drains.
  bob.socket.pause();
  const asked = 100;
  for (let i = 0; i < asked; i++) bob.send({ case: "syncUser", value: { epoch: bob.epoch, afterCursor: 0n, limit: 1000 } }, 1000 + i);
  // Its pings (not requests) are how a paused socket learns it was cut.
  const pinging = setInterval(() => !bob.socket.destroyed && bob.send({ case: "ping", value: {} }), 50);
  await Promise.race([bob.closed, new Promise((_, reject) => setTimeout(() => reject(new Error(`still open after ${asked} requests`)), 20_000))]).finally(() => clearInterval(pinging));
  expect(warnings.filter((w) => /FLOW-3/.test(w))).toHaveLength(1);
  expect(warnings.some((w) => /peer does not read .*FLOW-3/.test(w))).toBe(true);
  const unsent = Number(/\((\d+) bytes unsent\)/.exec(warnings.find((w) => w.includes("FLOW-3"))!)![1]);
  // Closed at the first answer past the bound: by at most one page (1,000 entries of ~260 bytes) over it.
  expect(unsent).toBeGreaterThan(bound);
  expect(unsent).toBeLessThan(bound + 320 * 1024);

  // DLV-3: nothing was lost by the cut. Bob's next connection syncs every message.
  const again = await login(url, "bob", "laptop");
  again.send({ case: "syncConversation", value: { conversationId, limit: 1000 } }, 5);
  const page = await again.next((f) => f.body.case === "conversationPage");
  const texts = page.body.case === "conversationPage" ? page.body.value.events.flatMap((e) => (e.body.case === "message" && e.body.value.content?.kind.case === "text" ? [e.body.value.content.kind.value.text] : [])) : [];
  expect(texts).toHaveLength(sent);
  expect(texts.map((t) => Number(/message (\d+)/.exec(t)![1]))).toEqual(Array.from({ length: sent }, (_, i) => i));
}, 30_000);
