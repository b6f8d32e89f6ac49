import type { ClusterNotice } from "./cluster-notices.js";
import type { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import type { Frame } from "../../gen/imwire/v1/frame_pb.js";

/** A transport connection, numbered by whoever runs the machine. */
export type ConnectionId = number;

/** What the server machine asks its runner to do. */
export type ServerOutput =
  /** Write this frame to the connection. */
  | { readonly kind: "send"; readonly connection: ConnectionId; readonly frame: Frame }
  /**
   * Close the connection once what was sent before is written. `byPeer`: the
   * peer said it was going (a closing error frame, ERR-1), and `reason` is its code.
   */
  | { readonly kind: "close"; readonly connection: ConnectionId; readonly reason: ErrorCode | "graceful"; readonly byPeer?: boolean }
  /** FRM-5: from now on, accept frames up to this size on the connection. */
  | { readonly kind: "frame-limit"; readonly connection: ConnectionId; readonly maxFrameSize: number }
  /** RECV-5: hand an alert to the device's external push service. */
  | { readonly kind: "push-handoff"; readonly userId: string; readonly deviceId: string; readonly pushService: string; readonly pushToken: string; readonly conversationId: string; readonly seq: number }
  /** A bug: a request failed unexpectedly and was answered ERROR_CODE_INTERNAL. */
  | { readonly kind: "internal-error"; readonly connection: ConnectionId; readonly error: unknown }
  /** CLU-2 (with options.clusterNotices): positions to tell the other nodes once what caused them is durable. */
  | { readonly kind: "cluster-notice"; readonly notice: ClusterNotice };

/** What a token says, once verified (AUTH-2). */
export type TokenCheck =
  | { readonly ok: true; readonly userId: string; readonly deviceId: string; readonly expiresAtMs: number }
  | { readonly ok: false; readonly expired: boolean };

/** Everything the server machine needs from outside: no clock, no sockets, no randomness of its own. */
export interface ServerDeps {
  readonly store: import("../../store/store.js").Store;
  /** Verify a bearer token at time `now` (AUTH-2). */
  readonly verifyToken: (token: string, now: number) => TokenCheck;
  /** An unguessable id (SEC-6): at least 96 random bits, text. */
  readonly randomId: () => string;
}
