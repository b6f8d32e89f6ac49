// Deliberately broken codec testees, to check that the codec harness catches
// each kind of bug and blames exactly the vectors it affects:
//   node --import tsx test/support/broken-testee.ts <bug> [payload hex…]
import { clone, fromBinary, toBinary, type DescMessage } from "@bufbuild/protobuf";
import { ErrorCode } from "../../src/gen/imwire/v1/error_pb.js";
import { FrameSchema, type Frame } from "../../src/gen/imwire/v1/frame_pb.js";
import { decodeFrame, validateFrame } from "../../src/codec/frame-codec.js";
import { FrameSplitter } from "../../src/framing/frame-splitter.js";
import { ImwireError } from "../../src/errors.js";
import { serveTestee } from "../../src/conformance/codec-harness/serve-testee.js";
import { createTypescriptTestee, projectCodec, type TesteeCodec } from "../../src/conformance/codec-harness/typescript-testee.js";
import type { Testee } from "../../src/conformance/codec-harness/session.js";

const bugs = [
  "drop-unknown-fields",
  "accept-non-minimal-prefix",
  "missing-field-without-field",
  "missing-field-wrong-code",
  "request-id-after-body",
  "trust-protobuf-es",
  "crash-hang-garbage",
] as const;
type Bug = (typeof bugs)[number];

/** ENV-6 broken: re-encoding forgets the unknown fields a frame arrived with. */
function dropUnknownFields(frame: Frame): Uint8Array {
  const copy = clone(FrameSchema, frame);
  stripUnknown(FrameSchema, copy as unknown as Record<string, unknown>);
  return toBinary(FrameSchema, copy);
}

function stripUnknown(desc: DescMessage, message: Record<string, unknown>): void {
  delete message.$unknown;
  for (const field of desc.fields) {
    if (field.oneof) {
      const selected = message[field.oneof.localName] as { case?: string; value?: Record<string, unknown> };
      if (selected.case === field.localName && field.fieldKind === "message") stripUnknown(field.message, selected.value!);
    } else if (field.fieldKind === "message" && message[field.localName] !== undefined) {
      stripUnknown(field.message, message[field.localName] as Record<string, unknown>);
    } else if (field.fieldKind === "list" && field.listKind === "message") {
      for (const item of message[field.localName] as Record<string, unknown>[]) stripUnknown(field.message, item);
    }
  }
}

/** FRM-2 broken: reads the 4-byte varint prefix like Protobuf's delimited readers, without rejecting non-minimal encodings. */
class LenientPrefixReader {
  #buffer = Buffer.alloc(0);
  #failed: ImwireError | undefined;
  constructor(private readonly maxFrameSize: number) {}

  get atFrameBoundary(): boolean {
    return this.#buffer.length === 0;
  }

  push(chunk: Uint8Array): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
  }

  next(): Frame | undefined {
    if (this.#failed) throw this.#failed;
    let length = 0;
    for (let i = 0; i < 4; i++) {
      if (i >= this.#buffer.length) return undefined;
      const byte = this.#buffer[i]!;
      length |= (byte & 0x7f) << (7 * i);
      if ((byte & 0x80) === 0) {
        if (length > this.maxFrameSize) throw (this.#failed = new ImwireError(ErrorCode.FRAME_TOO_LARGE, "too large", { requirement: "FRM-4" }));
        if (this.#buffer.length < i + 1 + length) return undefined;
        const payload = new Uint8Array(this.#buffer.subarray(i + 1, i + 1 + length));
        this.#buffer = this.#buffer.subarray(i + 1 + length);
        return decodeFrame(payload);
      }
    }
    throw (this.#failed = new ImwireError(ErrorCode.MALFORMED_FRAME, "prefix too long", { requirement: "FRM-2" }));
  }
}

/**
 * ENV-3 broken: plain @bufbuild/protobuf fromBinary, as this codec was before
 * it checked the wire structure. It reads a known field by its declared type
 * whatever the wire type says, and lets a field run past its enclosing message.
 */
function trustProtobufEs(payload: Uint8Array): Frame {
  let frame: Frame;
  try {
    frame = fromBinary(FrameSchema, payload);
  } catch (cause) {
    throw new ImwireError(ErrorCode.MALFORMED_FRAME, (cause as Error).message, { requirement: "ENV-3" });
  }
  validateFrame(frame);
  return frame;
}

class TrustingReader {
  readonly #splitter: FrameSplitter;
  constructor(maxFrameSize: number) {
    this.#splitter = new FrameSplitter({ maxFrameSize });
  }
  get atFrameBoundary(): boolean {
    return this.#splitter.atFrameBoundary;
  }
  push(chunk: Uint8Array): void {
    this.#splitter.push(chunk);
  }
  next(): Frame | undefined {
    const payload = this.#splitter.next();
    return payload === undefined ? undefined : trustProtobufEs(payload);
  }
}

/** An encoder that writes the body before request_id: valid Protobuf, but not the canonical field order. */
function requestIdAfterBody(frame: Frame): Uint8Array {
  const withoutId = clone(FrameSchema, frame);
  withoutId.requestId = 0;
  const body = toBinary(FrameSchema, withoutId);
  if (frame.requestId === 0) return body;
  const id: number[] = [0x08];
  for (let v = frame.requestId; ; v >>>= 7) {
    if (v < 0x80) {
      id.push(v);
      break;
    }
    id.push((v & 0x7f) | 0x80);
  }
  return new Uint8Array([...body, ...id]);
}

function brokenTestee(bug: Bug, targets: string[]): Testee {
  const codecs: Record<Exclude<Bug, "crash-hang-garbage">, Partial<TesteeCodec>> = {
    "drop-unknown-fields": { encode: dropUnknownFields },
    "accept-non-minimal-prefix": { streamReader: (max) => new LenientPrefixReader(max) },
    "missing-field-without-field": { errorFields: (e) => ({ ...projectCodec.errorFields(e), field: undefined }) },
    "missing-field-wrong-code": {
      errorFields: (e) => ({ ...projectCodec.errorFields(e), ...(e.code === ErrorCode.MISSING_FIELD ? { code: "ERROR_CODE_INVALID_ARGUMENT" } : {}) }),
    },
    "request-id-after-body": { encode: requestIdAfterBody },
    "trust-protobuf-es": { decode: trustProtobufEs, streamReader: (max) => new TrustingReader(max) },
  };
  if (bug !== "crash-hang-garbage") return createTypescriptTestee(codecs[bug], `broken-${bug}`);
  // Misbehaves on the decode requests of three payloads: exits, never answers, prints to stdout.
  const [crashOn, hangOn, garbageOn] = targets;
  const base = createTypescriptTestee({}, `broken-${bug}`);
  return {
    hello: base.hello,
    answer(request) {
      if (request.type === "decode" && request.payloadHex === crashOn) process.exit(3);
      if (request.type === "decode" && request.payloadHex === hangOn) return new Promise(() => {});
      if (request.type === "decode" && request.payloadHex === garbageOn) process.stdout.write("debug: decoding a frame\n");
      return base.answer(request);
    },
  };
}

const [bug, ...targets] = process.argv.slice(2);
if (!(bugs as readonly string[]).includes(bug ?? "")) {
  process.stderr.write(`usage: broken-testee.ts <${bugs.join("|")}> [payload hex…]\n`);
  process.exit(2);
}
process.exitCode = await serveTestee(process.stdin, process.stdout, brokenTestee(bug as Bug, targets));
