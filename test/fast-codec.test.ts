import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FrameSchema } from "../src/gen/imwire/v1/frame_pb.js";
import { decodeFrame as decodeFrameFast, encodeFrame as encodeFrameFast } from "../src/gen/imwire/v1/frame_fast.js";
import { referenceParseFrame as parseFrame } from "../src/codec/reference-decoder.js";
import { isImwireError } from "../src/errors.js";
import { ErrorCode } from "../src/gen/imwire/v1/error_pb.js";
import { frameArb, messageArb } from "./support/arbitraries.js";
import { fastCodecs } from "./support/fast-codecs.js";
import { findMissingField } from "../src/codec/validate.js";
import { withLengthPrefix } from "../src/framing/length-prefix.js";

/**
 * The generated fast codec (src/gen/**\/*_fast.ts, codegen/) against
 * protobuf-es, the reference: the same bytes out, the same messages in, the
 * same verdict on bad input.
 */

const runs = Number(process.env.FC_RUNS ?? 100);

describe("EXT-4 ENV-8: the fast encoder writes exactly what protobuf-es toBinary writes", () => {
  it(`covers all ${fastCodecs.length} message types`, () => {
    expect(fastCodecs.length).toBeGreaterThanOrEqual(40);
  });

  for (const { desc, encode, decode, size } of fastCodecs) {
    it(`${desc.typeName}: encode equals toBinary byte for byte, size and the prefixed form agree, and both decoders give equal messages`, () => {
      fc.assert(
        fc.property(messageArb(desc, { valid: false }), (message) => {
          const reference = toBinary(desc, message);
          expect(Buffer.from(encode(message)).toString("hex")).toBe(Buffer.from(reference).toString("hex"));
          expect(size(message)).toBe(reference.length);
          expect(Buffer.from(encode(message, true)).toString("hex")).toBe(Buffer.from(withLengthPrefix(reference)).toString("hex"));
          expect(decode(reference)).toStrictEqual(fromBinary(desc, reference));
        }),
        { numRuns: runs },
      );
    });
  }
});

describe("ENV-5: the generated required-field checks name the same first missing field as the reflective reference", () => {
  const checked = fastCodecs.filter((c) => c.missingIn !== undefined);
  it("exist exactly for the types that have a rule at some depth", () => {
    for (const { desc, missingIn } of fastCodecs) {
      // A type without rules passes any instance; the reference agrees on its zero value.
      if (missingIn === undefined) expect(findMissingField(desc, create(desc))).toBeUndefined();
    }
    expect(checked.length).toBeGreaterThanOrEqual(30);
  });

  for (const { desc, missingIn } of checked) {
    it(`${desc.typeName}`, () => {
      const verdicts = { valid: 0, missing: 0 };
      fc.assert(
        fc.property(messageArb(desc, { valid: false }), (message) => {
          const expected = findMissingField(desc, message);
          expect(missingIn!(message)).toBe(expected);
          verdicts[expected === undefined ? "valid" : "missing"]++;
        }),
        { numRuns: runs },
      );
      // Both verdicts occur, so the comparison is not only ever of two undefineds.
      expect(verdicts.valid).toBeGreaterThan(0);
      expect(verdicts.missing).toBeGreaterThan(0);
    });
  }
});

type Verdict = { ok: true; frame: unknown } | { ok: false; code: ErrorCode };

function verdict(decode: (bytes: Uint8Array) => unknown, bytes: Uint8Array): Verdict {
  try {
    return { ok: true, frame: decode(bytes) };
  } catch (error) {
    if (!isImwireError(error)) throw error;
    return { ok: false, code: error.code };
  }
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant("wire-type" as const), at: fc.nat(), wireType: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(payload: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  const bytes = Array.from(payload);
  for (const m of mutations) {
    const at = bytes.length === 0 ? 0 : m.at % bytes.length;
    if (m.kind === "flip" && bytes.length > 0) bytes[at]! ^= 1 << m.bit;
    if (m.kind === "wire-type" && bytes.length > 0) bytes[at] = (bytes[at]! & ~7) | m.wireType;
    if (m.kind === "delete") bytes.splice(at, m.length);
    if (m.kind === "insert") bytes.splice(at, 0, ...m.bytes);
  }
  return Uint8Array.from(bytes);
}

describe("ENV-3: the fast decoder accepts and rejects exactly what the reference decoder does", () => {
  // The reference is parseFrame: protobuf-es fromBinary behind the wire-structure check, which
  // makes it follow ENV-3 where protobuf-es alone does not (mistyped fields, fields past their message).
  it("on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(verdict(decodeFrameFast, bytes)).toStrictEqual(verdict(parseFrame, bytes));
      }),
      { numRuns: runs * 20 },
    );
  });

  it("on frames with flipped bits, rewritten wire types, deletions and insertions; and what both accept re-encodes alike", () => {
    fc.assert(
      fc.property(frameArb({ valid: false }), fc.array(mutation, { minLength: 1, maxLength: 3 }), (frame, mutations) => {
        const bytes = mutate(toBinary(FrameSchema, frame), mutations);
        const fast = verdict(decodeFrameFast, bytes);
        const reference = verdict(parseFrame, bytes);
        expect(fast).toStrictEqual(reference);
        if (fast.ok && reference.ok) {
          expect(Buffer.from(encodeFrameFast(fast.frame as never)).toString("hex")).toBe(Buffer.from(toBinary(FrameSchema, reference.frame as never)).toString("hex"));
        }
      }),
      { numRuns: runs * 30 },
    );
  });
});
