import type { DescMessage, DescOneof } from "./descriptors.js";
import type { Printable } from "@bufbuild/protoplugin";
import type { Member, Presence } from "./members.js";
import { tagBytes, WIRE_DELIMITED } from "./scalars.js";
import type { Names } from "./names.js";

/**
 * measure<Message>(m, lengths) returns the encoded size and records, in
 * visiting order, the length of every nested message, packed run and string;
 * write<Message>(w, m) visits the same fields in the same order (field
 * number order, unknown fields last, as protobuf-es writes them) and takes
 * the lengths back.
 */

type Block = { readonly oneof: DescOneof; readonly members: Member[] } | { readonly oneof: undefined; readonly member: Member };

/** Fields in number order, consecutive members of one oneof grouped so one switch handles them. */
function blocks(members: readonly Member[]): Block[] {
  const out: Block[] = [];
  for (const m of members) {
    const oneof = oneofOf(m);
    const last = out[out.length - 1];
    if (oneof && last?.oneof === oneof) last.members.push(m);
    else out.push(oneof ? { oneof, members: [m] } : { oneof: undefined, member: m });
  }
  return out;
}

function oneofOf(m: Member): DescOneof | undefined {
  const presence: Presence | undefined = "presence" in m ? m.presence : undefined;
  return typeof presence === "object" ? presence.oneof : undefined;
}

/** Emit `body(valueExpression)` under the member's presence test, for every block. */
function eachField(members: readonly Member[], body: (m: Member, value: string, indent: string) => Printable[][]): Printable[][] {
  const lines: Printable[][] = [];
  for (const block of blocks(members)) {
    if (block.oneof) {
      const local = block.oneof.localName;
      lines.push([`  switch (m.${local}.case) {`]);
      for (const m of block.members) {
        lines.push([`    case "${m.field.localName}": {`]);
        lines.push(...body(m, `m.${local}.value`, "      "));
        lines.push(["      break;"], ["    }"]);
      }
      lines.push(["  }"]);
      continue;
    }
    const m = block.member;
    const value = `m.${m.field.localName}`;
    if (m.kind === "message-list" || m.kind === "scalar-list") {
      lines.push(...body(m, value, "  "));
    } else if (m.kind === "message" || m.presence === "explicit") {
      lines.push([`  if (${value} !== undefined) {`], ...body(m, value, "    "), ["  }"]);
    } else {
      lines.push([`  if (${m.coding.isSet(value)}) {`], ...body(m, value, "    "), ["  }"]);
    }
  }
  return lines;
}

