import { MAX_LENGTH_PREFIX_BYTES } from "../limits.js";
import { framingSlabs } from "./slab.js";

/**
 * The TCP length prefix (FRM-2): the payload length as an unsigned LEB128
 * varint, minimally encoded, at most four bytes. This is the framing Java's
 * parseDelimitedFrom, Go's protodelim and C++'s delimited_message_util read
 * and write, so those libraries interoperate with it unchanged.
 */

/** The largest length a prefix can carry. */
export const MAX_PREFIXED_LENGTH = 2 ** (7 * MAX_LENGTH_PREFIX_BYTES) - 1;

/** How many bytes the prefix of `length` takes. */
export function lengthPrefixSize(length: number): number {
  if (length < 0x80) return 1;
  if (length < 0x4000) return 2;
  if (length < 0x200000) return 3;
  if (length <= MAX_PREFIXED_LENGTH) return 4;
  throw new RangeError(`length ${length} does not fit a ${MAX_LENGTH_PREFIX_BYTES}-byte prefix`);
}

/** Write the prefix of `length` at `offset`; returns the offset after it. */
export function writeLengthPrefix(length: number, target: Uint8Array, offset: number): number {
  let value = length;
  while (value >= 0x80) {
    target[offset++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  target[offset++] = value;
  return offset;
}

/** `payload` preceded by its length prefix, in one buffer (slab-carved when small: it is usually written and dropped). */
export function withLengthPrefix(payload: Uint8Array): Uint8Array {
  const out = framingSlabs.allocate(lengthPrefixSize(payload.length) + payload.length);
  out.set(payload, writeLengthPrefix(payload.length, out, 0));
  return out;
}
