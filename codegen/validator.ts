import { getOption, type DescField as RuntimeField, type DescOneof as RuntimeOneof } from "@bufbuild/protobuf";
import type { Printable } from "@bufbuild/protoplugin";
import { required, required_oneof } from "../src/gen/imwire/v1/options_pb.js";
import type { DescField, DescMessage, DescOneof } from "./descriptors.js";
import { IMPLICIT_PRESENCE, Scalar } from "./descriptors.js";
import type { Names } from "./names.js";

/**
 * missingIn<Message>(m): the ENV-5 check of one message type, unrolled from
 * the schema's (imwire.v1.required) and (imwire.v1.required_oneof) options.
 * It visits rules in the order the reflective reference (src/codec/validate.ts)
 * does, so both name the same first missing field: required oneofs, required
 * fields, then nested messages outside oneofs, then the selected member of
 * each oneof. Paths are built only on the way out of a failure.
 *
 * The options are read with the extensions protoc-gen-es generated from
 * options.proto: they are found by field number, so a regenerated
 * options_pb.ts is only needed when options.proto gains an option.
 */

// The plugin's descriptors come from its own copy of @bufbuild/protobuf (see descriptors.ts); getOption reads them alike.
const isRequired = (field: DescField) => getOption(field as unknown as RuntimeField, required);
const isRequiredOneof = (oneof: DescOneof) => getOption(oneof as unknown as RuntimeOneof, required_oneof);

/** Whether a message, or any message it holds at any depth, has a rule. */
export function hasRules(message: DescMessage, seen: Set<DescMessage> = new Set()): boolean {
  if (seen.has(message)) return false;
  seen.add(message);
  if (message.fields.some(isRequired) || message.oneofs.some(isRequiredOneof)) return true;
  return message.fields.some((f) => {
    const child = messageOf(f);
    return child !== undefined && hasRules(child, seen);
  });
}

function messageOf(field: DescField): DescMessage | undefined {
  if (field.fieldKind === "message") return field.message;
  if (field.fieldKind === "list" && field.listKind === "message") return field.message;
  return undefined;
}

/** An expression that is true when `v` counts as absent under ENV-5 (a proto3 optional field also when unset). */
function absent(field: DescField, v: string): string {
  switch (field.fieldKind) {
    case "message":
      return `${v} === undefined`;
    case "list":
      return `${v}.length === 0`;
    case "map":
      throw new Error(`protoc-gen-imwire-fast: ${field.toString()} is a map, which this generator does not support`);
  }
  const zero = field.fieldKind === "enum" ? `${v} === 0` : zeroTest(field.scalar, v);
  return field.presence === IMPLICIT_PRESENCE ? zero : `(${v} === undefined || ${zero})`;
}

function zeroTest(scalar: number, v: string): string {
  switch (scalar) {
    case Scalar.STRING:
      return `${v} === ""`;
    case Scalar.BYTES:
      return `${v}.length === 0`;
    case Scalar.BOOL:
      return `${v} === false`;
    case Scalar.INT64:
    case Scalar.UINT64:
    case Scalar.FIXED64:
    case Scalar.SFIXED64:
    case Scalar.SINT64:
      return `${v} === 0n`;
    default:
      return `${v} === 0`;
  }
}

export function validatorLines(message: DescMessage, names: Names, shape: Printable): Printable[][] {
  const name = names.shapeName(message);
  /** `set`: the value is known to be a message (a selected oneof member), not possibly undefined. */
  const nestedCheck = (field: DescField, value: string, indent: string, set = false): Printable[][] => {
    const child = messageOf(field)!;
    const check = names.fn("missingIn", child);
    if (field.fieldKind === "list") {
      return [
        [`${indent}for (let i = 0; i < ${value}.length; i++) {`],
        [`${indent}  const missing = `, check, `(${value}[i]!);`],
        [`${indent}  if (missing !== undefined) return \`${field.name}[\${i}].\${missing}\`;`],
        [`${indent}}`],
      ];
    }
    const call: Printable[][] = [
      [`${indent}const missing = `, check, `(${value});`],
      [`${indent}if (missing !== undefined) return "${field.name}." + missing;`],
    ];
    if (set) return call;
    return [[`${indent}if (${value} !== undefined) {`], ...call.map(([first, ...rest]) => [`  ${String(first)}`, ...rest]), [`${indent}}`]];
  };
  const withRules = (f: DescField) => {
    const child = messageOf(f);
    return child !== undefined && hasRules(child);
  };

  const lines: Printable[][] = [[names.exported(`missingIn${name}`), "(m: ", shape, "): string | undefined {"]];
  for (const oneof of message.oneofs.filter(isRequiredOneof)) {
    // A member added by a later version arrives as an unknown field (EXT-3): present, just not known here.
    lines.push([`  if (m.${oneof.localName}.case === undefined && !(m.$unknown !== undefined && m.$unknown.length > 0)) return "${oneof.name}";`]);
  }
  for (const field of message.fields.filter((f) => !f.oneof && isRequired(f))) {
    lines.push([`  if (${absent(field, `m.${field.localName}`)}) return "${field.name}";`]);
  }
  for (const field of message.fields.filter((f) => !f.oneof && withRules(f))) {
    lines.push(...nestedCheck(field, `m.${field.localName}`, "  "));
  }
  for (const oneof of message.oneofs) {
    const members = oneof.fields.filter(withRules);
    if (members.length === 0) continue;
    lines.push([`  switch (m.${oneof.localName}.case) {`]);
    for (const field of members) {
      lines.push([`    case "${field.localName}": {`], ...nestedCheck(field, `m.${oneof.localName}.value`, "      ", true), ["      break;"], ["    }"]);
    }
    lines.push(["  }"]);
  }
  lines.push(["  return undefined;"], ["}"]);
  return lines;
}
