/**
 * Byte builders for hand-assembled Protobuf payloads. Vectors that a
 * Protobuf library would never produce (unknown fields, fields out of order,
 * wrong wire types, truncations) are written with these, field by field, so
 * each vector's bytes can be read off its definition.
 */

export type Bytes = readonly number[] | Uint8Array;

export const WireType = { varint: 0, fixed64: 1, delimited: 2, startGroup: 3, endGroup: 4, fixed32: 5 } as const;

/** The bytes of `parts`, concatenated. */
export function bytes(...parts: Bytes[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** An unsigned LEB128 varint, minimally encoded. Negative numbers are two's complement over 64 bits (10 bytes), as Protobuf writes int32/int64. */
export function varint(value: number | bigint): number[] {
  let v = BigInt(value);
  if (v < 0n) v += 1n << 64n;
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

export function tag(field: number, wireType: number): number[] {
  return varint((BigInt(field) << 3n) | BigInt(wireType));
}

/** A varint field. */
export function vfield(field: number, value: number | bigint): number[] {
  return [...tag(field, WireType.varint), ...varint(value)];
}

/** A length-delimited field holding `parts`. */
export function dfield(field: number, ...parts: Bytes[]): Uint8Array {
  const content = bytes(...parts);
  return bytes(tag(field, WireType.delimited), varint(content.length), content);
}

/** A length-delimited field holding UTF-8 text. */
export function sfield(field: number, text: string): Uint8Array {
  return dfield(field, utf8(text));
}

export function fixed32field(field: number, value: number): number[] {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value);
  return [...tag(field, WireType.fixed32), ...b];
}

export function fixed64field(field: number, value: bigint): number[] {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(value);
  return [...tag(field, WireType.fixed64), ...b];
}

/** A group (wire types 3 and 4) holding `parts`. */
export function group(field: number, ...parts: Bytes[]): Uint8Array {
  return bytes(tag(field, WireType.startGroup), ...parts, tag(field, WireType.endGroup));
}

export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function hex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replace(/\s+/g, ""), "hex"));
}

export function toHex(data: Bytes): string {
  return Buffer.from(data).toString("hex");
}

/** `payload` preceded by its minimal length prefix (FRM-1, FRM-2). */
export function framed(payload: Bytes): Uint8Array {
  return bytes(varint(payload.length), payload);
}
