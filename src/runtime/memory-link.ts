import { decodeFrame, encodeFrame } from "../codec/frame-codec.js";
import { ImwireError, isImwireError } from "../errors.js";
import { ErrorCode } from "../gen/imwire/v1/error_pb.js";
import type { Frame } from "../gen/imwire/v1/frame_pb.js";
import { HANDSHAKE_MAX_FRAME_SIZE } from "../limits.js";
import { checkOutgoingSize, unassigned, type FrameTransport } from "../transport/frame-transport.js";

/** Runs callbacks after a delay on some clock: the simulator's EventQueue, or a test's. */
export interface DelayScheduler {
  after(delayMs: number, run: () => void): void;
}

export interface MemoryLinkOptions {
  /** One-way delay of every frame and of the news of a close (default 1). */
  readonly delayMs?: number;
  /** The limit in force at each end until setMaxFrameSize (default 65,536, FRM-5). */
  readonly maxFrameSize?: number;
}

/**
 * Two FrameTransports joined in memory, on the scheduler's clock: what a
 * runner needs to be tested deterministically, client and server on one
 * virtual timeline. Frames cross encoded, in order, after the delay, and are
 * checked against each end's limit as a real transport would (FRM-4, FRM-9).
 */
export function memoryLink(scheduler: DelayScheduler, options: MemoryLinkOptions = {}): [MemoryTransport, MemoryTransport] {
  const delayMs = options.delayMs ?? 1;
  const limit = options.maxFrameSize ?? HANDSHAKE_MAX_FRAME_SIZE;
  const a = new MemoryTransport(scheduler, delayMs, limit, "memory a");
  const b = new MemoryTransport(scheduler, delayMs, limit, "memory b");
  a.peer = b;
  b.peer = a;
  return [a, b];
}

export class MemoryTransport implements FrameTransport {
  onFrame: FrameTransport["onFrame"] = unassigned.onFrame;
  onInputError: FrameTransport["onInputError"] = unassigned.onInputError;
  onClose: FrameTransport["onClose"] = unassigned.onClose;
  onProgress: FrameTransport["onProgress"] = unassigned.onProgress;
  peer!: MemoryTransport;
  #maxFrameSize: number;
  #accepted = 0;
  #inFlight = 0;
  /** This end has closed or been destroyed: it sends nothing more. */
  #ended = false;
  /** Destroyed: what it sent and is still in flight is lost, as a crash loses it. */
  #destroyed = false;
  #closeNoticed = false;
  #paused = false;
  readonly #held: Uint8Array[] = [];

  constructor(
    private readonly scheduler: DelayScheduler,
    private readonly delayMs: number,
    maxFrameSize: number,
    readonly description: string,
  ) {
    this.#maxFrameSize = maxFrameSize;
  }

  get bufferedAmount(): number {
    return this.#inFlight;
  }

  get flushedBytes(): number {
    return this.#accepted - this.#inFlight;
  }

  /** Whether the owner has heard of the close. */
  get closed(): boolean {
    return this.#closeNoticed;
  }

  send(frame: Frame): void {
    if (this.#ended) return;
    const payload = encodeFrame(frame);
    checkOutgoingSize(payload.length, this.#maxFrameSize);
    this.#accepted += payload.length;
    this.#inFlight += payload.length;
    this.scheduler.after(this.delayMs, () => {
      this.#inFlight -= payload.length;
      if (!this.#destroyed) this.peer.#arrive(payload);
    });
  }

  close(): void {
    this.#end();
  }

  destroy(): void {
    this.#destroyed = true;
    this.#end();
  }

  setMaxFrameSize(size: number): void {
    this.#maxFrameSize = size;
  }

  pauseReading(): void {
    this.#paused = true;
  }

  resumeReading(): void {
    this.#paused = false;
    while (!this.#paused && this.#held.length > 0) this.#deliver(this.#held.shift()!);
  }

  /** Both ends hear of the close after the delay, behind whatever was sent before it. */
  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.scheduler.after(this.delayMs, () => {
      this.#noticeClose();
      this.peer.#noticeClose();
    });
  }

  #noticeClose(): void {
    if (this.#closeNoticed) return;
    this.#closeNoticed = true;
    this.#ended = true;
    this.#held.length = 0;
    this.onClose();
  }

  #arrive(payload: Uint8Array): void {
    if (this.#closeNoticed) return;
    if (this.#paused) this.#held.push(payload);
    else this.#deliver(payload);
  }

  #deliver(payload: Uint8Array): void {
    if (payload.length > this.#maxFrameSize) {
      return this.onInputError(new ImwireError(ErrorCode.FRAME_TOO_LARGE, `frame of ${payload.length} bytes exceeds ${this.#maxFrameSize}`, { requirement: "FRM-4" }));
    }
    let frame: Frame;
    try {
      frame = decodeFrame(payload);
    } catch (error) {
      if (!isImwireError(error)) throw error;
      return this.onInputError(error);
    }
    this.onFrame(frame, payload.length);
  }
}
