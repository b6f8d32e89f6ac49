import type { Frame } from "../gen/imwire/v1/frame_pb.js";
import { decodeFrame, encodeFrame, type EncodeOptions } from "../codec/frame-codec.js";
import { FrameSplitter, type FrameSplitterOptions } from "./frame-splitter.js";

/**
 * Reads frames from a byte stream (TCP or TLS): a FrameSplitter followed by
 * decodeFrame. next() throws ImwireError; when the error does not close the
 * connection (UNKNOWN_FRAME, MISSING_FIELD) the offending frame has been
 * consumed and reading may continue with the next one.
 */
export class FrameReader {
  readonly #splitter: FrameSplitter;
  #lastSize = 0;

  constructor(options: FrameSplitterOptions) {
    this.#splitter = new FrameSplitter(options);
  }

  get maxFrameSize(): number {
    return this.#splitter.maxFrameSize;
  }

  set maxFrameSize(value: number) {
    this.#splitter.maxFrameSize = value;
  }

  get atFrameBoundary(): boolean {
    return this.#splitter.atFrameBoundary;
  }

  push(chunk: Uint8Array): void {
    this.#splitter.push(chunk);
  }

  next(): Frame | undefined {
    const payload = this.#splitter.next();
    if (payload === undefined) return undefined;
    this.#lastSize = payload.length;
    return decodeFrame(payload);
  }

  /** The payload size of the frame (or failed frame) next() last read. */
  get lastFrameSize(): number {
    return this.#lastSize;
  }
}

/** A frame as it goes on a byte stream: length prefix and payload in one buffer (FRM-1). */
export function encodeFramed(frame: Frame, options?: EncodeOptions): Uint8Array {
  return encodeFrame(frame, options?.validate === false ? PREFIXED_UNCHECKED : PREFIXED);
}

const PREFIXED: EncodeOptions = { prefixed: true };
const PREFIXED_UNCHECKED: EncodeOptions = { prefixed: true, validate: false };
