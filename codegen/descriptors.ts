import type { Schema } from "@bufbuild/protoplugin";

/**
 * Descriptor types as @bufbuild/protoplugin hands them over. The plugin
 * library brings its own copy of @bufbuild/protobuf, whose types TypeScript
 * keeps apart from the runtime's, so the generator names them through the
 * plugin's Schema and compares scalar types by number.
 */
export type DescFile = Schema["files"][number];
export type DescMessage = DescFile["messages"][number];
export type DescField = DescMessage["fields"][number];
export type DescOneof = DescMessage["oneofs"][number];

/** google.protobuf.FieldDescriptorProto.Type numbers, as ScalarType uses them. */
export const Scalar = {
  DOUBLE: 1,
  FLOAT: 2,
  INT64: 3,
  UINT64: 4,
  INT32: 5,
  FIXED64: 6,
  FIXED32: 7,
  BOOL: 8,
  STRING: 9,
  BYTES: 12,
  UINT32: 13,
  SFIXED32: 15,
  SFIXED64: 16,
  SINT32: 17,
  SINT64: 18,
} as const;

/** google.protobuf.FeatureSet.FieldPresence.IMPLICIT, as DescField.presence gives it. */
export const IMPLICIT_PRESENCE = 2;
