import { readFileSync } from "node:fs";

/**
 * The version in package.json, read when asked rather than imported: the file
 * is two levels up from this module both as src/cli/version.ts (under tsx)
 * and as dist/cli/version.js, and outside tsc's rootDir, so it cannot be
 * compiled in.
 */
export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: unknown };
  return typeof manifest.version === "string" ? manifest.version : "unknown";
}
