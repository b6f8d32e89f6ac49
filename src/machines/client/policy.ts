import type { ConversationEvent } from "../../gen/imwire/v1/message_pb.js";
import type { RequestBody } from "./outbox.js";
import type { Timeline } from "./timeline.js";

/** What the client knows of its user stream when it acknowledges. */
export interface StreamPosition {
  /** Every entry up to here is applied (CUR-3). */
  readonly held: bigint;
  /** The highest cursor received, gaps or not. */
  readonly highestSeen: bigint;
}

/**
 * The decisions the client's guarantees rest on, as one seam. The machine
 * takes a policy so that tests can run it with one decision made wrongly and
 * prove the property suites notice (the variants live in test/support); the
 * only implementation that ships is `correctPolicy`.
 */
export interface ClientPolicy {
  /** ACK-1, ACK-2: the cursor a delivery_ack carries. */
  ackCursor(position: StreamPosition): bigint;
  /**
   * SEQ-3, SEQ-4: take a pushed event into its conversation's timeline and
   * return what the application may have now, in seq order.
   */
  deliverable(timeline: Timeline, event: ConversationEvent): readonly ConversationEvent[];
  /** IDEM-1: the body of attempt `attempt` (1 for the first retry) of a request first built as `body`. */
  retryBody(body: RequestBody, attempt: number, newId: () => string): RequestBody;
  /** CLI-2: the body an operation restored from a previous run goes with; undefined forgets the operation. */
  restoredBody(body: RequestBody, newId: () => string): RequestBody | undefined;
  /** SEQ-3, CUR-3, CUR-6: whether missing events and stream entries are fetched. */
  readonly fetchesGaps: boolean;
}

export const correctPolicy: ClientPolicy = {
  // Never past a gap: acknowledged entries are not redelivered (ACK-1), and nothing beyond what was received (ACK-2).
  ackCursor: (position) => position.held,
  deliverable: (timeline, event) => timeline.accept(event),
  // The same idempotency key on every attempt, so the server answers a retry with the first answer (IDEM-2).
  retryBody: (body) => body,
  // The body as persisted, key and all: a send the dead process made is answered with its first answer, not stored again.
  restoredBody: (body) => body,
  fetchesGaps: true,
};
