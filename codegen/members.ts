import { IMPLICIT_PRESENCE, Scalar, type DescField, type DescMessage, type DescOneof } from "./descriptors.js";
import { scalarCoding, type ScalarCoding } from "./scalars.js";

/**
 * A message's fields, classified by how they are coded. Enums are coded as
 * int32 (open enums: any number is kept). Maps and groups (delimited
 * encoding) are refused: imwire/v1 has none, and supporting them without a
 * test would be a guess.
 */
export type Member =
  | { readonly kind: "scalar"; readonly field: DescField; readonly coding: ScalarCoding; readonly presence: Presence }
  | { readonly kind: "message"; readonly field: DescField; readonly message: DescMessage; readonly presence: Exclude<Presence, "implicit"> }
  | { readonly kind: "message-list"; readonly field: DescField; readonly message: DescMessage }
  | { readonly kind: "scalar-list"; readonly field: DescField; readonly coding: ScalarCoding; readonly packed: boolean };

/** implicit: written unless zero; explicit: written unless undefined (proto3 optional); a oneof member: written when selected. */
export type Presence = "implicit" | "explicit" | { readonly oneof: DescOneof };

export function classify(message: DescMessage): Member[] {
  return [...message.fields].sort((a, b) => a.number - b.number).map((field) => member(message, field));
}

function member(message: DescMessage, field: DescField): Member {
  const presence: Presence = field.oneof ? { oneof: field.oneof } : field.presence === IMPLICIT_PRESENCE ? "implicit" : "explicit";
  switch (field.fieldKind) {
    case "scalar":
      return { kind: "scalar", field, coding: scalarCoding(field.scalar), presence };
    case "enum":
      return { kind: "scalar", field, coding: scalarCoding(Scalar.INT32), presence };
    case "message":
      refuseGroup(message, field);
      return { kind: "message", field, message: field.message, presence: presence === "implicit" ? "explicit" : presence };
    case "list":
      if (field.listKind === "message") {
        refuseGroup(message, field);
        return { kind: "message-list", field, message: field.message };
      }
      return { kind: "scalar-list", field, coding: scalarCoding(field.listKind === "enum" ? Scalar.INT32 : field.scalar), packed: field.packed };
    case "map":
      throw new Error(`protoc-gen-imwire-fast: ${message.typeName}.${field.name} is a map, which this generator does not support`);
  }
}

function refuseGroup(message: DescMessage, field: DescField): void {
  if ((field.fieldKind === "message" || (field.fieldKind === "list" && field.listKind === "message")) && field.delimitedEncoding) throw new Error(`protoc-gen-imwire-fast: ${message.typeName}.${field.name} uses the delimited (group) encoding, which this generator does not support`);
}
