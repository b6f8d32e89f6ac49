import { readFile, writeFile } from "node:fs/promises";
import type { TargetResult } from "./run-suite.js";

/**
 * The strict expected-failures file, as in the Protocol Buffers conformance
 * runner: a JSON object from "<transport> <test id>" to the failure message
 * expected. A listed test that passes, or fails with another message, fails
 * the run; `--fix` rewrites the file from the run.
 */
export type ExpectedFailures = Readonly<Record<string, string>>;

export function resultKey(result: Pick<TargetResult, "test" | "target">): string {
  return `${result.target.url.split(":")[0]} ${result.test.id}`;
}

/**
 * The file's failures. A missing file is an error unless `allowMissing`
 * (--fix creates it): a mistyped path must not quietly make every listed
 * failure count.
 */
export async function readExpectedFailures(path: string | undefined, allowMissing = false): Promise<ExpectedFailures> {
  if (path === undefined) return {};
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" && allowMissing) return {};
    throw error;
  }
  const parsed = JSON.parse(text) as { failures?: unknown };
  const failures = parsed.failures ?? {};
  if (typeof failures !== "object" || failures === null || Array.isArray(failures) || Object.values(failures).some((v) => typeof v !== "string")) {
    throw new SyntaxError('expected {"failures": {"<transport> <test id>": "<failure message>", ...}}');
  }
  return failures as Record<string, string>;
}

export async function writeExpectedFailures(path: string, results: readonly TargetResult[]): Promise<void> {
  const failures: Record<string, string> = {};
  for (const r of results) if (r.outcome.status === "fail") failures[resultKey(r)] = r.outcome.message;
  await writeFile(path, `${JSON.stringify({ failures }, null, 2)}\n`);
}

export type Verdict =
  /** Passed, or not judged (observed, unsupported). */
  | "ok"
  /** Failed as the file expects. */
  | "expected-failure"
  /** Failed, not listed: counts against the run by its level. */
  | "failure"
  /** Listed, but passed: the file is stale. */
  | "unexpected-pass"
  /** Listed, but failed with another message. */
  | "failed-differently";

export function verdict(result: TargetResult, expected: ExpectedFailures): Verdict {
  const listed = expected[resultKey(result)];
  const { outcome } = result;
  if (outcome.status !== "fail") return listed === undefined || outcome.status !== "pass" ? "ok" : "unexpected-pass";
  if (listed === undefined) return "failure";
  return listed === outcome.message ? "expected-failure" : "failed-differently";
}