export function measureLines(message: DescMessage, members: readonly Member[], names: Names, shape: Printable): Printable[][] {
  const name = names.shapeName(message);
  const lines: Printable[][] = [[names.exported(`measure${name}`), "(m: ", shape, ", lengths: number[]): number {"], ["  let n = 0;"]];
  const helper = (h: string) => names.runtime(h, "wire-writer");
  lines.push(
    ...eachField(members, (m, value, indent) => {
      const tag = tagBytes(m.field.number, m.kind === "scalar" || m.kind === "scalar-list" ? m.coding.wireType : WIRE_DELIMITED).length;
      const nested = (v: string, pad: string): Printable[][] => [
        [`${pad}const slot = lengths.length;`],
        [`${pad}lengths.push(0);`],
        [`${pad}const l = `, names.fn("measure", (m as { message: DescMessage }).message), `(${v}, lengths);`],
        [`${pad}lengths[slot] = l;`],
        [`${pad}n += ${tag} + `, helper("varintSize"), "(l) + l;"],
      ];
      const scalar = (v: string, pad: string): Printable[][] => {
        const coding = (m as { coding: import("./scalars.js").ScalarCoding }).coding;
        if (coding.read === "string") return [[`${pad}const l = `, helper("utf8Size"), `(${v});`], [`${pad}lengths.push(l);`], [`${pad}n += ${tag} + `, helper("varintSize"), "(l) + l;"]];
        return [[`${pad}n += ${tag} + `, ...sizeExpression(coding.size(v), coding.sizeHelpers, helper), ";"]];
      };
      switch (m.kind) {
        case "scalar":
          return scalar(value, indent);
        case "message":
          return nested(value, indent);
        case "message-list":
          return [[`${indent}for (const item of ${value}) {`], ...nested("item", `${indent}  `), [`${indent}}`]];
        case "scalar-list": {
          if (m.packed && m.coding.wireType !== WIRE_DELIMITED) {
            const run: Printable[][] = m.coding.fixedSize
              ? [[`${indent}  const run = ${value}.length * ${m.coding.fixedSize};`]]
              : [[`${indent}  let run = 0;`], [`${indent}  for (const item of ${value}) run += `, ...sizeExpression(m.coding.size("item"), m.coding.sizeHelpers, helper), ";"]];
            return [[`${indent}if (${value}.length !== 0) {`], ...run, [`${indent}  lengths.push(run);`], [`${indent}  n += ${tag} + `, helper("varintSize"), "(run) + run;"], [`${indent}}`]];
          }
          return [[`${indent}for (const item of ${value}) {`], ...scalar("item", `${indent}  `), [`${indent}}`]];
        }
      }
    }),
  );
  lines.push(["  if (m.$unknown !== undefined) n += ", helper("unknownSize"), "(m.$unknown);"], ["  return n;"], ["}"]);
  return lines;
}

/** A size expression with its runtime helpers imported (they appear in it by name). */
function sizeExpression(expression: string, helpers: readonly string[], helper: (h: string) => Printable): Printable[] {
  const parts: Printable[] = [];
  let rest = expression;
  for (;;) {
    const found = helpers.map((h) => ({ h, at: rest.indexOf(`${h}(`) })).filter((x) => x.at >= 0).sort((a, b) => a.at - b.at)[0];
    if (!found) break;
    parts.push(rest.slice(0, found.at), helper(found.h));
    rest = rest.slice(found.at + found.h.length);
  }
  parts.push(rest);
  return parts;
}

export function writeLines(message: DescMessage, members: readonly Member[], names: Names, shape: Printable, writer: Printable): Printable[][] {
  const name = names.shapeName(message);
  const lines: Printable[][] = [[names.exported(`write${name}`), "(w: ", writer, ", m: ", shape, "): void {"]];
  lines.push(
    ...eachField(members, (m, value, indent) => {
      const wireType = m.kind === "scalar" || m.kind === "scalar-list" ? m.coding.wireType : WIRE_DELIMITED;
      const tag = (pad: string, wt = wireType): Printable[] => [`${pad}${tagBytes(m.field.number, wt).map((b) => `w.byte(${b});`).join(" ")}`];
      switch (m.kind) {
        case "scalar":
          return [tag(indent), [`${indent}${m.coding.write(value)};`]];
        case "message":
          return [tag(indent), [`${indent}w.length();`], [indent, names.fn("write", m.message), `(w, ${value});`]];
        case "message-list":
          return [[`${indent}for (const item of ${value}) {`], tag(`${indent}  `), [`${indent}  w.length();`], [`${indent}  `, names.fn("write", m.message), "(w, item);"], [`${indent}}`]];
        case "scalar-list":
          if (m.packed && m.coding.wireType !== WIRE_DELIMITED) {
            return [[`${indent}if (${value}.length !== 0) {`], tag(`${indent}  `, WIRE_DELIMITED), [`${indent}  w.length();`], [`${indent}  for (const item of ${value}) ${m.coding.write("item")};`], [`${indent}}`]];
          }
          return [[`${indent}for (const item of ${value}) {`], tag(`${indent}  `), [`${indent}  ${m.coding.write("item")};`], [`${indent}}`]];
      }
    }),
  );
  lines.push(["  if (m.$unknown !== undefined) w.unknown(m.$unknown);"], ["}"]);
  return lines;
}
