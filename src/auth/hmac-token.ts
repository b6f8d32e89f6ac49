import { createHmac, timingSafeEqual } from "node:crypto";
import type { TokenCheck } from "../machines/server/types.js";

/**
 * The reference server's token scheme (AUTH-2), documented in SPEC.md's
 * companion README: `imw1.<claims>.<signature>`, where claims is base64url
 * JSON {"u": user, "d": device, "exp": expiry in ms since the epoch, 0 for
 * never} and signature is base64url HMAC-SHA256 over "imw1.<claims>" with the
 * server's secret. Bearer tokens: whoever holds one is that user's device, so
 * keep them secret and short-lived.
 */

const PREFIX = "imw1";

export interface TokenClaims {
  readonly userId: string;
  readonly deviceId: string;
  /** Milliseconds since the Unix epoch; 0 for a token that never expires. */
  readonly expiresAtMs: number;
}

export function issueToken(claims: TokenClaims, secret: string | Buffer): string {
  const body = Buffer.from(JSON.stringify({ u: claims.userId, d: claims.deviceId, exp: claims.expiresAtMs })).toString("base64url");
  return `${PREFIX}.${body}.${sign(`${PREFIX}.${body}`, secret)}`;
}

/** Verify a token at `now`; never throws, whatever the input. */
export function verifyToken(token: string, secret: string | Buffer, now: number): TokenCheck {
  const parts = token.split(".");
  if (parts.length !== 3 || parts[0] !== PREFIX) return { ok: false, expired: false };
  const [, body, signature] = parts as [string, string, string];
  const expected = Buffer.from(sign(`${PREFIX}.${body}`, secret));
  const actual = Buffer.from(signature);
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) return { ok: false, expired: false };
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
  } catch {
    return { ok: false, expired: false };
  }
  const { u, d, exp } = (claims ?? {}) as { u?: unknown; d?: unknown; exp?: unknown };
  if (typeof u !== "string" || typeof d !== "string" || u === "" || d === "" || typeof exp !== "number") return { ok: false, expired: false };
  if (exp !== 0 && exp <= now) return { ok: false, expired: true };
  return { ok: true, userId: u, deviceId: d, expiresAtMs: exp };
}

function sign(data: string, secret: string | Buffer): string {
  return createHmac("sha256", secret).update(data).digest("base64url");
}

/** Parse "90s", "15m", "12h", "7d" or plain milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) throw new Error(`not a duration: ${text}`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(match[2] ?? "ms") as "ms"];
  return Number(match[1]) * unit;
}
