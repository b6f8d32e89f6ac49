import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ErrorCode } from "../gen/imwire/v1/error_pb.js";
import { FrameSchema, type Frame } from "../gen/imwire/v1/frame_pb.js";
import { ImwireError } from "../errors.js";
import { decodeFrame as decodeFrameFast, encodeFrame as encodeFrameFast, missingInFrame } from "../gen/imwire/v1/frame_fast.js";

/** A frame body's case name, for example "sendMessage". */
export type FrameCase = NonNullable<Frame["body"]["case"]>;

/** Build a Frame from a plain initialiser, for example `frame({ body: { case: "ping", value: { nonce: 1n } } })`. */
export function frame(init: MessageInitShape<typeof FrameSchema>): Frame {
  return create(FrameSchema, init);
}

/**
 * Check a frame against ENV-4 and ENV-5: a body this version knows, and every
 * required field present. Throws ImwireError UNKNOWN_FRAME or MISSING_FIELD,
 * both answerable on an open connection (the error carries the request id).
 * The ENV-5 check is generated from the schema (missingInFrame); the
 * reflective findMissingField in ./validate.ts is its reference.
 */
export function validateFrame(frame: Frame): void {
  if (frame.body.case === undefined) {
    throw new ImwireError(ErrorCode.UNKNOWN_FRAME, "frame has no body this version knows", {
      requirement: "ENV-4",
      requestId: frame.requestId,
    });
  }
  const missing = missingInFrame(frame);
  if (missing !== undefined) {
    throw new ImwireError(ErrorCode.MISSING_FIELD, `required field ${missing} is missing`, {
      requirement: "ENV-5",
      requestId: frame.requestId,
      field: missing,
    });
  }
}

/**
 * Read one frame payload as Protobuf (ENV-3) without the ENV-4/ENV-5 checks:
 * for tools that show any frame, and for decodeFrame. Throws ImwireError
 * MALFORMED_FRAME. A known field with a wire type not its own is an unknown
 * field. Bytes fields of the result are views into `payload`.
 *
 * This is the generated fast decoder (src/gen/imwire/v1/frame_fast.ts):
 * the same message objects protobuf-es builds, built without reflection.
 */
export function parseFrame(payload: Uint8Array): Frame {
  return decodeFrameFast(payload);
}

/**
 * Decode one frame payload (the bytes after the length prefix, or one
 * WebSocket message) and validate it.
 *
 * Throws ImwireError: MALFORMED_FRAME when the bytes are not a Protobuf Frame
 * (ENV-3, parseFrame), UNKNOWN_FRAME or MISSING_FIELD when they are but break
 * ENV-4/ENV-5.
 */
export function decodeFrame(payload: Uint8Array): Frame {
  const decoded = parseFrame(payload);
  validateFrame(decoded);
  return decoded;
}

export interface EncodeOptions {
  /** Check ENV-4/ENV-5 before encoding (default true): catching our own bug beats sending it. */
  readonly validate?: boolean;
  /** Precede the payload with its length prefix, in the same buffer (default false). */
  readonly prefixed?: boolean;
}

/**
 * Encode a frame to its payload bytes, or with `prefixed` to the length
 * prefix and payload in one buffer (FRM-1). The bytes are protobuf-es
 * toBinary's, written by the generated fast encoder.
 */
export function encodeFrame(frame: Frame, options: EncodeOptions = {}): Uint8Array {
  if (options.validate ?? true) validateFrame(frame);
  return encodeFrameFast(frame, options.prefixed ?? false);
}
