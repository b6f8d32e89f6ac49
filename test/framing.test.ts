import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ErrorCode } from "../src/gen/imwire/v1/error_pb.js";
import { FrameSplitter } from "../src/framing/frame-splitter.js";
import { lengthPrefixSize, withLengthPrefix, writeLengthPrefix, MAX_PREFIXED_LENGTH } from "../src/framing/length-prefix.js";
import { isImwireError } from "../src/errors.js";
import { bytesOf, hexOf, splitAll } from "./support/drain.js";

function expectFailure(run: () => unknown, code: ErrorCode, requirement: string): void {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(isImwireError(thrown), `expected an ImwireError, got ${String(thrown)}`).toBe(true);
  expect(ErrorCode[(thrown as { code: ErrorCode }).code]).toBe(ErrorCode[code]);
  expect((thrown as { requirement: string }).requirement).toBe(requirement);
}

describe("FRM-2: the length prefix is a minimal varint of at most four bytes", () => {
  it("encodes lengths at every prefix-size boundary as protobuf varints", () => {
    const cases: [number, string][] = [
      [0, "00"],
      [1, "01"],
      [127, "7f"],
      [128, "8001"],
      [16383, "ff7f"],
      [16384, "808001"],
      [2097151, "ffff7f"],
      [2097152, "80808001"],
      [MAX_PREFIXED_LENGTH, "ffffff7f"],
    ];
    for (const [length, hex] of cases) {
      const out = new Uint8Array(4);
      const end = writeLengthPrefix(length, out, 0);
      expect(Buffer.from(out.subarray(0, end)).toString("hex")).toBe(hex);
      expect(lengthPrefixSize(length)).toBe(end);
    }
    expect(() => lengthPrefixSize(MAX_PREFIXED_LENGTH + 1)).toThrow(RangeError);
  });

  it("rejects a prefix whose fourth byte continues (an over-long prefix), before a fifth byte arrives", () => {
    const splitter = new FrameSplitter({ maxFrameSize: MAX_PREFIXED_LENGTH });
    splitter.push(bytesOf("80808080"));
    expectFailure(() => splitter.next(), ErrorCode.MALFORMED_FRAME, "FRM-2");
  });

  it.each(["8000", "818000", "81808000", "ff00"])("rejects the non-minimal prefix %s", (hex) => {
    const splitter = new FrameSplitter({ maxFrameSize: MAX_PREFIXED_LENGTH });
    splitter.push(bytesOf(hex));
    expectFailure(() => splitter.next(), ErrorCode.MALFORMED_FRAME, "FRM-2");
  });

  it("a framing error is final: later calls throw it again and ignore input", () => {
    const splitter = new FrameSplitter({ maxFrameSize: 100 });
    splitter.push(bytesOf("8000"));
    expectFailure(() => splitter.next(), ErrorCode.MALFORMED_FRAME, "FRM-2");
    splitter.push(bytesOf("0100"));
    expectFailure(() => splitter.next(), ErrorCode.MALFORMED_FRAME, "FRM-2");
    expect(splitter.bufferedBytes).toBe(0);
  });
});

describe("FRM-4: a declared length over the limit fails as soon as the prefix is read", () => {
  it("fails with only the prefix pushed, buffering nothing of the payload", () => {
    const splitter = new FrameSplitter({ maxFrameSize: 65_536 });
    splitter.push(bytesOf("818004")); // 65537
    expectFailure(() => splitter.next(), ErrorCode.FRAME_TOO_LARGE, "FRM-4");
    expect(splitter.bufferedBytes).toBe(0);
  });

  it("accepts exactly the limit", () => {
    const payload = new Uint8Array(1000).fill(7);
    const splitter = new FrameSplitter({ maxFrameSize: 1000 });
    expect(splitAll(splitter, [withLengthPrefix(payload)])).toEqual([payload]);
  });

  it("rejects one byte over the limit even when the whole frame is present", () => {
    const splitter = new FrameSplitter({ maxFrameSize: 999 });
    splitter.push(withLengthPrefix(new Uint8Array(1000)));
    expectFailure(() => splitter.next(), ErrorCode.FRAME_TOO_LARGE, "FRM-4");
  });

  it("FRM-5: the limit can change between frames (Welcome raises it after the handshake)", () => {
    const splitter = new FrameSplitter({ maxFrameSize: 10 });
    const big = new Uint8Array(20).fill(1);
    splitter.push(withLengthPrefix(new Uint8Array(5)));
    expect(splitter.next()).toHaveLength(5);
    splitter.maxFrameSize = 20;
    splitter.push(withLengthPrefix(big));
    expect(splitter.next()).toEqual(big);
  });
});

