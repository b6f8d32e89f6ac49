import { isDeepStrictEqual } from "node:util";
import { create, fromJson, toBinary, toJson } from "@bufbuild/protobuf";
import { FrameSchema } from "../../../src/gen/imwire/v1/frame_pb.js";
import { decodeFrame, validateFrame } from "../../../src/codec/frame-codec.js";
import type { InvalidVector, Manifest, ValidVector } from "../../../src/conformance/codec-harness/manifest.js";
import type { InvalidDefinition, ValidDefinition } from "./types.js";
import { framed, toHex } from "./wire.js";
import { messageVectors } from "./valid-messages.js";
import { deliveryVectors } from "./valid-delivery.js";
import { sessionVectors } from "./valid-session.js";
import { conversationVectors } from "./valid-conversations.js";
import { messageActionVectors } from "./valid-message-actions.js";
import { ephemeralVectors } from "./valid-ephemeral.js";
import { threadVectors } from "./valid-threads.js";
import { historyVisibilityVectors } from "./valid-history-visibility.js";
import { deleteForMeVectors } from "./valid-delete-for-me.js";
import { receiptVectors } from "./valid-receipts.js";
import { laterVersionVectors, unknownEnumVectors, unknownFieldVectors } from "./valid-extensions.js";
import { noncanonicalVectors } from "./valid-noncanonical.js";
import { mistypedFieldInvalidVectors, mistypedFieldVectors } from "./valid-mistyped.js";
import { framingVectors } from "./invalid-framing.js";
import { malformedVectors, unknownFrameVectors, utf8Vectors } from "./invalid-payloads.js";
import { derivedMissingFieldVectors, explicitDefaultVectors } from "./missing-fields.js";

/**
 * Turns the vector definitions into the manifest. Deterministic: the same
 * definitions give the same bytes, which a test compares with the committed
 * conformance/vectors/manifest.json.
 *
 * Bump SUITE_VERSION with every change to the vectors: patch for fixed
 * descriptions, minor for added vectors, major for changed or removed ones
 * (ids are stable: a changed expectation gets a new id).
 */
export const SUITE_VERSION = "4.4.0";

/** What every valid vector exercises: a framed payload (FRM-1), one body (ENV-1), canonical JSON (EXT-4). */
const BASE_REQUIREMENTS = ["FRM-1", "ENV-1", "EXT-4"];

export const validDefinitions: readonly ValidDefinition[] = [
  ...messageVectors,
  ...deliveryVectors,
  ...sessionVectors,
  ...conversationVectors,
  ...messageActionVectors,
  ...ephemeralVectors,
  ...threadVectors,
  ...historyVisibilityVectors,
  ...deleteForMeVectors,
  ...receiptVectors,
  ...unknownFieldVectors,
  ...unknownEnumVectors,
  ...laterVersionVectors,
  ...noncanonicalVectors,
  ...mistypedFieldVectors,
];

export function invalidDefinitions(): InvalidDefinition[] {
  return [...framingVectors, ...malformedVectors, ...utf8Vectors, ...unknownFrameVectors, ...mistypedFieldInvalidVectors, ...explicitDefaultVectors, ...derivedMissingFieldVectors()];
}

function validVector(definition: ValidDefinition): ValidVector {
  const payload = "frame" in definition ? toBinary(FrameSchema, create(FrameSchema, definition.frame)) : definition.payload;
  // A definition typo shows up here rather than as a vector that says something else than meant.
  const decoded = decodeFrame(payload);
  const json = toJson(FrameSchema, decoded);
  if ("json" in definition && !isDeepStrictEqual(json, definition.json)) {
    throw new Error(`${definition.id}: payload decodes to ${JSON.stringify(json)}, the definition says ${JSON.stringify(definition.json)}`);
  }
  const reencoded = toBinary(FrameSchema, decoded);
  const fromJsonFrame = fromJson(FrameSchema, json);
  const encodedJson = toBinary(FrameSchema, fromJsonFrame);
  const payloadHex = toHex(payload);
  return {
    id: definition.id,
    description: definition.description,
    kind: "valid",
    type: "imwire.v1.Frame",
    requirements: [...new Set([...BASE_REQUIREMENTS, ...definition.requirements])],
    payloadHex,
    wireHex: toHex(framed(payload)),
    json,
    ...(toHex(reencoded) !== payloadHex ? { reencodedHex: toHex(reencoded) } : {}),
    ...(!jsonIsValidFrame(fromJsonFrame) ? { jsonEncodable: false as const } : toHex(encodedJson) !== toHex(reencoded) ? { encodedJsonHex: toHex(encodedJson) } : {}),
  };
}

/** False when the JSON lost a later version's oneof member, leaving a required oneof empty (EXT-3, ENV-5). */
function jsonIsValidFrame(frame: ReturnType<typeof fromJson<typeof FrameSchema>>): boolean {
  try {
    validateFrame(frame);
    return true;
  } catch {
    return false;
  }
}

function invalidVector(definition: InvalidDefinition): InvalidVector {
  const common = { id: definition.id, description: definition.description, kind: "invalid" as const, input: definition.input };
  const expectations = {
    expectedError: definition.expectedError,
    requirement: definition.requirement,
    ...(definition.expectedRequestId !== undefined ? { expectedRequestId: definition.expectedRequestId } : {}),
    ...(definition.expectedField !== undefined ? { expectedField: definition.expectedField } : {}),
  };
  if (definition.input === "payload") return { ...common, hex: toHex(definition.payload), ...expectations };
  return {
    ...common,
    hex: toHex(definition.stream),
    maxFrameSize: definition.maxFrameSize,
    ...expectations,
    framesBefore: definition.framesBefore,
    ...(definition.framesAfter !== undefined ? { framesAfter: definition.framesAfter } : {}),
    ...(definition.endsInsideFrame ? { endsInsideFrame: true } : {}),
  };
}

export function buildManifest(): Manifest {
  const vectors = [...validDefinitions.map(validVector), ...invalidDefinitions().map(invalidVector)];
  const seen = new Set<string>();
  for (const { id } of vectors) {
    if (seen.has(id)) throw new Error(`duplicate vector id ${id}`);
    seen.add(id);
  }
  return {
    $schema: "./manifest.schema.json",
    suite: "imwire-codec-vectors",
    suiteVersion: SUITE_VERSION,
    protocolVersion: 1,
    description: "Golden vectors for imwire codecs: valid frames with their canonical JSON, and invalid input with the exact error. Generated by scripts/generate-vectors.ts; see conformance/README.md.",
    vectors,
  };
}

/** The manifest file's exact text. */
export function renderManifest(manifest: Manifest = buildManifest()): string {
  return JSON.stringify(manifest, null, 2) + "\n";
}
