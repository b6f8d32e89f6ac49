import { connect as connectTcp, type Socket } from "node:net";
import WebSocket from "ws";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import type { Frame } from "../../gen/imwire/v1/frame_pb.js";
import { decodeFrame } from "../../codec/frame-codec.js";
import { referenceParseFrame } from "../../codec/reference-decoder.js";
import { welcomeProblem } from "../../codec/welcome.js";
import { FrameSplitter } from "../../framing/frame-splitter.js";
import { isImwireError } from "../../errors.js";
import { MAX_MAX_FRAME_SIZE, WEBSOCKET_SUBPROTOCOL } from "../../limits.js";
import { encode, nextAction, authenticateBody, helloBody, type Action, type GeneratorContext } from "./generators.js";
import { CLOSING, RETRYABLE, badPrefix, expectFrame, malformed, partialFrame, textMessage, tooLarge, type ModelContext, type Outcome } from "./model.js";
import type { Stats, Violation } from "./stats.js";
import { expectedFraming, hex, prefixed } from "./wire.js";
import { ConversationKind } from "../../gen/imwire/v1/conversation_pb.js";
import type { FrameBody } from "../suite/scripted-connection.js";

/** Timing the connection checks HB-3 and CONN-6 against, and how long it waits before calling a silence a hang. */
export interface Timing {
  readonly heartbeatMs: number;
  /** CONN-6's handshake timeout, when known (an external server's is not). */
  readonly handshakeMs: number | undefined;
  /** Added to every bound: the event loop is shared with the server when it runs in-process. */
  readonly slackMs: number;
}

interface Pending {
  readonly o: Outcome;
  readonly cls: string;
  /** The bytes it is about, turned into hex only for a report. */
  readonly bytes: Uint8Array | string;
  readonly sentAt: number;
  readonly barrier?: boolean;
  /** Anything but INTERNAL goes: a frame whose reading depends on answers not yet seen. */
  readonly lax?: boolean;
  resolved: boolean;
}

const TOLERANCE_MS = 100;
let barrierNonce = 2n ** 62n;

/**
 * One hostile connection, over TCP or WebSocket: it sends what the
 * generators make, one step at a time, and holds every frame the server
 * sends against the model's outcome for what it sent.
 */
export class HostileConnection {
  readonly name: string;
  readonly #g: GeneratorContext;
  readonly #ctx: ModelContext;
  readonly #stats: Stats;
  #timing: Timing;
  readonly #url: string;
  #tcp: Socket | undefined;
  #ws: WebSocket | undefined;
  readonly #splitter = new FrameSplitter({ maxFrameSize: MAX_MAX_FRAME_SIZE });
  readonly #pending: Pending[] = [];
  #inFlight = 0;
  #closed = false;
  #closedByUs = false;
  #closingError: ErrorCode | undefined;
  #wsCloseCode: number | undefined;
  #openedAt = 0;
  #lastCompleteFrameAt = 0;
  /** Bytes of a frame left incomplete on the stream: nothing complete can follow. */
  #partial = false;
  #wake: (() => void) | undefined;
  #lastCls = "";
  #lastBytes: Uint8Array | string = "";

  constructor(name: string, url: string, g: GeneratorContext, stats: Stats, timing: Timing) {
    this.name = name;
    this.#url = url;
    this.#g = g;
    this.#ctx = g.model;
    this.#stats = stats;
    this.#timing = timing;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get state(): string {
    return this.#ctx.state;
  }

