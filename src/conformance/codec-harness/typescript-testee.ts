import { createRequire } from "node:module";
import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import { FrameSchema, type Frame } from "../../gen/imwire/v1/frame_pb.js";
import { decodeFrame, encodeFrame } from "../../codec/frame-codec.js";
import { FrameReader } from "../../framing/frame-stream.js";
import { isImwireError, type ImwireError } from "../../errors.js";
import { bytesToHex, hexToBytes } from "./manifest.js";
import { HARNESS_PROTOCOL_VERSION, type Answer, type DecodeRequest, type EncodeRequest, type ErrorFields, type StreamItem, type StreamRequest, type TesteeHello } from "./protocol.js";
import type { Testee } from "./session.js";

/**
 * The TypeScript testee: this package's codec (src/codec, src/framing) behind
 * the harness protocol, with every capability. `imwire vectors testee` serves
 * it on stdin/stdout. The codec's parts are injectable so that tests can
 * build deliberately broken testees from it and check the harness catches them.
 */

export const TESTEE_NAME = "imwire-typescript";

const packageVersion = (createRequire(import.meta.url)("../../../package.json") as { version: string }).version;

/** The parts of a codec the testee exercises. */
export interface TesteeCodec {
  decode(payload: Uint8Array): Frame;
  encode(frame: Frame): Uint8Array;
  streamReader(maxFrameSize: number): { push(chunk: Uint8Array): void; next(): Frame | undefined; readonly atFrameBoundary: boolean };
  /** How an error is reported: code, request id, field. */
  errorFields(error: ImwireError): ErrorFields;
}

export const projectCodec: TesteeCodec = {
  decode: decodeFrame,
  encode: encodeFrame,
  streamReader: (maxFrameSize) => new FrameReader({ maxFrameSize }),
  errorFields: (error) => ({ code: `ERROR_CODE_${ErrorCode[error.code] ?? error.code}`, requestId: error.requestId, ...(error.field !== undefined ? { field: error.field } : {}) }),
};

export function createTypescriptTestee(overrides: Partial<TesteeCodec> = {}, name = TESTEE_NAME): Testee {
  const codec: TesteeCodec = { ...projectCodec, ...overrides };
  return {
    hello: (): TesteeHello => ({ type: "hello", testee: name, testeeVersion: packageVersion, protocolVersion: HARNESS_PROTOCOL_VERSION, capabilities: ["decode", "encode", "stream", "json"] }),
    answer(request): Answer {
      switch (request.type) {
        case "decode":
          return decode(codec, request);
        case "encode":
          return encode(codec, request);
        case "stream":
          return stream(codec, request);
        default:
          return { id: (request as { id: number }).id, result: "failure", message: `unknown request type ${JSON.stringify((request as { type: unknown }).type)}` };
      }
    },
  };
}

function decode(codec: TesteeCodec, request: DecodeRequest): Answer {
  let frame: Frame;
  try {
    frame = codec.decode(hexToBytes(request.payloadHex));
  } catch (error) {
    if (!isImwireError(error)) throw error;
    return { id: request.id, result: "error", ...codec.errorFields(error) };
  }
  return { id: request.id, result: "frame", json: toJson(FrameSchema, frame), payloadHex: bytesToHex(codec.encode(frame)) };
}

function encode(codec: TesteeCodec, request: EncodeRequest): Answer {
  let frame: Frame;
  try {
    frame = fromJson(FrameSchema, request.json as JsonValue);
  } catch (error) {
    return { id: request.id, result: "failure", message: `not imwire JSON: ${(error as Error).message}` };
  }
  try {
    return { id: request.id, result: "payload", payloadHex: bytesToHex(codec.encode(frame)) };
  } catch (error) {
    if (!isImwireError(error)) throw error;
    return { id: request.id, result: "error", ...codec.errorFields(error) };
  }
}

/** Feed the chunks in order, draining after each as a transport would; stop at the first error that closes the connection. */
function stream(codec: TesteeCodec, request: StreamRequest): Answer {
  const reader = codec.streamReader(request.maxFrameSize);
  const items: StreamItem[] = [];
  for (const chunkHex of request.chunksHex) {
    reader.push(hexToBytes(chunkHex));
    for (;;) {
      let frame: Frame | undefined;
      try {
        frame = reader.next();
      } catch (error) {
        if (!isImwireError(error)) throw error;
        const { code, ...rest } = codec.errorFields(error);
        items.push({ error: code, ...rest });
        if (error.closesConnection) return { id: request.id, result: "frames", items, end: reader.atFrameBoundary ? "boundary" : "partial" };
        continue;
      }
      if (frame === undefined) break;
      items.push({ json: toJson(FrameSchema, frame) });
    }
  }
  return { id: request.id, result: "frames", items, end: reader.atFrameBoundary ? "boundary" : "partial" };
}
