import type { MessageInitShape } from "@bufbuild/protobuf";
import type { FrameSchema } from "../../gen/imwire/v1/frame_pb.js";

/** A request body as the client builds it. */
export type RequestBody = NonNullable<MessageInitShape<typeof FrameSchema>["body"]>;

/** A request the application asked for, kept until answered (IDEM-1). */
export interface Operation {
  /** For sends, the client_message_id; otherwise an id of the client's own. */
  readonly id: string;
  readonly body: RequestBody;
  readonly createdAt: number;
  attempts: number;
  /** Not to be sent before this time (backoff, retry_after_ms). */
  notBefore: number;
  /** The attempt awaiting an answer on the current connection, if any, and when it was sent. */
  requestId: number;
  sentAt: number;
}

export interface OutboxTiming {
  /** Whether an attempt unanswered on a live connection is sent again there (CONN-10, lossy transports only). */
  readonly retryOnSameConnection: boolean;
  /** How long an attempt may go unanswered on a live connection before it is sent again. */
  readonly attemptTimeoutMs: number;
  /** The ceiling of the doubling attempt timeout. */
  readonly maxAttemptTimeoutMs: number;
}

/**
 * Operations awaiting an answer, oldest first. Every operation imwire
 * clients send is idempotent — sends by client_message_id (IDEM-2), group
 * creation by client_conversation_id (IDEM-6), the rest by their nature — so
 * sending one again after a lost connection or a lost frame is always safe.
 */
export class Outbox {
  readonly #operations = new Map<string, Operation>();

  constructor(private readonly timing: OutboxTiming) {}

  get size(): number {
    return this.#operations.size;
  }

  /** `attempts` above 0 for an operation that may have been sent already (one restored: CLI-2). */
  add(id: string, body: RequestBody, now: number, createdAt = now, attempts = 0): Operation {
    const operation: Operation = { id, body, createdAt, attempts, notBefore: now, requestId: 0, sentAt: 0 };
    this.#operations.set(id, operation);
    return operation;
  }

  /** Every operation, oldest first. */
  all(): IterableIterator<Operation> {
    return this.#operations.values();
  }

  get(id: string): Operation | undefined {
    return this.#operations.get(id);
  }

  remove(id: string): void {
    this.#operations.delete(id);
  }

  /** Operations to send now, oldest first: never sent on this connection, or unanswered past their timeout. */
  due(now: number): Operation[] {
    const due: Operation[] = [];
    for (const operation of this.#operations.values()) {
      if (operation.notBefore > now) continue;
      if (operation.requestId === 0 || (this.timing.retryOnSameConnection && now - operation.sentAt >= this.#timeout(operation))) due.push(operation);
    }
    return due;
  }

  /**
   * The earliest time an operation becomes due, for the machine's wake-up.
   * With `unsent` false, only attempts in flight count (their retry frees a
   * slot): when the in-flight limit is reached, an unsent operation that is
   * due cannot go, and waking for it would wake at once, forever.
   */
  nextDue(unsent = true): number {
    let next = Infinity;
    for (const operation of this.#operations.values()) {
      if (!unsent && operation.requestId === 0) continue;
      const retryAt = this.timing.retryOnSameConnection ? operation.sentAt + this.#timeout(operation) : Infinity;
      const at = operation.requestId === 0 ? operation.notBefore : Math.max(operation.notBefore, retryAt);
      if (at < next) next = at;
    }
    return next;
  }

  markSent(operation: Operation, requestId: number, now: number): void {
    operation.attempts++;
    operation.requestId = requestId;
    operation.sentAt = now;
  }

  /** A retryable refusal: try again no sooner than `notBefore`. */
  retryLater(operation: Operation, notBefore: number): void {
    operation.requestId = 0;
    operation.notBefore = notBefore;
  }

  /** The connection is gone: every attempt on it is lost, and each operation will be sent again. */
  connectionLost(): void {
    for (const operation of this.#operations.values()) operation.requestId = 0;
  }

  /** Operations first attempted before `createdBefore`: past the dedup window, to be given up (IDEM-4). */
  expired(createdBefore: number): Operation[] {
    return [...this.#operations.values()].filter((o) => o.createdAt < createdBefore);
  }

  #timeout(operation: Operation): number {
    return Math.min(this.timing.attemptTimeoutMs * 2 ** Math.max(0, operation.attempts - 1), this.timing.maxAttemptTimeoutMs);
  }
}
