/**
 * Byte-level helpers for the network fuzzer: varints, length prefixes, a
 * scanner for the top-level fields of a Protobuf payload, and the fuzzer's
 * own reading of a byte stream's framing (FRM-1, FRM-2, FRM-4), written from
 * SPEC.md rather than taken from src/framing, so that the two can disagree.
 */

/** An unsigned LEB128 varint, minimally encoded. */
export function varint(value: number | bigint): Uint8Array {
  let v = BigInt(value);
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return Uint8Array.from(out);
}

export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** FRM-1: a payload behind its length prefix. */
export function prefixed(payload: Uint8Array): Uint8Array {
  return concat(varint(payload.length), payload);
}

/** One top-level field of a payload: where its tag starts, where its value starts and ends. */
export interface ScannedField {
  readonly field: number;
  readonly wireType: number;
  readonly start: number;
  readonly valueStart: number;
  readonly end: number;
}

function readVarint(bytes: Uint8Array, at: number): [bigint, number] | undefined {
  let value = 0n;
  for (let i = 0; i < 10; i++) {
    if (at + i >= bytes.length) return undefined;
    const b = bytes[at + i]!;
    value |= BigInt(b & 0x7f) << BigInt(7 * i);
    if ((b & 0x80) === 0) return [value, at + i + 1];
  }
  return undefined;
}

/** The top-level fields of a payload, as far as they can be read (groups stop the scan). */
export function scanFields(bytes: Uint8Array): ScannedField[] {
  const fields: ScannedField[] = [];
  let at = 0;
  while (at < bytes.length) {
    const tag = readVarint(bytes, at);
    if (!tag) break;
    const [key, valueStart] = tag;
    const wireType = Number(key & 7n);
    const field = Number(key >> 3n);
    let end: number;
    if (wireType === 0) {
      const v = readVarint(bytes, valueStart);
      if (!v) break;
      end = v[1];
    } else if (wireType === 1) end = valueStart + 8;
    else if (wireType === 5) end = valueStart + 4;
    else if (wireType === 2) {
      const len = readVarint(bytes, valueStart);
      if (!len) break;
      end = len[1] + Number(len[0]);
    } else break;
    if (end > bytes.length) break;
    fields.push({ field, wireType, start: at, valueStart, end });
    at = end;
  }
  return fields;
}

/** A field's tag. */
export function tag(field: number, wireType: number): Uint8Array {
  return varint((BigInt(field) << 3n) | BigInt(wireType));
}

/** A length-delimited field. */
export function lengthDelimited(field: number, value: Uint8Array): Uint8Array {
  return concat(tag(field, 2), varint(value.length), value);
}

/** What the fuzzer expects a byte-stream receiver to make of bytes, frame by frame (FRM-2, FRM-4, FRM-6). */
export type FramingStep =
  | { readonly kind: "frame"; readonly payload: Uint8Array }
  /** FRM-2: an over-long or non-minimal prefix. */
  | { readonly kind: "bad-prefix" }
  /** FRM-4: a declared length over the limit, rejected from the prefix alone. */
  | { readonly kind: "too-large"; readonly length: number }
  /** FRM-6: bytes that end inside a prefix or a payload: nothing to act on yet. */
  | { readonly kind: "partial"; readonly declared: number | undefined };

/** Split `bytes` as SPEC.md §3.1 says a receiver must, with `limit` in force; stops at the first fatal step. */
export function expectedFraming(bytes: Uint8Array, limit: number): FramingStep[] {
  const steps: FramingStep[] = [];
  let at = 0;
  while (at < bytes.length) {
    let length = 0;
    let i = 0;
    let complete = false;
    for (; i < 4 && at + i < bytes.length; i++) {
      const b = bytes[at + i]!;
      length += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) {
        complete = true;
        if (i > 0 && b === 0) {
          steps.push({ kind: "bad-prefix" });
          return steps;
        }
        break;
      }
    }
    if (!complete) {
      if (i === 4) steps.push({ kind: "bad-prefix" });
      else steps.push({ kind: "partial", declared: undefined });
      return steps;
    }
    const bodyStart = at + i + 1;
    if (length > limit) {
      steps.push({ kind: "too-large", length });
      return steps;
    }
    if (bodyStart + length > bytes.length) {
      steps.push({ kind: "partial", declared: length });
      return steps;
    }
    steps.push({ kind: "frame", payload: bytes.subarray(bodyStart, bodyStart + length) });
    at = bodyStart + length;
  }
  return steps;
}

export function hex(bytes: Uint8Array, max = 256): string {
  const text = Buffer.from(bytes.subarray(0, max)).toString("hex");
  return bytes.length > max ? `${text}… (${bytes.length} bytes)` : text;
}
