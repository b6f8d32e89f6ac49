import { fromBinary } from "@bufbuild/protobuf";
import { ErrorCode } from "../gen/imwire/v1/error_pb.js";
import { FrameSchema, type Frame } from "../gen/imwire/v1/frame_pb.js";
import { ImwireError } from "../errors.js";
import { checkWireStructure, messagePlan } from "./wire-structure.js";
import { decodeWithMistypedFields } from "./mistyped-fields.js";

const framePlan = messagePlan(FrameSchema);

/**
 * The reference reading of a frame payload (ENV-3 only, no ENV-4/ENV-5):
 * @bufbuild/protobuf's fromBinary, behind the wire-structure check that makes
 * it follow ENV-3 where it alone does not. It shares no decoding code with
 * the generated fast decoder that decodeFrame uses, so the tests hold each
 * against the other; the benchmarks time it as the protobuf-es path.
 */
export function referenceParseFrame(payload: Uint8Array): Frame {
  const mistyped = checkWireStructure(payload, framePlan);
  try {
    return mistyped ? (decodeWithMistypedFields(FrameSchema, payload) as Frame) : fromBinary(FrameSchema, payload);
  } catch (cause) {
    // The wire structure is proven, so what is left is invalid UTF-8 in a string field.
    throw new ImwireError(ErrorCode.MALFORMED_FRAME, `not a valid Frame: ${(cause as Error).message}`, { requirement: "ENV-3" });
  }
}
