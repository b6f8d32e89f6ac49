import { RECEIVE_WINDOW_BYTES_RANGE, WELCOME_RANGES } from "../../codec/welcome.js";
import type { Rate } from "./rate-limit.js";
import { DEFAULT_MAX_FRAME_SIZE, MAX_ID_BYTES, MAX_TITLE_BYTES } from "../../limits.js";

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
  /** The server's own push window in bytes; Welcome.receive_window_bytes is the smaller of this and the client's (FLOW-2). */
  readonly receiveWindowBytes: number;
  /** FLOW-4: requests per connection and per user (all of its devices together). */
  readonly rateLimits: { readonly connection: Rate; readonly user: Rate };
  /** Welcome.dedup_window_s (IDEM-4): keys are kept this long after their first attempt, then forgotten. */
  readonly dedupWindowS: number;
  /** Welcome.edit_window_s (ACT-3): how long after a message its sender may edit it. */
  readonly editWindowS: number;
  /** How often, at most, the machine looks for keys past the window (a batch at a time, on the inputs that follow). */
  readonly dedupExpiryIntervalMs: number;
  /** CONN-6. */
  readonly handshakeTimeoutMs: number;
  /** CONN-7: how long a draining connection may stay open after go_away. */
  readonly drainTimeoutMs: number;
  /** LIM-4. */
  readonly maxGroupSize: number;
  /**
   * LIM-9: groups up to this size list their members in every Conversation;
   * above it they are paged (CONV-10). It also bounds the users one request
   * may create a group with or add, so every CREATED and ADDED event fits a
   * frame. By default 1,000, or as many as keep a Conversation within
   * maxFrameSize (serverOptions).
   */
  readonly maxInlineMembers: number;
  /** CUR-7, CUR-8: groups above this many members are under read fan-out (channels always are). */
  readonly readFanOutMembers: number;
  /** CONV-10. */
  readonly memberPageDefault: number;
  readonly memberPageMax: number;
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
  /** CLU-2: this node is one of a cluster: it hands out a cluster-notice output after inputs that wrote positions. */
  readonly clusterNotices: boolean;
  /** CLU-5: this node's name in its notices, unique in the cluster (the runner draws it: the machine has no randomness). */
  readonly clusterNodeId: string;
}

export const defaultServerOptions: ServerOptions = {
  maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
  heartbeatIntervalMs: 30_000,
  maxInFlight: 100,
  receiveWindow: 100,
  receiveWindowBytes: 2 * 1024 * 1024,
  rateLimits: { connection: { perSecond: 1_000, burst: 2_000 }, user: { perSecond: 2_000, burst: 4_000 } },
  dedupWindowS: 7 * 86_400,
  // ACT-3: two days, as Telegram's own: long enough to fix a typo found later, short enough that history settles.
  editWindowS: 2 * 86_400,
  dedupExpiryIntervalMs: 60_000,
  handshakeTimeoutMs: 10_000,
  drainTimeoutMs: 5_000,
  maxGroupSize: 200_000,
  maxInlineMembers: 1_000,
  readFanOutMembers: 100,
  memberPageDefault: 100,
  memberPageMax: 1_000,
  conversationPageDefault: 100,
  conversationPageMax: 1_000,
  userPageDefault: 200,
  userPageMax: 1_000,
  snapshotAfterEntries: 10_000,
  readReceiptMaxMembers: 100,
  clusterNotices: false,
  clusterNodeId: "",
  serverAgent: "imwire-reference",
};

/** Bytes one member id takes in a Conversation at most: the id (LIM-2), its tag and length. */
const MEMBER_BYTES = MAX_ID_BYTES + 3;

/** Bytes one Conversation can take at most (LIM-2, LIM-7, LIM-9): every member listed inline as long as allowed, the longest title, the rest. */
function largestConversation(inlineMembers: number): number {
  return inlineMembers * MEMBER_BYTES + (MAX_TITLE_BYTES + 3) + 512;
}

/** Room a frame needs around one Conversation: a stream entry or an event carrying it (SYNC-7, CONV-7). */
const ENVELOPE = 1_024;

/**
 * The options a server machine runs with: the defaults, then `options`, with
 * maxInlineMembers lowered (when not given) so that every Conversation fits
 * a frame. Throws when the result cannot be served: Welcome values outside
 * LIM-1/LIM-6, or inline member lists that could outgrow the frame limit.
 */
export function serverOptions(options: Partial<ServerOptions>): ServerOptions {
  const merged = { ...defaultServerOptions, ...options };
  const fitting = Math.floor((merged.maxFrameSize - ENVELOPE - largestConversation(0)) / MEMBER_BYTES);
  const resolved = options.maxInlineMembers === undefined ? { ...merged, maxInlineMembers: Math.min(merged.maxInlineMembers, fitting) } : merged;
  for (const [key, [min, max]] of Object.entries(WELCOME_RANGES)) {
    const value = resolved[key as keyof typeof WELCOME_RANGES];
    if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`${key} ${value} is outside ${min}..${max} (${key === "maxFrameSize" ? "LIM-1" : "LIM-6"})`);
  }
  const [minBytes, maxBytes] = RECEIVE_WINDOW_BYTES_RANGE;
  if (!Number.isInteger(resolved.receiveWindowBytes) || resolved.receiveWindowBytes < minBytes || resolved.receiveWindowBytes > maxBytes) {
    throw new RangeError(`receiveWindowBytes ${resolved.receiveWindowBytes} is outside ${minBytes}..${maxBytes} (LIM-6)`);
  }
  for (const rate of [resolved.rateLimits.connection, resolved.rateLimits.user]) {
    if (!(rate.perSecond > 0) || !(rate.burst >= 1)) throw new RangeError(`a rate limit needs perSecond > 0 and burst >= 1 (FLOW-4)`);
  }
  if (largestConversation(resolved.maxInlineMembers) + ENVELOPE > resolved.maxFrameSize) {
    throw new RangeError(`${resolved.maxInlineMembers} members listed inline could outgrow max_frame_size ${resolved.maxFrameSize}; at most ${fitting} fit (LIM-9, SYNC-7)`);
  }
  return resolved;
}
