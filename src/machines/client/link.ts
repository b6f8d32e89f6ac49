import type { Feature, Welcome } from "../../gen/imwire/v1/connection_pb.js";

const NEVER = Infinity;

/** What a request id on the current connection is waiting for. */
export type Pending =
  | { readonly kind: "hello" }
  | { readonly kind: "authenticate" }
  | { readonly kind: "operation"; readonly operationId: string }
  | { readonly kind: "syncUser"; readonly sentAt: number }
  | { readonly kind: "syncConversation"; readonly conversationId: string; readonly sentAt: number };

/** The client's state for one transport connection, dropped with it; the device's state lives in the other parts. */
export class Link {
  /** Requests awaiting an answer: what FLOW-1 counts. */
  readonly pending = new Map<number, Pending>();
  /** Attempts given up on (CONN-10): not counted, but their answers still count. */
  readonly abandoned = new Map<number, Pending>();
  lastReceivedAt: number;
  /** The values welcome bound the connection to (CONN-2); until then, the handshake's. */
  heartbeatMs = 0;
  maxInFlight = 1;
  /** Welcome.max_frame_size; 0 until welcome. */
  maxFrameSize = 0;
  dedupWindowMs = NEVER;
  /** EXT-5: the features in force, Welcome.features; none until welcome. */
  features: ReadonlySet<Feature> = new Set();
  nextPingAt = NEVER;
  /** Set on authenticated: CONN-11 no longer restricts what the server sends. */
  authenticated = false;
  /** CONN-7: when the drain ends and the next connection may be asked for. */
  reconnectAfterDrainAt = NEVER;
  #nextRequestId = 1;
  #nextNonce = 1n;

  constructor(
    /** The id of the connection, as given in the "connect" output. */
    readonly connection: number,
    readonly openedAt: number,
  ) {
    this.lastReceivedAt = openedAt;
  }

  applyWelcome(welcome: Welcome, now: number): void {
    this.heartbeatMs = welcome.heartbeatIntervalMs;
    this.maxInFlight = welcome.maxInFlight;
    this.maxFrameSize = welcome.maxFrameSize;
    this.dedupWindowMs = welcome.dedupWindowS * 1000;
    this.features = new Set(welcome.features);
    this.nextPingAt = now + 0.8 * welcome.heartbeatIntervalMs;
  }

  /** FLOW-1: no request may go until an answer frees a slot. */
  get full(): boolean {
    return this.pending.size >= this.maxInFlight;
  }

  /** Register a request; returns its id (ids wrap within uint32, never 0). */
  register(pending: Pending): number {
    const requestId = this.#nextRequestId;
    this.#nextRequestId = requestId >= 0xffff_ffff ? 1 : requestId + 1;
    this.pending.set(requestId, pending);
    return requestId;
  }

  nextNonce(): bigint {
    return this.#nextNonce++;
  }

  /** The request an answer with `requestId` answers, taken off the books; undefined for a report or an answer already taken. */
  take(requestId: number): Pending | undefined {
    if (requestId === 0) return undefined;
    const pending = this.pending.get(requestId) ?? this.abandoned.get(requestId);
    this.pending.delete(requestId);
    this.abandoned.delete(requestId);
    return pending;
  }

  /** CONN-10: stop counting an attempt against FLOW-1, but still take its answer if it comes. */
  abandonAttempt(requestId: number): void {
    const pending = this.pending.get(requestId);
    if (pending === undefined) return;
    this.pending.delete(requestId);
    this.abandoned.set(requestId, pending);
  }

  /** An operation is settled: its other attempts neither count against FLOW-1 nor need answers. */
  retireAttempts(operationId: string): void {
    for (const attempts of [this.pending, this.abandoned]) {
      for (const [requestId, pending] of attempts) {
        if (pending.kind === "operation" && pending.operationId === operationId) attempts.delete(requestId);
      }
    }
  }

  /** When the oldest sync request in flight was sent; NEVER when there is none. */
  oldestSyncSentAt(): number {
    let oldest = NEVER;
    for (const pending of this.pending.values()) {
      if ((pending.kind === "syncUser" || pending.kind === "syncConversation") && pending.sentAt < oldest) oldest = pending.sentAt;
    }
    return oldest;
  }
}
