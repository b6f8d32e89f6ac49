import type { Feature } from "../../gen/imwire/v1/connection_pb.js";
import { PROTOCOL_VERSION } from "../../limits.js";
import { implementedFeatures } from "./features.js";
import type { Transition } from "./states.js";

export interface ClientOptions {
  readonly deviceId: string;
  /** Hello.versions. */
  readonly versions: readonly number[];
  /**
   * Hello.features (EXT-5): by default every feature the client implements;
   * [] makes a client of version 1 as first published, which receives none.
   */
  readonly features: readonly Feature[];
  /** Hello.receive_window; 0 leaves it to the server (FLOW-2). */
  readonly receiveWindow: number;
  /** Hello.receive_window_bytes; 0 leaves it to the server (FLOW-2). */
  readonly receiveWindowBytes: number;
  /** ACK-1: acknowledge after this many applied entries... */
  readonly ackEvery: number;
  /** ...or this long after the first unacknowledged one. */
  readonly ackDelayMs: number;
  /** SEQ-3, CUR-3: how long to wait for reordered frames before fetching a gap. */
  readonly gapWaitMs: number;
  /**
   * CONN-10: whether the transport can lose frames inside a connection (the
   * simulator's links can; TCP and WebSocket cannot). Only then is a request
   * that goes unanswered sent again on the same connection; otherwise it waits
   * for the next connection.
   */
  readonly lossyTransport: boolean;
  /** With lossyTransport: how long a request may go unanswered before it is sent again; doubles per attempt. */
  readonly attemptTimeoutMs: number;
  readonly maxAttemptTimeoutMs: number;
  /** CONN-8: reconnect backoff, full jitter in [0, min(max, base × 2^attempt)]. */
  readonly reconnectBaseMs: number;
  readonly reconnectMaxMs: number;
  /** A connection that has not completed the handshake in this time is abandoned. */
  readonly handshakeTimeoutMs: number;
  /** RECV-3: pull a conversation as soon as a notify-form entry arrives, while in the foreground. */
  readonly pullOnNotify: boolean;
  /** SyncConversation.limit and SyncUser.limit; 0 for the server's default. */
  readonly syncPageLimit: number;
  readonly userAgent: string;
}

export const defaultClientOptions: Omit<ClientOptions, "deviceId"> = {
  versions: [PROTOCOL_VERSION],
  features: implementedFeatures,
  receiveWindow: 0,
  receiveWindowBytes: 0,
  lossyTransport: false,
  ackEvery: 16,
  ackDelayMs: 100,
  gapWaitMs: 200,
  attemptTimeoutMs: 5_000,
  maxAttemptTimeoutMs: 60_000,
  reconnectBaseMs: 500,
  reconnectMaxMs: 30_000,
  handshakeTimeoutMs: 10_000,
  pullOnNotify: true,
  syncPageLimit: 0,
  userAgent: "imwire-reference-client",
};

/** Everything the client machine needs from outside. */
export interface ClientDeps {
  /** The bearer token to present (AUTH-2); called on every connection, so it may refresh. */
  readonly token: () => string;
  /** Uniform in [0, 1): reconnect jitter. */
  readonly random: () => number;
  /** A new unique id: client message ids and client conversation ids (IDEM-1). */
  readonly newId: () => string;
  /** Told of every state change the machine makes (states.ts), as it makes it; for logs and tests. */
  readonly onTransition?: (transition: Transition) => void;
}
