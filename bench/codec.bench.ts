/**
 * The framing layer's cost (npm run bench): FrameReader and encodeFramed
 * against the bare generated decoder and encoder they call, on the same
 * payloads, across read sizes from 1 B to 256 KiB; protobuf-es and protobufjs
 * on the same bytes for reference. The baseline is the bare fast codec, so
 * × baseline is what framing and validation add. IMWIRE_BENCH_MS sets the
 * time per case (default 1000).
 */
import { fromBinary, toBinary, toJson } from "@bufbuild/protobuf";
import { FrameSchema, type Frame } from "../src/gen/imwire/v1/frame_pb.js";
import { encodeFrame } from "../src/codec/frame-codec.js";
import { decodeFrame as fastDecode, encodeFrame as fastEncode } from "../src/gen/imwire/v1/frame_fast.js";
import { encodeFramed } from "../src/framing/frame-stream.js";
import { chunksOf, mediaDeliveryFrame, textDeliveryFrame } from "./support/fixtures.js";
import { loadProtobufjsFrame } from "./support/protobufjs.js";
import { machine, markdown, measure, type Case } from "./support/runner.js";
import { readFrames, splitThenDecode } from "./support/streams.js";

const pbjsFrame = loadProtobufjsFrame();
const timeMs = Number(process.env.IMWIRE_BENCH_MS ?? 1000);

interface Workload {
  readonly label: string;
  readonly frames: Frame[];
  readonly chunkSizes: readonly number[];
}

const workloads: Workload[] = [
  { label: "text frame", frames: Array.from({ length: 256 }, (_, i) => textDeliveryFrame(i)), chunkSizes: [65_536, 1400, 1] },
  { label: "64 KiB media frame", frames: Array.from({ length: 8 }, (_, i) => mediaDeliveryFrame(i)), chunkSizes: [262_144, 65_536, 1400, 1] },
];

function sink(value: unknown): void {
  if (value === undefined) throw new Error("nothing decoded");
}

const cases: Case[] = [];
for (const w of workloads) {
  const payloads = w.frames.map((f) => encodeFrame(f));
  const stream = new Uint8Array(Buffer.concat(w.frames.map((f) => encodeFramed(f))));
  const bytesPerFrame = Math.round(stream.length / w.frames.length);
  const pbjsObjects = w.frames.map((f) => pbjsFrame.fromObject(toJson(FrameSchema, f) as object));
  const n = w.frames.length;
  const group = `decode ${w.label} (${bytesPerFrame} B framed)`;
  const common = { group, frames: n, bytesPerFrame };

  cases.push({ ...common, name: "imwire fast decode, bare payloads", baseline: true, run: () => payloads.forEach((p) => sink(fastDecode(p))) });
  cases.push({ ...common, name: "protobuf-es fromBinary, bare payloads", run: () => payloads.forEach((p) => sink(fromBinary(FrameSchema, p))) });
  cases.push({ ...common, name: "protobufjs decode, bare payloads", run: () => payloads.forEach((p) => sink(pbjsFrame.decode(p))) });
  for (const size of w.chunkSizes) {
    const chunks = chunksOf(stream, size);
    const label = size === 1 ? "1 B" : size === 1400 ? "1.4 KiB" : `${size / 1024} KiB`;
    cases.push({ ...common, name: `imwire splitter + fast decode, ${label} chunks`, run: splitThenDecode(chunks, n, fastDecode) });
    cases.push({ ...common, name: `imwire FrameReader (decode + validate), ${label} chunks`, run: readFrames(chunks, n) });
  }

  const encodeGroup = { group: `encode ${w.label} (${bytesPerFrame} B framed)`, frames: n, bytesPerFrame };
  cases.push({ ...encodeGroup, name: "imwire fast encode, bare payload", baseline: true, run: () => w.frames.forEach((f) => sink(fastEncode(f))) });
  cases.push({ ...encodeGroup, name: "protobuf-es toBinary, bare payload", run: () => w.frames.forEach((f) => sink(toBinary(FrameSchema, f))) });
  cases.push({ ...encodeGroup, name: "protobufjs encode, bare payload", run: () => pbjsObjects.forEach((o) => sink(pbjsFrame.encode(o).finish())) });
  cases.push({ ...encodeGroup, name: "imwire encodeFramed (validate + prefix)", run: () => w.frames.forEach((f) => sink(encodeFramed(f))) });
  cases.push({ ...encodeGroup, name: "imwire encodeFramed, no validation", run: () => w.frames.forEach((f) => sink(encodeFramed(f, { validate: false }))) });
}

const rows = await measure(cases, timeMs);
console.log(markdown(rows));
console.log(`\n${machine()}. ${timeMs} ms per case over 5 interleaved rounds; median/frame is the median over rounds of each round's median sample, and frames/s, MB/s and × baseline (÷ the group's first row) follow from it; mean/frame includes garbage collection.`);
