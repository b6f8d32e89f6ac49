import { once } from "node:events";
import { createServer, type AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { issueToken } from "../../src/auth/hmac-token.js";
import { ClientDriver } from "../../src/client/client-driver.js";
import { encodeFrame, frame } from "../../src/codec/frame-codec.js";
import { isImwireError, type ImwireError } from "../../src/errors.js";
import { ConversationKind } from "../../src/gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../../src/gen/imwire/v1/error_pb.js";
import type { Frame } from "../../src/gen/imwire/v1/frame_pb.js";
import { ClientMachine } from "../../src/machines/client/client-machine.js";
import type { ClientEvent } from "../../src/machines/client/types.js";
import { startReferenceServer, type ReferenceServer } from "../../src/server/reference-server.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { connectWebSocket } from "../../src/transport/browser-websocket.js";
import type { FrameTransport } from "../../src/transport/frame-transport.js";

/**
 * The portable WebSocket transport, driven here with ws's WebSocket class,
 * which has the WHATWG API a browser's has (the headless-Chromium test runs
 * the same module in a page).
 */

const SECRET = "test-secret";
const silent = { info: () => {}, warn: () => {}, error: () => {} };
const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function waitFor<T>(what: string, poll: () => T | undefined, timeoutMs = 5_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const look = () => {
      const found = poll();
      if (found !== undefined) return resolve(found);
      if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(look, 5);
    };
    look();
  });
}

function device(url: string, userId: string, deviceId: string) {
  const events: ClientEvent[] = [];
  let ids = 0;
  const machine = new ClientMachine(
    { deviceId },
    { token: () => issueToken({ userId, deviceId, expiresAtMs: 0 }, SECRET), random: Math.random, newId: () => `${deviceId}-${++ids}` },
  );
  const driver = new ClientDriver(machine, { connect: () => connectWebSocket(url, { WebSocket }), onEvent: (event) => events.push(event) });
  cleanups.push(() => driver.stop());
  driver.start();
  const next = (what: string, match: (e: ClientEvent) => boolean) => waitFor(what, () => events.find(match));
  return { driver, events, next };
}

/** A bare WebSocket peer that agrees to imwire.v1 and does what a test tells it, recording how the client closed. */
async function testPeer(options: { selectProtocol?: boolean } = {}) {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: (protocols) => (options.selectProtocol === false ? false : protocols.has("imwire.v1") ? "imwire.v1" : false) });
  await once(server, "listening");
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  const sockets: WebSocket[] = [];
  const closeCodes: number[] = [];
  server.on("connection", (socket) => {
    sockets.push(socket);
    socket.on("close", (code) => closeCodes.push(code));
  });
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, sockets, closeCodes, socket: () => waitFor("the client's connection", () => sockets[0]) };
}

/** A transport with its reports recorded. */
async function recorded(url: string, maxFrameSize?: number) {
  const transport = await connectWebSocket(url, { WebSocket, ...(maxFrameSize === undefined ? {} : { maxFrameSize }) });
  cleanups.push(() => transport.destroy());
  const frames: Frame[] = [];
  const errors: ImwireError[] = [];
  let closed = 0;
  transport.onFrame = (received) => frames.push(received);
  transport.onInputError = (error) => errors.push(error);
  transport.onClose = () => closed++;
  return { transport, frames, errors, closed: () => closed };
}

/**
 * A WebSocket that behaves as a browser's where ws does not: it opens with
 * whatever protocol the test says (WHATWG opens with "" when the server
 * selects none), and close() accepts only 1000 and 3000 to 4999.
 */
class BrowserLikeSocket {
  static readonly created: BrowserLikeSocket[] = [];
  readonly closes: number[] = [];
  agree = false;
  binaryType = "blob";
  readyState = 0;
  readonly bufferedAmount = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;

  constructor(
    readonly url: string,
    readonly protocols?: string | string[],
  ) {
    BrowserLikeSocket.created.push(this);
    setTimeout(() => {
      this.readyState = 1;
      this.onopen?.({});
    }, 1);
  }

  get protocol(): string {
    return this.agree ? "imwire.v1" : "";
  }

  send(): void {}

