import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { decodeFrame, encodeFrame, encodeFramed, ErrorCode, FrameReader, FrameSchema, isImwireError, type Frame, type ImwireError } from "../../src/index.js";
import { perfectLink, runScenario, type Scenario } from "../../src/entry/sim.js";

/**
 * What the browser page computes, written once against the portable core
 * only (no Node API, no test helper that has one), so that Chromium and Node
 * run the very same code and the test can hold each to the other as well as
 * to the golden vectors.
 */

/** The fields of a golden vector (conformance/vectors/manifest.json) that these checks read. */
export interface VectorInput {
  readonly id: string;
  readonly kind: "valid" | "invalid";
  readonly payloadHex?: string;
  readonly json?: JsonValue;
  readonly jsonEncodable?: boolean;
  readonly input?: "payload" | "stream";
  readonly hex?: string;
  readonly maxFrameSize?: number;
}

export interface ErrorOutcome {
  readonly error: string;
  readonly requestId?: number;
  readonly field?: string;
}

export type StreamItem = { readonly json: JsonValue } | ErrorOutcome;

export type VectorOutcome =
  | { readonly id: string; readonly decoded: JsonValue; readonly reencodedHex: string; readonly fromJsonHex?: string; readonly wireHex?: string }
  | ({ readonly id: string } & ErrorOutcome)
  | { readonly id: string; readonly items: readonly StreamItem[]; readonly end: "boundary" | "partial" };

export function hexToBytes(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

export function bytesToHex(bytes: Uint8Array): string {
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

function errorOutcome(error: ImwireError): ErrorOutcome {
  return { error: `ERROR_CODE_${ErrorCode[error.code]}`, ...(error.requestId !== undefined ? { requestId: error.requestId } : {}), ...(error.field !== undefined ? { field: error.field } : {}) };
}

/** Decode, re-encode and encode from JSON a valid vector; decode an invalid payload; stream an invalid stream as one chunk. */
export function vectorOutcome(vector: VectorInput): VectorOutcome {
  if (vector.kind === "valid") {
    const decoded: Frame = decodeFrame(hexToBytes(vector.payloadHex!));
    const fromJsonFrame = vector.jsonEncodable === false ? undefined : fromJson(FrameSchema, vector.json!);
    return {
      id: vector.id,
      decoded: toJson(FrameSchema, decoded),
      reencodedHex: bytesToHex(encodeFrame(decoded)),
      ...(fromJsonFrame ? { fromJsonHex: bytesToHex(encodeFrame(fromJsonFrame)), wireHex: bytesToHex(encodeFramed(fromJsonFrame)) } : {}),
    };
  }
  if (vector.input === "payload") {
    try {
      decodeFrame(hexToBytes(vector.hex!));
    } catch (error) {
      if (isImwireError(error)) return { id: vector.id, ...errorOutcome(error) };
      throw error;
    }
    return { id: vector.id, error: "accepted" };
  }
  const reader = new FrameReader({ maxFrameSize: vector.maxFrameSize ?? 65_536 });
  reader.push(hexToBytes(vector.hex!));
  const items: StreamItem[] = [];
  for (;;) {
    try {
      const frame = reader.next();
      if (frame === undefined) break;
      items.push({ json: toJson(FrameSchema, frame) });
    } catch (error) {
      if (!isImwireError(error)) throw error;
      items.push(errorOutcome(error));
      if (error.closesConnection) break;
    }
  }
  return { id: vector.id, items, end: reader.atFrameBoundary ? "boundary" : "partial" };
}

/**
 * A small seeded scenario under loss, duplication and reordering: a group of
 * three, a direct chat, a dropped connection and a partition. Every property
 * must hold, and Chromium must replay it exactly as Node does.
 */
export const BROWSER_SCENARIO: Scenario = {
  seed: 11,
  users: 3,
  devicesPerUser: 2,
  faults: { ...perfectLink, loss: 0.1, duplicate: 0.05, delayMs: 10, jitterMs: 40 },
  steps: [
    { after: 0, action: { kind: "createGroup", user: 0, device: 0, members: [1, 2] } },
    { after: 0, action: { kind: "createDirect", user: 1, device: 0, peer: 2 } },
    { after: 2_000, action: { kind: "send", user: 0, device: 0, conversation: 0, count: 4 } },
    { after: 50, action: { kind: "send", user: 1, device: 1, conversation: 0, count: 3 } },
    { after: 20, action: { kind: "drop", user: 2, device: 0 } },
    { after: 100, action: { kind: "send", user: 2, device: 1, conversation: 1, count: 3 } },
    { after: 0, action: { kind: "partition", user: 1, device: 0, ms: 1_500 } },
    { after: 200, action: { kind: "send", user: 0, device: 1, conversation: 0, count: 2 } },
    { after: 400, action: { kind: "markRead", user: 2, device: 1, conversation: 0 } },
  ],
};

export interface ScenarioSummary {
  readonly violations: readonly string[];
  readonly frames: number;
  readonly events: number;
  readonly sends: number;
  readonly virtualMs: number;
  /** Every device's delivered history, "conversation:seq" in order: what the two engines must agree on exactly. */
  readonly histories: readonly string[];
}

export function scenarioSummary(scenario: Scenario = BROWSER_SCENARIO): ScenarioSummary {
  const report = runScenario(scenario, { checkEquivalence: true });
  const histories = report.sim.devices.map((device) =>
    [...device.delivered].map(([conversation, events]) => `${conversation}:${events.map((e) => e.seq).join(",")}`).join(" "),
  );
  return { violations: report.violations, frames: report.frames, events: report.events, sends: report.sends, virtualMs: report.virtualMs, histories };
}
