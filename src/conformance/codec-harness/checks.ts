import type { JsonValue } from "@bufbuild/protobuf";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import { errorCodeInfo } from "../../errors.js";
import { describeDifference, firstJsonDifference, shortJson } from "./json-diff.js";
import { hexToBytes, type InvalidVector, type ValidVector, type Vector } from "./manifest.js";
import type { Answer, Capability, ErrorFields, FramesAnswer, RequestBody, StreamItem } from "./protocol.js";
import { byteSplit, RANDOM_SPLITS, randomSplit, splitRandom, wholeSplit } from "./splits.js";

/**
 * What the harness asks a testee for each vector, and how it judges the
 * answer. One request may serve several checks (a decode answer is judged
 * for its JSON and for its re-encoding); each check names the capabilities
 * it needs, and one the testee lacks is reported unsupported, never passed.
 */

export type Verdict = { readonly ok: true } | { readonly ok: false; readonly reason: string; readonly detail?: string };

export interface PlannedCheck {
  readonly name: string;
  /** The name failure signatures use: the random splits are one family whatever the seed. */
  readonly family: string;
  readonly needs: readonly Capability[];
  evaluate(answer: Answer): Verdict;
}

export interface PlannedRequest {
  readonly request: RequestBody;
  readonly checks: readonly PlannedCheck[];
}

/** The limit valid vectors are streamed under: LIM-1's recommended size, above every valid vector. */
export const VALID_STREAM_LIMIT = 1_048_576;
/** The limit invalid payloads are streamed under: the handshake limit (FRM-5). */
export const PAYLOAD_STREAM_LIMIT = 65_536;
/** A ping (nonce 7) streamed after an invalid payload: it must arrive when the error does not close the connection. */
export const FOLLOW_UP_PING_HEX = "0432020807";

const PASS: Verdict = { ok: true };

export function planRequests(vector: Vector, seed: number): PlannedRequest[] {
  return vector.kind === "valid" ? validRequests(vector, seed) : invalidRequests(vector, seed);
}

function validRequests(vector: ValidVector, seed: number): PlannedRequest[] {
  const reencodedHex = vector.reencodedHex ?? vector.payloadHex;
  const fromJsonHex = vector.encodedJsonHex ?? reencodedHex;
  const twice = hexToBytes(vector.wireHex + vector.wireHex);
  const frame = { frame: vector.json };
  return [
    {
      request: { type: "decode", payloadHex: vector.payloadHex },
      checks: [
        check("decode", ["decode", "json"], (answer) => expectFrameJson(answer, vector.json)),
        check("roundtrip", ["decode", "encode"], (answer) => expectReencoding(answer, reencodedHex)),
      ],
    },
    // No encode check when the JSON alone is not a valid frame (it lost a later version's oneof member).
    ...(vector.jsonEncodable === false
      ? []
      : [{ request: { type: "encode", json: vector.json } as const, checks: [check("encode", ["encode", "json"], (answer) => expectPayload(answer, fromJsonHex))] }]),
    // The frame twice in a row, so splits also put two frames in one chunk (FRM-3).
    ...streamRequests(vector.id, seed, twice, VALID_STREAM_LIMIT, [0, twice.length / 2], ["stream", "json"], { items: [frame, frame], end: "boundary" }),
  ];
}

function invalidRequests(vector: InvalidVector, seed: number): PlannedRequest[] {
  const error: ExpectedError = { error: vector.expectedError, requestId: vector.expectedRequestId, field: vector.expectedField };
  if (vector.input === "payload") {
    const framed = hexToBytes(lengthPrefixHex(vector.hex.length / 2) + vector.hex + FOLLOW_UP_PING_HEX);
    const closing = closesConnection(vector.expectedError);
    // Frames here are counted, not compared: the check needs "stream" only, and a testee without "json" sends {"json": null}.
    const expectation: StreamExpectation = closing ? { items: [error], end: "any" } : { items: [error, { frame: undefined }], end: "boundary" };
    return [
      { request: { type: "decode", payloadHex: vector.hex }, checks: [check("decode", ["decode"], (answer) => expectError(answer, error))] },
      ...streamRequests(vector.id, seed, framed, PAYLOAD_STREAM_LIMIT, [0, framed.length - FOLLOW_UP_PING_HEX.length / 2], ["stream"], expectation),
    ];
  }
  const before: ExpectedItem[] = Array.from({ length: vector.framesBefore ?? 0 }, () => ({ frame: undefined }));
  const after: ExpectedItem[] = Array.from({ length: vector.framesAfter ?? 0 }, () => ({ frame: undefined }));
  const expectation: StreamExpectation = vector.endsInsideFrame
    ? { items: before, end: "partial" }
    : closesConnection(vector.expectedError)
      ? { items: [...before, error], end: "any" }
      : { items: [...before, error, ...after], end: "boundary" };
  return streamRequests(vector.id, seed, hexToBytes(vector.hex), vector.maxFrameSize ?? PAYLOAD_STREAM_LIMIT, [0], ["stream"], expectation);
}

