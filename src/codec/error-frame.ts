import { create } from "@bufbuild/protobuf";
import { ErrorCode, ErrorSchema } from "../gen/imwire/v1/error_pb.js";
import { FrameSchema, type Frame } from "../gen/imwire/v1/frame_pb.js";
import { errorCodeInfo, type ImwireError } from "../errors.js";
import { SUPPORTED_VERSIONS } from "../limits.js";

export interface ErrorFrameOptions {
  readonly message?: string;
  readonly requestId?: number;
  readonly requirement?: string;
  readonly retryAfterMs?: number;
}

/**
 * The Error frame for `code` (ERR-1, ERR-2): `closing` and `retryable` come
 * from the spec's table, never from the caller, so they cannot disagree with
 * it. UNSUPPORTED_VERSION lists the versions this package speaks (CONN-2).
 */
export function errorFrame(code: ErrorCode, options: ErrorFrameOptions = {}): Frame {
  const info = errorCodeInfo(code);
  return create(FrameSchema, {
    requestId: options.requestId ?? 0,
    body: {
      case: "error",
      value: create(ErrorSchema, {
        code,
        message: options.message ?? "",
        retryable: info.retryable,
        retryAfterMs: options.retryAfterMs ?? 0,
        closing: info.closes,
        supportedVersions: code === ErrorCode.UNSUPPORTED_VERSION ? [...SUPPORTED_VERSIONS] : [],
        requirement: options.requirement ?? "",
      }),
    },
  });
}

/** The Error frame reporting an ImwireError raised while reading the peer's input. */
export function errorFrameFor(error: ImwireError): Frame {
  return errorFrame(error.code, { message: error.message, requestId: error.requestId, requirement: error.requirement });
}
