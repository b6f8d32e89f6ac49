import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultManifestPath, parseManifest, type ValidVector } from "../src/conformance/codec-harness/manifest.js";
import { describeDifference, firstJsonDifference } from "../src/conformance/codec-harness/json-diff.js";
import { loadProtobufjsFrame } from "../bench/support/protobufjs.js";

/**
 * The valid vectors' expectations were computed with protobuf-es, this
 * package's own runtime. Two implementations that share no code with it
 * must agree: Go's protobuf (inside `buf convert`, building the schema from
 * proto/) and protobufjs. Comparison is semantic: parsed JSON, 64-bit
 * integers as the strings both print.
 */

const manifest = parseManifest(readFileSync(defaultManifestPath, "utf8"));
const valid = manifest.vectors.filter((v): v is ValidVector => v.kind === "valid");
const root = new URL("..", import.meta.url).pathname;
const buf = join(root, "node_modules", ".bin", "buf");

/** What a decode → encode round trip gives (unknown fields kept). */
const reencoded = (v: ValidVector) => v.reencodedHex ?? v.payloadHex;
/** What encoding the JSON gives (it carries no unknown fields). */
const fromJson = (v: ValidVector) => v.encodedJsonHex ?? reencoded(v);
/** Vectors whose JSON alone is a valid frame; the other four lost a later version's oneof member (EXT-3) and have no encode expectation. */
const encodable = valid.filter((v) => v.jsonEncodable !== false);

function mismatches(pairs: [string, unknown, unknown][]): string[] {
  return pairs.flatMap(([id, expected, actual]) => {
    const difference = firstJsonDifference(expected, actual);
    return difference ? [`${id}: ${describeDifference(difference)}`] : [];
  });
}

describe("EXT-4 ENV-6: buf convert (Go protobuf) agrees with every valid vector", () => {
  // One buf invocation per direction for all vectors: a wrapper message whose
  // field 1 repeats imwire.v1.Frame, so the batch is just the payloads, each
  // behind the tag 0a and its length. buf builds the schema from proto/.
  let dir: string;
  const convert = (from: string, to: "json" | "binpb"): Buffer =>
    execFileSync(buf, ["convert", join(dir, "proto"), "--type", "imwire.conformancebatch.Batch", "--from", from, "--to", `-#format=${to}`], { maxBuffer: 256 << 20 });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "imwire-buf-"));
    cpSync(join(root, "proto"), join(dir, "proto"), { recursive: true });
    writeFileSync(join(dir, "proto", "batch.proto"), 'syntax = "proto3";\npackage imwire.conformancebatch;\nimport "imwire/v1/frame.proto";\nmessage Batch { repeated imwire.v1.Frame frames = 1; }\n');
    writeFileSync(join(dir, "payloads.binpb"), batchOf(valid.map((v) => v.payloadHex)));
    writeFileSync(join(dir, "frames.json"), JSON.stringify({ frames: encodable.map((v) => v.json) }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("decodes every payload to the recorded JSON", () => {
    const frames = (JSON.parse(convert(`${join(dir, "payloads.binpb")}#format=binpb`, "json").toString("utf8")) as { frames: unknown[] }).frames;
    expect(frames).toHaveLength(valid.length);
    expect(mismatches(valid.map((v, i) => [v.id, v.json, frames[i]]))).toEqual([]);
  });

  it("re-encodes every payload to the recorded canonical bytes, unknown fields kept after the known ones", () => {
    const payloads = unbatch(convert(`${join(dir, "payloads.binpb")}#format=binpb`, "binpb"));
    expect(valid.filter((v, i) => payloads[i] !== reencoded(v)).map((v) => v.id)).toEqual([]);
  });

  it("encodes every encodable JSON to the recorded bytes", () => {
    const payloads = unbatch(convert(`${join(dir, "frames.json")}#format=json`, "binpb"));
    expect(encodable.filter((v, i) => payloads[i] !== fromJson(v)).map((v) => v.id)).toEqual([]);
  });
});

describe("EXT-4 ENV-6: protobufjs agrees with every valid vector", () => {
  // protobufjs drops unknown fields when decoding, and keeps enum numbers it
  // does not know as numbers. So its toObject (longs and bytes as strings,
  // enums as names) is compared with the JSON as it stands, and its
  // re-encoding with the bytes of the JSON (fromJson), which carry no unknown
  // fields either. The ENV-6 round trip itself is buf's test above.
  const Frame = loadProtobufjsFrame();
  const toObject = (hex: string) => JSON.parse(JSON.stringify(Frame.toObject(Frame.decode(Buffer.from(hex, "hex")), { longs: String, enums: String, bytes: String }))) as unknown;

  it("decodes every payload to the recorded JSON", () => {
    expect(mismatches(valid.map((v) => [v.id, v.json, toObject(v.payloadHex)]))).toEqual([]);
  });

  it("encodes every encodable JSON to the recorded bytes", () => {
    const encode = (v: ValidVector) => Buffer.from(Frame.encode(Frame.fromObject(v.json as object)).finish()).toString("hex");
    expect(encodable.filter((v) => encode(v) !== fromJson(v)).map((v) => v.id)).toEqual([]);
  });

  it("re-encodes every decoded payload to the bytes of its JSON (protobufjs drops unknown fields)", () => {
    const reencode = (v: ValidVector) => Buffer.from(Frame.encode(Frame.decode(Buffer.from(v.payloadHex, "hex"))).finish()).toString("hex");
    expect(encodable.filter((v) => reencode(v) !== fromJson(v)).map((v) => v.id)).toEqual([]);
  });
});

function batchOf(payloadHexes: string[]): Buffer {
  return Buffer.concat(payloadHexes.map((hex) => {
    const payload = Buffer.from(hex, "hex");
    const length: number[] = [];
    for (let n = payload.length; ; n >>>= 7) {
      if (n < 0x80) {
        length.push(n);
        break;
      }
      length.push((n & 0x7f) | 0x80);
    }
    return Buffer.concat([Buffer.from([0x0a, ...length]), payload]);
  }));
}

/** The payloads of a Batch as Go wrote it: field 1 entries only, in order. */
function unbatch(bytes: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes[at++] !== 0x0a) throw new Error(`unexpected tag at ${at - 1}`);
    let length = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[at++]!;
      length += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) break;
    }
    out.push(bytes.subarray(at, at + length).toString("hex"));
    at += length;
  }
  return out;
}
