import { Feature } from "../../../src/gen/imwire/v1/connection_pb.js";
import { ErrorCode } from "../../../src/gen/imwire/v1/error_pb.js";
import { definedErrorCodes, errorCodeInfo } from "../../../src/errors.js";
import type { ValidFrameDefinition } from "./types.js";
import { I64_MAX, SERVER_TIME_MS, U32_MAX, U64_MAX } from "./sample-values.js";

/** The connection's frames: handshake, authentication, heartbeats, go-away, and every error code. */

export const sessionVectors: ValidFrameDefinition[] = [
  {
    id: "valid/hello/appendix-b",
    description: "SPEC.md Appendix B: hello offering version 1 from device d1 (packed versions).",
    requirements: ["CONN-1", "CONN-2"],
    frame: { requestId: 1, body: { case: "hello", value: { versions: [1], deviceId: "d1" } } },
  },
  {
    id: "valid/hello/full",
    description: "hello offering several versions, a receive window and a non-ASCII user agent.",
    requirements: ["CONN-2", "FLOW-2"],
    frame: { requestId: 1, body: { case: "hello", value: { versions: [3, 2, 1, 300], deviceId: "d-\u00e9t\u00e9-phone", receiveWindow: 64, userAgent: "imwire-swift/2.1 (iOS 18; \u65e5\u672c\u8a9e)" } } },
  },
  {
    id: "valid/hello/window-bytes",
    description: "hello bounding the push window in bytes as well as frames (FLOW-2, 1.0.1).",
    requirements: ["FLOW-2", "EXT-1", "ENV-6"],
    frame: { requestId: 1, body: { case: "hello", value: { versions: [1], deviceId: "d1", receiveWindow: 100, receiveWindowBytes: 1_048_576 } } },
  },
  {
    id: "valid/welcome/window-bytes",
    description: "welcome with the recommended byte window (FLOW-2, LIM-6) beside the frame window.",
    requirements: ["FLOW-2", "LIM-6"],
    frame: { requestId: 1, body: { case: "welcome", value: { version: 1, maxFrameSize: 1_048_576, heartbeatIntervalMs: 30_000, maxInFlight: 100, receiveWindow: 100, dedupWindowS: 604_800, receiveWindowBytes: 2_097_152 } } },
  },
  {
    id: "valid/hello/features",
    description: "hello offering both optional features of version 1 (EXT-5), a packed run of enum numbers.",
    requirements: ["EXT-5", "CONN-2"],
    frame: { requestId: 1, body: { case: "hello", value: { versions: [1], deviceId: "d1", features: [Feature.CONVERSATION_SUMMARIES, Feature.MEMBER_PAGES] } } },
  },
  {
    id: "valid/welcome/features",
    description: "welcome putting in force one of the two features offered: the server implements only member pages (EXT-5, CONV-10).",
    requirements: ["EXT-5", "CONN-2"],
    frame: { requestId: 1, body: { case: "welcome", value: { version: 1, maxFrameSize: 1_048_576, heartbeatIntervalMs: 30_000, maxInFlight: 100, receiveWindow: 100, dedupWindowS: 86_400, features: [Feature.MEMBER_PAGES] } } },
  },
  {
    id: "valid/welcome/recommended",
    description: "welcome with the values SPEC.md recommends.",
    requirements: ["CONN-2", "LIM-1", "LIM-6"],
    frame: { requestId: 1, body: { case: "welcome", value: { version: 1, maxFrameSize: 1_048_576, heartbeatIntervalMs: 30_000, maxInFlight: 100, receiveWindow: 100, dedupWindowS: 86_400, serverAgent: "imwire-ref/0.1" } } },
  },
  {
    id: "valid/welcome/range-minimums",
    description: "welcome at the lower end of every LIM-1 and LIM-6 range.",
    requirements: ["LIM-1", "LIM-6"],
    frame: { requestId: 1, body: { case: "welcome", value: { version: 1, maxFrameSize: 65_536, heartbeatIntervalMs: 1_000, maxInFlight: 1, receiveWindow: 1, dedupWindowS: 86_400 } } },
  },
  {
    id: "valid/welcome/range-maximums",
    description: "welcome at the upper end of every range, dedup_window_s at the largest uint32.",
    requirements: ["LIM-1", "LIM-6"],
    frame: { requestId: 1, body: { case: "welcome", value: { version: 1, maxFrameSize: 16_777_216, heartbeatIntervalMs: 3_600_000, maxInFlight: 65_535, receiveWindow: 65_535, dedupWindowS: U32_MAX } } },
  },
  {
    id: "valid/authenticate/token-only",
    description: "authenticate from a device without state: no resume.",
    requirements: ["AUTH-1", "AUTH-5"],
    frame: { requestId: 2, body: { case: "authenticate", value: { token: "eyJhbGciOiJIUzI1NiJ9.e30.sig" } } },
  },
  {
    id: "valid/authenticate/with-resume",
    description: "authenticate resuming an epoch at the largest cursor.",
    requirements: ["AUTH-5", "CUR-4"],
    frame: { requestId: 2, body: { case: "authenticate", value: { token: "t0k3n", resume: { epoch: "ep-2025-11-27", cursor: U64_MAX } } } },
  },
  {
    id: "valid/authenticate/resume-epoch-only",
    description: "A resume holding an epoch and cursor 0.",
    requirements: ["AUTH-5"],
    frame: { requestId: 2, body: { case: "authenticate", value: { token: "t", resume: { epoch: "e" } } } },
  },
  {
    id: "valid/authenticated/resumed",
    description: "authenticated with every field: resumed, head cursor, token expiry.",
    requirements: ["AUTH-1", "AUTH-5"],
    frame: { requestId: 2, body: { case: "authenticated", value: { userId: "u-alice", deviceId: "d1", epoch: "ep-2025-11-27", headCursor: 1300n, resumed: true, tokenExpiresAtMs: SERVER_TIME_MS + 3_600_000n } } },
  },
  {
    id: "valid/authenticated/not-resumed-never-expires",
    description: "authenticated without resume; token_expires_at_ms 0 (never) is absent.",
    requirements: ["AUTH-5", "SYNC-5"],
    frame: { requestId: 2, body: { case: "authenticated", value: { userId: "u-alice", deviceId: "d1", epoch: "ep-1" } } },
  },
  {
    id: "valid/authenticated/expiry-int64-max",
    description: "A token expiry at the largest int64.",
    requirements: ["EXT-4"],
    frame: { requestId: 2, body: { case: "authenticated", value: { userId: "u", deviceId: "d", epoch: "e", tokenExpiresAtMs: I64_MAX } } },
  },
  {
    id: "valid/ping/appendix-b",
    description: "SPEC.md Appendix B: ping with nonce 7, no request id (04 32 02 08 07 on a stream).",
    requirements: ["HB-1", "HB-2"],
    frame: { body: { case: "ping", value: { nonce: 7n } } },
  },
  {
    id: "valid/ping/empty",
    description: "ping with nonce 0: the body is present and empty (32 00).",
    requirements: ["HB-1"],
    frame: { body: { case: "ping", value: {} } },
  },
  {
    id: "valid/ping/nonce-max",
    description: "ping with the largest uint64 nonce.",
    requirements: ["HB-1", "EXT-4"],
    frame: { body: { case: "ping", value: { nonce: U64_MAX } } },
  },
  {
    id: "valid/pong/with-head-cursor",
    description: "pong echoing a nonce, with the stream head.",
    requirements: ["HB-2", "CUR-6"],
    frame: { body: { case: "pong", value: { nonce: 7n, headCursor: 1300n } } },
  },
  {
    id: "valid/pong/empty",
    description: "pong with no fields.",
    requirements: ["HB-2"],
    frame: { body: { case: "pong", value: {} } },
  },
  {
    id: "valid/go_away/empty",
    description: "go_away with no reason and no delay.",
    requirements: ["CONN-7"],
    frame: { body: { case: "goAway", value: {} } },
  },
  {
    id: "valid/go_away/with-delay",
    description: "go_away with a reason and a reconnect delay.",
    requirements: ["CONN-7"],
    frame: { body: { case: "goAway", value: { reason: "deploy \u2192 v2", reconnectDelayMs: 2_500 } } },
  },
  ...definedErrorCodes.map(errorVector),
  {
    id: "valid/error/unknown-code-protocol-class",
    description: "An error code this version does not define (150): open enums keep the number, and JSON carries it as a number.",
    requirements: ["ERR-3", "ENV-6", "EXT-3"],
    frame: { requestId: 9, body: { case: "error", value: { code: 150 as ErrorCode, closing: true, message: "future protocol error" } } },
  },
  {
    id: "valid/error/unknown-code-temporary-class",
    description: "An undefined code in the temporary class (499), retryable.",
    requirements: ["ERR-3", "ENV-6"],
    frame: { requestId: 10, body: { case: "error", value: { code: 499 as ErrorCode, retryable: true, retryAfterMs: U32_MAX } } },
  },
];

/** One vector per defined error code, with closing and retryable as SPEC.md's table gives them (ERR-2). */
function errorVector(code: ErrorCode, index: number): ValidFrameDefinition {
  const name = ErrorCode[code]!;
  const info = errorCodeInfo(code);
  return {
    id: `valid/error/${name.toLowerCase().replaceAll("_", "-")}`,
    description: `An error frame with ERROR_CODE_${name}, closing ${info.closes} and retryable ${info.retryable} as the error table says.`,
    requirements: ["ERR-1", "ERR-2"],
    frame: {
      requestId: index % 3 === 0 ? 0 : 100 + index,
      body: {
        case: "error",
        value: {
          code,
          message: `${name.toLowerCase()} \u2014 detail for logs`,
          retryable: info.retryable,
          closing: info.closes,
          retryAfterMs: code === ErrorCode.RATE_LIMITED ? 1_500 : 0,
          supportedVersions: code === ErrorCode.UNSUPPORTED_VERSION ? [1, 2] : [],
          requirement: code === ErrorCode.MALFORMED_FRAME ? "FRM-2" : "",
        },
      },
    },
  };
}
