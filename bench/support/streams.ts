import { FrameSplitter } from "../../src/framing/frame-splitter.js";
import { FrameReader } from "../../src/framing/frame-stream.js";
import { MAX_MAX_FRAME_SIZE } from "../../src/limits.js";

/** A case body: split `chunks` with a FrameSplitter and decode each payload with `decode`; checks that `frames` came out. */
export function splitThenDecode(chunks: readonly Uint8Array[], frames: number, decode: (payload: Uint8Array) => unknown): () => void {
  return () => {
    const splitter = new FrameSplitter({ maxFrameSize: MAX_MAX_FRAME_SIZE });
    let count = 0;
    for (const chunk of chunks) {
      splitter.push(chunk);
      for (let p = splitter.next(); p !== undefined; p = splitter.next()) {
        decode(p);
        count++;
      }
    }
    if (count !== frames) throw new Error(`decoded ${count} of ${frames}`);
  };
}

/** A case body: read `chunks` with a FrameReader (fast decode and validation); checks that `frames` came out. */
export function readFrames(chunks: readonly Uint8Array[], frames: number): () => void {
  return () => {
    const reader = new FrameReader({ maxFrameSize: MAX_MAX_FRAME_SIZE });
    let count = 0;
    for (const chunk of chunks) {
      reader.push(chunk);
      while (reader.next() !== undefined) count++;
    }
    if (count !== frames) throw new Error(`decoded ${count} of ${frames}`);
  };
}