  async open(): Promise<boolean> {
    const url = new URL(this.#url);
    // CONN-6 counts from the server's accept (over WebSocket, of the TCP connection, before the upgrade): before our connect.
    const initiated = performance.now();
    try {
      if (!this.#g.webSocket) {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = connectTcp({ host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port) }, () => resolve(s));
          s.once("error", reject);
        });
        socket.setNoDelay(true);
        socket.on("data", (chunk: Buffer) => this.#bytes(chunk));
        socket.on("error", () => socket.destroy());
        socket.on("close", () => this.#onClose());
        this.#tcp = socket;
      } else {
        const ws = new WebSocket(this.#url, [WEBSOCKET_SUBPROTOCOL], { maxPayload: MAX_MAX_FRAME_SIZE, handshakeTimeout: 10_000 });
        await new Promise<void>((resolve, reject) => {
          ws.once("open", () => resolve());
          ws.once("error", reject);
          ws.once("unexpected-response", (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
        });
        if (ws.protocol !== WEBSOCKET_SUBPROTOCOL) this.#violation("WS-1", `the server chose subprotocol ${JSON.stringify(ws.protocol)}`);
        ws.on("message", (data, isBinary) => {
          if (!isBinary) this.#violation("WS-3", "the server sent a text message");
          else this.#payload(new Uint8Array(data as Buffer));
        });
        ws.on("error", () => ws.terminate());
        ws.on("close", (code) => {
          this.#wsCloseCode = code;
          this.#onClose();
        });
        this.#ws = ws;
      }
    } catch {
      this.#stats.connectFailures++;
      this.#closed = true;
      return false;
    }
    this.#openedAt = initiated;
    this.#lastCompleteFrameAt = performance.now();
    this.#stats.connectionsOpened++;
    this.#stats.count(this.#stats.closes, "(opened)", 0);
    return true;
  }

  /** hello and authenticate done right, as most connections start (so that READY is fuzzed too). */
  async handshake(toState: "await-auth" | "ready"): Promise<void> {
    await this.#step({ kind: "frame", cls: "handshake", payload: encode(helloBody(this.#g, true), this.#g.nextRequestId()) });
    if (toState === "ready" && this.#ctx.state === "await-auth") await this.#step({ kind: "frame", cls: "handshake", payload: encode(authenticateBody(this.#g, true), this.#g.nextRequestId()) });
  }

  /** Give a ready connection something to aim at: a group with another hostile user, a channel, a one-to-one. */
  async setUp(): Promise<void> {
    const { random } = this.#g;
    const bodies: FrameBody[] = [
      { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: [this.#g.otherUser()], title: "fuzz", clientConversationId: `c-${this.#g.unique()}` } },
      { case: "openConversation", value: { kind: ConversationKind.CHANNEL, title: "fuzz", clientConversationId: `c-${this.#g.unique()}` } },
      { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: [this.#g.otherUser()] } },
    ];
    for (const body of bodies) {
      if (this.#closed || this.#ctx.state !== "ready") return;
      if (random.chance(0.6)) await this.#step({ kind: "frame", cls: "setup", payload: encode(body, this.#g.nextRequestId()) });
    }
  }

  /**
   * Run `steps` fuzzing steps while `budget()` allows, then close. A
   * connection left silent (on purpose, or inside a frame) waits for the
   * server's TIMEOUT: that wait is returned as `lingering`, so that the
   * caller can go on with other connections meanwhile.
   */
  async fuzz(steps: number, budget: () => boolean): Promise<{ lingering?: Promise<void> }> {
    for (let i = 0; i < steps && !this.#closed && budget(); i++) {
      const action = nextAction(this.#g);
      if (this.#g.webSocket && action.kind === "raw") continue;
      const settled = this.#step(action);
      if (action.kind === "silence" || this.#partial) return { lingering: settled.then(() => this.close()) };
      await settled;
    }
    this.close();
    return {};
  }

  close(): void {
    if (this.#closed) return;
    this.#closedByUs = true;
    this.#tcp?.destroy();
    this.#ws?.terminate();
  }

  /** Send one action and wait until the server has done all it must about it, or the connection has closed. */
  async #step(action: Action): Promise<void> {
    if (this.#closed) return;
    const now = performance.now();
    let written = 0;
    switch (action.kind) {
      case "frame": {
        this.#expectPayload(action.payload, action.cls);
        if (this.#tcp) this.#tcp.write(prefixed(action.payload));
        else this.#ws!.send(action.payload, { binary: true });
        written = 1;
        break;
      }
      case "burst": {
        for (const p of action.payloads) this.#expectPayload(p, action.cls);
        if (this.#tcp) this.#tcp.write(Buffer.concat(action.payloads.map((p) => prefixed(p))));
        else {
          const socket = (this.#ws as unknown as { _socket: Socket })._socket;
          socket.cork();
          for (const p of action.payloads) this.#ws!.send(p, { binary: true });
          process.nextTick(() => socket.uncork());
        }
        written = action.payloads.length;
        break;
      }
      case "text":
        this.#add(textMessage(), action.cls, "(text message)");
        this.#ws!.send("hello?");
        written = 1;
        break;
      case "raw": {
        const steps = expectedFraming(action.bytes, this.#ctx.limit);
        const h = action.bytes;
        let first = true;
        for (const s of steps) {
          if (s.kind === "frame") this.#expectPayload(s.payload, action.cls, !first);
          else if (s.kind === "bad-prefix") this.#add(badPrefix(action.cls), action.cls, h, !first);
          else if (s.kind === "too-large") this.#add(tooLarge(action.cls, false), action.cls, h, !first);
          else {
            this.#add(partialFrame(action.cls), action.cls, h);
            this.#partial = true;
          }
          first = false;
        }
        this.#tcp!.write(action.bytes);
        written = 1;
        break;
      }
      case "silence":
        written = 0;
        break;
    }
    this.#stats.frame(action.cls, Math.max(written, action.kind === "silence" ? 0 : 1));
    // HB-3: every byte received counts, whole frames or not.
    if (action.kind !== "silence") this.#lastCompleteFrameAt = now;
    const needsBarrier = this.#ctx.state !== "await-hello" && !this.#partial && action.kind !== "silence" && this.#pending.some((p) => !p.resolved && p.o.answer !== "required");
    if (needsBarrier && !this.#pending.some((p) => !p.resolved && mustClose(p.o))) {
      const nonce = barrierNonce++;
      const o = expectFrame({ requestId: 0, body: { case: "ping", value: { nonce } } } as Frame, this.#ctx);
      this.#pending.push({ o, cls: "barrier", bytes: "", sentAt: now, barrier: true, resolved: false });
      this.#writeFrame(encode({ case: "ping", value: { nonce } }, 0));
      this.#stats.frame("barrier ping");
    }
    await this.#settled(action.kind === "silence" || this.#partial);
  }

  #writeFrame(payload: Uint8Array): void {
    if (this.#tcp) this.#tcp.write(prefixed(payload));
    else this.#ws!.send(payload, { binary: true });
    this.#lastCompleteFrameAt = performance.now();
  }

  /** The model's outcome for a payload: over the limit, not a Frame, or what the frame asks for. */
  #expectPayload(payload: Uint8Array, cls: string, lax = false): void {
    const h = payload;
    if (payload.length > this.#ctx.limit) {
      this.#add(tooLarge(cls, this.#g.webSocket), cls, h, lax);
      return;
    }
    let frame: Frame;
    try {
      frame = referenceParseFrame(payload);
    } catch {
      this.#add(malformed(cls), cls, h, lax);
      return;
    }
    this.#ctx.inFlightAfterSend = this.#inFlight + 1;
    const o = expectFrame(frame, this.#ctx);
    this.#add(o, cls, h, lax);
  }

  #add(o: Outcome, cls: string, bytes: Uint8Array | string, lax = false): void {
    if (o.isRequest) this.#inFlight++;
    this.#lastCls = cls;
    this.#lastBytes = bytes;
    this.#pending.push({ o, cls, bytes, sentAt: performance.now(), resolved: false, lax });
  }

  /** Wait until nothing required is pending (or, silent, until the server closes), within the hang bound. */
  #settled(untilClosed: boolean): Promise<void> {
    const { heartbeatMs, handshakeMs, slackMs } = this.#timing;
    const silenceBound = Math.max(1.5 * (heartbeatMs || 30_000), this.#ctx.state === "ready" ? 0 : handshakeMs ?? 10_000);
    const bound = silenceBound + slackMs;
    return new Promise((resolve) => {
      const done = () => this.#closed || (!untilClosed && this.#closingError === undefined && this.#pending.every((p) => p.resolved || (p.o.answer !== "required" && !p.barrier && !(p.o.silentClose && p.o.answer === "optional"))));
      if (done()) return resolve();
      const armedAt = performance.now();
      let expected = armedAt + bound;
      const arm = (ms: number) =>
        setTimeout(() => {
          const late = performance.now() - expected;
          if (late > 500) {
            // The event loop was blocked: the server could not have answered either. Wait once more.
            expected = performance.now() + bound;
            timer = arm(bound);
            return;
          }
          this.#wake = undefined;
          const open = this.#pending.filter((p) => !p.resolved && p.o.answer === "required");
          this.#violation("hang", `no answer and no close within ${Math.round(performance.now() - armedAt)} ms: ${open.length > 0 ? `waiting for the answer to ${open[0]!.o.label} (${open[0]!.o.spec})` : "waiting for the server to close a silent connection (HB-3, CONN-6)"}`, open[0]);
          this.close();
          resolve();
        }, ms);
      let timer = arm(bound);
      this.#wake = () => {
        if (!done()) return;
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  #bytes(chunk: Buffer): void {
    this.#splitter.push(chunk);
    for (;;) {
      let payload: Uint8Array | undefined;
      try {
        payload = this.#splitter.next();
      } catch (error) {
        this.#violation("server framing", `the server's byte stream is not framed: ${(error as Error).message}`);
        this.close();
        return;
      }
      if (payload === undefined) return;
      this.#payload(payload.slice());
    }
  }

  #payload(payload: Uint8Array): void {
    let frame: Frame;
    try {
      frame = decodeFrame(payload);
    } catch (error) {
      this.#violation("server frame", `the server sent an invalid frame (${isImwireError(error) ? ErrorCode[error.code] : String(error)}): ${hex(payload)}`);
      return;
    }
    if (this.#closingError !== undefined) this.#violation("ERR-2", `a ${frame.body.case} after the closing error ${ErrorCode[this.#closingError]}`);
    this.#received(frame);
    this.#wake?.();
  }

  #received(frame: Frame): void {
    const ctx = this.#ctx;
    const body = frame.body;
    switch (body.case) {
      case "error":
        this.#error(frame.requestId, body.value.code, body.value.closing, body.value.retryable, body.value.retryAfterMs);
        return;
      case "pong": {
        const p = this.#pending.find((x) => !x.resolved && x.o.pongNonce === body.value.nonce);
        if (!p) return this.#violation("HB-2", `a pong with nonce ${body.value.nonce} that no ping carried`);
        p.resolved = true;
        this.#stats.answer("positive");
        if (p.barrier) {
          // Everything sent before the barrier has been read: what was optional did not come (answers precede their pong here).
          for (const q of this.#pending) if (q.sentAt <= p.sentAt && !q.resolved && q.o.answer !== "required") q.resolved = true;
        }
        this.#gc();
        return;
      }
      case "ping":
        if (ctx.state === "await-hello") this.#violation("CONN-11", "a ping before welcome");
        if (!this.#closed) this.#writeFrame(encode({ case: "pong", value: { nonce: body.value.nonce } }, 0));
        return;
      case "deliver": {
        if (ctx.state !== "ready") return this.#violation("CONN-11", "a deliver before authenticated");
        if (!ctx.positionMaySet) this.#violation("DLV-2", "a deliver before the delivery position was set");
        if (body.value.cursor > ctx.highestReceived) ctx.highestReceived = body.value.cursor;
        return;
      }
      case "goAway":
        if (!ctx.mayDrain) this.#violation("CONN-7", "go_away from a server that is not shutting down");
        return;
      default: {
        // A positive answer answers a request (a notice may carry the same request_id: ENV-2 binds requests only).
        const p = this.#pending.find((x) => !x.resolved && frame.requestId !== 0 && x.o.rid === frame.requestId && (x.o.positive !== undefined || x.lax)) ?? this.#pending.find((x) => !x.resolved && frame.requestId !== 0 && x.o.rid === frame.requestId);
        if (!p) return this.#violation("ENV-2", `a ${body.case} answering request_id ${frame.requestId}, which no unanswered request has`);
        p.resolved = true;
        if (p.o.isRequest) this.#inFlight--;
        this.#stats.answer("positive");
        if (p.lax) return this.#gc();
        if (p.o.positive !== body.case) {
          this.#violation(p.o.spec === "LIM-2 snapshot_after" ? p.o.spec : "answer", `${body.case} answered ${p.o.label}; allowed: ${p.o.positive ?? "no positive answer"}${p.o.codes.size > 0 ? ` or ${[...p.o.codes].map((c) => ErrorCode[c]).join(", ")}` : ""} (${p.o.spec})`, p);
          return this.#gc();
        }
        if (body.case === "welcome") {
          // An external server's heartbeat is what its welcome says.
          if (this.#timing.heartbeatMs === 0) this.#timing = { ...this.#timing, heartbeatMs: body.value.heartbeatIntervalMs };
          const problem = welcomeProblem(body.value, [1]);
          if (problem) this.#violation("welcome", problem, p);
        }
        const problem = p.o.onPositive?.(frame);
        if (problem) this.#violation("answer", `${problem} (answering ${p.o.label})`, p);
        if (body.case === "authenticated") this.#g.model.state = "ready";
        this.#gc();
      }
    }
  }

  #error(rid: number, code: ErrorCode, closing: boolean, retryable: boolean, retryAfterMs: number): void {
    this.#stats.answer(code);
    const known = CLOSING.has(code) || RETRYABLE.has(code) || ErrorCode[code] !== undefined;
    if (known && closing !== CLOSING.has(code)) this.#violation("ERR-2", `${ErrorCode[code]} with closing ${closing}`);
    if (known && retryable !== RETRYABLE.has(code)) this.#violation("ERR-2", `${ErrorCode[code]} with retryable ${retryable}`);
    if (code === ErrorCode.RATE_LIMITED && retryAfterMs === 0) this.#violation("FLOW-4", "RATE_LIMITED without retry_after_ms");
    if (closing) this.#closingError = code;
    const candidates = this.#pending.filter((x) => !x.resolved && (x.o.rid === rid || (rid === 0 && x.o.notice)) && !x.barrier);
    const p = candidates.find((x) => x.lax || x.o.codes.has(code));
    if (code === ErrorCode.INTERNAL) {
      this.#violation("INTERNAL", `ERROR_CODE_INTERNAL answering ${(p ?? candidates[0])?.o.label ?? `request_id ${rid}`}`, p ?? candidates[0]);
    } else if (p) {
      // fine
    } else if (code === ErrorCode.TIMEOUT && rid === 0) {
      this.#checkTimeout();
    } else {
      const about = candidates[0];
      this.#violation(
        "error code",
        about
          ? `${ErrorCode[code] ?? code} (request_id ${rid}) answered ${about.o.label}; allowed: ${about.o.positive ? `${about.o.positive}, ` : ""}${[...about.o.codes].map((c) => ErrorCode[c]).join(", ") || "no error"} (${about.o.spec})`
          : `${ErrorCode[code] ?? code} with request_id ${rid} answers nothing that was sent (last sent: ${this.#lastCls})`,
        about,
      );
    }
    const settled = p ?? candidates[0];
    if (settled) {
      settled.resolved = true;
      if (settled.o.isRequest) this.#inFlight--;
      settled.o.onError?.(code);
    }
    if (closing) this.#cut();
    this.#gc();
  }

  /** HB-3, CONN-6: a TIMEOUT only after the silence or the handshake time the server allows. */
  #checkTimeout(): void {
    const now = performance.now();
    const silence = now - this.#lastCompleteFrameAt;
    const sinceOpen = now - this.#openedAt;
    const { heartbeatMs, handshakeMs } = this.#timing;
    const bySilence = this.#ctx.state !== "await-hello" && silence >= 1.5 * heartbeatMs - TOLERANCE_MS;
    const byHandshake = this.#ctx.state !== "ready" && (handshakeMs === undefined || sinceOpen >= handshakeMs - TOLERANCE_MS);
    if (!bySilence && !byHandshake) {
      this.#violation("HB-3", `TIMEOUT after ${Math.round(silence)} ms of silence (${Math.round(sinceOpen)} ms since opening, state ${this.#ctx.state}), sooner than 1.5 × ${heartbeatMs} ms`);
    }
    // A request the server read and left unanswered until the silence ran out is a hang; the handshake timeout runs whatever is read (CONN-6).
    const open = this.#pending.find((x) => !x.resolved && x.o.answer === "required" && !x.barrier);
    if (open && !byHandshake) this.#violation("hang", `closed for silence (TIMEOUT) while the answer to ${open.o.label} was still due (${open.o.spec})`, open);
  }

  /** A closing error: nothing pending gets an answer now. */
  #cut(): void {
    for (const p of this.#pending) p.resolved = true;
    this.#inFlight = 0;
  }

  #gc(): void {
    while (this.#pending.length > 0 && this.#pending[0]!.resolved) this.#pending.shift();
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    const stats = this.#stats;
    if (this.#closedByUs) stats.count(stats.closes, "closed by the fuzzer");
    else if (this.#closingError !== undefined) stats.count(stats.closes, `closed by the server after ${ErrorCode[this.#closingError]}`);
    else {
      const silent = this.#pending.find((p) => !p.resolved && p.o.silentClose);
      stats.count(stats.closes, silent ? `closed by the server without error (${silent.o.label})` : "closed by the server without error");
      if (!silent) {
        const about = this.#pending.filter((p) => !p.resolved).at(-1);
        // WS-3: a text message is reported with MALFORMED_FRAME, then closed with 1003.
        const kind = about?.cls === "ws:text" ? "WS-3 no error" : "close";
        this.#violation(kind, `the server closed the connection without a closing error (${this.#wsCloseCode !== undefined ? `WebSocket close ${this.#wsCloseCode}` : "TCP"}) after ${about?.o.label ?? this.#lastCls}`, about);
      }
    }
    if (this.#ws && !this.#closedByUs) {
      const last = this.#lastCls;
      const code = this.#wsCloseCode;
      if (last === "ws:text" && this.#closingError === ErrorCode.MALFORMED_FRAME && code !== 1003) this.#violation("WS-3", `closed with ${code}, not 1003, after a text message`);
      if (last === "ws:oversize" && (this.#closingError === undefined || this.#closingError === ErrorCode.FRAME_TOO_LARGE) && code !== 1009) this.#violation("WS-4", `closed with ${code}, not 1009, after an oversize message`);
    }
    this.#wake?.();
  }

  #violation(kind: string, detail: string, about?: Pending): void {
    const v: Violation = {
      kind,
      detail,
      connection: `${this.name} (${this.#g.webSocket ? "ws" : "tcp"}, ${this.#ctx.userId}/${this.#ctx.deviceId})`,
      cls: about?.cls ?? this.#lastCls,
      state: this.#ctx.state,
      frameHex: asHex(about?.bytes ?? this.#lastBytes),
    };
    this.#stats.violation(v);
  }
}

function asHex(bytes: Uint8Array | string): string {
  return typeof bytes === "string" ? bytes : hex(bytes);
}

function mustClose(o: Outcome): boolean {
  return o.answer === "required" && o.positive === undefined && o.codes.size > 0 && [...o.codes].every((c) => CLOSING.has(c));
}