function check(name: string, needs: readonly Capability[], evaluate: (answer: Answer) => Verdict, family = name): PlannedCheck {
  return { name, family, needs, evaluate };
}

function streamRequests(id: string, seed: number, bytes: Uint8Array, maxFrameSize: number, hotSpots: number[], needs: readonly Capability[], expectation: StreamExpectation): PlannedRequest[] {
  const splits: [string, string, Uint8Array[]][] = [
    ["stream/whole", "stream/whole", wholeSplit(bytes)],
    ["stream/bytes", "stream/bytes", byteSplit(bytes)],
    ...Array.from({ length: RANDOM_SPLITS }, (_, i): [string, string, Uint8Array[]] => [`stream/random-${i + 1}`, "stream/random", randomSplit(bytes, splitRandom(seed, id, i), hotSpots)]),
  ];
  return splits.map(([name, family, chunks]) => ({
    request: { type: "stream", maxFrameSize, chunksHex: chunks.map((c) => Buffer.from(c).toString("hex")) },
    checks: [check(name, needs, (answer) => expectStream(answer, expectation), family)],
  }));
}

// ---- verdicts ----

function expectFrameJson(answer: Answer, json: JsonValue): Verdict {
  if (answer.result !== "frame") return unexpected(answer, "a frame");
  if (answer.json === undefined) return { ok: false, reason: "the frame answer has no json, though the testee declared json" };
  const difference = firstJsonDifference(json, answer.json);
  return difference === undefined ? PASS : { ok: false, reason: describeDifference(difference), detail: `expected ${JSON.stringify(json)}\n got      ${JSON.stringify(answer.json)}` };
}

function expectReencoding(answer: Answer, hex: string): Verdict {
  if (answer.result !== "frame") return unexpected(answer, "a frame");
  if (answer.payloadHex === undefined) return { ok: false, reason: "the frame answer has no payloadHex, though the testee declared encode" };
  return compareBytes(hex, answer.payloadHex, "re-encoded");
}

function expectPayload(answer: Answer, hex: string): Verdict {
  if (answer.result !== "payload") return unexpected(answer, "a payload");
  return compareBytes(hex, answer.payloadHex, "encoded");
}

function expectError(answer: Answer, expected: ExpectedError): Verdict {
  if (answer.result !== "error") return unexpected(answer, expected.error);
  return compareError(expected, answer, "");
}

function compareError(expected: ExpectedError, actual: ErrorFields, where: string): Verdict {
  if (actual.code !== expected.error) return { ok: false, reason: `${where}expected ${expected.error}, got ${actual.code}${fieldNote(actual)}` };
  if (expected.requestId !== undefined && (actual.requestId ?? 0) !== expected.requestId) {
    return { ok: false, reason: `${where}${expected.error} with request id ${actual.requestId ?? 0}, expected ${expected.requestId}` };
  }
  if (expected.field !== undefined && actual.field !== expected.field) {
    return { ok: false, reason: `${where}${expected.error} naming field ${actual.field === undefined ? "(none)" : JSON.stringify(actual.field)}, expected ${JSON.stringify(expected.field)}` };
  }
  return PASS;
}

interface ExpectedError {
  readonly error: string;
  readonly requestId?: number;
  readonly field?: string;
}

/** A frame (with the JSON it must have, or undefined for any frame), or an error. */
type ExpectedItem = { readonly frame: JsonValue | undefined } | ExpectedError;

