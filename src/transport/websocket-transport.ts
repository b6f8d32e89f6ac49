import type WebSocket from "ws";
import { ErrorCode } from "../gen/imwire/v1/error_pb.js";
import type { Frame } from "../gen/imwire/v1/frame_pb.js";
import { decodeFrame, encodeFrame } from "../codec/frame-codec.js";
import { ImwireError, isImwireError } from "../errors.js";
import { HANDSHAKE_MAX_FRAME_SIZE } from "../limits.js";
import { unassigned, type FrameTransport } from "./frame-transport.js";

/** WebSocket close codes this transport uses (RFC 6455 §7.4.1). */
export const WS_CLOSE = { normal: 1000, protocolError: 1002, unsupportedData: 1003, tooBig: 1009 } as const;

/**
 * Frames over WebSocket: one binary message per frame, no length prefix
 * (WS-2). The socket's maxPayload should be the server's max_frame_size, so
 * that ws rejects larger messages from their header (WS-4); the smaller limit
 * before Welcome (FRM-5) is checked here.
 */
export class WebSocketTransport implements FrameTransport {
  onFrame: FrameTransport["onFrame"] = unassigned.onFrame;
  onInputError: FrameTransport["onInputError"] = unassigned.onInputError;
  onClose: FrameTransport["onClose"] = unassigned.onClose;
  readonly description: string;
  readonly #socket: WebSocket;
  #maxFrameSize = HANDSHAKE_MAX_FRAME_SIZE;
  #closed = false;
  /** The close code of a message this transport refused (WS-3, WS-4): the close that follows the error report uses it. */
  #rejectedWith: number | undefined;

  constructor(socket: WebSocket, description: string) {
    this.#socket = socket;
    this.description = description;
    socket.on("message", (data, isBinary) => this.#receive(data as Buffer, isBinary));
    socket.on("error", () => socket.terminate());
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

  send(frame: Frame): void {
    if (this.#socket.readyState !== this.#socket.OPEN) return;
    this.#socket.send(encodeFrame(frame), { binary: true });
  }

  close(code: number = WS_CLOSE.normal): void {
    this.#socket.close(this.#rejectedWith ?? code);
    setTimeout(() => this.#socket.terminate(), 2_000).unref();
  }

  destroy(): void {
    this.#socket.terminate();
  }

  setMaxFrameSize(size: number): void {
    this.#maxFrameSize = size;
  }

  #receive(data: Buffer, isBinary: boolean): void {
    if (!isBinary) return this.#reject(new ImwireError(ErrorCode.MALFORMED_FRAME, "text WebSocket messages carry no imwire frame", { requirement: "WS-3" }), WS_CLOSE.unsupportedData);
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
