import fc from "fast-check";
import { create, getOption, ScalarType, type DescEnum, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import { FrameSchema, type Frame } from "../../src/gen/imwire/v1/frame_pb.js";
import { required, required_oneof } from "../../src/gen/imwire/v1/options_pb.js";
import type { FrameCase } from "../../src/codec/frame-codec.js";

/**
 * fast-check arbitraries for every imwire message, derived from the schema's
 * descriptors so that a new field or frame is covered the day it is added.
 * Values reach the edges: empty and non-ASCII strings, 64-bit extremes,
 * enum numbers this version does not define.
 */

export interface MessageArbOptions {
  /** Fill every field marked required, so the result passes validation (ENV-5). */
  readonly valid: boolean;
  /** How deep nested messages may go before optional ones are left unset. */
  readonly maxDepth?: number;
}

const U32_MAX = 2 ** 32 - 1;
const U64_MAX = 2n ** 64n - 1n;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

const stringArb = fc.oneof(
  fc.string({ maxLength: 24 }),
  fc.string({ unit: "binary", maxLength: 12 }),
  fc.constantFrom("héllo wörld", "你好，世界", "🙂👍🏽", "\u0000", "𝄞"),
);

function scalarArb(type: ScalarType, mustBeSet: boolean): fc.Arbitrary<unknown> {
  switch (type) {
    case ScalarType.STRING:
      return mustBeSet ? stringArb.filter((s) => s.length > 0) : stringArb;
    case ScalarType.BYTES:
      return fc.uint8Array({ minLength: mustBeSet ? 1 : 0, maxLength: 40 });
    case ScalarType.BOOL:
      return mustBeSet ? fc.constant(true) : fc.boolean();
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return fc.oneof(fc.integer({ min: mustBeSet ? 1 : 0, max: U32_MAX }), fc.constantFrom(1, 127, 128, U32_MAX));
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).filter((n) => !mustBeSet || n !== 0);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return fc.oneof(fc.bigInt({ min: mustBeSet ? 1n : 0n, max: U64_MAX }), fc.constantFrom(1n, 2n ** 53n + 1n, U64_MAX));
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return fc
        .oneof(fc.bigInt({ min: I64_MIN, max: I64_MAX }), fc.constantFrom(I64_MIN, I64_MAX, -1n))
        .filter((n) => !mustBeSet || n !== 0n);
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return fc.double({ noNaN: true }).filter((n) => !mustBeSet || n !== 0);
  }
}

function enumArb(desc: DescEnum, mustBeSet: boolean): fc.Arbitrary<number> {
  const known = desc.values.map((v) => v.number).filter((n) => !mustBeSet || n !== 0);
  // Open enums keep numbers they do not know; an unknown one must survive a round trip.
  return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...known) }, { weight: 1, arbitrary: fc.integer({ min: 1000, max: 2 ** 31 - 1 }) });
}

function isRequired(field: DescField): boolean {
  return getOption(field, required);
}

function fieldValueArb(field: DescField, options: MessageArbOptions, depth: number): fc.Arbitrary<unknown> | undefined {
  const mustBeSet = options.valid && isRequired(field);
  switch (field.fieldKind) {
    case "scalar":
      return scalarArb(field.scalar, mustBeSet);
    case "enum":
      return enumArb(field.enum, mustBeSet);
    case "message": {
      if (!mustBeSet && depth >= (options.maxDepth ?? 6)) return undefined;
      const arb = initArb(field.message, options, depth + 1);
      return mustBeSet ? arb : fc.option(arb, { nil: undefined, freq: 3 });
    }
    case "list": {
      if (!mustBeSet && depth >= (options.maxDepth ?? 6)) return undefined;
      const element =
        field.listKind === "scalar"
          ? scalarArb(field.scalar, false)
          : field.listKind === "enum"
            ? enumArb(field.enum, false)
            : initArb(field.message, options, depth + 1);
      return fc.array(element, { minLength: mustBeSet ? 1 : 0, maxLength: 3 });
    }
    case "map":
      throw new Error(`maps are not used by imwire: ${field.toString()}`);
  }
}

const initCache = new Map<string, fc.Arbitrary<Record<string, unknown>>>();

/** An arbitrary of init objects for `desc` (pass to create()). */
export function initArb(desc: DescMessage, options: MessageArbOptions, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const key = `${desc.typeName}:${options.valid}:${depth}:${options.maxDepth ?? 6}`;
  const cached = initCache.get(key);
  if (cached) return cached;
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of desc.fields) {
    if (field.oneof) continue;
    const arb = fieldValueArb(field, options, depth);
    if (arb) parts[field.localName] = arb;
  }
  for (const oneof of desc.oneofs) {
    const members = oneof.fields.map((field) => {
      // A chosen member is always present, so a message member is filled whatever the depth.
      const value = field.fieldKind === "message" ? initArb(field.message, options, depth + 1) : fieldValueArb(field, options, depth)!;
      return value.map((v) => ({ case: field.localName, value: v }));
    });
    const mustBeSet = options.valid && getOption(oneof, required_oneof);
    const chosen = fc.oneof(...members);
    parts[oneof.localName] = mustBeSet ? chosen : fc.oneof(chosen, fc.constant({ case: undefined }));
  }
  const arb = fc.record(parts);
  initCache.set(key, arb);
  return arb;
}

/** Random messages of `desc`. */
export function messageArb<T extends Message>(desc: DescMessage, options: MessageArbOptions = { valid: true }): fc.Arbitrary<T> {
  return initArb(desc, options).map((init) => create(desc, init) as unknown as T);
}

/** Every frame body case, in field-number order. */
export const frameCases: readonly FrameCase[] = FrameSchema.oneofs[0]!.fields.map((f) => f.localName as FrameCase);

/** Valid frames whose body is `frameCase`. */
export function frameOfCaseArb(frameCase: FrameCase, options: MessageArbOptions = { valid: true }): fc.Arbitrary<Frame> {
  const member = FrameSchema.oneofs[0]!.fields.find((f) => f.localName === frameCase)!;
  return fc
    .record({ requestId: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: U32_MAX })), body: initArb(member.message!, options, 1) })
    .map(({ requestId, body }) => create(FrameSchema, { requestId, body: { case: frameCase, value: body } } as never));
}

/** Valid frames of any case. */
export function frameArb(options: MessageArbOptions = { valid: true }): fc.Arbitrary<Frame> {
  return fc.oneof(...frameCases.map((c) => frameOfCaseArb(c, options)));
}

/** Split `bytes` into random consecutive chunks (1-byte chunks included). */
export function chunkedArb(bytes: Uint8Array): fc.Arbitrary<Uint8Array[]> {
  return fc.array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 12 }).map((cuts) => splitAt(bytes, cuts));
}

export function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set([0, ...cuts, bytes.length])].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  for (let i = 1; i < points.length; i++) chunks.push(bytes.subarray(points[i - 1], points[i]));
  return chunks;
}
