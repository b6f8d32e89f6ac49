import type { JsonValue, MessageInitShape } from "@bufbuild/protobuf";
import type { FrameSchema } from "../../../src/gen/imwire/v1/frame_pb.js";

/**
 * The hand-written form of a golden vector. build-manifest.ts turns these
 * into manifest entries: it encodes frames, prefixes payloads, and derives the
 * canonical JSON and re-encodings, checking hand-stated expectations on the way.
 */

export type FrameInit = MessageInitShape<typeof FrameSchema>;

export type ErrorCodeName =
  | "ERROR_CODE_MALFORMED_FRAME"
  | "ERROR_CODE_FRAME_TOO_LARGE"
  | "ERROR_CODE_UNKNOWN_FRAME"
  | "ERROR_CODE_MISSING_FIELD";

interface DefinitionBase {
  /** Stable forever once published: tools and expected-failure lists refer to it. */
  readonly id: string;
  readonly description: string;
}

/** A valid frame built with protobuf-es, so its payload is the canonical encoding. */
export interface ValidFrameDefinition extends DefinitionBase {
  readonly requirements: readonly string[];
  readonly frame: FrameInit;
}

/** A valid payload assembled byte by byte, with the canonical JSON it must decode to, written out by hand. */
export interface ValidBytesDefinition extends DefinitionBase {
  readonly requirements: readonly string[];
  readonly payload: Uint8Array;
  readonly json: JsonValue;
}

export type ValidDefinition = ValidFrameDefinition | ValidBytesDefinition;

interface InvalidBase extends DefinitionBase {
  readonly expectedError: ErrorCodeName;
  readonly requirement: string;
  readonly expectedRequestId?: number;
  readonly expectedField?: string;
}

/** Bytes for a payload decoder (one WebSocket message, or the bytes after a length prefix). */
export interface InvalidPayloadDefinition extends InvalidBase {
  readonly input: "payload";
  readonly payload: Uint8Array;
}

/** Bytes for a stream decoder: length-prefixed frames, possibly cut short. */
export interface InvalidStreamDefinition extends InvalidBase {
  readonly input: "stream";
  readonly stream: Uint8Array;
  readonly maxFrameSize: number;
  /** Good frames the decoder delivers before the error. */
  readonly framesBefore: number;
  /** Good frames after an error that does not close the connection (ENV-4, ENV-5). */
  readonly framesAfter?: number;
  /** The stream ends inside a frame (FRM-6): reported by the end of the stream, not by an error item. */
  readonly endsInsideFrame?: boolean;
}

export type InvalidDefinition = InvalidPayloadDefinition | InvalidStreamDefinition;
