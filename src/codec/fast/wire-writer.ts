import type { UnknownField } from "@bufbuild/protobuf";
import { framingSlabs } from "../../framing/slab.js";
import { lengthPrefixSize, writeLengthPrefix } from "../../framing/length-prefix.js";

/**
 * The writer the generated encoders (src/gen/**\/*_fast.ts) call. Encoding
 * takes two passes over the message: measure() computes every size and
 * records, in visiting order, the length of each nested message, packed run
 * and string; write() then fills one buffer of exactly the right size,
 * taking those lengths back in the same order. No buffer grows, nothing is
 * copied twice, and the output is byte for byte what protobuf-es toBinary
 * writes: fields in number order, unknown fields last.
 */

const utf8 = new TextEncoder();
/** Up to this many UTF-16 units a string is written code by code; longer ones go through TextEncoder.encodeInto. */
const INLINE_STRING_MAX = 64;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export class WireWriter {
  buf: Uint8Array = new Uint8Array(0);
  pos = 0;
  /** Lengths measure() recorded, and the next one write() takes. */
  lengths: number[] = [];
  next = 0;

  byte(value: number): void {
    this.buf[this.pos++] = value;
  }

  /** An unsigned value below 2^53 (tags, lengths, uint32, non-negative int32, uint64 that fit). */
  varint(value: number): void {
    const buf = this.buf;
    let pos = this.pos;
    while (value > 0x7f) {
      buf[pos++] = (value & 0x7f) | 0x80;
      value = value < 0x1_0000_0000 ? value >>> 7 : Math.floor(value / 128);
    }
    buf[pos++] = value;
    this.pos = pos;
  }

  /** The length measure() recorded for the next nested message, packed run or string. */
  length(): number {
    const length = this.lengths[this.next++]!;
    this.varint(length);
    return length;
  }

  int32(value: number): void {
    if (value >= 0) this.varint(value);
    else this.varint64(BigInt(value));
  }

  sint32(value: number): void {
    this.varint(((value << 1) ^ (value >> 31)) >>> 0);
  }

  uint64(value: bigint): void {
    const n = Number(value);
    if (n >= 0 && n <= MAX_SAFE) this.varint(n);
    else this.varint64(value);
  }

  sint64(value: bigint): void {
    this.varint64(BigInt.asUintN(64, (value << 1n) ^ (value >> 63n)));
  }

  /** Any 64-bit value, negative ones as 10-byte two's complement. */
  varint64(value: bigint): void {
    let v = BigInt.asUintN(64, value);
    const buf = this.buf;
    while (v > 0x7fn) {
      buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    buf[this.pos++] = Number(v);
  }

  bool(value: boolean): void {
    this.buf[this.pos++] = value ? 1 : 0;
  }

  fixed32(value: number): void {
    const buf = this.buf;
    buf[this.pos++] = value & 0xff;
    buf[this.pos++] = (value >>> 8) & 0xff;
    buf[this.pos++] = (value >>> 16) & 0xff;
    buf[this.pos++] = (value >>> 24) & 0xff;
  }

  fixed64(value: bigint): void {
    const v = BigInt.asUintN(64, value);
    this.fixed32(Number(v & 0xffff_ffffn));
    this.fixed32(Number(v >> 32n));
  }

  float(value: number): void {
    new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).setFloat32(0, value, true);
    this.pos += 4;
  }

  double(value: number): void {
    new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).setFloat64(0, value, true);
    this.pos += 8;
  }

  bytes(value: Uint8Array): void {
    this.varint(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
  }

  /** A string whose UTF-8 length measure() recorded. */
  string(value: string): void {
    const length = this.length();
    const buf = this.buf;
    let pos = this.pos;
    if (length === value.length && length <= INLINE_STRING_MAX) {
      // Equal lengths mean every unit is ASCII.
      for (let i = 0; i < length; i++) buf[pos++] = value.charCodeAt(i);
      this.pos = pos;
      return;
    }
    utf8.encodeInto(value, buf.subarray(pos, pos + length));
    this.pos = pos + length;
  }

  unknown(fields: readonly UnknownField[]): void {
    for (const field of fields) {
      this.varint(field.no * 8 + field.wireType);
      this.buf.set(field.data, this.pos);
      this.pos += field.data.length;
    }
  }
}

export function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x20_0000) return 3;
  if (value < 0x1000_0000) return 4;
  if (value < 0x8_0000_0000) return 5;
  let size = 5;
  for (value = Math.floor(value / 0x8_0000_0000); value > 0; value = Math.floor(value / 128)) size++;
  return size;
}

export function int32Size(value: number): number {
  return value >= 0 ? varintSize(value) : 10;
}

export function sint32Size(value: number): number {
  return varintSize(((value << 1) ^ (value >> 31)) >>> 0);
}

export function uint64Size(value: bigint): number {
  const n = Number(value);
  return n >= 0 && n <= MAX_SAFE ? varintSize(n) : varint64Size(value);
}

export function sint64Size(value: bigint): number {
  return varint64Size(BigInt.asUintN(64, (value << 1n) ^ (value >> 63n)));
}

export function varint64Size(value: bigint): number {
  let v = BigInt.asUintN(64, value);
  let size = 1;
  while (v > 0x7fn) {
    v >>= 7n;
    size++;
  }
  return size;
}

/** The UTF-8 length TextEncoder gives `value`: a lone surrogate becomes U+FFFD, 3 bytes. */
export function utf8Size(value: string): number {
  const units = value.length;
  let size = units;
  for (let i = 0; i < units; i++) {
    const unit = value.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) size += 1;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < units && (value.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      size += 2; // a pair: 2 units, 4 bytes
      i++;
    } else size += 2;
  }
  return size;
}

/** Bytes measure() must count for a message's unknown fields. */
export function unknownSize(fields: readonly UnknownField[]): number {
  let size = 0;
  for (const field of fields) size += varintSize(field.no * 8 + field.wireType) + field.data.length;
  return size;
}

const shared = new WireWriter();

/**
 * Encode with a generated measure/write pair into one buffer, after a length
 * prefix when `prefixed` (FRM-2). Small outputs are carved from the framing
 * slabs, as the splitter's copies are. Not re-entrant, like any encoder
 * sharing scratch state; encoding never calls back into user code.
 */
export function encodeMessage<T>(message: T, measure: (message: T, lengths: number[]) => number, write: (w: WireWriter, message: T) => void, prefixed: boolean): Uint8Array {
  const w = shared;
  w.lengths.length = 0;
  w.next = 0;
  const size = measure(message, w.lengths);
  const prefix = prefixed ? lengthPrefixSize(size) : 0;
  const buf = framingSlabs.allocate(prefix + size);
  w.buf = buf;
  w.pos = prefixed ? writeLengthPrefix(size, buf, 0) : 0;
  write(w, message);
  w.buf = EMPTY;
  return buf;
}

const EMPTY = new Uint8Array(0);
const scratchLengths: number[] = [];

/** The encoded size of a message, from its generated measure function alone. */
export function messageSize<T>(message: T, measure: (message: T, lengths: number[]) => number): number {
  scratchLengths.length = 0;
  return measure(message, scratchLengths);
}
