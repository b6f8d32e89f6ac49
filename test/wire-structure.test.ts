import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { fromBinary, toBinary, toJson } from "@bufbuild/protobuf";
import { FrameSchema } from "../src/gen/imwire/v1/frame_pb.js";
import { referenceParseFrame as parseFrame } from "../src/codec/reference-decoder.js";
import { checkWireStructure, messagePlan } from "../src/codec/wire-structure.js";
import { isImwireError } from "../src/errors.js";
import { ErrorCode } from "../src/gen/imwire/v1/error_pb.js";
import { firstJsonDifference, describeDifference } from "../src/conformance/codec-harness/json-diff.js";
import { loadProtobufjsFrame } from "../bench/support/protobufjs.js";
import { frameArb } from "./support/arbitraries.js";

/**
 * ENV-3's structural rules, checked on the bytes before protobuf-es reads
 * them (src/codec/wire-structure.ts): differentially against protobufjs, an
 * independent decoder that checks wire types and bounds, on valid frames and
 * on frames with mutated bytes.
 */

const framePlan = messagePlan(FrameSchema);
const protobufjsFrame = loadProtobufjsFrame();

type Verdict = { ok: true; json: unknown } | { ok: false; reason: string };

function ours(payload: Uint8Array): Verdict {
  try {
    return { ok: true, json: toJson(FrameSchema, parseFrame(payload)) };
  } catch (error) {
    if (!isImwireError(error) || error.code !== ErrorCode.MALFORMED_FRAME) throw error;
    return { ok: false, reason: error.message };
  }
}

function theirs(payload: Uint8Array): Verdict {
  try {
    const decoded = protobufjsFrame.decode(payload);
    return { ok: true, json: JSON.parse(JSON.stringify(protobufjsFrame.toObject(decoded, { longs: String, enums: String, bytes: String }))) };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
}

/** protobufjs does not check UTF-8 (ENV-3 does) and replaces bad sequences; other disagreements are ours to explain. */
const isUtf8Rejection = (v: Verdict) => !v.ok && /UTF-8|utf-8|invalid utf8/i.test(v.reason);
/**
 * protobufjs skips an unknown varint by reading to the first byte without the
 * continuation bit, however many come before it; a varint of more than 10
 * bytes is malformed (the Protobuf encoding, ENV-3), which this check says.
 * Where that is the whole difference, protobufjs is not the oracle.
 */
const isOverlongVarintRejection = (v: Verdict) => !v.ok && /varint longer than 10 bytes/.test(v.reason);

const mutation = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant("wire-type" as const), at: fc.nat(), wireType: fc.nat({ max: 5 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
);

function mutate(payload: Uint8Array, mutations: readonly fc.Arbitrary<never>[] | unknown[]): Uint8Array {
  const bytes = Array.from(payload);
  for (const m of mutations as { kind: string; at: number; bit?: number; wireType?: number; length?: number; bytes?: Uint8Array }[]) {
    const at = bytes.length === 0 ? 0 : m.at % bytes.length;
    if (m.kind === "flip" && bytes.length > 0) bytes[at]! ^= 1 << m.bit!;
    // Rewrite the low three bits of a byte: when it is a tag, a known field changes wire type.
    if (m.kind === "wire-type" && bytes.length > 0) bytes[at] = (bytes[at]! & ~7) | m.wireType!;
    if (m.kind === "delete") bytes.splice(at, m.length!);
    if (m.kind === "insert") bytes.splice(at, 0, ...m.bytes!);
  }
  return Uint8Array.from(bytes);
}

describe("ENV-3: the wire-structure check", () => {
  it("passes every frame protobuf-es encodes, finds nothing mistyped, and changes nothing protobuf-es reads", () => {
    fc.assert(
      fc.property(frameArb({ valid: false }), (frame) => {
        const payload = toBinary(FrameSchema, frame);
        expect(checkWireStructure(payload, framePlan)).toBe(false);
        expect(toJson(FrameSchema, parseFrame(payload))).toEqual(toJson(FrameSchema, fromBinary(FrameSchema, payload)));
      }),
      { numRuns: 500 },
    );
  });

  it("accepts and rejects exactly what protobufjs does on mutated frames, and reads the same known fields", () => {
    fc.assert(
      fc.property(frameArb({ valid: false }), fc.array(mutation, { minLength: 1, maxLength: 3 }), (frame, mutations) => {
        const payload = mutate(toBinary(FrameSchema, frame), mutations);
        const a = ours(payload);
        if (isUtf8Rejection(a)) return;
        const b = theirs(payload);
        if (isOverlongVarintRejection(a) && b.ok) return;
        expect({ ok: a.ok, ...(a.ok ? {} : { reason: a.reason }) }, `protobufjs: ${b.ok ? "accepts" : b.reason}`).toMatchObject({ ok: b.ok });
        if (a.ok && b.ok) {
          const difference = firstJsonDifference(a.json, b.json);
          expect(difference && describeDifference(difference)).toBeUndefined();
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("checks a 64 KiB payload of fields, and 99 nested groups; 100 are too deep", () => {
    const varints = new Uint8Array(65_536).fill(0x08); // field 1 = 8, repeated: tag 08, value 08
    expect(checkWireStructure(varints, framePlan)).toBe(false);
    const deep = [...Array(99).fill(0x1b), ...Array(99).fill(0x1c)]; // field 3 start-group ×99, end-group ×99
    expect(ours(Uint8Array.from(deep)).ok).toBe(true);
    expect(ours(Uint8Array.from([0x1b, ...deep, 0x1c]))).toMatchObject({ ok: false, reason: expect.stringContaining("nesting deeper than 100") });
  });
});
