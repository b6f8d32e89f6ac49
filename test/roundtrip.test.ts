import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { equals, fromJson, toBinary, toJson } from "@bufbuild/protobuf";
import { FrameSchema } from "../src/gen/imwire/v1/frame_pb.js";
import { FrameReader, encodeFramed } from "../src/framing/frame-stream.js";
import { decodeFrame, encodeFrame } from "../src/codec/frame-codec.js";
import { MAX_MAX_FRAME_SIZE } from "../src/limits.js";
import { chunkedArb, frameArb, frameCases, frameOfCaseArb, splitAt } from "./support/arbitraries.js";
import { concat, readAll } from "./support/drain.js";

const reader = () => new FrameReader({ maxFrameSize: MAX_MAX_FRAME_SIZE });

describe("ENV-1 FRM-1 FRM-3: every frame type survives encode → frame → any split → decode", () => {
  it.each(frameCases)("%s", (frameCase) => {
    const arb = frameOfCaseArb(frameCase).chain((frame) => fc.tuple(fc.constant(frame), chunkedArb(encodeFramed(frame))));
    fc.assert(
      fc.property(arb, ([frame, chunks]) => {
        const decoded = readAll(reader(), chunks);
        expect(decoded).toHaveLength(1);
        expect(equals(FrameSchema, decoded[0]!, frame)).toBe(true);
        // Byte-identical re-encoding: nothing was lost or reordered, unknown enum numbers included.
        expect(toBinary(FrameSchema, decoded[0]!)).toEqual(toBinary(FrameSchema, frame));
      }),
    );
  });
});

describe("FRM-3: a stream of many frames split anywhere yields the same frames in order", () => {
  it("random frames, random cuts", () => {
    const arb = fc
      .array(frameArb(), { minLength: 1, maxLength: 8 })
      .chain((frames) => {
        const stream = concat(frames.map((f) => encodeFramed(f)));
        return fc.tuple(fc.constant(frames), fc.array(fc.integer({ min: 0, max: stream.length }), { maxLength: 30 }), fc.constant(stream));
      });
    fc.assert(
      fc.property(arb, ([frames, cuts, stream]) => {
        const decoded = readAll(reader(), splitAt(stream, cuts));
        expect(decoded.map((f) => toBinary(FrameSchema, f))).toEqual(frames.map((f) => toBinary(FrameSchema, f)));
      }),
    );
  });

  it("one byte at a time", () => {
    fc.assert(
      fc.property(fc.array(frameArb(), { minLength: 1, maxLength: 4 }), (frames) => {
        const stream = concat(frames.map((f) => encodeFramed(f)));
        const bytes = Array.from(stream, (_, i) => stream.subarray(i, i + 1));
        expect(readAll(reader(), bytes)).toHaveLength(frames.length);
      }),
      { numRuns: 30 },
    );
  });
});

describe("ENV-6 EXT-4: unknown enum numbers and canonical JSON", () => {
  it("JSON round trip gives the same frame (what imwire decode/encode rely on)", () => {
    fc.assert(
      fc.property(frameArb(), (frame) => {
        const back = fromJson(FrameSchema, toJson(FrameSchema, frame));
        expect(toBinary(FrameSchema, back)).toEqual(toBinary(FrameSchema, frame));
      }),
    );
  });

  it("a payload decodes to a frame that re-encodes to the same bytes", () => {
    fc.assert(
      fc.property(frameArb(), (frame) => {
        const payload = encodeFrame(frame);
        expect(encodeFrame(decodeFrame(payload))).toEqual(payload);
      }),
    );
  });
});
