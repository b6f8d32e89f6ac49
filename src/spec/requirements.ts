/** SPEC.md's requirements, parsed: "**ID** *(LEVEL)* text" up to the next blank line. */

export type RequirementLevel = "MUST" | "SHOULD" | "MAY";

export interface Requirement {
  readonly id: string;
  readonly level: RequirementLevel;
  readonly text: string;
}

// Not /m: its `$` would end the text at the first line break. A requirement ends at a blank line or the end of the text.
const PATTERN = /(?:^|\n)\*\*([A-Z]+-\d+)\*\* \*\((MUST|SHOULD|MAY)\)\* ([\s\S]*?)(?=\n\s*\n|$)/g;

export function parseRequirements(spec: string): Requirement[] {
  const out: Requirement[] = [];
  for (const m of spec.matchAll(PATTERN)) out.push({ id: m[1]!, level: m[2] as RequirementLevel, text: m[3]!.replace(/\s+/g, " ").trim() });
  return out;
}

/** SPEC.md as shipped with this package (the repository root, two levels above src/ or dist/). */
export async function loadRequirements(): Promise<Map<string, Requirement>> {
  const { readFile } = await import("node:fs/promises");
  const text = await readFile(new URL("../../SPEC.md", import.meta.url), "utf8");
  return new Map(parseRequirements(text).map((r) => [r.id, r]));
}
