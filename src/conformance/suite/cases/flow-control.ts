import { create } from "@bufbuild/protobuf";
import { connect as connectTcp, type Socket } from "node:net";
import { connect as connectTls } from "node:tls";
import { ConversationKind } from "../../../gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import { FrameSchema, type Frame } from "../../../gen/imwire/v1/frame_pb.js";
import type { Welcome } from "../../../gen/imwire/v1/connection_pb.js";
import { decodeFrame } from "../../../codec/frame-codec.js";
import { encodeFramed } from "../../../framing/frame-stream.js";
import { FrameSplitter } from "../../../framing/frame-splitter.js";
import { MAX_MAX_FRAME_SIZE } from "../../../limits.js";
import type { TestContext } from "../context.js";
import { describe, type FrameBody } from "../scripted-connection.js";
import { Unsupported, Violation, type ConformanceTest } from "../types.js";
import { send, text, users } from "./helpers.js";

/**
 * A connection to a byte-stream target whose reading the test controls: a
 * peer that does not read (FLOW-3) is one whose socket is paused, so that
 * what the server writes stays in the network. The scripted connections read
 * everything as it comes, so these tests bring their own.
 */
class UnreadStream {
  readonly frames: Frame[] = [];
  readonly #splitter = new FrameSplitter({ maxFrameSize: MAX_MAX_FRAME_SIZE });
  #closed = false;
  #closedAt = 0;
  #waiters: (() => void)[] = [];
  #nextId = 1;
  invalid = "";

  private constructor(
    readonly socket: Socket,
    readonly t: TestContext,
    readonly name: string,
  ) {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.#receive(chunk));
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      this.#closed = true;
      this.#closedAt = Date.now();
      t.transcript.note(name, "!", `closed (${this.frames.length} frames received)`);
      this.#wake();
    });
  }

  static async open(t: TestContext, name: string): Promise<UnreadStream> {
    const url = new URL(t.target.url);
    if (url.protocol !== "tcp:" && url.protocol !== "tls:") throw new Unsupported("a byte-stream target (tcp:// or tls://) is needed to stop reading");
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(url.port);
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s: Socket = url.protocol === "tls:" ? connectTls({ host, port, servername: host, ...t.target.dial.tls }, () => resolve(s)) : connectTcp({ host, port }, () => resolve(s));
      s.once("error", reject);
    });
    t.transcript.note(name, "!", `connected to ${t.target.url} (its reading controlled by the test)`);
    return new UnreadStream(socket, t, name);
  }

  /** hello and authenticate as `userId` (no delivery position: no pushes come, SYNC-5). */
  async login(userId: string, deviceId: string): Promise<Welcome> {
    const hello = this.send({ case: "hello", value: { versions: [1], deviceId } });
    const welcome = this.t.answerOf(await this.next((f) => f.requestId === hello, "welcome"), "welcome", "CONN-2");
    const token = await this.t.token(userId, deviceId);
    const auth = this.send({ case: "authenticate", value: { token } });
    this.t.answerOf(await this.next((f) => f.requestId === auth, "authenticated"), "authenticated", "AUTH-1");
    return welcome;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get closedAt(): number {
    return this.#closedAt;
  }

  send(body: FrameBody, requestId = this.#nextId++, quiet = false): number {
    if (this.#closed || this.socket.destroyed) return requestId;
    const frame = create(FrameSchema, { requestId, body });
    if (!quiet) this.t.transcript.note(this.name, "→", describe(frame));
    this.socket.write(encodeFramed(frame, { validate: false }));
    return requestId;
  }

  ping(): void {
    this.send({ case: "ping", value: {} }, 0, true);
  }

  pause(): void {
    this.t.transcript.note(this.name, "!", "stops reading");
    this.socket.pause();
  }

  resume(): void {
    this.t.transcript.note(this.name, "!", "reads again");
    this.socket.resume();
  }

  /** The first frame received that matches, waiting up to the test's timeout. */
  async next(match: (frame: Frame) => boolean, what: string, timeoutMs = this.t.timeoutMs): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.frames.findIndex(match);
      if (index >= 0) return this.frames.splice(index, 1)[0]!;
      if (this.#closed || Date.now() >= deadline) throw new Violation(`nothing acceptable arrived within ${timeoutMs} ms`, [what], this.#closed ? "the connection closed" : "nothing");
      await this.#wait(deadline - Date.now());
    }
  }

  /** Wait until the connection closes; false if it is still open after `timeoutMs`. */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed && Date.now() < deadline) await this.#wait(deadline - Date.now());
    return this.#closed;
  }

  close(): void {
    this.socket.destroy();
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(1, ms));
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  #receive(chunk: Buffer): void {
    this.#splitter.push(chunk);
    for (;;) {
      let payload: Uint8Array | undefined;
      try {
        payload = this.#splitter.next();
        if (payload === undefined) break;
        this.frames.push(decodeFrame(payload.slice()));
      } catch (error) {
        this.invalid = `not a valid frame from the server: ${(error as Error).message}`;
        this.socket.destroy();
        break;
      }
    }
    this.#wake();
  }
}

