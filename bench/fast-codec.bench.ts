/**
 * The generated fast codec against protobuf-es and protobufjs (npm run
 * bench:fast): encode and decode of four frames a messaging server moves,
 * and the framing layer end to end with 1.4 KiB chunks (a TCP segment).
 * protobufjs is each group's baseline: the target is a ratio at or under
 * 1.00 on every fast-path row. IMWIRE_BENCH_MS sets the time per case.
 */
import { fromBinary, toBinary, toJson } from "@bufbuild/protobuf";
import { FrameSchema, type Frame } from "../src/gen/imwire/v1/frame_pb.js";
import { decodeFrame as fastDecode, encodeFrame as fastEncode } from "../src/gen/imwire/v1/frame_fast.js";
import { decodeFrame } from "../src/codec/frame-codec.js";
import { encodeFramed } from "../src/framing/frame-stream.js";
import { chunksOf, groupPushFrame, mediaDeliveryFrame, syncPageFrame, textDeliveryFrame } from "./support/fixtures.js";
import { loadProtobufjsFrame } from "./support/protobufjs.js";
import { machine, markdown, measure, type Case } from "./support/runner.js";
import { readFrames, splitThenDecode } from "./support/streams.js";

const pbjs = loadProtobufjsFrame();
const timeMs = Number(process.env.IMWIRE_BENCH_MS ?? 1000);

interface Workload {
  readonly label: string;
  readonly frames: Frame[];
}

const workloads: Workload[] = [
  { label: "text delivery frame", frames: Array.from({ length: 256 }, (_, i) => textDeliveryFrame(i)) },
  { label: "group fan-out push", frames: Array.from({ length: 100 }, (_, i) => groupPushFrame(i)) },
  { label: "sync response, 50 messages", frames: Array.from({ length: 8 }, () => syncPageFrame(50)) },
  { label: "64 KiB media frame", frames: Array.from({ length: 8 }, (_, i) => mediaDeliveryFrame(i)) },
];

function sink(value: unknown): void {
  if (value === undefined) throw new Error("nothing produced");
}

const cases: Case[] = [];
for (const w of workloads) {
  const payloads = w.frames.map((f) => toBinary(FrameSchema, f));
  for (const [i, p] of payloads.entries()) {
    if (Buffer.compare(fastEncode(w.frames[i]!), p) !== 0) throw new Error(`${w.label}: the fast encoder disagrees with toBinary`);
  }
  const n = w.frames.length;
  const bytes = Math.round(payloads.reduce((s, p) => s + p.length, 0) / n);
  const pbjsMessages = w.frames.map((f) => pbjs.fromObject(toJson(FrameSchema, f) as object));

  const decode = { group: `decode: ${w.label} (${bytes} B)`, frames: n, bytesPerFrame: bytes };
  cases.push({ ...decode, name: "protobufjs decode", baseline: true, run: () => payloads.forEach((p) => sink(pbjs.decode(p))) });
  cases.push({ ...decode, name: "protobuf-es fromBinary", run: () => payloads.forEach((p) => sink(fromBinary(FrameSchema, p))) });
  cases.push({ ...decode, name: "imwire fast decode", run: () => payloads.forEach((p) => sink(fastDecode(p))) });
  cases.push({ ...decode, name: "imwire decodeFrame (fast decode + ENV-5 validation)", run: () => payloads.forEach((p) => sink(decodeFrame(p))) });

  const encode = { group: `encode: ${w.label} (${bytes} B)`, frames: n, bytesPerFrame: bytes };
  cases.push({ ...encode, name: "protobufjs encode", baseline: true, run: () => pbjsMessages.forEach((m) => sink(pbjs.encode(m).finish())) });
  cases.push({ ...encode, name: "protobuf-es toBinary", run: () => w.frames.forEach((f) => sink(toBinary(FrameSchema, f))) });
  cases.push({ ...encode, name: "imwire fast encode", run: () => w.frames.forEach((f) => sink(fastEncode(f))) });
  cases.push({ ...encode, name: "imwire encodeFramed (fast encode + prefix + ENV-5 validation)", run: () => w.frames.forEach((f) => sink(encodeFramed(f))) });

  // End to end: a TCP stream of these frames in 1.4 KiB reads, split and decoded.
  const stream = new Uint8Array(Buffer.concat(w.frames.map((f) => encodeFramed(f))));
  const chunks = chunksOf(stream, 1400);
  const stream14 = { group: `framing, 1.4 KiB reads: ${w.label} (${Math.round(stream.length / n)} B framed)`, frames: n, bytesPerFrame: Math.round(stream.length / n) };
  cases.push({ ...stream14, name: "splitter + protobufjs decode", baseline: true, run: splitThenDecode(chunks, n, (p) => pbjs.decode(p)) });
  cases.push({ ...stream14, name: "splitter + protobuf-es fromBinary", run: splitThenDecode(chunks, n, (p) => fromBinary(FrameSchema, p)) });
  cases.push({ ...stream14, name: "imwire FrameReader (fast decode + ENV-5 validation)", run: readFrames(chunks, n) });
}

const rows = await measure(cases, timeMs);
console.log(markdown(rows).replace("× baseline", "× protobufjs"));
console.log(`\n${machine()}. ${timeMs} ms per case over 5 interleaved rounds; median/frame is the median over rounds of each round's median sample; × protobufjs divides by the group's protobufjs row (at or under 1.00 is the target); mean/frame includes garbage collection. The fast encoder's output was checked equal to toBinary's before timing.`);
