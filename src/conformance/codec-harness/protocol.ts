import type { JsonValue } from "@bufbuild/protobuf";

/**
 * The messages of the codec harness protocol, version 1, and the checks the
 * harness applies to what a testee sends. conformance/README.md ("Codec
 * harness protocol") is the normative description; this is its code.
 */

export const HARNESS_NAME = "imwire-codec-harness";
/** The protocol version: bumped on any change a testee could notice. */
export const HARNESS_PROTOCOL_VERSION = 1;
/** This implementation of the harness. */
export const HARNESS_VERSION = "1.0.0";

export const CAPABILITIES = ["decode", "encode", "stream", "json"] as const;
export type Capability = (typeof CAPABILITIES)[number];

export interface HarnessHello {
  readonly type: "hello";
  readonly harness: string;
  readonly protocolVersion: number;
  readonly harnessVersion: string;
}

export interface TesteeHello {
  readonly type: "hello";
  readonly testee: string;
  readonly testeeVersion: string;
  readonly protocolVersion: number;
  readonly capabilities: readonly Capability[];
  /** Capabilities the testee named that this harness does not know: reported, never used. */
  readonly unknownCapabilities?: readonly string[];
}

export interface DecodeRequest {
  readonly type: "decode";
  readonly id: number;
  readonly payloadHex: string;
}

export interface EncodeRequest {
  readonly type: "encode";
  readonly id: number;
  readonly json: JsonValue;
}

export interface StreamRequest {
  readonly type: "stream";
  readonly id: number;
  readonly maxFrameSize: number;
  readonly chunksHex: readonly string[];
}

export type Request = DecodeRequest | EncodeRequest | StreamRequest;
export type RequestBody = DistributiveOmit<Request, "id">;
type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

export interface ErrorFields {
  readonly code: string;
  readonly requestId?: number;
  readonly field?: string;
}

export interface FrameAnswer {
  readonly id: number;
  readonly result: "frame";
  /** Present when the testee declared "json". */
  readonly json?: JsonValue;
  /** The testee's re-encoding of the decoded frame; present when it declared "encode". */
  readonly payloadHex?: string;
}

export interface ErrorAnswer extends ErrorFields {
  readonly id: number;
  readonly result: "error";
}

export interface PayloadAnswer {
  readonly id: number;
  readonly result: "payload";
  readonly payloadHex: string;
}

export type StreamItem = { readonly json: JsonValue | null } | { readonly error: string; readonly requestId?: number; readonly field?: string };

export interface FramesAnswer {
  readonly id: number;
  readonly result: "frames";
  readonly items: readonly StreamItem[];
  readonly end: "boundary" | "partial";
}

/** The testee could not carry out the request (a bug of its own, not a verdict on the input). */
export interface FailureAnswer {
  readonly id: number;
  readonly result: "failure";
  readonly message: string;
}

export type Answer = FrameAnswer | ErrorAnswer | PayloadAnswer | FramesAnswer | FailureAnswer;

/** What a testee sent breaks the protocol; the harness cannot trust the conversation after it. */
export class ProtocolViolation extends Error {
  override readonly name = "ProtocolViolation";
}

export function harnessHello(): HarnessHello {
  return { type: "hello", harness: HARNESS_NAME, protocolVersion: HARNESS_PROTOCOL_VERSION, harnessVersion: HARNESS_VERSION };
}

export function parseTesteeHello(value: Record<string, unknown>): TesteeHello {
  if (value.type !== "hello") throw new ProtocolViolation(`expected the testee's hello, got ${describe(value)}`);
  if (value.protocolVersion !== HARNESS_PROTOCOL_VERSION) {
    throw new ProtocolViolation(`the testee speaks harness protocol ${JSON.stringify(value.protocolVersion)}; this harness speaks ${HARNESS_PROTOCOL_VERSION}`);
  }
  const name = requireString(value, "testee");
  const version = requireString(value, "testeeVersion");
  if (!Array.isArray(value.capabilities) || !value.capabilities.every((c) => typeof c === "string")) {
    throw new ProtocolViolation(`hello.capabilities must be an array of strings, got ${JSON.stringify(value.capabilities)}`);
  }
  const named = value.capabilities as string[];
  const known = CAPABILITIES.filter((c) => named.includes(c));
  const unknown = named.filter((c) => !(CAPABILITIES as readonly string[]).includes(c));
  return { type: "hello", testee: name, testeeVersion: version, protocolVersion: HARNESS_PROTOCOL_VERSION, capabilities: known, ...(unknown.length > 0 ? { unknownCapabilities: unknown } : {}) };
}

/** Check an answer's shape (not its verdict) and that it answers request `id`. */
export function parseAnswer(value: Record<string, unknown>, id: number): Answer {
  if (value.id !== id) throw new ProtocolViolation(`expected the answer to request ${id}, got ${describe(value)}`);
  switch (value.result) {
    case "frame":
      if (value.json !== undefined && (typeof value.json !== "object" || value.json === null)) throw new ProtocolViolation(`frame.json must be an object: ${describe(value)}`);
      if (value.payloadHex !== undefined) requireHex(value, "payloadHex");
      return value as unknown as FrameAnswer;
    case "error":
      parseErrorFields(value, "code");
      return value as unknown as ErrorAnswer;
    case "payload":
      requireHex(value, "payloadHex");
      return value as unknown as PayloadAnswer;
    case "frames":
      if (!Array.isArray(value.items)) throw new ProtocolViolation(`frames.items must be an array: ${describe(value)}`);
      for (const item of value.items as unknown[]) parseStreamItem(item);
      if (value.end !== "boundary" && value.end !== "partial") throw new ProtocolViolation(`frames.end must be "boundary" or "partial": ${describe(value)}`);
      return value as unknown as FramesAnswer;
    case "failure":
      requireString(value, "message");
      return value as unknown as FailureAnswer;
    default:
      throw new ProtocolViolation(`unknown result ${JSON.stringify(value.result)}: ${describe(value)}`);
  }
}

function parseStreamItem(item: unknown): void {
  if (typeof item !== "object" || item === null) throw new ProtocolViolation(`a stream item must be an object: ${JSON.stringify(item)}`);
  const record = item as Record<string, unknown>;
  if ("error" in record) parseErrorFields(record, "error");
  else if (!("json" in record) || (record.json !== null && typeof record.json !== "object")) throw new ProtocolViolation(`a stream item needs "json" (object or null) or "error": ${JSON.stringify(item)}`);
}

function parseErrorFields(value: Record<string, unknown>, codeKey: string): void {
  requireString(value, codeKey);
  if (value.requestId !== undefined && !(Number.isInteger(value.requestId) && (value.requestId as number) >= 0 && (value.requestId as number) <= 0xffffffff)) {
    throw new ProtocolViolation(`requestId must be a uint32: ${describe(value)}`);
  }
  if (value.field !== undefined) requireString(value, "field");
}

function requireString(value: Record<string, unknown>, key: string): string {
  if (typeof value[key] !== "string") throw new ProtocolViolation(`"${key}" must be a string: ${describe(value)}`);
  return value[key] as string;
}

function requireHex(value: Record<string, unknown>, key: string): void {
  const text = value[key];
  if (typeof text !== "string" || !/^(?:[0-9a-fA-F]{2})*$/.test(text)) throw new ProtocolViolation(`"${key}" must be hex: ${describe(value)}`);
}

function describe(value: unknown): string {
  const text = JSON.stringify(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
