import type { Duplex } from "node:stream";
import type WebSocket from "ws";
import { ErrorCode } from "../gen/imwire/v1/error_pb.js";
import type { Frame } from "../gen/imwire/v1/frame_pb.js";
import { decodeFrame, encodeFrame } from "../codec/frame-codec.js";
import { ImwireError, isImwireError } from "../errors.js";
import { HANDSHAKE_MAX_FRAME_SIZE } from "../limits.js";
import { checkOutgoingSize, unassigned, type FrameTransport } from "./frame-transport.js";

/** WebSocket close codes this transport uses (RFC 6455 §7.4.1). */
export const WS_CLOSE = { normal: 1000, protocolError: 1002, unsupportedData: 1003, tooBig: 1009 } as const;

/** How long a closing handshake may take before the socket is cut. */
const CLOSE_GRACE_MS = 2_000;

/** ws keeps its frame parser and socket private; the limit must be set on the parser, before it buffers (WS-4). */
interface WebSocketInternals {
  _receiver?: { _maxPayload: number; _state: number; _opcode: number; _fragmented: number };
  _socket?: Duplex;
}

/** ws's parser state between frames (receiver.js GET_INFO). */
const RECEIVER_BETWEEN_FRAMES = 0;

/**
 * Frames over WebSocket: one binary message per frame, no length prefix
 * (WS-2). The message limit in force (FRM-5) is set on ws's own parser, which
 * refuses a larger message from its header and closes with 1009 before
 * buffering it (WS-4): 65,536 bytes until welcome, then max_frame_size.
 */
export class WebSocketTransport implements FrameTransport {
  onFrame: FrameTransport["onFrame"] = unassigned.onFrame;
  onInputError: FrameTransport["onInputError"] = unassigned.onInputError;
  onClose: FrameTransport["onClose"] = unassigned.onClose;
  onProgress: FrameTransport["onProgress"] = unassigned.onProgress;
  readonly description: string;
  readonly #socket: WebSocket;
  #maxFrameSize = HANDSHAKE_MAX_FRAME_SIZE;
  #closed = false;
  #accepted = 0;
  #paused = false;
  /** Messages ws emitted after pauseReading(): it may still emit what it had parsed. */
  readonly #held: { data: Buffer; isBinary: boolean }[] = [];
  /** The close code of a message this transport refused (WS-3, WS-4): the close that follows the error report uses it. */
  #rejectedWith: number | undefined;

  constructor(socket: WebSocket, description: string) {
    this.#socket = socket;
    this.description = description;
    this.#applyLimit();
    // HB-3, HB-4: bytes of a message still arriving are progress; WebSocket pings and pongs are not (WS-5).
    // ws parses each chunk before this listener runs, so its parser says what the chunk was part of.
    (socket as unknown as WebSocketInternals)._socket?.on("data", (chunk: Buffer) => {
      if (this.#insideDataMessage()) this.onProgress(chunk.length);
    });
    socket.on("message", (data, isBinary) => {
      if (this.#paused) this.#held.push({ data: data as Buffer, isBinary });
      else this.#receive(data as Buffer, isBinary);
    });
    // ws has already begun the closing handshake with the code that says why (1009 for a message over the limit, WS-4): cutting the socket now would turn it into 1006.
    socket.on("error", () => setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref());
    socket.on("close", () => {
      if (this.#closed) return;
      this.#closed = true;
      this.onClose();
    });
  }

  /** The subprotocol the peer agreed to (WS-1), or "" if none. */
  get protocol(): string {
    return this.#socket.protocol;
  }

  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }

  get flushedBytes(): number {
    return this.#accepted - this.#socket.bufferedAmount;
  }

  send(frame: Frame): void {
    if (this.#socket.readyState !== this.#socket.OPEN) return;
    const payload = encodeFrame(frame);
    checkOutgoingSize(payload.length, this.#maxFrameSize);
    this.#accepted += payload.length;
    this.#socket.send(payload, { binary: true });
  }

  // ws writes each message straight to its socket (no compression is negotiated), so corking that socket holds them.
  holdWrites(): void {
    (this.#socket as unknown as { _socket?: { cork(): void } })._socket?.cork();
  }

  releaseWrites(): void {
    (this.#socket as unknown as { _socket?: { uncork(): void } })._socket?.uncork();
  }

  close(code: number = WS_CLOSE.normal): void {
    this.#socket.close(this.#rejectedWith ?? code);
    setTimeout(() => this.#socket.terminate(), CLOSE_GRACE_MS).unref();
  }

  destroy(): void {
    this.#socket.terminate();
  }

  setMaxFrameSize(size: number): void {
    this.#maxFrameSize = size;
    this.#applyLimit();
  }

  pauseReading(): void {
    this.#paused = true;
    this.#socket.pause();
  }

  resumeReading(): void {
    if (!this.#paused) return;
    this.#paused = false;
    while (!this.#paused && this.#held.length > 0) {
      const { data, isBinary } = this.#held.shift()!;
      this.#receive(data, isBinary);
    }
    if (!this.#paused) this.#socket.resume();
  }

  #insideDataMessage(): boolean {
    const receiver = (this.#socket as unknown as WebSocketInternals)._receiver;
    if (!receiver) return false;
    return receiver._fragmented !== 0 || (receiver._state !== RECEIVER_BETWEEN_FRAMES && receiver._opcode <= 0x02);
  }

  #applyLimit(): void {
    const receiver = (this.#socket as unknown as WebSocketInternals)._receiver;
    if (receiver) receiver._maxPayload = this.#maxFrameSize;
  }

  #receive(data: Buffer, isBinary: boolean): void {
    if (!isBinary) return this.#reject(new ImwireError(ErrorCode.MALFORMED_FRAME, "text WebSocket messages carry no imwire frame", { requirement: "WS-3" }), WS_CLOSE.unsupportedData);
    // ws enforces the limit from the header; this catches a parser that did not (or a limit lowered since).
    if (data.length > this.#maxFrameSize) {
      return this.#reject(new ImwireError(ErrorCode.FRAME_TOO_LARGE, `message of ${data.length} bytes exceeds ${this.#maxFrameSize}`, { requirement: "WS-4" }), WS_CLOSE.tooBig);
    }
    try {
      this.onFrame(decodeFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)), data.length);
    } catch (error) {
      if (!isImwireError(error)) throw error;
      this.onInputError(error);
    }
  }

  /** Report, then close with the WebSocket code that says why (WS-3, WS-4). */
  #reject(error: ImwireError, closeCode: number): void {
    // The owner answers the report with an error frame and closes; that close must carry this code.
    this.#rejectedWith = closeCode;
    this.onInputError(error);
    this.close(closeCode);
  }
}
