import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseRequirements, type Requirement } from "../../src/spec/requirements.js";

export const root = new URL("../../", import.meta.url).pathname;
export const specText = readFileSync(join(root, "SPEC.md"), "utf8");

export type { Requirement } from "../../src/spec/requirements.js";

/** Every requirement of SPEC.md. */
export function requirements(spec = specText): Requirement[] {
  return parseRequirements(spec);
}

/** An id of any prefix SPEC.md's requirements use (FRM-1, HOOK-4, …), so that a new section's ids are found too. */
const idPattern = new RegExp(`\\b(${[...new Set(requirements().map((r) => r.id.split("-")[0]))].join("|")})-\\d+\\b`, "g");

/** Requirement ids mentioned anywhere in the files under `dirs`. */
export function idsMentionedIn(dirs: string[], extensions = [".ts", ".proto"]): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        if (name !== "node_modules") walk(path);
      } else if (extensions.some((ext) => name.endsWith(ext))) {
        for (const m of readFileSync(path, "utf8").matchAll(idPattern)) {
          const list = found.get(m[0]) ?? [];
          list.push(path.slice(root.length));
          found.set(m[0], list);
        }
      }
    }
  };
  for (const dir of dirs) walk(join(root, dir));
  return found;
}
