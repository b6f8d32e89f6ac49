import { connect as connectTcp, isIP, type Socket } from "node:net";
import { connect as connectTls } from "node:tls";
import { create, toJsonString, type MessageInitShape } from "@bufbuild/protobuf";
import WebSocket from "ws";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import { FrameSchema, type Frame } from "../../gen/imwire/v1/frame_pb.js";
import { decodeFrame, encodeFrame, parseFrame } from "../../codec/frame-codec.js";
import { FrameSplitter } from "../../framing/frame-splitter.js";
import { withLengthPrefix } from "../../framing/length-prefix.js";
import { isImwireError } from "../../errors.js";
import { MAX_MAX_FRAME_SIZE, WEBSOCKET_SUBPROTOCOL } from "../../limits.js";
import type { DialOptions } from "../../transport/dial.js";
import type { Ledger } from "./ledger.js";
import { Referee } from "./referee.js";

export type FrameBody = NonNullable<MessageInitShape<typeof FrameSchema>["body"]>;

/** One line of what crossed a connection, for failure reports. */
export interface TranscriptEntry {
  /** Milliseconds since the run started. */
  readonly at: number;
  readonly connection: string;
  readonly direction: "→" | "←" | "!";
  readonly text: string;
}

export class Transcript {
  readonly entries: TranscriptEntry[] = [];
  readonly #start = Date.now();

