import type { ConversationEvent } from "../../src/gen/imwire/v1/message_pb.js";
import { correctPolicy, type ClientPolicy } from "../../src/machines/client/policy.js";

/**
 * Clients broken on purpose, for the tests that prove the property suites
 * catch them. Each bug is one of the machine's decisions made wrongly,
 * planted through the ClientPolicy seam, so that nothing of it ships in
 * ClientMachine (as test/support/broken-servers.ts does for servers).
 */
export interface ClientBreakage {
  /** Hand events out as they arrive, skipping the reorder buffer (breaks SEQ-4: order). */
  readonly noReorderBuffer?: boolean;
  /** Hand out events already handed out (breaks SEQ-4: exactly once). */
  readonly noDuplicateCheck?: boolean;
  /** Never fetch a gap (breaks SEQ-3, CUR-3: no loss). */
  readonly noGapSync?: boolean;
  /** Acknowledge entries held after a gap (breaks ACK-1). */
  readonly ackAheadOfGap?: boolean;
  /** Acknowledge one cursor more than held (breaks ACK-2). */
  readonly ackBeyondHeld?: boolean;
  /** Give each retry of a send a new client_message_id (breaks IDEM-1: duplicates). */
  readonly newIdPerRetry?: boolean;
}

export const clientBreakages: readonly (keyof ClientBreakage)[] = ["noReorderBuffer", "noDuplicateCheck", "noGapSync", "ackAheadOfGap", "ackBeyondHeld", "newIdPerRetry"];

/** Clients that get restarts wrong (CLI-2), caught by test/client-persistence.test.ts under scenarios that restart devices. */
export interface PersistenceBreakage {
  /** Restore the outbox empty: what the dead process had not heard back about is lost (breaks CLI-2: property 5). */
  readonly forgetOutboxOnRestore?: boolean;
  /** Give each restored send a new client_message_id: one the dead process sent is stored twice (breaks CLI-2, IDEM-1: property 4). */
  readonly rekeyOnRestore?: boolean;
}

export const persistenceBreakages: readonly (keyof PersistenceBreakage)[] = ["forgetOutboxOnRestore", "rekeyOnRestore"];

/** A factory of policies with `breakage` planted: one per machine, since some broken decisions remember what they did. */
export function brokenClient(breakage: ClientBreakage & PersistenceBreakage): () => ClientPolicy {
  return () => {
    const policy: { -readonly [K in keyof ClientPolicy]: ClientPolicy[K] } = { ...correctPolicy };
    if (breakage.noReorderBuffer) policy.deliverable = deliverOnArrival();
    if (breakage.noDuplicateCheck) policy.deliverable = (timeline, event) => (event.seq <= timeline.held ? [event] : timeline.accept(event));
    if (breakage.noGapSync) policy.fetchesGaps = false;
    if (breakage.ackAheadOfGap) policy.ackCursor = (position) => position.highestSeen;
    if (breakage.ackBeyondHeld) policy.ackCursor = (position) => position.held + 1n;
    if (breakage.newIdPerRetry) {
      policy.retryBody = (body, _attempt, newId) => (body.case === "sendMessage" ? { case: "sendMessage", value: { ...body.value, clientMessageId: newId() } } : body);
    }
    if (breakage.forgetOutboxOnRestore) policy.restoredBody = () => undefined;
    if (breakage.rekeyOnRestore) {
      policy.restoredBody = (body, newId) => (body.case === "sendMessage" ? { case: "sendMessage", value: { ...body.value, clientMessageId: newId() } } : body);
    }
    return policy;
  };
}

/** Events ahead of a gap go out at once, and the gap's events after them when it fills. */
function deliverOnArrival(): ClientPolicy["deliverable"] {
  const early = new Set<string>();
  const key = (event: ConversationEvent) => `${event.conversationId}#${event.seq}`;
  return (timeline, event) => {
    const out: ConversationEvent[] = [];
    if (event.seq > timeline.held + 1n && !early.has(key(event))) {
      early.add(key(event));
      out.push(event);
    }
    return [...out, ...timeline.accept(event).filter((e) => !early.has(key(e)))];
  };
}
