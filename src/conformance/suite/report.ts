import picocolors from "picocolors";
import type { Requirement } from "../../spec/requirements.js";
import { resultKey, verdict, type ExpectedFailures, type Verdict } from "./expected-failures.js";
import type { TargetResult } from "./run-suite.js";
import type { ConformanceTest } from "./types.js";

export interface RunSummary {
  readonly passed: number;
  readonly failedRequired: number;
  readonly failedRecommended: number;
  readonly expectedFailures: number;
  readonly unexpectedPasses: number;
  readonly failedDifferently: number;
  readonly unsupported: number;
  readonly observed: number;
  /** Exit status 0: every required test passed (or failed as expected), and the expected-failures file is exact. */
  readonly ok: boolean;
}

export function summarise(results: readonly TargetResult[], expected: ExpectedFailures): RunSummary {
  const count = (f: (r: TargetResult, v: Verdict) => boolean) => results.filter((r) => f(r, verdict(r, expected))).length;
  const summary = {
    passed: count((r) => r.outcome.status === "pass"),
    failedRequired: count((r, v) => v === "failure" && r.test.level === "required"),
    failedRecommended: count((r, v) => v === "failure" && r.test.level === "recommended"),
    expectedFailures: count((_r, v) => v === "expected-failure"),
    unexpectedPasses: count((_r, v) => v === "unexpected-pass"),
    failedDifferently: count((_r, v) => v === "failed-differently"),
    unsupported: count((r) => r.outcome.status === "unsupported"),
    observed: count((r) => r.outcome.status === "observed"),
  };
  return { ...summary, ok: summary.failedRequired === 0 && summary.unexpectedPasses === 0 && summary.failedDifferently === 0 };
}

const MARK: Record<TargetResult["outcome"]["status"], string> = { pass: "✓", fail: "✗", unsupported: "-", observed: "~" };

/** Terminal colours: picocolors' own, or none (tests, pipes, NO_COLOR). */
export type Colours = ReturnType<typeof picocolors.createColors>;
export const NO_COLOURS: Colours = picocolors.createColors(false);

/** One line per result, as the run goes: ✓ green, ✗ red, unsupported dim. */
export function progressLine(result: TargetResult, expected: ExpectedFailures, colours: Colours = NO_COLOURS): string {
  const v = verdict(result, expected);
  const mark = v === "expected-failure" ? "x" : MARK[result.outcome.status];
  const paint =
    v === "failure" || v === "failed-differently" || v === "unexpected-pass"
      ? colours.red
      : result.outcome.status === "pass"
        ? colours.green
        : result.outcome.status === "unsupported" || v === "expected-failure"
          ? colours.dim
          : (text: string) => text;
  const extra =
    result.outcome.status === "unsupported"
      ? ` (unsupported: ${result.outcome.reason})`
      : result.outcome.status === "observed"
        ? `: ${result.outcome.note}`
        : v === "expected-failure"
          ? " (expected failure)"
          : v === "unexpected-pass"
            ? " (UNEXPECTED PASS: listed as an expected failure)"
            : "";
  const line = `  ${mark} ${resultKey(result).padEnd(58)} ${result.test.level.padEnd(13)} ${String(result.durationMs).padStart(5)} ms${extra}`;
  return paint(line);
}

/** `text` as lines of at most `width` characters (a longer word stays whole), each after `indent`. */
export function wrap(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== "" && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(indent + line);
  return lines;
}

/** Every failure that counts, told in full: the requirement, what was acceptable, what came, the frames, how to replay it. */
export function failureReport(results: readonly TargetResult[], expected: ExpectedFailures, requirements: ReadonlyMap<string, Requirement>, replay: (r: TargetResult) => string): string {
  const lines: string[] = [];
  for (const r of results) {
    const v = verdict(r, expected);
    if (v !== "failure" && v !== "failed-differently" && v !== "unexpected-pass") continue;
    lines.push("", `✗ ${resultKey(r)} — ${r.test.level}: ${r.test.title}`);
    for (const id of r.test.requirements) {
      const req = requirements.get(id);
      // The whole requirement, as SPEC.md states it: its first line alone often stops mid-sentence.
      lines.push(`  ${id}${req ? ` (${req.level}):` : ""}`, ...(req ? wrap(req.text, 100, "      ") : []));
    }
    if (v === "unexpected-pass") {
      lines.push("  it passed, but the expected-failures file lists it: remove it (or run with --fix)");
    } else if (r.outcome.status === "fail") {
      if (v === "failed-differently") lines.push(`  listed as failing with: ${expected[resultKey(r)]}`);
      lines.push(`  failure: ${r.outcome.message}`);
      lines.push(`  acceptable: ${r.outcome.acceptable.join(" | ") || "-"}`);
      lines.push(`  actual: ${r.outcome.actual}`);
      lines.push("  frames exchanged:");
      for (const e of r.transcript) lines.push(`    ${(e.at / 1000).toFixed(3)} ${e.connection.padEnd(6)} ${e.direction} ${e.text}`);
    }
    lines.push(`  replay: ${replay(r)}`);
  }
  return lines.join("\n");
}

