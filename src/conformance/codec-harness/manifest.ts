import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { JsonValue } from "@bufbuild/protobuf";

/**
 * The golden-vector manifest (conformance/vectors/manifest.json), as
 * conformance/README.md and manifest.schema.json describe it.
 */

export interface ValidVector {
  readonly id: string;
  readonly description: string;
  readonly kind: "valid";
  readonly type: "imwire.v1.Frame";
  readonly requirements: readonly string[];
  /** The Frame payload. */
  readonly payloadHex: string;
  /** The payload with its length prefix (FRM-1, FRM-2). */
  readonly wireHex: string;
  /** Canonical Protobuf JSON of the frame (EXT-4). */
  readonly json: JsonValue;
  /** What decoding the payload and encoding the frame again gives, when that is not payloadHex (a non-canonical payload). */
  readonly reencodedHex?: string;
  /** What encoding `json` gives, when that differs from the re-encoding (the payload has unknown fields, which JSON cannot carry). */
  readonly encodedJsonHex?: string;
  /**
   * false when `json` alone is not a valid frame: the payload's only member of a
   * required oneof is a later version's, which JSON cannot carry (EXT-3), so an
   * encoder may refuse the JSON and there is no encode check.
   */
  readonly jsonEncodable?: false;
}

export interface InvalidVector {
  readonly id: string;
  readonly description: string;
  readonly kind: "invalid";
  readonly input: "payload" | "stream";
  readonly hex: string;
  /** Stream vectors: the frame size limit in force (FRM-4). */
  readonly maxFrameSize?: number;
  readonly expectedError: string;
  readonly requirement: string;
  readonly expectedRequestId?: number;
  /** MISSING_FIELD: the path of the missing field, for example "send_message.content.kind". */
  readonly expectedField?: string;
  /** Stream vectors: good frames before the error. */
  readonly framesBefore?: number;
  /** Stream vectors: good frames after an error that does not close the connection. */
  readonly framesAfter?: number;
  /** Stream vectors: the stream ends inside a frame (FRM-6), which the end of the stream reports. */
  readonly endsInsideFrame?: boolean;
}

export type Vector = ValidVector | InvalidVector;

export interface Manifest {
  readonly $schema?: string;
  readonly suite: string;
  readonly suiteVersion: string;
  readonly protocolVersion: number;
  readonly description?: string;
  readonly vectors: readonly Vector[];
}

/** The manifest committed with this package: conformance/vectors/manifest.json at the repository root (same depth from src/ and dist/). */
export const defaultManifestPath = fileURLToPath(new URL("../../../conformance/vectors/manifest.json", import.meta.url));
export const defaultManifestSchemaPath = fileURLToPath(new URL("../../../conformance/vectors/manifest.schema.json", import.meta.url));

/** Parse a manifest, checking the little the harness relies on (the JSON Schema checks the rest: imwire vectors verify). */
export function parseManifest(text: string): Manifest {
  const value = JSON.parse(text) as Partial<Manifest>;
  if (typeof value !== "object" || value === null || !Array.isArray(value.vectors)) throw new Error("not an imwire vector manifest: no vectors array");
  if (value.protocolVersion !== 1) throw new Error(`manifest is for protocol version ${String(value.protocolVersion)}; this harness runs version 1`);
  for (const vector of value.vectors) {
    if (typeof vector?.id !== "string" || (vector.kind !== "valid" && vector.kind !== "invalid")) throw new Error(`manifest entry is not a vector: ${JSON.stringify(vector).slice(0, 80)}`);
  }
  return value as Manifest;
}

export async function loadManifest(path = defaultManifestPath): Promise<Manifest> {
  return parseManifest(await readFile(path, "utf8"));
}

export function hexToBytes(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, "hex"));
}

export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}
