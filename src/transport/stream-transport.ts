import type { Socket } from "node:net";
import type { Frame } from "../gen/imwire/v1/frame_pb.js";
import { encodeFramed, FrameReader } from "../framing/frame-stream.js";
import { isImwireError } from "../errors.js";
import { HANDSHAKE_MAX_FRAME_SIZE } from "../limits.js";
import { checkOutgoingSize, payloadSizeOfFramed, unassigned, type FrameTransport } from "./frame-transport.js";

/** Frames over a byte stream (TCP or TLS socket): length-prefixed (FRM-1), split by the streaming reader. */
export class StreamTransport implements FrameTransport {
  onFrame: FrameTransport["onFrame"] = unassigned.onFrame;
  onInputError: FrameTransport["onInputError"] = unassigned.onInputError;
  onClose: FrameTransport["onClose"] = unassigned.onClose;
  onProgress: FrameTransport["onProgress"] = unassigned.onProgress;
  readonly description: string;
  readonly #socket: Socket;
  readonly #reader = new FrameReader({ maxFrameSize: HANDSHAKE_MAX_FRAME_SIZE });
  #failed = false;
  #closed = false;
  #paused = false;
  #accepted = 0;

  constructor(socket: Socket, scheme: "tcp" | "tls") {
    this.#socket = socket;
    this.description = `${scheme} ${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.#receive(chunk));
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      if (this.#closed) return;
      this.#closed = true;
      this.onClose();
    });
  }

  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }

  get flushedBytes(): number {
    return this.#accepted - this.#socket.writableLength;
  }

  send(frame: Frame): void {
    if (!this.#socket.writable) return;
    const framed = encodeFramed(frame);
    checkOutgoingSize(payloadSizeOfFramed(framed), this.#reader.maxFrameSize);
    this.#accepted += framed.length;
    this.#socket.write(framed);
  }

  holdWrites(): void {
    this.#socket.cork();
  }

  releaseWrites(): void {
    this.#socket.uncork();
  }

  close(): void {
    this.#socket.end();
    // A peer that never reads would keep the socket half-open: give it a moment, then cut.
    setTimeout(() => this.#socket.destroy(), 2_000).unref();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  setMaxFrameSize(size: number): void {
    this.#reader.maxFrameSize = size;
  }

  pauseReading(): void {
    this.#paused = true;
    this.#socket.pause();
  }

  resumeReading(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#deliver();
    if (!this.#paused) this.#socket.resume();
  }

  #receive(chunk: Buffer): void {
    if (this.#failed) return;
    this.#reader.push(chunk);
    this.#deliver();
    // Whole frames speak for themselves; bytes of one still arriving are progress too (HB-3, HB-4).
    if (!this.#failed && !this.#reader.atFrameBoundary) this.onProgress(chunk.length);
  }

  /** Hand over the frames read so far, until they run out, one fails, or reading is paused. */
  #deliver(): void {
    while (!this.#paused && !this.#failed) {
      try {
        const frame = this.#reader.next();
        if (frame === undefined) return;
        this.onFrame(frame, this.#reader.lastFrameSize);
      } catch (error) {
        if (!isImwireError(error)) throw error;
        this.onInputError(error);
        // The stream cannot be trusted past a framing or Protobuf error.
        if (error.closesConnection) this.#failed = true;
      }
    }
  }
}
