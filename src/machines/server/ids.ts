import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import { RequestError } from "./request-error.js";
import { MAX_ID_BYTES } from "../../limits.js";


/** UTF-8 length of a string without allocating (strings from the decoder are valid UTF-16). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** LIM-2: whether an identifier is 1 to 128 bytes of UTF-8. */
export function isValidId(value: string): boolean {
  return value.length !== 0 && (value.length <= MAX_ID_BYTES / 4 || utf8Length(value) <= MAX_ID_BYTES);
}

/** LIM-2: identifiers are 1 to 128 bytes of UTF-8. */
export function checkId(value: string, field: string): void {
  if (value.length === 0) throw new RequestError(ErrorCode.INVALID_ARGUMENT, `${field} is empty`, "LIM-2");
  if (value.length > MAX_ID_BYTES / 4 && utf8Length(value) > MAX_ID_BYTES) {
    throw new RequestError(ErrorCode.INVALID_ARGUMENT, `${field} is longer than ${MAX_ID_BYTES} bytes`, "LIM-2");
  }
}

/** A uint64 from the wire as a number; values beyond 2^53 become Infinity, above anything this server allocates. */
export function toNumber(value: bigint): number {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : Infinity;
}

/** Order strings as their UTF-8 bytes order, which is code point order (SYNC-7); UTF-16 order differs above U+D7FF. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Where the units differ, a surrogate (a code point above U+FFFF) outranks any other unit above U+D7FF.
    if (x >= 0xd800 && y >= 0xd800) return surrogateRank(x) - surrogateRank(y);
    return x - y;
  }
  return a.length - b.length;
}

function surrogateRank(unit: number): number {
  return unit >= 0xd800 && unit <= 0xdfff ? unit + 0x10000 : unit;
}
