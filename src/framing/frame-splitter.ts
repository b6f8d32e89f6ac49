import { ErrorCode } from "../gen/imwire/v1/error_pb.js";
import { ImwireError } from "../errors.js";
import { MAX_LENGTH_PREFIX_BYTES } from "../limits.js";
import { framingSlabs } from "./slab.js";

export interface FrameSplitterOptions {
  /** The largest payload accepted (FRM-4); a larger declared length fails before any of it is buffered. */
  readonly maxFrameSize: number;
  /**
   * How many separate input chunks may be held while a frame is incomplete
   * (default 64). Beyond that they are merged into one growing buffer, so a
   * peer sending one byte at a time costs bytes, not one object per byte.
   */
  readonly maxBufferedChunks?: number;
}

const EMPTY = new Uint8Array(0);
const MIN_SPILL_CAPACITY = 4096;

/**
 * Splits a byte stream into frame payloads at their length prefixes (FRM-1,
 * FRM-2). Synchronous and push-based: give it chunks as they arrive, split
 * anywhere, then call next() until it returns undefined.
 *
 * Work is linear in the bytes pushed. A payload that lies inside one chunk is
 * returned as a view of that chunk (do not reuse pushed buffers); a payload
 * that straddles chunks is copied once into an exact-size buffer, carved from
 * a shared slab when it is small (see SlabAllocator for what that retains). A framing
 * error (bad prefix, frame too large) is fatal: next() throws the same
 * ImwireError from then on.
 */
export class FrameSplitter {
  #maxFrameSize: number;
  readonly #maxChunks: number;

  /** Unread input; reading starts at #segments[#head][#offset]. */
  #segments: Uint8Array[] = [];
  #head = 0;
  #offset = 0;
  #buffered = 0;

  /** While set, the single segment is a view of this buffer and pushes are copied into its spare room. */
  #spill: Uint8Array | undefined;
  #spillFill = 0;

  #prefixValue = 0;
  #prefixBytes = 0;
  /** The declared length of the frame being read, or -1 while its prefix is incomplete. */
  #bodyLength = -1;

  #failure: ImwireError | undefined;

  constructor(options: FrameSplitterOptions) {
    this.#maxFrameSize = options.maxFrameSize;
    this.#maxChunks = Math.max(2, options.maxBufferedChunks ?? 64);
  }

  /** The limit in force; raise or lower it once Welcome has set max_frame_size (FRM-5). */
  get maxFrameSize(): number {
    return this.#maxFrameSize;
  }

  set maxFrameSize(value: number) {
    this.#maxFrameSize = value;
  }

  /** Bytes pushed and not yet returned. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** Separate chunks held (diagnostics: never more than maxBufferedChunks + 1). */
  get bufferedChunks(): number {
    return this.#segments.length - this.#head;
  }

  /** True when no partial frame is pending: the stream may end here cleanly. */
  get atFrameBoundary(): boolean {
    return this.#buffered === 0 && this.#prefixBytes === 0 && this.#bodyLength < 0;
  }