/**
 * A direct conversation of `a` with `peer` holding messages of about 45% of
 * max_frame_size each, so that a page of it (SYNC-2 bounds a page to the
 * frame) is nearly max_frame_size: each request for it asks for a frame's worth.
 */
async function fullPages(t: TestContext, peer: string): Promise<string> {
  const [a] = await users(t, "a");
  const opened = await t.ask(a!, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: [peer] } }, "conversationOpened", "CONV-2");
  const id = opened.conversation!.conversationId;
  const bytes = Math.floor(0.45 * a!.welcome.maxFrameSize);
  for (let i = 0; i < 6; i++) await send(t, a!, id, text(`${i} `.padEnd(bytes, "·")));
  return id;
}

/** Peer "b", logged in on a connection whose reading the test controls, and a conversation of full pages it may ask for. */
async function unreadPeerWithFullPages(t: TestContext): Promise<{ b: UnreadStream; welcome: Welcome; id: string }> {
  const b = await UnreadStream.open(t, "b");
  try {
    const welcome = await b.login(t.user("b"), "d1");
    return { b, welcome, id: await fullPages(t, t.user("b")) };
  } catch (error) {
    b.close();
    throw error;
  }
}

const pageRequest = (conversationId: string): FrameBody => ({ case: "syncConversation", value: { conversationId, limit: 1_000 } });