export function summaryLine(summary: RunSummary): string {
  const parts = [
    `${summary.passed} passed`,
    `${summary.failedRequired} required failed`,
    `${summary.failedRecommended} recommended failed`,
    `${summary.expectedFailures} expected failures`,
    `${summary.unsupported} unsupported`,
    `${summary.observed} observed`,
  ];
  if (summary.unexpectedPasses > 0) parts.push(`${summary.unexpectedPasses} unexpected passes`);
  if (summary.failedDifferently > 0) parts.push(`${summary.failedDifferently} failed differently than expected`);
  return `${parts.join(", ")}: ${summary.ok ? "CONFORMS (every required test passed)" : "DOES NOT CONFORM"}`;
}

/** Which requirements the run exercised (tests that ran, whatever their result) and which it did not. */
export function specCoverage(results: readonly TargetResult[], requirements: ReadonlyMap<string, Requirement>): string {
  const exercised = new Set(results.filter((r) => r.outcome.status !== "unsupported").flatMap((r) => r.test.requirements));
  const rows = [...requirements.values()].map((r) => `  ${exercised.has(r.id) ? "✓" : "·"} ${r.id.padEnd(8)} ${r.level}`);
  const musts = [...requirements.values()].filter((r) => r.level === "MUST");
  return `spec coverage: ${exercised.size} of ${requirements.size} requirements exercised (MUST: ${musts.filter((r) => exercised.has(r.id)).length} of ${musts.length})\n${rows.join("\n")}`;
}

export function jsonReport(results: readonly TargetResult[], expected: ExpectedFailures, summary: RunSummary, seed: number): string {
  return JSON.stringify(
    {
      seed,
      summary,
      results: results.map((r) => ({
        id: r.test.id,
        target: r.target.url,
        requirements: r.test.requirements,
        level: r.test.level,
        group: r.test.group,
        verdict: verdict(r, expected),
        outcome: r.outcome,
        durationMs: r.durationMs,
        transcript: r.outcome.status === "fail" ? r.transcript : undefined,
      })),
    },
    null,
    2,
  );
}

export function junitReport(results: readonly TargetResult[], expected: ExpectedFailures): string {
  const escape = (s: string) => s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);
  const cases = results.map((r) => {
    const v = verdict(r, expected);
    const name = escape(resultKey(r));
    const time = (r.durationMs / 1000).toFixed(3);
    let body = "";
    if (r.outcome.status === "unsupported") body = `<skipped message="${escape(r.outcome.reason)}"/>`;
    else if (v === "unexpected-pass") body = `<failure message="unexpected pass: listed as an expected failure"/>`;
    else if (r.outcome.status === "fail" && v !== "expected-failure") {
      const detail = `acceptable: ${r.outcome.acceptable.join(" | ")}\nactual: ${r.outcome.actual}`;
      body = r.test.level === "required" || v === "failed-differently" ? `<failure message="${escape(r.outcome.message)}">${escape(detail)}</failure>` : `<system-out>${escape(`${r.test.level} failure: ${r.outcome.message}\n${detail}`)}</system-out>`;
    } else if (r.outcome.status === "observed") body = `<system-out>${escape(r.outcome.note)}</system-out>`;
    return `    <testcase classname="imwire.${escape(r.test.group)}" name="${name}" time="${time}">${body}</testcase>`;
  });
  const failures = results.filter((r) => ["failure", "unexpected-pass", "failed-differently"].includes(verdict(r, expected)) && (r.test.level === "required" || verdict(r, expected) !== "failure")).length;
  const skipped = results.filter((r) => r.outcome.status === "unsupported").length;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n  <testsuite name="imwire-conformance" tests="${results.length}" failures="${failures}" skipped="${skipped}">\n${cases.join("\n")}\n  </testsuite>\n</testsuites>\n`;
}

/** `imwire conformance --list`: one test a line, in run order: id, requirements, group, level, title. */
export function testList(tests: readonly ConformanceTest[]): string {
  const width = (f: (t: ConformanceTest) => string) => Math.max(0, ...tests.map((t) => f(t).length));
  const requirements = (t: ConformanceTest) => t.requirements.join(",");
  const [id, reqs, group] = [width((t) => t.id), width(requirements), width((t) => t.group)];
  return tests.map((t) => `${t.id.padEnd(id)}  ${requirements(t).padEnd(reqs)}  ${t.group.padEnd(group)}  ${t.level.padEnd(13)}  ${t.title}`).join("\n");
}
