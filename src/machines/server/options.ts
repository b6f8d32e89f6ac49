import { DEFAULT_MAX_FRAME_SIZE } from "../../limits.js";

/** What a server announces in Welcome and enforces (SPEC.md §17, §18, §20). */
export interface ServerOptions {
  /** Welcome.max_frame_size (LIM-1). */
  readonly maxFrameSize: number;
  /** Welcome.heartbeat_interval_ms (HB-1). */
  readonly heartbeatIntervalMs: number;
  /** Welcome.max_in_flight (FLOW-1). */
  readonly maxInFlight: number;
  /** The server's own push window; Welcome.receive_window is the smaller of this and the client's (FLOW-2). */
  readonly receiveWindow: number;
  /** Welcome.dedup_window_s (IDEM-4): keys are kept this long after their first attempt, then forgotten. */
  readonly dedupWindowS: number;
  /** How often, at most, the machine looks for keys past the window (a batch at a time, on the inputs that follow). */
  readonly dedupExpiryIntervalMs: number;
  /** CONN-6. */
  readonly handshakeTimeoutMs: number;
  /** CONN-7: how long a draining connection may stay open after go_away. */
  readonly drainTimeoutMs: number;
  /** LIM-4. */
  readonly maxGroupSize: number;
  /** SYNC-2. */
  readonly conversationPageDefault: number;
  readonly conversationPageMax: number;
  /** SYNC-3. */
  readonly userPageDefault: number;
  readonly userPageMax: number;
  /** SYNC-4, CUR-5: a device further behind than this many entries gets a snapshot. */
  readonly snapshotAfterEntries: number;
  /** READ-3: read receipts are sent in conversations of at most this many members. */
  readonly readReceiptMaxMembers: number;
  /** Welcome.server_agent. */
  readonly serverAgent: string;
}

export const defaultServerOptions: ServerOptions = {
  maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
  heartbeatIntervalMs: 30_000,
  maxInFlight: 100,
  receiveWindow: 100,
  dedupWindowS: 7 * 86_400,
  dedupExpiryIntervalMs: 60_000,
  handshakeTimeoutMs: 10_000,
  drainTimeoutMs: 5_000,
  maxGroupSize: 1_000,
  conversationPageDefault: 100,
  conversationPageMax: 1_000,
  userPageDefault: 200,
  userPageMax: 1_000,
  snapshotAfterEntries: 10_000,
  readReceiptMaxMembers: 100,
  serverAgent: "imwire-reference",
};
