import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Ajv2020 } from "ajv/dist/2020.js";
import { fromBinary, getOption, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { decodeFrame } from "../src/codec/frame-codec.js";
import { FrameSchema } from "../src/gen/imwire/v1/frame_pb.js";
import { required, required_oneof } from "../src/gen/imwire/v1/options_pb.js";
import { defaultManifestPath, defaultManifestSchemaPath, parseManifest, type InvalidVector, type ValidVector } from "../src/conformance/codec-harness/manifest.js";
import { consistencyProblems, verifyManifest } from "../src/conformance/codec-harness/verify.js";
import { runPassed } from "../src/conformance/codec-harness/report.js";
import { renderManifest } from "../conformance/vectors/definitions/build-manifest.js";
import { requirements } from "./support/spec.js";

const manifestText = readFileSync(defaultManifestPath, "utf8");
const manifest = parseManifest(manifestText);
const valid = manifest.vectors.filter((v): v is ValidVector => v.kind === "valid");
const invalid = manifest.vectors.filter((v): v is InvalidVector => v.kind === "invalid");
const schema = JSON.parse(readFileSync(defaultManifestSchemaPath, "utf8")) as object;

describe("the golden-vector manifest (conformance/vectors)", () => {
  it("validates against manifest.schema.json", () => {
    const validate = new Ajv2020({ allErrors: true }).compile(schema);
    expect(validate(JSON.parse(manifestText)), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
  });

  it("the schema rejects what the format forbids", () => {
    const validate = new Ajv2020({ allErrors: true }).compile(schema);
    const broken = (pick: (v: Record<string, unknown>) => boolean, change: (v: Record<string, unknown>) => void): boolean => {
      const copy = JSON.parse(manifestText) as { vectors: Record<string, unknown>[] };
      change(copy.vectors.find(pick)!);
      return validate(copy);
    };
    expect(broken((v) => v.input === "stream", (v) => delete v.framesBefore)).toBe(false);
    expect(broken((v) => v.input === "payload", (v) => (v.maxFrameSize = 10))).toBe(false);
    expect(broken((v) => v.expectedError === "ERROR_CODE_MISSING_FIELD", (v) => delete v.expectedField)).toBe(false);
    expect(broken((v) => v.expectedError === "ERROR_CODE_UNKNOWN_FRAME", (v) => delete v.expectedRequestId)).toBe(false);
    expect(broken((v) => v.kind === "valid", (v) => (v.payloadHex = "0A"))).toBe(false);
    expect(broken((v) => v.kind === "valid", (v) => (v.extra = true))).toBe(false);
    expect(broken((v) => v.endsInsideFrame === true, (v) => (v.requirement = "FRM-2"))).toBe(false);
  });

  it("is exactly what scripts/generate-vectors.ts produces (npm run vectors:generate)", () => {
    // Byte for byte: a definition changed without regenerating, or a hand edit of the manifest, fails here.
    expect(renderManifest() === manifestText, "conformance/vectors/manifest.json is stale: run npm run vectors:generate").toBe(true);
  });

  it("ids are unique, wire bytes are the payload with its minimal prefix, codes exist, requirement ids exist in SPEC.md", () => {
    expect(consistencyProblems(manifest, new Set(requirements().map((r) => r.id)))).toEqual([]);
  });

  it("holds 80-250 valid vectors and invalid ones for every bad-input class", () => {
    expect(valid.length).toBeGreaterThanOrEqual(80);
    expect(valid.length).toBeLessThanOrEqual(250);
    const byRequirement = (id: string) => invalid.filter((v) => v.requirement === id).length;
    for (const id of ["FRM-2", "FRM-4", "FRM-6", "FRM-7", "ENV-3", "ENV-4", "ENV-5"]) expect(byRequirement(id), id).toBeGreaterThan(0);
  });

  it("conformance/README.md and README.md state the manifest's counts", () => {
    const kit = readFileSync(new URL("../conformance/README.md", import.meta.url), "utf8").replace(/\s+/g, " ");
    expect(kit).toContain(`${manifest.vectors.length} vectors, ${valid.length} valid frames`);
    expect(kit).toContain(`and ${invalid.length} invalid inputs`);
    const main = readFileSync(new URL("../README.md", import.meta.url), "utf8").replace(/\s+/g, " ");
    for (const [, count] of main.matchAll(/(\d+) golden vectors/g)) expect(Number(count)).toBe(manifest.vectors.length);
  });
});

describe("coverage of the valid vectors", () => {
  const frames = valid.map((v) => decodeFrame(Buffer.from(v.payloadHex, "hex")));

  it("ENV-1: every Frame body case has at least one valid vector", () => {
    const cases = new Set(frames.map((f) => f.body.case));
    for (const field of FrameSchema.oneofs[0]!.fields) expect(cases.has(field.localName as never), field.name).toBe(true);
  });

  it("MSG-2: every content kind is sent (send_message) and delivered (deliver)", () => {
    const kinds = ["text", "image", "voice", "video", "file", "sticker", "encrypted"];
    const sent = new Set(valid.map((v) => Object.keys((v.json as { sendMessage?: { content?: object } }).sendMessage?.content ?? {})[0]));
    for (const kind of kinds) expect(sent.has(kind), kind).toBe(true);
    const delivered = valid.map((v) => JSON.stringify((v.json as { deliver?: unknown }).deliver ?? ""));
    expect(delivered.some((d) => d.includes('"encrypted"')) && delivered.some((d) => d.includes('"text"'))).toBe(true);
  });

  it("EXT-4: every field of every message reachable from Frame holds a non-default value in some vector", () => {
    const seen = new Set<string>();
    const visit = (desc: DescMessage, message: Record<string, unknown>): void => {
      for (const field of desc.fields) {
        const value = valueOf(field, message);
        if (value === undefined || isDefault(value)) continue;
        seen.add(`${desc.typeName}.${field.name}`);
        if (field.fieldKind === "message") visit(field.message, value as Record<string, unknown>);
        if (field.fieldKind === "list" && field.listKind === "message") for (const item of value as Record<string, unknown>[]) visit(field.message, item);
      }
    };
    for (const frame of frames) visit(FrameSchema, frame as unknown as Record<string, unknown>);
    expect(allFields(FrameSchema).filter((name) => !seen.has(name))).toEqual([]);
  });

  it("ENV-6: every enum value appears, and numbers no enum defines", () => {
    const text = valid.map((v) => JSON.stringify(v.json)).join("\n");
    for (const desc of enumsReachable(FrameSchema)) {
      for (const value of desc.values.filter((v) => v.number !== 0)) expect(text.includes(`"${value.name}"`), value.name).toBe(true);
    }
    for (const id of ["valid/unknown-enum/receive-mode", "valid/unknown-enum/negative", "valid/error/unknown-code-protocol-class"]) {
      expect(JSON.stringify(valid.find((v) => v.id === id)!.json)).toMatch(/:-?\d+[,}]/);
    }
  });

  it("ENV-6: unknown fields of every wire type, at the top and nested, survive re-encoding (no reencodedHex)", () => {
    const unknown = valid.filter((v) => v.id.startsWith("valid/unknown-fields/"));
    expect(unknown.length).toBeGreaterThanOrEqual(10);
    for (const vector of unknown) expect(vector.reencodedHex, vector.id).toBeUndefined();
    expect(unknown.every((v) => v.encodedJsonHex !== undefined)).toBe(true);
  });

  it("edge values: 64-bit extremes, astral-plane text, combining marks, a 64 KiB thumbnail", () => {
    const text = valid.map((v) => JSON.stringify(v.json)).join("\n");
    for (const needle of ['"18446744073709551615"', '"-9223372036854775808"', '"9223372036854775807"', '"-1"', "\ud834\udd1e", "e\u0301", "\u200d"]) expect(text.includes(needle), needle).toBe(true);
    expect(valid.some((v) => v.payloadHex.length / 2 > 65_536)).toBe(true);
  });
});

describe("coverage of the invalid vectors", () => {
  it("ENV-5: every required field and required oneof of the schema has a MISSING_FIELD vector naming it", () => {
    const named = new Set<string>();
    for (const vector of invalid.filter((v) => v.expectedError === "ERROR_CODE_MISSING_FIELD" && v.input === "payload")) {
      const frame = fromBinary(FrameSchema, Buffer.from(vector.hex, "hex"));
      named.add(typeAndName(FrameSchema, frame as unknown as Record<string, unknown>, vector.expectedField!.split(".")));
    }
    const schemaRules = requiredRules(FrameSchema).filter((rule) => rule !== "imwire.v1.Frame.body"); // no body at all is ENV-4
    expect(schemaRules.filter((rule) => !named.has(rule))).toEqual([]);
  });

  it("ENV-5 EXT-3: a oneof member from a later version is valid, not MISSING_FIELD", () => {
    const later = valid.filter((v) => v.id.startsWith("valid/later-version/"));
    expect(later.map((v) => v.id)).toContain("valid/later-version/content-kind");
    expect(later.every((v) => v.jsonEncodable === false)).toBe(true);
  });

  it("FRM-2 FRM-4 FRM-6: framing vectors include truncations, over-long and non-minimal prefixes, and lengths over the limit", () => {
    const ids = invalid.map((v) => v.id);
    for (const id of ["truncated-in-prefix", "truncated-in-payload", "prefix-five-bytes", "non-minimal-prefix-two-bytes", "over-limit-prefix-only"]) {
      expect(ids).toContain(`invalid/framing/${id}`);
    }
  });
});

describe("FRM-1 FRM-3 ENV-3 ENV-4 ENV-5 ENV-6 EXT-4: this package's codec against every vector (imwire vectors verify)", () => {
  it("passes every check of every vector, with nothing listed as expected to fail", async () => {
    const result = await verifyManifest({ manifestPath: defaultManifestPath, seed: 1 });
    expect(result.problems).toEqual([]);
    expect(result.classification.newFailures.map((r) => r.id)).toEqual([]);
    expect(result.classification.changed.map((c) => c.result.id)).toEqual([]);
    expect(result.classification.nowPassing.map((r) => r.id)).toEqual([]);
    expect(runPassed(result)).toBe(true);
    expect(result.run.vectors.filter((v) => v.status === "unsupported")).toEqual([]);
    expect(result.classification.expected.map((r) => r.id)).toEqual([]);
  });
});

// ---- schema walking ----

function valueOf(field: DescField, message: Record<string, unknown>): unknown {
  if (!field.oneof) return message[field.localName];
  const selected = message[field.oneof.localName] as { case?: string; value?: unknown };
  return selected.case === field.localName ? selected.value : undefined;
}

function isDefault(value: unknown): boolean {
  return value === 0 || value === 0n || value === "" || value === false || (Array.isArray(value) && value.length === 0) || (value instanceof Uint8Array && value.length === 0);
}

function messagesReachable(root: DescMessage): DescMessage[] {
  const seen = new Set<DescMessage>([root]);
  const queue = [root];
  for (let desc = queue.shift(); desc; desc = queue.shift()) {
    for (const field of desc.fields) {
      const child = field.fieldKind === "message" || (field.fieldKind === "list" && field.listKind === "message") ? field.message : undefined;
      if (child && !seen.has(child)) {
        seen.add(child);
        queue.push(child);
      }
    }
  }
  return [...seen];
}

function allFields(root: DescMessage): string[] {
  return messagesReachable(root).flatMap((desc) => desc.fields.map((f) => `${desc.typeName}.${f.name}`));
}

function enumsReachable(root: DescMessage) {
  return [...new Set(messagesReachable(root).flatMap((desc) => desc.fields.flatMap((f) => (f.fieldKind === "enum" || (f.fieldKind === "list" && f.listKind === "enum") ? [f.enum] : []))))];
}

function requiredRules(root: DescMessage): string[] {
  return messagesReachable(root).flatMap((desc) => [
    ...desc.oneofs.filter((o) => getOption(o, required_oneof)).map((o) => `${desc.typeName}.${o.name}`),
    ...desc.fields.filter((f) => getOption(f, required)).map((f) => `${desc.typeName}.${f.name}`),
  ]);
}

/** "Type.field" for the last segment of an ENV-5 path, resolved through the decoded frame. */
function typeAndName(desc: DescMessage, message: Record<string, unknown>, path: string[]): string {
  const [head, ...rest] = path;
  const name = head!.replace(/\[\d+\]$/, "");
  if (rest.length === 0) return `${desc.typeName}.${name}`;
  const field = desc.fields.find((f) => f.name === name)!;
  let value = valueOf(field, message);
  const index = /\[(\d+)\]$/.exec(head!);
  if (index) value = (value as unknown[])[Number(index[1])];
  return typeAndName(field.message!, value as Record<string, unknown>, rest);
}