export const flowControlTests: ConformanceTest[] = [
  {
    id: "FLOW-3/a-peer-that-never-reads-is-not-read-and-closed-by-HB-3",
    requirements: ["FLOW-3", "HB-3"],
    level: "required",
    group: "framing-stream",
    title:
      "a peer that never reads but keeps asking for full pages (up to 512: ~29 MiB of answers at 64 KiB frames, more than FLOW-3's largest bound, 16 MiB or 8 × max_frame_size, with the kernel's buffers) and pinging is no longer read once the server holds its bound of output: its pings go unread and HB-3 closes it",
    async run(t) {
      const { b, welcome, id } = await unreadPeerWithFullPages(t);
      try {
        const interval = welcome.heartbeatIntervalMs;
        b.pause();
        // 400 requests a second, under the reference server's FLOW-4 rate; pings all along (HB-1), which only a server still reading sees.
        let asked = 0;
        const flood = setInterval(() => {
          for (let i = 0; i < 16 && asked < 512; i++, asked++) b.send(pageRequest(id), undefined, asked > 3);
          b.ping();
        }, 40);
        // The server stops reading within its bound (plus the kernel's buffers); then it must close the peer 1.5 intervals later.
        const slack = Math.max(1_000, 0.25 * interval);
        await new Promise((resolve) => setTimeout(resolve, 1.5 * interval + slack + 1_000));
        clearInterval(flood);
        t.transcript.note("b", "!", `asked for ${asked} pages without reading`);
        // A server slowed by other work reaches its bound later: still not reading, and still pinging (a write to a
        // connection the server cut fails, which is how a paused peer sees the close), give it two more periods.
        const stillPinging = setInterval(() => b.ping(), Math.max(100, 0.3 * interval));
        const patience = Date.now() + 2 * (1.5 * interval + slack);
        while (!b.closed && Date.now() < patience) await new Promise((resolve) => setTimeout(resolve, 100));
        clearInterval(stillPinging);
        const pinging = setInterval(() => b.ping(), Math.max(100, 0.3 * interval));
        b.resume();
        const closed = await b.waitClosed(Math.max(t.timeoutMs, 1.5 * interval + slack)).finally(() => clearInterval(pinging));
        if (b.invalid) throw new Violation(`ENV-3: ${b.invalid}`, ["valid frames only"], b.invalid);
        const answers = b.frames.filter((f) => f.body.case === "conversationPage").length;
        if (!closed) {
          throw new Violation(
            "FLOW-3: a peer that does not read must not be read: its pings wait unread and HB-3 closes it",
            [`closed with ERROR_CODE_TIMEOUT while not reading`],
            `still open, ${answers} of ${asked} requests answered and its pings read`,
          );
        }
        const error = b.frames.find((f) => f.body.case === "error");
        if (error) t.expectError(error, [ErrorCode.TIMEOUT], "HB-3", true);
      } finally {
        b.close();
      }
    },
  },
  {
    id: "FLOW-3/a-peer-that-reads-again-is-read-again",
    requirements: ["FLOW-3", "FLOW-1", "ENV-2"],
    level: "required",
    group: "framing-stream",
    title: "max_in_flight requests for full pages written while not reading, then read: every one is answered (the server reads again once its output drains), and the connection goes on",
    async run(t) {
      const { b, welcome, id } = await unreadPeerWithFullPages(t);
      try {
        const interval = welcome.heartbeatIntervalMs;
        const count = Math.min(welcome.maxInFlight, 200);
        b.pause();
        const ids: number[] = [];
        for (let i = 0; i < count; i++) ids.push(b.send(pageRequest(id), undefined, i > 3));
        // Long enough for the server to find its output not draining, short of HB-3.
        await new Promise((resolve) => setTimeout(resolve, Math.min(400, 0.4 * interval)));
        const pinging = setInterval(() => b.ping(), Math.max(100, 0.3 * interval));
        b.resume();
        try {
          for (const requestId of ids) {
            const answer = await b.next((f) => f.requestId === requestId, `the answer to #${requestId}`).catch((error: unknown) => {
              const answered = ids.filter((r) => r < requestId).length;
              throw new Violation(`FLOW-3: a peer that reads again is read again (${(error as Error).message})`, [`answers to all ${count} requests`], `${answered} answered, then ${b.closed ? "the connection closed" : "nothing"}`);
            });
            t.answerOf(answer, "conversationPage", "ENV-2");
          }
          const after = b.send({ case: "syncUser", value: {} });
          t.answerOf(await b.next((f) => f.requestId === after, "user_page"), "userPage", "FLOW-3");
        } finally {
          clearInterval(pinging);
        }
        if (b.invalid) throw new Violation(`ENV-3: ${b.invalid}`, ["valid frames only"], b.invalid);
      } finally {
        b.close();
      }
    },
  },
  {
    id: "CONN-6/stalled-websocket-upgrade",
    requirements: ["CONN-6", "WS-1"],
    level: "required",
    group: "websocket",
    title: "an HTTP upgrade request dribbled in one header line at a time and never finished is cut by the handshake timeout, as a silent WebSocket connection is",
    async run(t) {
      const url = new URL(t.target.url);
      const host = url.hostname.replace(/^\[|\]$/g, "");
      const port = Number(url.port);
      const started = Date.now();
      const raw = await new Promise<Socket>((resolve, reject) => {
        const s: Socket = url.protocol === "wss:" ? connectTls({ host, port, servername: host, ...t.target.dial.tls }, () => resolve(s)) : connectTcp({ host, port }, () => resolve(s));
        s.once("error", reject);
      });
      let rawClosedAt = 0;
      raw.on("error", () => raw.destroy());
      raw.on("data", () => {});
      raw.on("close", () => (rawClosedAt = Date.now()));
      t.transcript.note("upgrade", "!", "connected; writes an upgrade request one header line every 250 ms, never ending it");
      raw.write(`GET ${url.pathname || "/"} HTTP/1.1\r\nHost: ${url.host}\r\n`);
      let line = 0;
      const dribble = setInterval(() => {
        if (!raw.destroyed) raw.write(`X-Dribble-${++line}: 1\r\n`);
      }, 250);
      try {
        // The handshake timeout, as a connection that upgrades and then sends nothing shows it.
        const silent = await t.open();
        if (!(await silent.waitClosed(60_000))) throw new Violation("CONN-6: a connection that never completes the handshake is closed", ["closed within 60 s (RECOMMENDED timeout: 10 s)"], "still open after 60 s");
        const timeout = Date.now() - started;
        const slack = Math.max(1_000, 0.25 * timeout);
        const deadline = started + timeout + slack;
        while (rawClosedAt === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
        if (rawClosedAt === 0) {
          throw new Violation(
            "CONN-6: the HTTP upgrade counts against the handshake timeout: a peer dribbling its upgrade request is cut as any other that stalls before hello",
            [`closed within ${timeout} ms (the handshake timeout a silent connection saw) + ${slack} ms`],
            `still open after ${Date.now() - started} ms`,
          );
        }
      } finally {
        clearInterval(dribble);
        raw.destroy();
      }
    },
  },
  {
    id: "FLOW-4/rate-limited-requests",
    requirements: ["FLOW-4", "ERR-2", "ENV-2"],
    level: "required",
    group: "flow-control",
    title:
      "requests as fast as max_in_flight allows, up to 12,000 or 8 s: a server that limits them (a MAY) answers each one over its limit RATE_LIMITED, not closing, with retry_after_ms of at least 1, and the connection goes on",
    async run(t) {
      const [a] = await users(t, "a");
      const batch = Math.min(a!.welcome.maxInFlight, 100);
      const deadline = Date.now() + 8_000;
      let sent = 0;
      let limited: Frame | undefined;
      while (limited === undefined && sent < 12_000 && Date.now() < deadline) {
        const ids = a!.conn.sendTogether(Array.from({ length: batch }, () => ({ case: "syncUser", value: { limit: 1 } }) as FrameBody));
        sent += batch;
        for (const id of ids) {
          const answer = await t.nextOrViolation(a!.conn, (f) => f.requestId === id, "ENV-2", [`the answer to #${id}`]);
          if (answer.body.case === "error" && answer.body.value.code === ErrorCode.RATE_LIMITED) limited ??= answer;
          else if (answer.body.case === "error") t.expectError(answer, [ErrorCode.RATE_LIMITED], "FLOW-4", false);
        }
      }
      if (limited === undefined) return `no request rate limited in ${sent} requests (FLOW-4 is a MAY)`;
      t.expectError(limited, [ErrorCode.RATE_LIMITED], "FLOW-4", false);
      const wait = limited.body.case === "error" ? limited.body.value.retryAfterMs : 0;
      if (!(wait >= 1)) throw new Violation("FLOW-4: RATE_LIMITED carries retry_after_ms of at least 1", ["retry_after_ms >= 1"], `retry_after_ms ${wait}`);
      // Not closing: once retry_after_ms has passed, the connection goes on.
      await new Promise((resolve) => setTimeout(resolve, Math.min(wait, 10_000) + 50));
      const answer = await a!.conn.request({ case: "syncUser", value: { limit: 1 } }, t.timeoutMs);
      if (answer.body.case === "error") t.expectError(answer, [ErrorCode.RATE_LIMITED], "FLOW-4", false);
      return `rate limited after ${sent - batch} to ${sent} requests; retry_after_ms ${wait}`;
    },
  },
];