  close(code = 1000): void {
    if (code !== 1000 && (code < 3000 || code > 4999)) throw new Error(`InvalidAccessError: close code ${code}`);
    this.closes.push(code);
    this.readyState = 3;
  }
}

const ping = (nonce: bigint) => encodeFrame(frame({ body: { case: "ping", value: { nonce } } }));

describe("the browser WebSocket transport against the reference server", () => {
  it("WS-1 WS-2: two devices on ClientDriver exchange a message", async () => {
    const server: ReferenceServer = await startReferenceServer({ ws: { host: "127.0.0.1", port: 0 }, store: new MemoryStore(), secret: SECRET, log: silent });
    cleanups.push(() => server.close());
    const url = server.urls.ws!;
    const alice = device(url, "alice", "phone");
    const bob = device(url, "bob", "laptop");
    for (const d of [alice, bob]) await d.next("ready", (e) => e.kind === "status" && e.status === "ready");
    const opened = alice.driver.act((m, now) => m.open({ kind: ConversationKind.DIRECT, userIds: ["bob"] }, now));
    const done = await alice.next("the conversation", (e) => e.kind === "done" && e.operationId === opened);
    const conversationId = done.kind === "done" && done.answer.case === "conversationOpened" ? done.answer.value.conversation!.conversationId : "";
    const sent = alice.driver.act((m, now) => m.send(conversationId, { kind: { case: "text", value: { text: "hello from a browser" } } }, now));
    const got = await bob.next("the message", (e) => e.kind === "event" && e.event.body.case === "message");
    expect(got.kind === "event" && got.event.body.case === "message" && got.event.body.value.content?.kind.value).toMatchObject({ text: "hello from a browser" });
    await alice.next("the ack", (e) => e.kind === "sent" && e.clientMessageId === sent);
  });

  it("FRM-5: the limit in force is 65,536 until welcome, then the server's max_frame_size, both ways (FRM-9 on send)", async () => {
    const server: ReferenceServer = await startReferenceServer({ ws: { host: "127.0.0.1", port: 0 }, store: new MemoryStore(), secret: SECRET, log: silent });
    cleanups.push(() => server.close());
    const { transport, frames } = await recorded(server.urls.ws!);
    expect(transport.description).toMatch(/^ws 127\.0\.0\.1:\d+/);
    const oversize = frame({ requestId: 1, body: { case: "hello", value: { versions: [1], deviceId: "d", userAgent: "x".repeat(70_000) } } });
    expect(() => transport.send(oversize)).toThrow(expect.objectContaining({ code: ErrorCode.FRAME_TOO_LARGE, requirement: "FRM-9" }));
    transport.send(frame({ requestId: 1, body: { case: "hello", value: { versions: [1], deviceId: "d" } } }));
    const welcome = await waitFor("welcome", () => frames.find((f) => f.body.case === "welcome"));
    expect(welcome.body.case === "welcome" && welcome.body.value.maxFrameSize).toBeGreaterThan(65_536);
    expect(transport.flushedBytes).toBeGreaterThan(0);
    expect(transport.bufferedAmount).toBe(0);
  });
});

