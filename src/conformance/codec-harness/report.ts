import type { Manifest } from "./manifest.js";
import { HARNESS_NAME, HARNESS_PROTOCOL_VERSION, HARNESS_VERSION } from "./protocol.js";
import { failureSignature, isClean, type Classification } from "./expected-failures.js";
import type { CheckResult, RunResult, VectorResult } from "./runner.js";

/** The readable summary of a run, and the machine-readable report (--json). */

export interface ReportInput {
  readonly manifest: Manifest;
  readonly run: RunResult;
  readonly classification: Classification;
  /** Where the expected failures came from, for the advice lines. */
  readonly expectedFailuresPath?: string;
  /** The command that replays one vector exactly. */
  readonly replay: (id: string) => string;
}

export function runPassed(input: Pick<ReportInput, "run" | "classification">): boolean {
  return input.run.testee !== undefined && input.run.problems.length === 0 && isClean(input.classification);
}

const FAMILIES = ["decode", "roundtrip", "encode", "stream"] as const;

function familyOf(check: CheckResult): (typeof FAMILIES)[number] {
  return check.family.startsWith("stream") ? "stream" : (check.family as (typeof FAMILIES)[number]);
}

export function checkCounts(run: RunResult): Record<string, { pass: number; fail: number; unsupported: number }> {
  const counts = Object.fromEntries(FAMILIES.map((f) => [f, { pass: 0, fail: 0, unsupported: 0 }]));
  for (const vector of run.vectors) for (const check of vector.checks) counts[familyOf(check)]![check.status]++;
  return counts;
}

export function renderSummary(input: ReportInput): string {
  const { manifest, run, classification } = input;
  const list = input.expectedFailuresPath ?? "the expected-failures file";
  const out: string[] = [];
  out.push(`${HARNESS_NAME} ${HARNESS_VERSION} (harness protocol ${HARNESS_PROTOCOL_VERSION}), suite ${manifest.suite} ${manifest.suiteVersion}, seed ${run.seed}`);
  if (run.testee) {
    const unknown = run.testee.unknownCapabilities?.length ? `; ignored unknown capabilities ${run.testee.unknownCapabilities.join(", ")}` : "";
    out.push(`testee: ${run.testee.testee} ${run.testee.testeeVersion}, capabilities: ${run.testee.capabilities.join(", ") || "none"}${unknown}`);
  }
  out.push("");
  for (const result of classification.newFailures) out.push(...failureBlock(result, "FAIL", "", input.replay));
  for (const result of classification.nowPassing) out.push(`PASSES NOW  ${result.id}: listed as failing; remove it from ${list} (or run with --fix)`, "");
  for (const { result, listed, actual } of classification.changed) {
    out.push(...failureBlock(result, "CHANGED", `fails otherwise than ${list} says`, input.replay));
    out.push(`  listed: ${listed}`, `  now:    ${actual}`, "");
  }
  for (const result of classification.unchecked) out.push(`UNCHECKED  ${result.id}: listed as failing, but the testee supports none of its failing checks`, "");
  for (const id of classification.unknownIds) out.push(`UNKNOWN  ${id}: listed in ${list}, but no vector has this id`, "");
  for (const problem of run.problems) out.push(`PROBLEM  ${problem}`, "");

  const counts = checkCounts(run);
  out.push(`checks:  ${FAMILIES.map((f) => `${f} ${counts[f]!.pass}/${counts[f]!.pass + counts[f]!.fail}${counts[f]!.unsupported ? ` (${counts[f]!.unsupported} unsupported)` : ""}`).join(", ")}`);
  const passed = run.vectors.filter((v) => v.status === "pass").length;
  const unsupported = run.vectors.filter((v) => v.status === "unsupported").length;
  const unexpectedFailures = classification.newFailures.length + classification.changed.length;
  out.push(
    `vectors: ${passed} passed, ${classification.expected.length} failed as expected, ${unexpectedFailures} failed unexpectedly, ${unsupported} unsupported (${run.vectors.length} of ${manifest.vectors.length} run)` +
      (run.restarts > 0 ? `; the testee was restarted ${run.restarts} times` : ""),
  );
  out.push(runPassed(input) ? "result:  PASS (nothing unexpected)" : "result:  FAIL");
  return out.join("\n") + "\n";
}

function failureBlock(result: VectorResult, label: string, note: string, replay: (id: string) => string): string[] {
  const lines = [`${label}  ${result.id}  [${result.requirements.join(", ")}]${note ? `: ${note}` : ""}`, `  ${result.description}`];
  const shown = new Set<string>();
  for (const check of result.checks) {
    if (check.status !== "fail" || shown.has(check.reason ?? "")) continue;
    shown.add(check.reason ?? "");
    const same = result.checks.filter((c) => c.status === "fail" && c.reason === check.reason).map((c) => c.name);
    lines.push(`  ${same.join(", ")}: ${check.reason}`);
    if (check.detail) lines.push(...indent(truncate(check.detail, 600), "      "));
  }
  lines.push(`  replay: ${replay(result.id)}`, "");
  return lines;
}

