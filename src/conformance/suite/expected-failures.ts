import { readFile, writeFile } from "node:fs/promises";
import type { TargetResult } from "./run-suite.js";

/**
 * The strict expected-failures file, as in the Protocol Buffers conformance
 * runner: a JSON object from "<transport> <test id>" to the failure message
 * expected. A listed test that passes, or fails with another message, fails
 * the run; `--fix` rewrites the file from the run.
 */
export type ExpectedFailures = Readonly<Record<string, string>>;

export function resultKey(result: TargetResult): string {
  return `${result.target.url.split(":")[0]} ${result.test.id}`;
}

export async function readExpectedFailures(path: string | undefined): Promise<ExpectedFailures> {
  if (path === undefined) return {};
  try {
    const parsed = JSON.parse(await readFile(path, "utf8")) as { failures?: Record<string, string> };
    return parsed.failures ?? {};
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw error;
  }
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
