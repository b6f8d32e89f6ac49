import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { FrameReader, encodeFramed } from "../src/framing/frame-stream.js";
import { isImwireError } from "../src/errors.js";
import { frameArb, splitAt } from "./support/arbitraries.js";
import { concat } from "./support/drain.js";

/**
 * ENV-3 FRM-2 FRM-4: whatever bytes arrive, the reader yields frames or
 * typed errors, nothing else, and stops at the first error that closes the
 * connection.
 */
function readsOnlyFramesOrTypedErrors(stream: Uint8Array, cuts: number[], maxFrameSize: number): void {
  const reader = new FrameReader({ maxFrameSize });
  for (const chunk of splitAt(stream, cuts)) {
    reader.push(chunk);
    for (;;) {
      try {
        if (reader.next() === undefined) break;
      } catch (error) {
        expect(isImwireError(error), String(error)).toBe(true);
        if ((error as { closesConnection: boolean }).closesConnection) return;
      }
    }
  }
}

describe("ENV-3: random and mutated bytes give frames or typed errors only", () => {
  it("random bytes, random splits", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 400 }),
        fc.array(fc.nat({ max: 400 }), { maxLength: 10 }),
        fc.constantFrom(16, 300, 65_536),
        readsOnlyFramesOrTypedErrors,
      ),
      { numRuns: 1000 },
    );
  });

  const mutation = fc.oneof(
    fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
    fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
    fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  );

  it("valid streams with flipped bits, deletions, insertions and truncation", () => {
    fc.assert(
      fc.property(
        fc.array(frameArb(), { minLength: 1, maxLength: 4 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat({ max: 2000 }), { maxLength: 8 }),
        (frames, mutations, cuts) => {
          let bytes = Array.from(concat(frames.map((f) => encodeFramed(f))));
          for (const m of mutations) {
            const at = bytes.length === 0 ? 0 : m.at % bytes.length;
            if (m.kind === "flip" && bytes.length > 0) bytes[at]! ^= 1 << m.bit;
            if (m.kind === "delete") bytes.splice(at, m.length);
            if (m.kind === "insert") bytes.splice(at, 0, ...m.bytes);
            if (m.kind === "truncate") bytes = bytes.slice(0, at);
          }
          readsOnlyFramesOrTypedErrors(Uint8Array.from(bytes), cuts, 65_536);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