function indent(text: string, prefix: string): string[] {
  return text.split("\n").map((line) => prefix + line);
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length - max} more characters; --json FILE has everything)` : text;
}

export function jsonReport(input: ReportInput): unknown {
  const { manifest, run, classification } = input;
  const expected = new Set(classification.expected.map((r) => r.id));
  return {
    harness: { name: HARNESS_NAME, version: HARNESS_VERSION, protocolVersion: HARNESS_PROTOCOL_VERSION },
    suite: { name: manifest.suite, version: manifest.suiteVersion, protocolVersion: manifest.protocolVersion },
    testee: run.testee ?? null,
    seed: run.seed,
    result: runPassed(input) ? "pass" : "fail",
    restarts: run.restarts,
    problems: run.problems,
    checks: checkCounts(run),
    unexpected: {
      newFailures: classification.newFailures.map((r) => r.id),
      nowPassing: classification.nowPassing.map((r) => r.id),
      changed: classification.changed.map(({ result, listed, actual }) => ({ id: result.id, listed, actual })),
      unchecked: classification.unchecked.map((r) => r.id),
      unknownIds: classification.unknownIds,
    },
    vectors: run.vectors.map((v) => ({
      id: v.id,
      kind: v.kind,
      requirements: v.requirements,
      status: expected.has(v.id) ? "expected-failure" : v.status,
      ...(v.status === "fail" ? { signature: failureSignature(v), replay: input.replay(v.id) } : {}),
      checks: v.checks,
    })),
  };
}

/**
 * JUnit XML (--junit), the conformance runner's shape: one test case per
 * vector run. Failures are what fails the run (new failures, changed ones,
 * listed vectors that pass now or could not be checked, listed ids no vector
 * has, problems with the testee); expected failures pass with their
 * signature in system-out; unsupported vectors are skipped.
 */
export function junitReport(input: ReportInput): string {
  const { run, classification } = input;
  const escape = (s: string) => s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);
  const list = input.expectedFailuresPath ?? "the expected-failures file";
  const verdicts = new Map<string, { failure?: string; detail?: string; skipped?: string; out?: string }>();
  for (const result of classification.newFailures) verdicts.set(result.id, { failure: failureSignature(result), detail: failureDetail(result, input.replay) });
  for (const { result, listed, actual } of classification.changed) verdicts.set(result.id, { failure: `fails otherwise than ${list} says`, detail: `listed: ${listed}\nnow:    ${actual}\n${failureDetail(result, input.replay)}` });
  for (const result of classification.nowPassing) verdicts.set(result.id, { failure: `passes now, but ${list} lists it as failing: remove it (or run with --fix)` });
  for (const result of classification.unchecked) verdicts.set(result.id, { failure: `listed in ${list} as failing, but the testee supports none of its failing checks` });
  for (const result of classification.expected) verdicts.set(result.id, { out: `expected failure: ${failureSignature(result)}` });
  const cases = run.vectors.map((v) => {
    const verdict = verdicts.get(v.id) ?? (v.status === "unsupported" ? { skipped: unsupportedReason(v) } : {});
    const body =
      verdict.failure !== undefined
        ? `<failure message="${escape(verdict.failure)}">${escape(verdict.detail ?? "")}</failure>`
        : verdict.skipped !== undefined
          ? `<skipped message="${escape(verdict.skipped)}"/>`
          : verdict.out !== undefined
            ? `<system-out>${escape(verdict.out)}</system-out>`
            : "";
    return `    <testcase classname="imwire.vectors.${escape(v.kind)}" name="${escape(v.id)}">${body}</testcase>`;
  });
  for (const id of classification.unknownIds) cases.push(`    <testcase classname="imwire.vectors.expected-failures" name="${escape(id)}"><failure message="${escape(`listed in ${list}, but no vector has this id`)}"/></testcase>`);
  for (const [i, problem] of run.problems.entries()) cases.push(`    <testcase classname="imwire.vectors.testee" name="problem-${i + 1}"><failure message="${escape(problem)}"/></testcase>`);
  const failures = cases.filter((c) => c.includes("<failure ")).length;
  const skipped = cases.filter((c) => c.includes("<skipped ")).length;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n  <testsuite name="imwire-codec-harness" tests="${cases.length}" failures="${failures}" skipped="${skipped}">\n${cases.join("\n")}\n  </testsuite>\n</testsuites>\n`;
}

function failureDetail(result: VectorResult, replay: (id: string) => string): string {
  const checks = result.checks.filter((c) => c.status === "fail").map((c) => `${c.name}: ${c.reason ?? ""}${c.detail ? `\n${truncate(c.detail, 2_000)}` : ""}`);
  return `${result.description}\n${checks.join("\n")}\nreplay: ${replay(result.id)}`;
}

function unsupportedReason(result: VectorResult): string {
  const missing = [...new Set(result.checks.filter((c) => c.status === "unsupported").map((c) => c.detail ?? c.name))];
  return `unsupported by the testee${missing.length > 0 ? `: ${missing.join("; ")}` : ""}`;
}
