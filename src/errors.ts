import { ErrorCode } from "./gen/imwire/v1/error_pb.js";

/** The class of an error code, its hundreds digit (ERR-3). */
export enum ErrorClass {
  Protocol = 1,
  Auth = 2,
  Request = 3,
  Temporary = 4,
  Server = 5,
}

/** What a code means for the connection and for retries (SPEC.md ERR-2, the error table). */
export interface ErrorCodeInfo {
  /** The peer that detects this error closes the connection after reporting it. */
  readonly closes: boolean;
  /** Sending the same request again later may succeed. */
  readonly retryable: boolean;
}

const byCode: ReadonlyMap<ErrorCode, ErrorCodeInfo> = new Map([
  [ErrorCode.MALFORMED_FRAME, { closes: true, retryable: false }],
  [ErrorCode.FRAME_TOO_LARGE, { closes: true, retryable: false }],
  [ErrorCode.UNKNOWN_FRAME, { closes: false, retryable: false }],
  [ErrorCode.MISSING_FIELD, { closes: false, retryable: false }],
  [ErrorCode.PROTOCOL_VIOLATION, { closes: true, retryable: false }],
  [ErrorCode.UNSUPPORTED_VERSION, { closes: true, retryable: false }],
  [ErrorCode.TIMEOUT, { closes: true, retryable: true }],
  [ErrorCode.UNAUTHENTICATED, { closes: true, retryable: false }],
  [ErrorCode.TOKEN_EXPIRED, { closes: true, retryable: true }],
  [ErrorCode.PERMISSION_DENIED, { closes: false, retryable: false }],
  [ErrorCode.SESSION_REPLACED, { closes: true, retryable: false }],
  [ErrorCode.INVALID_ARGUMENT, { closes: false, retryable: false }],
  [ErrorCode.NOT_FOUND, { closes: false, retryable: false }],
  [ErrorCode.FAILED_PRECONDITION, { closes: false, retryable: false }],
  [ErrorCode.RATE_LIMITED, { closes: false, retryable: true }],
  [ErrorCode.UNAVAILABLE, { closes: false, retryable: true }],
  [ErrorCode.INTERNAL, { closes: false, retryable: true }],
]);

/** The class of any code, known or not: a receiver acts on the class of a code it does not know (ERR-3). */
export function errorClass(code: number): ErrorClass | undefined {
  const cls = Math.floor(code / 100);
  return cls >= ErrorClass.Protocol && cls <= ErrorClass.Server ? (cls as ErrorClass) : undefined;
}

/**
 * The behaviour SPEC.md's error table gives a code. For a code this version
 * does not define, the class decides: 1xx and 2xx close, 4xx and 5xx are
 * retryable (ERR-3).
 */
export function errorCodeInfo(code: number): ErrorCodeInfo {
  const known = byCode.get(code);
  if (known) return known;
  const cls = errorClass(code);
  return {
    closes: cls === ErrorClass.Protocol || cls === ErrorClass.Auth,
    retryable: cls === ErrorClass.Temporary || cls === ErrorClass.Server,
  };
}

/** Every code SPEC.md defines, in numeric order. */
export const definedErrorCodes: readonly ErrorCode[] = [...byCode.keys()].sort((a, b) => a - b);

export interface ImwireErrorOptions {
  /** The SPEC.md requirement id the input broke, for example "FRM-3". */
  readonly requirement?: string;
  /** The request the error answers; 0 when there is none or it could not be read. */
  readonly requestId?: number;
  /** The field path a validation error is about, for example "send_message.content". */
  readonly field?: string;
}

/**
 * The one error type imwire raises for bad input. Recognise it with
 * isImwireError (by name and code), not instanceof, so two copies of the
 * package interoperate.
 */
export class ImwireError extends Error {
  override readonly name = "ImwireError";
  readonly code: ErrorCode;
  readonly requirement: string | undefined;
  readonly requestId: number;
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, options: ImwireErrorOptions = {}) {
    super(message);
    this.code = code;
    this.requirement = options.requirement;
    this.requestId = options.requestId ?? 0;
    this.field = options.field;
  }

  /** The connection must be closed after this error is reported (ERR-2). */
  get closesConnection(): boolean {
    return errorCodeInfo(this.code).closes;
  }
}

export function isImwireError(value: unknown): value is ImwireError {
  return (
    value instanceof Error &&
    value.name === "ImwireError" &&
    typeof (value as { code?: unknown }).code === "number"
  );
}
