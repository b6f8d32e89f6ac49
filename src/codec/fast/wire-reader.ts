import type { UnknownField } from "@bufbuild/protobuf";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import { ImwireError } from "../../errors.js";

/**
 * The reader the generated decoders (src/gen/**\/*_fast.ts) call. Every read
 * is bounded by `end`, the end of the message being read, so a field cannot
 * run past its enclosing message (ENV-3), and every fault is an ImwireError
 * MALFORMED_FRAME. The generated code switches over whole tags, so a known
 * field number with a wire type not its own falls through to unknown(), as
 * ENV-3 requires.
 */

/** ENV-3: the Frame is depth 1; every message field and group inside adds one. */
export const MAX_NESTING_DEPTH = 100;

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
/** Up to this many bytes, an ASCII string is built code by code: cheaper than a TextDecoder call. */
const ASCII_INLINE_MAX = 32;

/**
 * The value of every absent bytes field of a decoded message: equal to the
 * fresh `new Uint8Array(0)` protobuf-es puts there, and frozen, so sharing
 * it cannot leak a change from one message to another.
 */
export const EMPTY_BYTES = Object.freeze(new Uint8Array(0)) as Uint8Array;

export function malformed(reason: string): never {
  throw new ImwireError(ErrorCode.MALFORMED_FRAME, `not a valid Frame: ${reason}`, { requirement: "ENV-3" });
}

