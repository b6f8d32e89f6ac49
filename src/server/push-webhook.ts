import { createHmac, timingSafeEqual } from "node:crypto";
import type { ServerOutput } from "../machines/server/types.js";
import type { Logger } from "./logger.js";

type Handoff = Extract<ServerOutput, { kind: "push-handoff" }>;

/** Hand-offs posted at once and not yet answered, at most; beyond it they are dropped (and logged), never queued without bound. */
const MAX_PENDING = 256;
const TIMEOUT_MS = 5_000;

/**
 * Push hand-offs (RECV-5) as HTTP POSTs of JSON to one URL (SPEC.md
 * HOOK-3): how the conformance runner sees what a server hands to push
 * services, and a way for an operator to put its own push gateway behind the
 * reference server. Hand-offs are alerts, not the messages themselves: one
 * that fails is logged, not retried.
 */
export class PushWebhook {
  #pending = 0;

  constructor(
    readonly url: string,
    private readonly log: Logger,
    /** PSH-4: with a secret, each POST is signed (X-Imwire-Signature). */
    private readonly secret?: string,
    private readonly now: () => number = Date.now,
  ) {}

  deliver(handoff: Handoff): void {
    if (this.#pending >= MAX_PENDING) {
      this.log.warn(`push webhook: ${this.#pending} hand-offs unanswered; dropping the one for ${handoff.conversationId}#${handoff.seq}`);
      return;
    }
    this.#pending++;
    const body = JSON.stringify({
      userId: handoff.userId,
      deviceId: handoff.deviceId,
      pushService: handoff.pushService,
      pushToken: handoff.pushToken,
      conversationId: handoff.conversationId,
      seq: String(handoff.seq),
    });
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.secret !== undefined) headers["x-imwire-signature"] = signPushBody(body, this.secret, this.now());
    fetch(this.url, { method: "POST", headers, body, signal: AbortSignal.timeout(TIMEOUT_MS) })
      .then((response) => {
        if (!response.ok) this.log.warn(`push webhook answered HTTP ${response.status} for ${handoff.conversationId}#${handoff.seq}`);
        return response.body?.cancel();
      })
      .catch((error: unknown) => this.log.warn(`push webhook ${this.url} failed: ${(error as Error).message}`))
      .finally(() => this.#pending--);
  }
}

/** PSH-4: the X-Imwire-Signature header for a body sent at `timeMs`: t=<ms>,v1=<hex HMAC-SHA256 of "<t>.<body>">. */
export function signPushBody(body: string, secret: string, timeMs: number): string {
  const t = Math.floor(timeMs);
  return `t=${t},v1=${createHmac("sha256", secret).update(`${t}.${body}`).digest("hex")}`;
}

/** PSH-4, for receivers: whether a signature header is this body's under the secret, made within `toleranceMs` of `nowMs`. */
export function verifyPushSignature(header: string, body: string, secret: string, nowMs: number, toleranceMs = 300_000): boolean {
  const parts = Object.fromEntries(header.split(",").map((part) => part.split("=", 2) as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(nowMs - t) > toleranceMs || typeof parts.v1 !== "string") return false;
  const expected = createHmac("sha256", secret).update(`${t}.${body}`).digest();
  const given = Buffer.from(parts.v1, "hex");
  return given.length === expected.length && timingSafeEqual(given, expected);
}
