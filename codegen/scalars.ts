import { Scalar } from "./descriptors.js";

/**
 * How each Protobuf scalar type is read, measured and written by the runtime
 * in src/codec/fast: the wire type, the WireReader method, and expressions
 * for the encoded size and the write call of a value `v`.
 */
export interface ScalarCoding {
  readonly wireType: number;
  readonly read: string;
  /** Size of the value (without tag); undefined for strings, whose length measure() records. */
  readonly size: (v: string) => string;
  readonly write: (v: string) => string;
  /** Fixed width in bytes, for packed runs. */
  readonly fixedSize?: number;
  /** Test that a value is not the zero value (implicit presence). */
  readonly isSet: (v: string) => string;
  /** Runtime helpers the size expression uses. */
  readonly sizeHelpers: readonly string[];
}

const VARINT = 0;
const FIXED64 = 1;
const DELIMITED = 2;
const FIXED32 = 5;

const number32 = (read: string, size: string, write: string): ScalarCoding => ({
  wireType: VARINT,
  read,
  size: (v) => `${size}(${v})`,
  write: (v) => `w.${write}(${v})`,
  isSet: (v) => `${v} !== 0`,
  sizeHelpers: [size],
});

const number64 = (read: string, size: string, write: string): ScalarCoding => ({
  wireType: VARINT,
  read,
  size: (v) => `${size}(${v})`,
  write: (v) => `w.${write}(${v})`,
  isSet: (v) => `${v} !== 0n`,
  sizeHelpers: [size],
});

const fixed = (wireType: number, bytes: number, read: string, write: string, isSet: (v: string) => string): ScalarCoding => ({
  wireType,
  read,
  size: () => String(bytes),
  write: (v) => `w.${write}(${v})`,
  fixedSize: bytes,
  isSet,
  sizeHelpers: [],
});

/** Implicit presence writes -0.0 (as protobuf-es does): only +0 is the zero value. */
const floatIsSet = (v: string) => `(${v} !== 0 || 1 / ${v} < 0)`;

export function scalarCoding(type: number): ScalarCoding {
  switch (type) {
    case Scalar.STRING:
      return { wireType: DELIMITED, read: "string", size: () => "", write: (v) => `w.string(${v})`, isSet: (v) => `${v} !== ""`, sizeHelpers: ["varintSize", "utf8Size"] };
    case Scalar.BYTES:
      return { wireType: DELIMITED, read: "bytes", size: (v) => `varintSize(${v}.length) + ${v}.length`, write: (v) => `w.bytes(${v})`, isSet: (v) => `${v}.length !== 0`, sizeHelpers: ["varintSize"] };
    case Scalar.BOOL:
      return { wireType: VARINT, read: "bool", size: () => "1", write: (v) => `w.bool(${v})`, isSet: (v) => v, sizeHelpers: [] };
    case Scalar.UINT32:
      return number32("uint32", "varintSize", "varint");
    case Scalar.INT32:
      return number32("int32", "int32Size", "int32");
    case Scalar.SINT32:
      return number32("sint32", "sint32Size", "sint32");
    case Scalar.UINT64:
      return number64("uint64", "uint64Size", "uint64");
    case Scalar.INT64:
      return number64("int64", "uint64Size", "uint64");
    case Scalar.SINT64:
      return number64("sint64", "sint64Size", "sint64");
    case Scalar.FIXED32:
      return fixed(FIXED32, 4, "fixed32", "fixed32", (v) => `${v} !== 0`);
    case Scalar.SFIXED32:
      return fixed(FIXED32, 4, "sfixed32", "fixed32", (v) => `${v} !== 0`);
    case Scalar.FLOAT:
      return fixed(FIXED32, 4, "float", "float", floatIsSet);
    case Scalar.FIXED64:
      return fixed(FIXED64, 8, "fixed64", "fixed64", (v) => `${v} !== 0n`);
    case Scalar.SFIXED64:
      return fixed(FIXED64, 8, "sfixed64", "fixed64", (v) => `${v} !== 0n`);
    case Scalar.DOUBLE:
      return fixed(FIXED64, 8, "double", "double", floatIsSet);
  }
  throw new Error(`protoc-gen-imwire-fast: unknown scalar type ${type}`);
}

/** The bytes of a tag, as they go on the wire. */
export function tagBytes(fieldNumber: number, wireType: number): number[] {
  let value = fieldNumber * 8 + wireType;
  const bytes: number[] = [];
  while (value > 0x7f) {
    bytes.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return bytes;
}

export function tagValue(fieldNumber: number, wireType: number): number {
  return fieldNumber * 8 + wireType;
}

export const WIRE_DELIMITED = DELIMITED;