  note(connection: string, direction: TranscriptEntry["direction"], text: string): void {
    this.entries.push({ at: Date.now() - this.#start, connection, direction, text });
  }
}

/** Something the test waited for did not come. */
export class Timeout extends Error {
  override readonly name = "Timeout";
}

interface Waiter {
  readonly match: (frame: Frame) => boolean;
  readonly resolve: (frame: Frame) => void;
}

/**
 * A low-level client for black-box tests: sends exactly the frames (or
 * bytes) a test scripts, records everything in a transcript, and lets the
 * test wait for frames that match. It answers pings by itself (HB-2) and
 * nothing else. Frames it cannot read are recorded and counted as a failure
 * of the server (the server must only send valid frames).
 */
export class ScriptedConnection {
  readonly name: string;
  readonly #transcript: Transcript;
  readonly #tcp: Socket | undefined;
  readonly #ws: WebSocket | undefined;
  readonly #splitter = new FrameSplitter({ maxFrameSize: MAX_MAX_FRAME_SIZE });
  readonly #inbox: Frame[] = [];
  readonly #waiters: Waiter[] = [];
  readonly #closeWaiters: (() => void)[] = [];
  #nextRequestId = 1;
  #closed = false;
  #closeCode: number | undefined;
  #keepAlive: NodeJS.Timeout | undefined;
  #lastAcked = -1n;
  /** Acknowledge every push on arrival, as a device that applies them at once would (ACK-1). */
  autoAck = false;
  /** Frames from the server that were not valid frames: always a server failure. */
  readonly invalid: string[] = [];
  /** Checks every frame against the rules that hold whatever the test (answers, errors, sizes, links, pages). */
  readonly referee: Referee;
  readonly #payloadSizes = new WeakMap<Frame, number>();

  private constructor(name: string, transcript: Transcript, tcp: Socket | undefined, ws: WebSocket | undefined, ledger: Ledger | undefined) {
    this.name = name;
    this.referee = new Referee(ledger, name);
    this.#transcript = transcript;
    this.#tcp = tcp;
    this.#ws = ws;
    if (tcp) {
      tcp.on("data", (chunk: Buffer) => this.#receiveBytes(chunk));
      tcp.on("close", () => this.#onClose());
      tcp.on("error", () => tcp.destroy());
    }
    if (ws) {
      ws.on("message", (data, isBinary) => {
        if (!isBinary) this.#invalid("a text WebSocket message");
        else this.#receivePayload(new Uint8Array(data as Buffer));
      });
      ws.on("close", (code) => {
        this.#closeCode = code;
        this.#onClose();
      });
      ws.on("error", () => ws.terminate());
    }
  }

  /** Connect to `url`; `ledger`, when given, checks what arrives against the test's other connections. */
  static async open(url: string, name: string, transcript: Transcript, options: DialOptions = {}, ledger?: Ledger): Promise<ScriptedConnection> {
    const target = new URL(url);
    const timeoutMs = options.timeoutMs ?? 10_000;
    if (target.protocol === "tcp:" || target.protocol === "tls:") {
      const host = target.hostname.replace(/^\[|\]$/g, "");
      const port = Number(target.port);
      const socket = await new Promise<Socket>((resolve, reject) => {
        const s: Socket =
          target.protocol === "tls:"
            ? connectTls({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}), ...options.tls }, () => resolve(s))
            : connectTcp({ host, port }, () => resolve(s));
        s.once("error", reject);
        s.setTimeout(timeoutMs, () => s.destroy(new Error(`no connection to ${url} within ${timeoutMs} ms`)));
      });
      socket.setTimeout(0);
      socket.setNoDelay(true);
      transcript.note(name, "!", `connected to ${url}`);
      return new ScriptedConnection(name, transcript, socket, undefined, ledger);
    }
    const ws = new WebSocket(url, [WEBSOCKET_SUBPROTOCOL], { maxPayload: MAX_MAX_FRAME_SIZE, handshakeTimeout: timeoutMs, ...(target.protocol === "wss:" ? options.tls : {}) });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode} to the WebSocket handshake`)));
    });
    transcript.note(name, "!", `connected to ${url} (subprotocol ${ws.protocol || "none"})`);
    return new ScriptedConnection(name, transcript, undefined, ws, ledger);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The WebSocket close code the connection ended with (1006 when it ended without a close frame); undefined on TCP or while open. */
  get closeCode(): number | undefined {
    return this.#closeCode;
  }

  /** The WebSocket subprotocol the server chose, when this is a WebSocket connection. */
  get subprotocol(): string | undefined {
    return this.#ws?.protocol;
  }

  /** Send a frame; returns its request id (one is assigned when not given, unless `requestId` is 0). */
  send(body: FrameBody, requestId?: number): number {
    const id = requestId ?? this.#nextRequestId++;
    const frame = create(FrameSchema, { requestId: id, body });
    this.#transcript.note(this.name, "→", describe(frame));
    if (!this.#closed) this.referee.sent(frame);
    this.#writePayload(encodeFrame(frame, { validate: false }));
    return id;
  }

  /**
   * Send frames in one write (one TCP segment on loopback, or WebSocket
   * messages corked into one), so that they arrive together; returns their
   * request ids. `requestIds[i]`, when given, is frame i's id (0 for a notice).
   */
  sendTogether(bodies: readonly FrameBody[], requestIds: readonly (number | undefined)[] = []): number[] {
    const frames = bodies.map((body, i) => create(FrameSchema, { requestId: requestIds[i] ?? this.#nextRequestId++, body }));
    this.#transcript.note(this.name, "→", `${frames.length} frames in one write: ${frames.slice(0, 3).map(describe).join(" | ")}${frames.length > 3 ? " | …" : ""}`);
    if (this.#closed) return frames.map((f) => f.requestId);
    for (const frame of frames) this.referee.sent(frame);
    if (this.#tcp) {
      this.#tcp.write(Buffer.concat(frames.map((f) => encodeFrame(f, { validate: false, prefixed: true }))));
    } else {
      const socket = (this.#ws as unknown as { _socket: Socket })._socket;
      socket.cork();
      for (const frame of frames) this.#ws!.send(encodeFrame(frame, { validate: false }), { binary: true });
      process.nextTick(() => socket.uncork());
    }
    return frames.map((f) => f.requestId);
  }

  /** Send a request and wait for its answer (ENV-2). */
  async request(body: FrameBody, timeoutMs: number): Promise<Frame> {
    const id = this.send(body);
    return this.next((f) => f.requestId === id && f.body.case !== "deliver", timeoutMs, `the answer to ${body.case} #${id}`);
  }

  /** Bytes exactly as given: on TCP/TLS onto the stream, on WebSocket as one binary message. */
  writeRaw(bytes: Uint8Array, label: string): void {
    this.#transcript.note(this.name, "→", `${label} (${bytes.length} raw bytes: ${hexPreview(bytes)})`);
    const frames = readableFrames(bytes, this.#tcp !== undefined);
    if (frames) for (const frame of frames) this.referee.sent(frame);
    else this.referee.wroteRaw();
    if (this.#tcp) this.#tcp.write(bytes);
    else this.#ws!.send(bytes, { binary: true });
  }

  /** A frame written a byte at a time (FRM-3), on byte streams only. */
  writeInPieces(body: FrameBody, pieceSize: number): number {
    const id = this.#nextRequestId++;
    const frame = create(FrameSchema, { requestId: id, body });
    this.#transcript.note(this.name, "→", `${describe(frame)} in ${pieceSize}-byte pieces`);
    this.referee.sent(frame);
    const wire = withLengthPrefix(encodeFrame(frame));
    for (let i = 0; i < wire.length; i += pieceSize) this.#tcp!.write(wire.subarray(i, i + pieceSize));
    return id;
  }

  /** Pings from the server, answered on arrival (HB-2, HB-5). */
  pingsReceived = 0;

  /** Frames written while writeSlowly is under way, sent after its frame. */
  #held: Uint8Array[] | undefined;

  /** A frame written in `pieces` pieces spread evenly over `spanMs` (HB-3, HB-5: a slow link), on byte streams only. */
  async writeSlowly(body: FrameBody, pieces: number, spanMs: number): Promise<number> {
    const id = this.#nextRequestId++;
    const frame = create(FrameSchema, { requestId: id, body });
    this.#transcript.note(this.name, "→", `${describe(frame)} in ${pieces} pieces over ${spanMs} ms`);
    this.referee.sent(frame);
    const wire = withLengthPrefix(encodeFrame(frame));
    const size = Math.ceil(wire.length / pieces);
    this.#held = [];
    try {
      for (let i = 0; i < wire.length && !this.#closed; i += size) {
        this.#tcp!.write(wire.subarray(i, i + size));
        if (i + size < wire.length) await new Promise((resolve) => setTimeout(resolve, spanMs / pieces));
      }
    } finally {
      const held = this.#held;
      this.#held = undefined;
      if (!this.#closed) for (const bytes of held) this.#tcp!.write(bytes);
    }
    return id;
  }

  /** A text message, on WebSocket only (WS-3). */
  writeText(text: string): void {
    this.#transcript.note(this.name, "→", `text message ${JSON.stringify(text)}`);
    this.referee.wroteRaw();
    this.#ws!.send(text);
  }

  /** A WebSocket ping control frame, on WebSocket only (WS-5): not an imwire ping. */
  writeWebSocketPing(): void {
    if (this.#closed) return;
    this.#transcript.note(this.name, "→", "WebSocket ping control frame");
    this.#ws!.ping();
  }

  get isWebSocket(): boolean {
    return this.#ws !== undefined;
  }

  /** The first frame received (or still to come) that matches, taken from the inbox. */
  next(match: (frame: Frame) => boolean, timeoutMs: number, what = "a frame"): Promise<Frame> {
    const index = this.#inbox.findIndex(match);
    if (index >= 0) return Promise.resolve(this.#inbox.splice(index, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve: (frame) => {
          clearTimeout(timer);
          resolve(frame);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Timeout(`${this.name}: no ${what} within ${timeoutMs} ms${this.#closed ? " (the connection is closed)" : ""}`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** The size of a received frame's payload as it came off the wire (FRM-5, SYNC-2, SYNC-7). */
  payloadSize(frame: Frame): number | undefined {
    return this.#payloadSizes.get(frame);
  }

  /** Every frame received so far and not taken. */
  drain(): Frame[] {
    return this.#inbox.splice(0);
  }

  /** Wait for the server to close the connection; false if it stays open `timeoutMs`. */
  waitClosed(timeoutMs: number): Promise<boolean> {
    if (this.#closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.#closeWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /**
   * Wait until every request sent has been answered or the connection has
   * closed; false if neither happens within `timeoutMs` (ENV-2: a server
   * answers every request exactly once unless the connection closes first).
   */
  async settled(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed && (this.referee.unanswered?.length ?? 0) > 0) {
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return true;
  }

  /** Ping every `intervalMs` from now on, as a client must (HB-1). */
  keepAlive(intervalMs: number): void {
    clearInterval(this.#keepAlive);
    this.#keepAlive = setInterval(() => this.send({ case: "ping", value: {} }, 0), intervalMs);
    this.#keepAlive.unref();
  }

  close(): void {
    clearInterval(this.#keepAlive);
    if (this.#closed) return;
    this.#transcript.note(this.name, "!", "closing");
    this.#tcp?.destroy();
    this.#ws?.terminate();
  }

  #writePayload(payload: Uint8Array): void {
    if (this.#closed) return;
    // A frame half written (writeSlowly) is finished first: pongs and acks wait behind it (HB-2).
    if (this.#held) this.#held.push(withLengthPrefix(payload));
    else if (this.#tcp) this.#tcp.write(withLengthPrefix(payload));
    else this.#ws!.send(payload, { binary: true });
  }

  #receiveBytes(chunk: Buffer): void {
    this.#splitter.push(chunk);
    for (;;) {
      let payload: Uint8Array | undefined;
      try {
        payload = this.#splitter.next();
      } catch (error) {
        if (!isImwireError(error)) throw error;
        this.#invalid(`bad framing from the server: ${error.message}`);
        this.#tcp?.destroy();
        return;
      }
      if (payload === undefined) return;
      this.#receivePayload(payload.slice());
    }
  }

  #receivePayload(payload: Uint8Array): void {
    let frame: Frame;
    try {
      frame = decodeFrame(payload);
    } catch (error) {
      if (!isImwireError(error)) throw error;
      // An error frame with an unknown code is still readable; anything else is the server's fault.
      this.#invalid(`${ErrorCode[error.code]}: ${error.message}`);
      return;
    }
    this.#payloadSizes.set(frame, payload.length);
    this.#transcript.note(this.name, "←", describe(frame));
    const fouls = this.referee.fouls.length;
    this.referee.received(frame, payload.length);
    for (const foul of this.referee.fouls.slice(fouls)) this.#transcript.note(this.name, "!", `foul ${foul.requirement}: ${foul.message}`);
    if (frame.body.case === "ping") {
      this.pingsReceived++;
      this.send({ case: "pong", value: { nonce: frame.body.value.nonce } }, 0);
      return;
    }
    if (frame.body.case === "deliver" && this.autoAck && frame.body.value.cursor > this.#lastAcked) {
      this.#lastAcked = frame.body.value.cursor;
      this.send({ case: "deliveryAck", value: { cursor: frame.body.value.cursor } }, 0);
    }
    const waiter = this.#waiters.find((w) => w.match(frame));
    if (waiter) {
      this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
      waiter.resolve(frame);
    } else {
      this.#inbox.push(frame);
    }
  }

  #invalid(description: string): void {
    this.invalid.push(description);
    this.#transcript.note(this.name, "!", `invalid input from the server: ${description}`);
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keepAlive);
    this.#transcript.note(this.name, "!", this.#closeCode === undefined ? "closed" : `closed (WebSocket close code ${this.#closeCode})`);
    for (const waiter of this.#closeWaiters.splice(0)) waiter();
  }
}

/**
 * A frame as one readable line: its canonical JSON, long bytes abbreviated,
 * and a token shown by its length only: transcripts go into failure reports
 * and CI logs, and the runner's tokens are live credentials for the server
 * under test (SEC-2 keeps them out of the server's log; the runner keeps
 * them out of its own).
 */
export function describe(frame: Frame): string {
  const json = toJsonString(FrameSchema, frame.body.case === "authenticate" && frame.body.value.token !== "" ? withoutToken(frame) : frame);
  return json.length > 400 ? `${json.slice(0, 400)}…` : json;
}

function withoutToken(frame: Frame): Frame {
  const authenticate = frame.body.value as Extract<Frame["body"], { case: "authenticate" }>["value"];
  return { ...frame, body: { case: "authenticate", value: { ...authenticate, token: `(token, ${authenticate.token.length} characters)` } } };
}

/** The whole, valid frames raw bytes hold (framed on a byte stream, one payload on WebSocket), or undefined when they are anything else. */
function readableFrames(bytes: Uint8Array, framed: boolean): Frame[] | undefined {
  try {
    if (!framed) return [parseFrame(bytes)];
    const splitter = new FrameSplitter({ maxFrameSize: MAX_MAX_FRAME_SIZE });
    splitter.push(bytes);
    const frames: Frame[] = [];
    for (let payload = splitter.next(); payload !== undefined; payload = splitter.next()) frames.push(parseFrame(payload));
    return splitter.atFrameBoundary ? frames : undefined;
  } catch {
    return undefined;
  }
}

function hexPreview(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes.subarray(0, 24)).toString("hex");
  return bytes.length > 24 ? `${hex}…` : hex;
}
