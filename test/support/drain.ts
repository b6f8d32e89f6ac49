import type { Frame } from "../../src/gen/imwire/v1/frame_pb.js";
import type { FrameReader } from "../../src/framing/frame-stream.js";
import type { FrameSplitter } from "../../src/framing/frame-splitter.js";

/** Push every chunk, draining after each as a transport would; returns the payloads. */
export function splitAll(splitter: FrameSplitter, chunks: Iterable<Uint8Array>): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const chunk of chunks) {
    splitter.push(chunk);
    for (let p = splitter.next(); p !== undefined; p = splitter.next()) out.push(p);
  }
  return out;
}

/** Push every chunk, draining after each; returns the frames. */
export function readAll(reader: FrameReader, chunks: Iterable<Uint8Array>): Frame[] {
  const out: Frame[] = [];
  for (const chunk of chunks) {
    reader.push(chunk);
    for (let f = reader.next(); f !== undefined; f = reader.next()) out.push(f);
  }
  return out;
}

export function bytesOf(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex.replace(/\s+/g, ""), "hex"));
}

export function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}
