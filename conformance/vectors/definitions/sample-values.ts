import { createHash } from "node:crypto";
import type { Feature } from "../../../src/gen/imwire/v1/connection_pb.js";

/** Edge values the vectors share, named so definitions read as what they test. */

export const U32_MAX = 4_294_967_295;
export const U64_MAX = 18_446_744_073_709_551_615n;
export const I64_MIN = -9_223_372_036_854_775_808n;
export const I64_MAX = 9_223_372_036_854_775_807n;

/** 2025-11-27T00:00:00Z in milliseconds: a realistic server time. */
export const SERVER_TIME_MS = 1_764_201_600_000n;

/**
 * Text that breaks naive UTF-16 and byte handling: Latin with combining
 * marks (e + U+0301, a + U+0308 + U+0323), CJK, astral-plane symbols
 * (U+1D11E, emoji with a skin-tone modifier, a ZWJ family), right-to-left
 * Hebrew and Arabic, and U+0000, which is valid UTF-8.
 */
export const UNICODE_TEXT = "Gru\u0308\u00dfe, cafe\u0301 a\u0308\u0323 \u4e16\u754c \ud834\udd1e \ud83d\ude42\ud83d\udc4d\ud83c\udffd \ud83d\udc69\u200d\ud83d\udc69\u200d\ud83d\udc67 \u05e2\u05d1\u05e8\u05d9\u05ea \ufdfd nul:\u0000.";

/** A string of exactly `bytes` (at least 9) UTF-8 bytes, starting with a 4-, a 3- and a 2-byte character (LIM-2's identifier maximum is 128 bytes). */
export function utf8OfLength(bytes: number): string {
  const head = "\ud83d\ude80\u20ac\u00e9"; // 4 + 3 + 2 bytes
  return head + "a".repeat(bytes - Buffer.byteLength(head));
}

/** Deterministic filler bytes, every value 0..255 appearing. */
export function patternBytes(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);
}

/** The SHA-256 of `text`: a real 32-byte digest for MediaRef.sha256 (MSG-3). */
export function sha256Of(text: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(text).digest());
}

/** Position of `needle` in `text` counted in Unicode code points, as Mention.offset is (MSG-5). */
export function codePointOffset(text: string, needle: string): number {
  const at = text.indexOf(needle);
  if (at < 0) throw new Error(`"${needle}" is not in "${text}"`);
  return [...text.slice(0, at)].length;
}

export function codePointLength(text: string): number {
  return [...text].length;
}

/**
 * The welcome of the version 1.1 vectors: version 1's usual values with
 * `features` in force and the two-day edit window FEATURE_MESSAGE_ACTIONS
 * needs (every one of them puts it in force).
 */
export function featureWelcome(features: readonly Feature[]) {
  return {
    version: 1,
    maxFrameSize: 1_048_576,
    heartbeatIntervalMs: 30_000,
    maxInFlight: 100,
    receiveWindow: 100,
    dedupWindowS: 86_400,
    features: [...features],
    editWindowS: 172_800,
  };
}