export class WireReader {
  buf: Uint8Array;
  pos: number;

  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.pos = 0;
  }

  /** The next tag, as its varint value (field number << 3 | wire type). Checked for length only: unknown() checks the rest. */
  tag(end: number): number {
    const pos = this.pos;
    const first = this.buf[pos]!;
    if (first < 0x80 && pos < end) {
      this.pos = pos + 1;
      return first;
    }
    let tag = 0;
    for (let i = 0, scale = 1; ; i++, scale *= 128) {
      if (i === 5) malformed("tag longer than 5 bytes");
      if (this.pos >= end) malformed("truncated tag");
      const byte = this.buf[this.pos++]!;
      if (i === 4 && byte > 0x0f) malformed("tag overflows 32 bits");
      tag += (byte & 0x7f) * scale;
      if (byte < 0x80) return tag;
    }
  }

  /** A varint's low 32 bits, unsigned (uint32, and int32 and enums through `| 0`). */
  uint32(end: number): number {
    const pos = this.pos;
    const first = this.buf[pos]!;
    if (first < 0x80 && pos < end) {
      this.pos = pos + 1;
      return first;
    }
    return this.uint32Slow(end);
  }

  private uint32Slow(end: number): number {
    const buf = this.buf;
    let value = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) malformed("varint runs past the end of its message");
      const byte = buf[this.pos++]!;
      if (i < 5) value |= (byte & 0x7f) << (7 * i);
      if (byte < 0x80) return value >>> 0;
    }
    return malformed("varint longer than 10 bytes");
  }

  int32(end: number): number {
    return this.uint32(end) | 0;
  }

  sint32(end: number): number {
    const n = this.uint32(end);
    return (n >>> 1) ^ -(n & 1);
  }

  bool(end: number): boolean {
    const pos = this.pos;
    const first = this.buf[pos]!;
    if (first < 0x80 && pos < end) {
      this.pos = pos + 1;
      return first !== 0;
    }
    return this.uint64(end) !== 0n;
  }

  uint64(end: number): bigint {
    const small = this.smallVarint(end);
    return small >= 0 ? BigInt(small) : BigInt.asUintN(64, this.varint64(end));
  }

  int64(end: number): bigint {
    const small = this.smallVarint(end);
    return small >= 0 ? BigInt(small) : BigInt.asIntN(64, this.varint64(end));
  }

  /** A varint of at most 7 bytes (below 2^49, exact in a double), or -1 with nothing read. */
  private smallVarint(end: number): number {
    const buf = this.buf;
    let pos = this.pos;
    let value = 0;
    for (let i = 0, scale = 1; i < 7 && pos < end; i++, scale *= 128) {
      const byte = buf[pos++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        this.pos = pos;
        return value;
      }
    }
    return -1;
  }

  sint64(end: number): bigint {
    const n = BigInt.asUintN(64, this.varint64(end));
    return (n >> 1n) ^ -(n & 1n);
  }

  /** A whole varint of up to 10 bytes as a bigint; bits above 64 are dropped, as Protobuf runtimes do. */
  private varint64(end: number): bigint {
    const buf = this.buf;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) malformed("varint runs past the end of its message");
      const byte = buf[this.pos++]!;
      const bits = byte & 0x7f;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (7 * i - 32);
      if (byte < 0x80) return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    }
    return malformed("varint longer than 10 bytes");
  }

  fixed32(end: number): number {
    const at = this.fixedAt(4, end);
    const b = this.buf;
    return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
  }

  sfixed32(end: number): number {
    return this.fixed32(end) | 0;
  }

  fixed64(end: number): bigint {
    const lo = this.fixed32(end);
    const hi = this.fixed32(end);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  sfixed64(end: number): bigint {
    return BigInt.asIntN(64, this.fixed64(end));
  }

  float(end: number): number {
    const at = this.fixedAt(4, end);
    return new DataView(this.buf.buffer, this.buf.byteOffset + at, 4).getFloat32(0, true);
  }

  double(end: number): number {
    const at = this.fixedAt(8, end);
    return new DataView(this.buf.buffer, this.buf.byteOffset + at, 8).getFloat64(0, true);
  }

  private fixedAt(size: number, end: number): number {
    const at = this.pos;
    if (end - at < size) malformed(`${size * 8}-bit field runs past the end of its message`);
    this.pos = at + size;
    return at;
  }

  /** Reads a length prefix; returns where the value ends, which must be inside the message. */
  length(end: number): number {
    const pos = this.pos;
    let length = this.buf[pos]!;
    if (length < 0x80 && pos < end) {
      this.pos = pos + 1;
    } else {
      length = 0;
      for (let i = 0, scale = 1; ; i++, scale *= 128) {
        if (i === 5) malformed("length prefix longer than 5 bytes");
        if (this.pos >= end) malformed("length prefix runs past the end of its message");
        const byte = this.buf[this.pos++]!;
        length += (byte & 0x7f) * scale;
        if (byte < 0x80) break;
      }
    }
    if (length > end - this.pos) malformed("length-delimited field runs past the end of its message");
    return this.pos + length;
  }

  /** The length prefix of a nested message, which must not be nested deeper than MAX_NESTING_DEPTH. */
  message(end: number, depth: number): number {
    const stop = this.length(end);
    if (depth >= MAX_NESTING_DEPTH) malformed(`nesting deeper than ${MAX_NESTING_DEPTH}`);
    return stop;
  }

  /** A view of the bytes, not a copy, as protobuf-es returns. */
  bytes(end: number): Uint8Array {
    const stop = this.length(end);
    const start = this.pos;
    this.pos = stop;
    return this.buf.subarray(start, stop);
  }

  string(end: number): string {
    const stop = this.length(end);
    const start = this.pos;
    this.pos = stop;
    const buf = this.buf;
    if (stop - start <= ASCII_INLINE_MAX) {
      let text = "";
      for (let i = start; i < stop; i++) {
        const byte = buf[i]!;
        if (byte > 0x7f) return decodeUtf8(buf, start, stop);
        text += String.fromCharCode(byte);
      }
      return text;
    }
    return decodeUtf8(buf, start, stop);
  }

  /** A packed run of fixed-width values must hold whole values. */
  packedFixed(size: number, end: number): number {
    const stop = this.length(end);
    if ((stop - this.pos) % size !== 0) malformed(`packed run of ${size * 8}-bit values with a partial value`);
    return stop;
  }

  /**
   * A field the message does not know, or knows with another wire type
   * (ENV-3): checked, skipped, and kept as protobuf-es keeps unknown fields.
   */
  unknown(tag: number, end: number, depth: number): UnknownField {
    const no = tag >>> 3;
    const wireType = tag & 7;
    if (no === 0) malformed("field number 0");
    if (wireType > 5) malformed(`wire type ${wireType}`);
    if (wireType === 4) malformed("end-group tag with no group open");
    const start = this.pos;
    this.skip(wireType, no, end, depth);
    return { no, wireType, data: this.buf.subarray(start, this.pos) };
  }

  private skip(wireType: number, no: number, end: number, depth: number): void {
    switch (wireType) {
      case 0:
        for (let i = 0; ; i++) {
          if (i === 10) malformed("varint longer than 10 bytes");
          if (this.pos >= end) malformed("varint runs past the end of its message");
          if (this.buf[this.pos++]! < 0x80) return;
        }
      case 1:
        this.fixedAt(8, end);
        return;
      case 5:
        this.fixedAt(4, end);
        return;
      case 2:
        this.pos = this.length(end);
        return;
      default:
        if (depth >= MAX_NESTING_DEPTH) malformed(`nesting deeper than ${MAX_NESTING_DEPTH}`);
        for (;;) {
          if (this.pos >= end) malformed(`group ${no} is never closed`);
          const tag = this.tag(end);
          const innerNo = tag >>> 3;
          const innerType = tag & 7;
          if (innerType === 4) {
            if (innerNo !== no) malformed(`group ${no} closed as group ${innerNo}`);
            return;
          }
          if (innerNo === 0) malformed("field number 0");
          if (innerType > 5) malformed(`wire type ${innerType}`);
          this.skip(innerType, innerNo, end, depth + 1);
        }
    }
  }
}

function decodeUtf8(buf: Uint8Array, start: number, stop: number): string {
  try {
    return strictUtf8.decode(buf.subarray(start, stop));
  } catch {
    return malformed("invalid UTF-8 in a string field");
  }
}
