import type { DescMessage } from "./descriptors.js";
import type { Printable } from "@bufbuild/protoplugin";
import type { Member } from "./members.js";
import { tagValue, WIRE_DELIMITED } from "./scalars.js";
import type { Names } from "./names.js";

/**
 * read<Message>(r, end, depth, target?): one loop over the message's fields,
 * a switch over whole tags (field number and wire type together, so a known
 * number with a foreign wire type lands in default: an unknown field, ENV-3).
 * `target` is the message to merge into when a singular message field occurs
 * again, as Protobuf requires.
 */
export function decoderLines(message: DescMessage, members: readonly Member[], names: Names, shape: Printable): Printable[][] {
  const name = names.shapeName(message);
  const lines: Printable[][] = [];
  const unknownField = names.runtime("UnknownField", "@bufbuild/protobuf", true);
  lines.push([names.exported(`read${name}`), "(r: ", names.runtime("WireReader", "wire-reader"), ", end: number, depth: number, target?: ", shape, "): ", shape, " {"]);
  lines.push(["  const m: ", shape, " = target ?? ", ...zeroLiteral(message, members, names), ";"]);
  lines.push(["  let unknown: ", unknownField, "[] | undefined;"]);
  lines.push(["  while (r.pos < end) {"]);
  lines.push(["    const tag = r.tag(end);"]);
  lines.push(["    switch (tag) {"]);
  for (const m of members) lines.push(...caseLines(m, names));
  lines.push(["      default:"]);
  lines.push(["        (unknown ??= m.$unknown ?? []).push(r.unknown(tag, end, depth));"]);
  lines.push(["    }"]);
  lines.push(["  }"]);
  lines.push(["  if (unknown !== undefined) m.$unknown = unknown;"]);
  lines.push(["  return m;"]);
  lines.push(["}"]);
  return lines;
}

/**
 * The zero message, with its properties in the order protobuf-es create()
 * gives them (declaration order, singular messages absent). Empty bytes
 * fields share one frozen empty array: allocating a Uint8Array costs more
 * than decoding a small message.
 */
function zeroLiteral(message: DescMessage, members: readonly Member[], names: Names): Printable[] {
  const byField = new Map(members.map((m) => [m.field, m]));
  const parts = [`$typeName: ${JSON.stringify(message.typeName)}`];
  for (const item of message.members) {
    if (item.kind === "oneof") {
      parts.push(`${item.localName}: { case: undefined }`);
      continue;
    }
    const m = byField.get(item)!;
    if (m.kind === "message-list" || m.kind === "scalar-list") parts.push(`${item.localName}: []`);
    else if (m.kind === "scalar" && m.presence === "implicit") parts.push(`${item.localName}: ${zeroValue(m.coding.read)}`);
  }
  const literal: Printable[] = [];
  for (const [i, part] of `{ ${parts.join(", ")} }`.split(EMPTY_BYTES).entries()) {
    if (i > 0) literal.push(names.runtime("EMPTY_BYTES", "wire-reader"));
    literal.push(part);
  }
  return literal;
}

const EMPTY_BYTES = "EMPTY_BYTES";

function zeroValue(read: string): string {
  switch (read) {
    case "string":
      return '""';
    case "bytes":
      return EMPTY_BYTES;
    case "bool":
      return "false";
    case "uint64":
    case "int64":
    case "sint64":
    case "fixed64":
    case "sfixed64":
      return "0n";
    default:
      return "0";
  }
}

function caseLines(m: Member, names: Names): Printable[][] {
  const local = m.field.localName;
  const oneof = "presence" in m && typeof m.presence === "object" ? m.presence.oneof.localName : undefined;
  const assign = (value: Printable[]): Printable[] =>
    oneof ? [`m.${oneof} = { case: "${local}", value: `, ...value, " };"] : [`m.${local} = `, ...value, ";"];
  switch (m.kind) {
    case "scalar":
      return [[`      case ${tagValue(m.field.number, m.coding.wireType)}:`], ["        ", ...assign([`r.${m.coding.read}(end)`])], ["        break;"]];
    case "message": {
      const previous = oneof ? `m.${oneof}.case === "${local}" ? m.${oneof}.value : undefined` : `m.${local}`;
      return [
        [`      case ${tagValue(m.field.number, WIRE_DELIMITED)}: {`],
        ["        const stop = r.message(end, depth);"],
        ["        ", ...assign([names.fn("read", m.message), `(r, stop, depth + 1, ${previous})`])],
        ["        break;"],
        ["      }"],
      ];
    }
    case "message-list":
      return [
        [`      case ${tagValue(m.field.number, WIRE_DELIMITED)}: {`],
        ["        const stop = r.message(end, depth);"],
        [`        m.${local}.push(`, names.fn("read", m.message), "(r, stop, depth + 1));"],
        ["        break;"],
        ["      }"],
      ];
    case "scalar-list": {
      const lines: Printable[][] = [[`      case ${tagValue(m.field.number, m.coding.wireType)}:`], [`        m.${local}.push(r.${m.coding.read}(end));`], ["        break;"]];
      // Protobuf's rule: a repeated number field accepts a packed run whether or not it is declared packed.
      if (m.coding.wireType !== WIRE_DELIMITED) {
        const stop = m.coding.fixedSize ? `r.packedFixed(${m.coding.fixedSize}, end)` : "r.length(end)";
        lines.push(
          [`      case ${tagValue(m.field.number, WIRE_DELIMITED)}: {`],
          [`        const stop = ${stop};`],
          [`        while (r.pos < stop) m.${local}.push(r.${m.coding.read}(stop));`],
          ["        break;"],
          ["      }"],
        );
      }
      return lines;
    }
  }
}
