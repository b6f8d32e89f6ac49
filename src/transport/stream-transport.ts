import type { Socket } from "node:net";
import type { Frame } from "../gen/imwire/v1/frame_pb.js";
import { encodeFramed, FrameReader } from "../framing/frame-stream.js";
import { isImwireError } from "../errors.js";
import { HANDSHAKE_MAX_FRAME_SIZE } from "../limits.js";
import { unassigned, type FrameTransport } from "./frame-transport.js";

/** Frames over a byte stream (TCP or TLS socket): length-prefixed (FRM-1), split by the streaming reader. */
export class StreamTransport implements FrameTransport {
  onFrame: FrameTransport["onFrame"] = unassigned.onFrame;
  onInputError: FrameTransport["onInputError"] = unassigned.onInputError;
  onClose: FrameTransport["onClose"] = unassigned.onClose;
  readonly description: string;
  readonly #socket: Socket;
  readonly #reader = new FrameReader({ maxFrameSize: HANDSHAKE_MAX_FRAME_SIZE });
  #failed = false;
  #closed = false;

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

  send(frame: Frame): void {
    if (!this.#socket.writable) return;
    this.#socket.write(encodeFramed(frame));
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

  #receive(chunk: Buffer): void {
    if (this.#failed) return;
    this.#reader.push(chunk);
    for (;;) {
      try {
        const frame = this.#reader.next();
        if (frame === undefined) return;
        this.onFrame(frame, this.#reader.lastFrameSize);
      } catch (error) {
        if (!isImwireError(error)) throw error;
        this.onInputError(error);
        if (error.closesConnection) {
          this.#failed = true; // the stream cannot be trusted past a framing or Protobuf error
          return;
        }
      }
    }
  }
}