describe("the browser WebSocket transport's typed errors", () => {
  it("WS-3: a text message is MALFORMED_FRAME, and the client closes with 1003", async () => {
    const peer = await testPeer();
    const client = await recorded(peer.url);
    (await peer.socket()).send("hello?");
    const error = await waitFor("an input error", () => client.errors[0]);
    expect(error).toMatchObject({ code: ErrorCode.MALFORMED_FRAME, requirement: "WS-3" });
    expect(isImwireError(error)).toBe(true);
    expect(await waitFor("the close", () => peer.closeCodes[0])).toBe(1003);
    await waitFor("onClose", () => (client.closed() === 1 ? true : undefined));
  });

  it("WS-4: a message over the limit in force is FRAME_TOO_LARGE, not decoded, and the client closes with 1009; nothing after it is read", async () => {
    const peer = await testPeer();
    const client = await recorded(peer.url);
    client.transport.setMaxFrameSize(100);
    const socket = await peer.socket();
    socket.send(ping(1n));
    socket.send(new Uint8Array(101));
    socket.send(ping(2n));
    const error = await waitFor("an input error", () => client.errors[0]);
    expect(error).toMatchObject({ code: ErrorCode.FRAME_TOO_LARGE, requirement: "WS-4" });
    expect(await waitFor("the close", () => peer.closeCodes[0])).toBe(1009);
    expect(client.frames.map((f) => f.body.case === "ping" && f.body.value.nonce)).toEqual([1n]);
    expect(client.errors).toHaveLength(1);
  });

  it("ENV-3: an undecodable binary message is reported, and closing is left to the owner", async () => {
    const peer = await testPeer();
    const client = await recorded(peer.url);
    const socket = await peer.socket();
    socket.send(new Uint8Array([0xff, 0xff, 0xff]));
    socket.send(ping(3n));
    await waitFor("the ping after it", () => client.frames[0]);
    expect(client.errors).toEqual([expect.objectContaining({ code: ErrorCode.MALFORMED_FRAME })]);
    expect(peer.closeCodes).toEqual([]);
  });

  it("FLOW-3: while paused nothing is handed over; resuming hands over what arrived, in order", async () => {
    const peer = await testPeer();
    const client = await recorded(peer.url);
    client.transport.pauseReading();
    const socket = await peer.socket();
    for (const nonce of [1n, 2n, 3n]) socket.send(ping(nonce));
    socket.send("text while paused");
    // The client's pong says it has read everything sent before the ping.
    const pong = once(socket, "pong");
    socket.ping();
    await pong;
    expect(client.frames).toEqual([]);
    expect(client.errors).toEqual([]);
    client.transport.resumeReading();
    expect(client.frames.map((f) => f.body.case === "ping" && f.body.value.nonce)).toEqual([1n, 2n, 3n]);
    expect(client.errors).toEqual([expect.objectContaining({ requirement: "WS-3" })]);
  });

  it("WS-1: a socket that opens without imwire.v1 fails the connection with PROTOCOL_VIOLATION, closing with 1002 or, where the API forbids that code, 1000", async () => {
    // ws itself fails such a handshake before open; a browser opens it with protocol "", as this socket does.
    BrowserLikeSocket.created.length = 0;
    const failure = connectWebSocket("ws://127.0.0.1:1/", { WebSocket: BrowserLikeSocket });
    await expect(failure).rejects.toMatchObject({ name: "ImwireError", code: ErrorCode.PROTOCOL_VIOLATION, requirement: "WS-1" });
    expect(BrowserLikeSocket.created[0]!.protocols).toEqual(["imwire.v1"]);
    expect(BrowserLikeSocket.created[0]!.closes).toEqual([1000]);
  });

  it("WS-3 in a browser: close(1003) is refused by the WHATWG API, so the transport closes with 1000 after the report", async () => {
    BrowserLikeSocket.created.length = 0;
    const opening = connectWebSocket("ws://127.0.0.1:1/", { WebSocket: BrowserLikeSocket });
    BrowserLikeSocket.created[0]!.agree = true;
    const transport = await opening;
    expect(BrowserLikeSocket.created[0]!.binaryType).toBe("arraybuffer");
    const errors: ImwireError[] = [];
    transport.onInputError = (error) => errors.push(error);
    BrowserLikeSocket.created[0]!.onmessage?.({ data: "text" });
    expect(errors).toEqual([expect.objectContaining({ code: ErrorCode.MALFORMED_FRAME, requirement: "WS-3" })]);
    expect(BrowserLikeSocket.created[0]!.closes).toEqual([1000]);
  });

  it("a server that is not there: UNAVAILABLE; an address the WebSocket refuses: INVALID_ARGUMENT", async () => {
    const unused = createServer();
    await new Promise<void>((resolve) => unused.listen(0, "127.0.0.1", resolve));
    const { port } = unused.address() as AddressInfo;
    await new Promise((resolve) => unused.close(resolve));
    await expect(connectWebSocket(`ws://127.0.0.1:${port}`, { WebSocket })).rejects.toMatchObject({ name: "ImwireError", code: ErrorCode.UNAVAILABLE });
    await expect(connectWebSocket("not a url", { WebSocket })).rejects.toMatchObject({ name: "ImwireError", code: ErrorCode.INVALID_ARGUMENT });
  });
});

