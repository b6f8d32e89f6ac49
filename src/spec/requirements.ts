/** SPEC.md's requirements, parsed: "**ID** *(LEVEL)* text", the whole paragraph. */

export type RequirementLevel = "MUST" | "SHOULD" | "MAY";

export interface Requirement {
  readonly id: string;
  readonly level: RequirementLevel;
  /** The paragraph, its line breaks joined into spaces. */
  readonly text: string;
}

const REQUIREMENT_START = /^\*\*([A-Z]+-\d+)\*\* \*\((MUST|SHOULD|MAY)\)\*\s*(.*)$/;
/** Lines that end a paragraph in Markdown even without a blank line before them. */
const PARAGRAPH_BREAK = /^\s*$|^#{1,6}\s|^```|^\|/;

/**
 * Line by line rather than one regex: a requirement's paragraph runs over
 * several lines and ends at a blank line, a heading, a table or code fence,
 * the next requirement, or the end of the file (CRLF files included).
 */
export function parseRequirements(spec: string): Requirement[] {
  const out: Requirement[] = [];
  let current: { id: string; level: RequirementLevel; lines: string[] } | undefined;
  const flush = () => {
    if (current) out.push({ id: current.id, level: current.level, text: current.lines.join(" ").replace(/\s+/g, " ").trim() });
    current = undefined;
  };
  for (const line of spec.split(/\r?\n/)) {
    const start = REQUIREMENT_START.exec(line);
    if (start) {
      flush();
      current = { id: start[1]!, level: start[2] as RequirementLevel, lines: [start[3]!] };
    } else if (PARAGRAPH_BREAK.test(line)) {
      flush();
    } else {
      current?.lines.push(line);
    }
  }
  flush();
  return out;
}

/** SPEC.md as shipped with this package (the repository root, two levels above src/ or dist/). */
export async function loadRequirements(): Promise<Map<string, Requirement>> {
  const { readFile } = await import("node:fs/promises");
  const text = await readFile(new URL("../../SPEC.md", import.meta.url), "utf8");
  return new Map(parseRequirements(text).map((r) => [r.id, r]));
}
