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
    fetch(this.url, { method: "POST", headers: { "content-type": "application/json" }, body, signal: AbortSignal.timeout(TIMEOUT_MS) })
      .then((response) => {
        if (!response.ok) this.log.warn(`push webhook answered HTTP ${response.status} for ${handoff.conversationId}#${handoff.seq}`);
        return response.body?.cancel();
      })
      .catch((error: unknown) => this.log.warn(`push webhook ${this.url} failed: ${(error as Error).message}`))
      .finally(() => this.#pending--);
  }
}