describe("FRM-1 FRM-6: partial frames", () => {
  it("waits for the rest of a frame and reports where a stream ended inside one", () => {
    const splitter = new FrameSplitter({ maxFrameSize: 100 });
    const framed = withLengthPrefix(bytesOf("0801"));
    splitter.push(framed.subarray(0, 2));
    expect(splitter.next()).toBeUndefined();
    expect(splitter.atFrameBoundary).toBe(false);
    splitter.push(framed.subarray(2));
    expect(splitter.next()).toEqual(bytesOf("0801"));
    expect(splitter.atFrameBoundary).toBe(true);
  });

  it("FRM-7: a zero-length frame is a payload of zero bytes", () => {
    const splitter = new FrameSplitter({ maxFrameSize: 100 });
    expect(splitAll(splitter, [bytesOf("0000")])).toEqual([new Uint8Array(0), new Uint8Array(0)]);
  });
});

describe("FRM-8: the splitter's cost stays linear and its memory bounded", () => {
  it("returns a view, not a copy, when a frame lies inside one chunk", () => {
    const stream = withLengthPrefix(new Uint8Array(300).fill(9));
    const splitter = new FrameSplitter({ maxFrameSize: 1000 });
    splitter.push(stream);
    const payload = splitter.next()!;
    expect(payload.buffer).toBe(stream.buffer);
  });

  it("copies a straddling frame once: small ones into a shared slab, large ones into an exact-size buffer", () => {
    for (const size of [3000, 10_000]) {
      const payload = Uint8Array.from({ length: size }, (_, i) => i % 251);
      const stream = withLengthPrefix(payload);
      const chunks = [stream.slice(0, 1000), stream.slice(1000, 2000), stream.slice(2000)];
      const [out] = splitAll(new FrameSplitter({ maxFrameSize: 20_000 }), chunks);
      expect(hexOf(out!)).toBe(hexOf(payload));
      expect(out!.byteLength).toBe(size);
      expect(chunks.some((c) => c.buffer === out!.buffer)).toBe(false);
      if (size > 4096) expect(out!.buffer.byteLength).toBe(size);
    }
  });

  it("slab-carved payloads never overlap one another", () => {
    const payloads = Array.from({ length: 400 }, (_, k) => Uint8Array.from({ length: 150 + (k % 7) }, () => k & 0xff));
    const stream = new Uint8Array(Buffer.concat(payloads.map(withLengthPrefix)));
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < stream.length; at += 97) chunks.push(stream.slice(at, at + 97));
    const out = splitAll(new FrameSplitter({ maxFrameSize: 1000 }), chunks);
    // Every payload still holds its own bytes after all the others were carved.
    expect(out.map(hexOf)).toEqual(payloads.map(hexOf));
  });

  it("holds at most maxBufferedChunks chunks while a frame arrives one byte at a time", () => {
    const payload = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7) % 256);
    const stream = withLengthPrefix(payload);
    const splitter = new FrameSplitter({ maxFrameSize: 1 << 20, maxBufferedChunks: 16 });
    let maxChunks = 0;
    let result: Uint8Array | undefined;
    for (let i = 0; i < stream.length; i++) {
      splitter.push(stream.subarray(i, i + 1));
      maxChunks = Math.max(maxChunks, splitter.bufferedChunks);
      result = splitter.next() ?? result;
    }
    expect(hexOf(result!)).toBe(hexOf(payload));
    expect(maxChunks).toBeLessThanOrEqual(17);
    expect(splitter.atFrameBoundary).toBe(true);
  });

  it("any mix of chunk sizes around the chunk cap gives the same payloads", () => {
    const payloads = [300, 0, 5000, 1, 70_000, 129].map((n, k) => Uint8Array.from({ length: n }, (_, i) => (i + k) % 256));
    const stream = new Uint8Array(Buffer.concat(payloads.map(withLengthPrefix)));
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 400 }), fc.integer({ min: 2, max: 8 }), (sizes, cap) => {
        const chunks: Uint8Array[] = [];
        for (let at = 0, i = 0; at < stream.length; i++) {
          const size = sizes[i % sizes.length]!;
          chunks.push(stream.subarray(at, at + size));
          at += size;
        }
        const out = splitAll(new FrameSplitter({ maxFrameSize: 100_000, maxBufferedChunks: cap }), chunks);
        expect(out.map(hexOf)).toEqual(payloads.map(hexOf));
      }),
      { numRuns: 60 },
    );
  });
});

describe("FRM-8: SlabAllocator", () => {
  it("carves disjoint, 8-byte-aligned views from a slab, and gives large requests their own buffer", async () => {
    const { SlabAllocator } = await import("../src/framing/slab.js");
    const slabs = new SlabAllocator(1024, 256);
    const views = [10, 200, 256, 1, 300, 100, 600].map((n) => slabs.allocate(n));
    expect(views.map((v) => v.byteLength)).toEqual([10, 200, 256, 1, 300, 100, 600]);
    for (const v of views) expect(v.byteOffset % 8).toBe(0);
    views.forEach((v, i) => v.fill(i + 1));
    views.forEach((v, i) => expect(v.every((b) => b === i + 1)).toBe(true));
    expect(views[4]!.buffer.byteLength).toBe(300);
    expect(views[6]!.buffer.byteLength).toBe(600);
  });
});