interface StreamExpectation {
  readonly items: readonly ExpectedItem[];
  /** "any" after an error that closes the connection: the testee stopped reading, where it stopped does not matter. */
  readonly end: "boundary" | "partial" | "any";
}

function expectStream(answer: Answer, expected: StreamExpectation): Verdict {
  if (answer.result !== "frames") return unexpected(answer, "stream items");
  const shape = (items: readonly (ExpectedItem | StreamItem)[], end: string) =>
    `[${items.map((i) => ("error" in i ? i.error : "frame")).join(", ")}]${expected.end === "any" ? "" : ` end ${end}`}`;
  const expectedShape = shape(expected.items, expected.end);
  const actualShape = shape(answer.items, answer.end);
  if (expectedShape !== actualShape) return { ok: false, reason: `expected ${expectedShape}, got ${actualShape}`, detail: itemsDetail(answer) };
  for (const [i, item] of expected.items.entries()) {
    const actual = answer.items[i]!;
    if ("error" in item && "error" in actual) {
      const verdict = compareError(item, { code: actual.error, requestId: actual.requestId, field: actual.field }, `item ${i}: `);
      if (!verdict.ok) return verdict;
    } else if ("frame" in item && item.frame !== undefined && "json" in actual && actual.json !== null) {
      const difference = firstJsonDifference(item.frame, actual.json);
      if (difference) return { ok: false, reason: `item ${i}: ${describeDifference(difference)}`, detail: itemsDetail(answer) };
    } else if ("frame" in item && item.frame !== undefined) {
      return { ok: false, reason: `item ${i}: the frame has no json, though the testee declared json` };
    }
  }
  return PASS;
}

function unexpected(answer: Answer, wanted: string): Verdict {
  switch (answer.result) {
    case "failure":
      return { ok: false, reason: `expected ${wanted}, the testee reported a failure`, detail: answer.message };
    case "error":
      return { ok: false, reason: `expected ${wanted}, got ${answer.code}${fieldNote(answer)}` };
    case "frame":
      return { ok: false, reason: `expected ${wanted}, got a frame`, detail: answer.json === undefined ? undefined : JSON.stringify(answer.json) };
    default:
      return { ok: false, reason: `expected ${wanted}, got a "${answer.result}" answer` };
  }
}

function fieldNote(error: ErrorFields): string {
  return error.field === undefined ? "" : ` (field ${error.field})`;
}

function compareBytes(expectedHex: string, actualHex: string, what: string): Verdict {
  const actual = actualHex.toLowerCase();
  if (actual === expectedHex) return PASS;
  let at = 0;
  while (at * 2 < expectedHex.length && expectedHex.slice(at * 2, at * 2 + 2) === actual.slice(at * 2, at * 2 + 2)) at++;
  const detail = `expected ${expectedHex}\n got      ${actual}`;
  if (at * 2 >= expectedHex.length || at * 2 >= actual.length) {
    return { ok: false, reason: `${what} ${actual.length / 2} bytes, expected ${expectedHex.length / 2} (the first ${at} agree)`, detail };
  }
  return { ok: false, reason: `${what} bytes differ from offset ${at}: expected ${expectedHex.slice(at * 2, at * 2 + 2)}, got ${actual.slice(at * 2, at * 2 + 2)}`, detail };
}

function itemsDetail(answer: FramesAnswer): string {
  return `items ${answer.items.map((i) => ("error" in i ? JSON.stringify(i) : `frame ${shortJson(i.json, 120)}`)).join(", ")}; end ${answer.end}`;
}

/** Does SPEC.md's error table say this code closes the connection (ERR-2)? Codes it does not define close (1xx, ERR-3). */
export function closesConnection(codeName: string): boolean {
  const code = ErrorCode[codeName.replace(/^ERROR_CODE_/, "") as keyof typeof ErrorCode];
  return code === undefined ? true : errorCodeInfo(code).closes;
}

function lengthPrefixHex(length: number): string {
  const bytes: number[] = [];
  let value = length;
  while (value >= 0x80) {
    bytes.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  bytes.push(value);
  return Buffer.from(bytes).toString("hex");
}
