import type { VectorResult } from "./runner.js";

/**
 * The expected-failures file, strict like the Protocol Buffers conformance
 * runner's failure lists: one vector id per line, then "#" and the failure
 * signature the run must reproduce. A listed vector that fails that way is
 * quiet; one that passes, fails differently, or is not checked fails the run,
 * so the list never outlives the bugs it records. Lines starting with "#" and
 * blank lines are comments. `--fix` rewrites the file from a run.
 */

export type ExpectedFailures = ReadonlyMap<string, string | undefined>;

export class ExpectedFailuresFormatError extends Error {
  override readonly name = "ExpectedFailuresFormatError";
}

export function parseExpectedFailures(text: string): Map<string, string | undefined> {
  const entries = new Map<string, string | undefined>();
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const hash = line.indexOf("#");
    const id = (hash < 0 ? line : line.slice(0, hash)).trim();
    const signature = hash < 0 ? undefined : line.slice(hash + 1).trim() || undefined;
    if (/\s/.test(id)) throw new ExpectedFailuresFormatError(`line ${index + 1}: "${id}" is not one vector id (separate the signature with "#")`);
    if (entries.has(id)) throw new ExpectedFailuresFormatError(`line ${index + 1}: ${id} is listed twice`);
    entries.set(id, signature);
  }
  return entries;
}

/**
 * How a vector failed, in one line that is the same on every run for the
 * same behaviour: its failing checks, grouped by reason, random splits as one.
 */
export function failureSignature(result: VectorResult): string {
  const groups: { families: string[]; reason: string }[] = [];
  for (const check of result.checks) {
    if (check.status !== "fail") continue;
    const reason = (check.reason ?? "failed").replace(/\s+/g, " ");
    const group = groups.find((g) => g.reason === reason);
    if (group === undefined) groups.push({ families: [check.family], reason });
    else if (!group.families.includes(check.family)) group.families.push(check.family);
  }
  return groups.map((g) => `${g.families.join(", ")}: ${g.reason}`).join(" | ");
}

export interface Classification {
  /** Listed, and failing exactly as listed: quiet. */
  readonly expected: readonly VectorResult[];
  /** Not listed, and failing. */
  readonly newFailures: readonly VectorResult[];
  /** Listed, and passing now. */
  readonly nowPassing: readonly VectorResult[];
  /** Listed, and failing otherwise than listed. */
  readonly changed: readonly { readonly result: VectorResult; readonly listed: string; readonly actual: string }[];
  /** Listed, run, but with every failing check unsupported: the list cannot be confirmed. */
  readonly unchecked: readonly VectorResult[];
  /** Listed ids that are not in the manifest at all. */
  readonly unknownIds: readonly string[];
}

export function classify(results: readonly VectorResult[], list: ExpectedFailures, manifestIds: ReadonlySet<string>): Classification {
  const expected: VectorResult[] = [];
  const newFailures: VectorResult[] = [];
  const nowPassing: VectorResult[] = [];
  const changed: { result: VectorResult; listed: string; actual: string }[] = [];
  const unchecked: VectorResult[] = [];
  for (const result of results) {
    const listed = list.has(result.id);
    if (result.status === "fail") {
      const actual = failureSignature(result);
      const signature = list.get(result.id);
      if (!listed) newFailures.push(result);
      else if (signature === undefined || signature === actual) expected.push(result);
      else changed.push({ result, listed: signature, actual });
    } else if (listed) {
      (result.status === "pass" ? nowPassing : unchecked).push(result);
    }
  }
  const unknownIds = [...list.keys()].filter((id) => !manifestIds.has(id));
  return { expected, newFailures, nowPassing, changed, unchecked, unknownIds };
}

export function isClean(classification: Classification): boolean {
  const { newFailures, nowPassing, changed, unchecked, unknownIds } = classification;
  return newFailures.length + nowPassing.length + changed.length + unchecked.length + unknownIds.length === 0;
}

const DEFAULT_HEADER = `# imwire codec harness: expected failures (strict).
# One vector id per line, then "#" and the failure signature the run must
# reproduce. A listed vector that passes, or fails differently, fails the run.
# Written by: imwire vectors run --fix (see conformance/README.md).
`;

/** The comment lines before the first entry: kept by --fix, so an explanation written by hand survives. */
function leadingComments(text: string): string | undefined {
  const lines: string[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() !== "" && !line.trim().startsWith("#")) break;
    lines.push(line);
  }
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === "") lines.pop();
  return lines.length > 0 ? lines.join("\n") + "\n" : undefined;
}

/**
 * The file after a run: every vector that failed, with its signature, under
 * the previous file's leading comments. Entries for vectors this run did not
 * check (filtered out by --only) are kept as they were.
 */
export function renderExpectedFailures(results: readonly VectorResult[], previousText: string, manifestIds: ReadonlySet<string>): string {
  const previous = parseExpectedFailures(previousText);
  const ran = new Set(results.map((r) => r.id));
  const lines = new Map<string, string>();
  for (const [id, signature] of previous) {
    if (!ran.has(id) && manifestIds.has(id)) lines.set(id, signature === undefined ? id : `${id}  # ${signature}`);
  }
  for (const result of results) if (result.status === "fail") lines.set(result.id, `${result.id}  # ${failureSignature(result)}`);
  const body = [...lines.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, line]) => line);
  const header = leadingComments(previousText) ?? DEFAULT_HEADER;
  return header + (body.length > 0 ? "\n" + body.join("\n") + "\n" : "");
}