  push(chunk: Uint8Array): void {
    if (this.#failure !== undefined || chunk.length === 0) return;
    this.#buffered += chunk.length;
    if (this.#spill !== undefined) {
      this.#pushIntoSpill(chunk);
      return;
    }
    this.#segments.push(chunk);
    if (this.#segments.length - this.#head > this.#maxChunks) this.#startSpill();
  }

  /** The next complete payload, or undefined until more bytes arrive. Throws ImwireError on a framing error. */
  next(): Uint8Array | undefined {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#bodyLength < 0 && !this.#readPrefix()) return undefined;
    const length = this.#bodyLength;
    if (this.#buffered < length) return undefined;
    this.#bodyLength = -1;
    return this.#take(length);
  }

  #readPrefix(): boolean {
    while (this.#buffered > 0) {
      const byte = this.#takeByte();
      this.#prefixValue |= (byte & 0x7f) << (7 * this.#prefixBytes);
      this.#prefixBytes++;
      if (byte & 0x80) {
        if (this.#prefixBytes === MAX_LENGTH_PREFIX_BYTES) {
          this.#fail(ErrorCode.MALFORMED_FRAME, `length prefix longer than ${MAX_LENGTH_PREFIX_BYTES} bytes`, "FRM-2");
        }
        continue;
      }
      if (byte === 0 && this.#prefixBytes > 1) {
        this.#fail(ErrorCode.MALFORMED_FRAME, "length prefix is not minimally encoded", "FRM-2");
      }
      const length = this.#prefixValue;
      this.#prefixValue = 0;
      this.#prefixBytes = 0;
      if (length > this.#maxFrameSize) {
        this.#fail(ErrorCode.FRAME_TOO_LARGE, `frame of ${length} bytes exceeds the limit of ${this.#maxFrameSize}`, "FRM-4");
      }
      this.#bodyLength = length;
      return true;
    }
    return false;
  }

  #fail(code: ErrorCode, message: string, requirement: string): never {
    this.#failure = new ImwireError(code, message, { requirement });
    this.#segments = [];
    this.#head = 0;
    this.#offset = 0;
    this.#buffered = 0;
    this.#spill = undefined;
    throw this.#failure;
  }

  #takeByte(): number {
    const segment = this.#segments[this.#head]!;
    const byte = segment[this.#offset++]!;
    this.#buffered--;
    if (this.#offset === segment.length) this.#dropHeadSegment();
    return byte;
  }

  /** Consume `length` bytes (all buffered): a view when they lie in one segment, else one exact-size copy (slab-carved when small). */
  #take(length: number): Uint8Array {
    if (length === 0) return EMPTY;
    const first = this.#segments[this.#head]!;
    const start = this.#offset;
    this.#buffered -= length;
    if (first.length - start >= length) {
      this.#offset += length;
      if (this.#offset === first.length) this.#dropHeadSegment();
      return first.subarray(start, start + length);
    }
    const out = framingSlabs.allocate(length);
    let filled = 0;
    while (filled < length) {
      const segment = this.#segments[this.#head]!;
      const n = Math.min(segment.length - this.#offset, length - filled);
      out.set(segment.subarray(this.#offset, this.#offset + n), filled);
      filled += n;
      this.#offset += n;
      if (this.#offset === segment.length) this.#dropHeadSegment();
    }
    return out;
  }

  #dropHeadSegment(): void {
    this.#head++;
    this.#offset = 0;
    if (this.#head === this.#segments.length) {
      this.#segments.length = 0;
      this.#head = 0;
      this.#spill = undefined;
    } else if (this.#head >= 32) {
      this.#segments = this.#segments.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Too many small segments: merge the unread bytes into one buffer with room to grow. */
  #startSpill(): void {
    const unread = this.#buffered;
    const spill = new Uint8Array(Math.max(2 * unread, MIN_SPILL_CAPACITY));
    let filled = 0;
    for (let i = this.#head; i < this.#segments.length; i++) {
      const segment = i === this.#head ? this.#segments[i]!.subarray(this.#offset) : this.#segments[i]!;
      spill.set(segment, filled);
      filled += segment.length;
    }
    this.#spill = spill;
    this.#spillFill = filled;
    this.#segments = [spill.subarray(0, filled)];
    this.#head = 0;
    this.#offset = 0;
  }

  #pushIntoSpill(chunk: Uint8Array): void {
    const spill = this.#spill!;
    const unread = this.#spillFill - this.#offset;
    if (chunk.length >= unread) {
      // A chunk this large makes views worthwhile again: keep the rest of the spill as a plain segment.
      this.#segments = [spill.subarray(this.#offset, this.#spillFill), chunk];
      this.#head = 0;
      this.#offset = 0;
      this.#spill = undefined;
      return;
    }
    if (this.#spillFill + chunk.length > spill.length) {
      // Grow by doubling, dropping what was read: amortised O(1) copying per byte.
      const grown = new Uint8Array(Math.max(2 * (unread + chunk.length), MIN_SPILL_CAPACITY));
      grown.set(spill.subarray(this.#offset, this.#spillFill));
      this.#spill = grown;
      this.#spillFill = unread;
      this.#offset = 0;
    }
    this.#spill!.set(chunk, this.#spillFill);
    this.#spillFill += chunk.length;
    this.#segments[0] = this.#spill!.subarray(0, this.#spillFill);
  }
}
