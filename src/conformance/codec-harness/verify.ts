import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import { classify, parseExpectedFailures, type Classification } from "./expected-failures.js";
import { defaultManifestSchemaPath, parseManifest, type Manifest } from "./manifest.js";
import { harnessHello } from "./protocol.js";
import { runVectors, type RunResult } from "./runner.js";
import { inProcessSession } from "./session.js";
import { createTypescriptTestee } from "./typescript-testee.js";

/**
 * imwire vectors verify: the committed manifest against its JSON Schema, the
 * rules the schema cannot state, and this package's codec (every check of
 * the harness, run in-process against the TypeScript testee).
 */

/** The TypeScript testee's expected failures: vectors this package's codec is known to get wrong. */
export const defaultExpectedFailuresPath = fileURLToPath(new URL("../../../conformance/harness/typescript-expected-failures.txt", import.meta.url));
const defaultSpecPath = fileURLToPath(new URL("../../../SPEC.md", import.meta.url));

export interface VerifyOptions {
  readonly manifestPath: string;
  readonly schemaPath?: string;
  readonly expectedFailuresPath?: string;
  readonly specPath?: string;
  readonly seed: number;
}

export interface VerifyResult {
  readonly manifest: Manifest;
  /** Schema and consistency problems; empty when the manifest is sound. */
  readonly problems: readonly string[];
  readonly run: RunResult;
  readonly classification: Classification;
}

export async function verifyManifest(options: VerifyOptions): Promise<VerifyResult> {
  const text = await readFile(options.manifestPath, "utf8");
  const document = JSON.parse(text) as unknown;
  const problems = [...(await schemaProblems(document, options.schemaPath ?? defaultManifestSchemaPath))];
  const manifest = parseManifest(text);
  problems.push(...consistencyProblems(manifest, await requirementIds(options.specPath ?? defaultSpecPath)));
  const run = await runVectors({
    manifest,
    startSession: async () => inProcessSession(createTypescriptTestee(), harnessHello()),
    seed: options.seed,
    requestTimeoutMs: 60_000,
    maxRestarts: 0,
  });
  const listText = await readFile(options.expectedFailuresPath ?? defaultExpectedFailuresPath, "utf8").catch(() => "");
  const classification = classify(run.vectors, parseExpectedFailures(listText), new Set(manifest.vectors.map((v) => v.id)));
  return { manifest, problems, run, classification };
}

export async function schemaProblems(document: unknown, schemaPath: string): Promise<string[]> {
  // Loaded on demand: only verify needs it, and it costs ~40 ms to load.
  const { Ajv2020 } = await import("ajv/dist/2020.js");
  const validate = new Ajv2020({ allErrors: true }).compile(JSON.parse(await readFile(schemaPath, "utf8")) as object);
  if (validate(document)) return [];
  return (validate.errors ?? []).slice(0, 50).map((e) => `schema: ${e.instancePath || "/"} ${e.message ?? "is invalid"}`);
}

/** What the JSON Schema cannot say: unique ids, wire bytes that match the payload, codes and requirement ids that exist. */
export function consistencyProblems(manifest: Manifest, knownRequirements: ReadonlySet<string> | undefined): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const vector of manifest.vectors) {
    if (seen.has(vector.id)) problems.push(`${vector.id}: duplicate id`);
    seen.add(vector.id);
    const requirements = vector.kind === "valid" ? vector.requirements : [vector.requirement];
    for (const id of requirements) if (knownRequirements && !knownRequirements.has(id)) problems.push(`${vector.id}: requirement ${id} is not in SPEC.md`);
    if (vector.kind === "valid") {
      if (vector.wireHex !== prefixHex(vector.payloadHex.length / 2) + vector.payloadHex) problems.push(`${vector.id}: wireHex is not payloadHex with its minimal length prefix`);
    } else if (!(vector.expectedError.replace(/^ERROR_CODE_/, "") in ErrorCode)) {
      problems.push(`${vector.id}: ${vector.expectedError} is not an ErrorCode`);
    }
  }
  return problems;
}

async function requirementIds(specPath: string): Promise<Set<string> | undefined> {
  const spec = await readFile(specPath, "utf8").catch(() => undefined);
  if (spec === undefined) return undefined;
  return new Set([...spec.matchAll(/^\*\*([A-Z]+-\d+)\*\* \*\((?:MUST|SHOULD|MAY)\)\*/gm)].map((m) => m[1]!));
}

function prefixHex(length: number): string {
  const bytes: number[] = [];
  for (let value = length; ; value >>>= 7) {
    if (value < 0x80) {
      bytes.push(value);
      break;
    }
    bytes.push((value & 0x7f) | 0x80);
  }
  return Buffer.from(bytes).toString("hex");
}
