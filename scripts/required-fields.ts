import { getOption, type DescMessage } from "@bufbuild/protobuf";
import { FrameSchema } from "../src/gen/imwire/v1/frame_pb.js";
import { required, required_oneof } from "../src/gen/imwire/v1/options_pb.js";

/** SPEC.md Appendix A: every message reachable from Frame that has required fields, as a Markdown table. */
export function requiredFieldsTable(): string {
  const seen = new Set<DescMessage>();
  const rows: string[] = [];
  const visit = (desc: DescMessage): void => {
    if (seen.has(desc)) return;
    seen.add(desc);
    const names = [
      ...desc.oneofs.filter((o) => getOption(o, required_oneof)).map((o) => `one of \`${o.name}\``),
      ...desc.fields.filter((f) => getOption(f, required)).map((f) => `\`${f.name}\``),
    ];
    if (names.length > 0) rows.push(`| \`${desc.name}\` | ${names.join(", ")} |`);
    for (const field of desc.fields) {
      if (field.fieldKind === "message" || (field.fieldKind === "list" && field.listKind === "message")) visit(field.message!);
    }
  };
  visit(FrameSchema);
  return ["| message | required |", "|---|---|", ...rows].join("\n");
}

export const BEGIN = "<!-- required-fields:begin -->";
export const END = "<!-- required-fields:end -->";

/** `spec` with Appendix A replaced by the current table. */
export function withRequiredFieldsTable(spec: string): string {
  const start = spec.indexOf(BEGIN);
  const end = spec.indexOf(END);
  if (start < 0 || end < start) throw new Error("SPEC.md lacks the required-fields markers");
  return `${spec.slice(0, start + BEGIN.length)}\n${requiredFieldsTable()}\n${spec.slice(end)}`;
}
