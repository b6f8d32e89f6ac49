import { create } from "@bufbuild/protobuf";
import { ErrorCode, type Error as ErrorBody } from "../../gen/imwire/v1/error_pb.js";
import type { Frame } from "../../gen/imwire/v1/frame_pb.js";
import { SendMessageSchema } from "../../gen/imwire/v1/message_pb.js";
import { sizeSendMessage } from "../../gen/imwire/v1/message_fast.js";
import { maxSendMessageSize } from "../../limits.js";
import type { ClientContext } from "./context.js";
import { featureName, requiredFeature } from "./features.js";
import type { Link } from "./link.js";
import { Outbox, type Operation, type RequestBody } from "./outbox.js";
import type { PersistedOperation } from "./persisted-state.js";
import { mayRequest } from "./states.js";

/** A part of the machine that takes an operation's outcome instead of the application (member-lists.ts). */
export interface OperationOwner {
  answered(body: Frame["body"]): void;
  failed(code: ErrorCode | "expired", message: string): void;
}

/**
 * The application's requests on the wire (IDEM-1, IDEM-4, CONN-10, FLOW-1):
 * each kept in the outbox until answered, sent when the connection allows,
 * again after a lost connection (or, on lossy transports, a lost frame), and
 * given up after the dedup window.
 */
export class Operations {
  readonly #ctx: ClientContext;
  readonly #outbox: Outbox;
  readonly #owners = new Map<string, OperationOwner>();

  constructor(ctx: ClientContext) {
    this.#ctx = ctx;
    const { options } = ctx;
    this.#outbox = new Outbox({ retryOnSameConnection: options.lossyTransport, attemptTimeoutMs: options.attemptTimeoutMs, maxAttemptTimeoutMs: options.maxAttemptTimeoutMs });
  }

  get size(): number {
    return this.#outbox.size;
  }

  /** `owner`, when given, takes the outcome; the application hears nothing of the operation. */
  add(id: string, body: RequestBody, owner?: OperationOwner): string {
    if (owner) this.#owners.set(id, owner);
    this.#outbox.add(id, body, this.#ctx.now);
    this.flush();
    return id;
  }

  /**
   * CLI-2: what the outbox must keep across a restart — every operation the
   * application asked for and has not heard the outcome of, with its body
   * as first built (its idempotency key inside). Operations a part of the
   * machine owns (member listings: reads, asked again by whoever needs them)
   * die with the process.
   */
  persisted(): PersistedOperation[] {
    const kept: PersistedOperation[] = [];
    for (const operation of this.#outbox.all()) {
      if (!this.#owners.has(operation.id)) kept.push({ id: operation.id, body: operation.body, createdAt: operation.createdAt });
    }
    return kept;
  }

  /**
   * CLI-2: take back the operations of a previous run. Each may have been
   * sent before the process died, so it counts as attempted once: it goes
   * again with the same body (IDEM-1), and the dedup window still runs from
   * when it was first asked for (IDEM-4).
   */
  restore(operations: readonly PersistedOperation[]): void {
    const { policy, deps, now } = this.#ctx;
    for (const { id, body, createdAt } of operations) {
      const restored = policy.restoredBody(body, deps.newId);
      if (restored) this.#outbox.add(id, restored, now, createdAt, 1);
    }
  }

  /** Send what is due, within the in-flight limit; give up what outlived the dedup window. */
  flush(): void {
    const { link, now, state } = this.#ctx;
    if (!link || !mayRequest(state)) return;
    for (const operation of this.#outbox.expired(now - link.dedupWindowMs)) {
      this.#fail(operation, "expired", "not acknowledged within the dedup window");
    }
    for (const operation of this.#outbox.due(now)) {
      if (operation.requestId !== 0) link.abandonAttempt(operation.requestId); // timed out (CONN-10)
      if (link.full) break;
      if (this.#oversized(operation, link) || this.#notInForce(operation, link)) continue;
      this.#attempt(operation);
    }
  }

  /** When an operation is next due; with the in-flight limit reached only a retry frees a slot, so only those count. */
  nextWakeup(link: Link): number {
    return this.#outbox.nextDue(!link.full);
  }

  answered(operationId: string, body: Frame["body"]): void {
    const operation = this.#outbox.get(operationId);
    if (!operation) return;
    this.#settle(operation);
    const owner = this.#owners.get(operationId);
    this.#owners.delete(operationId);
    if (owner) owner.answered(body);
    else if (body.case === "sendAck") this.#ctx.emit({ kind: "sent", clientMessageId: operation.id, ack: body.value });
    else this.#ctx.emit({ kind: "done", operationId: operation.id, answer: body });
  }

  refused(operationId: string, error: ErrorBody): void {
    const { options, deps, now } = this.#ctx;
    const operation = this.#outbox.get(operationId);
    if (!operation) return;
    if (error.retryable) {
      const backoff = Math.min(options.attemptTimeoutMs * 2 ** operation.attempts, options.maxAttemptTimeoutMs);
      this.#outbox.retryLater(operation, now + Math.max(error.retryAfterMs, backoff * deps.random()));
      return;
    }
    this.#fail(operation, error.code, error.message);
  }

  /** Every attempt on the lost connection is lost: each operation goes again on the next (CONN-10). */
  connectionLost(): void {
    this.#outbox.connectionLost();
  }

  #fail(operation: Operation, code: ErrorCode | "expired", message: string): void {
    this.#settle(operation);
    const owner = this.#owners.get(operation.id);
    this.#owners.delete(operation.id);
    if (owner) owner.failed(code, message);
    else this.#ctx.emit({ kind: "failed", operationId: operation.id, code, message });
  }

  /**
   * EXT-5: a request of a feature not in force on this connection must not
   * be sent; it fails here, as a server without the feature would fail it
   * (ENV-4). Checked on every attempt: a reconnection may bring a server
   * that no longer has the feature.
   */
  #notInForce(operation: Operation, link: Link): boolean {
    const feature = requiredFeature(operation.body.case);
    if (feature === undefined || link.features.has(feature)) return false;
    this.#fail(operation, ErrorCode.UNKNOWN_FRAME, `${operation.body.case} needs ${featureName(feature)}, which is not in force (EXT-5)`);
    return true;
  }

  #settle(operation: Operation): void {
    this.#outbox.remove(operation.id);
    this.#ctx.link?.retireAttempts(operation.id);
  }

  /** LIM-3: a message the server must refuse fails here, without a round trip, as the server would fail it. */
  #oversized(operation: Operation, link: Link): boolean {
    const body = operation.body;
    if (body.case !== "sendMessage" || link.maxFrameSize === 0) return false;
    const size = sizeSendMessage(create(SendMessageSchema, body.value));
    const limit = maxSendMessageSize(link.maxFrameSize);
    if (size <= limit) return false;
    this.#fail(operation, ErrorCode.INVALID_ARGUMENT, `send_message of ${size} bytes is larger than ${limit} (LIM-3)`);
    return true;
  }

  #attempt(operation: Operation): void {
    const { policy, deps, now } = this.#ctx;
    // CLI-2: an operation's first frame goes only once the operation is persisted.
    if (operation.attempts === 0) this.#ctx.checkpoint();
    const body = operation.attempts > 0 ? policy.retryBody(operation.body, operation.attempts, deps.newId) : operation.body;
    const requestId = this.#ctx.request(body, { kind: "operation", operationId: operation.id });
    this.#outbox.markSent(operation, requestId, now);
  }
}
