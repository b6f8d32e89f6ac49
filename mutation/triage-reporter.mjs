// A Stryker reporter that applies the survivors' triage (mutation/triage.json)
// and prints the runner's score over the mutants that are not equivalent:
//
//   score = detected / (detected + untriaged survivors)
//
// where detected is killed or timed out. A triage entry names a mutant by
// file, mutator, replacement and the source text it replaces (not by line, so
// it survives edits elsewhere in the file) and says in one line why no
// server behaviour on the wire can tell the mutant from the original. An
// entry that matches nothing, or only mutants the runner now kills, is
// reported stale. The summary is also written as JSON next to Stryker's report.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { PluginKind, declareClassPlugin } from "@stryker-mutator/api/plugin";

const TRIAGE = "mutation/triage.json";
const TARGET_SCORE = 90;

function sourceOf(file, location) {
  const lines = file.source.split("\n");
  const { start, end } = location;
  if (start.line === end.line) return lines[start.line - 1].slice(start.column - 1, end.column - 1);
  const parts = [lines[start.line - 1].slice(start.column - 1), ...lines.slice(start.line, end.line - 1), lines[end.line - 1].slice(0, end.column - 1)];
  return parts.join("\n");
}

const squash = (text) => text.replace(/\s+/g, " ").trim();

export class TriageReporter {
  onMutationTestReportReady(report) {
    const triage = JSON.parse(readFileSync(TRIAGE, "utf8"));
    const entries = triage.equivalent.map((entry) => ({ ...entry, matched: 0, detected: 0 }));
    const counts = { total: 0, killed: 0, timeout: 0, survived: 0, noCoverage: 0, equivalent: 0, ignored: 0, errors: 0 };
    const untriaged = [];
    for (const [path, file] of Object.entries(report.files)) {
      for (const mutant of file.mutants) {
        counts.total++;
        const original = squash(sourceOf(file, mutant.location));
        const replacement = squash(mutant.replacement ?? "");
        const entry = entries.find((e) => e.file === path && e.mutator === mutant.mutatorName && squash(e.replacement) === replacement && squash(e.original) === original);
        // A static mutant that keeps the test file from loading runs no test; Stryker calls it survived, but the
        // server it makes cannot even start: that is detected.
        const unloadable = mutant.status === "Survived" && mutant.testsCompleted === 0;
        if (unloadable) mutant.status = "Killed";
        const detected = mutant.status === "Killed" || mutant.status === "Timeout";
        if (entry) {
          entry.matched++;
          if (detected) entry.detected++;
        }
        if (mutant.status === "Killed") counts.killed++;
        else if (mutant.status === "Timeout") counts.timeout++;
        else if (mutant.status === "Ignored") counts.ignored++;
        else if (mutant.status === "CompileError" || mutant.status === "RuntimeError") counts.errors++;
        else if (entry) counts.equivalent++;
        else {
          if (mutant.status === "NoCoverage") counts.noCoverage++;
          else counts.survived++;
          untriaged.push({ file: path, line: mutant.location.start.line, column: mutant.location.start.column, mutator: mutant.mutatorName, status: mutant.status, original, replacement });
        }
      }
    }
    const detected = counts.killed + counts.timeout;
    const valid = detected + untriaged.length;
    const score = valid === 0 ? 100 : (100 * detected) / valid;
    // Only entries for files this pass mutated can go stale in it (each pass mutates its own files).
    const stale = entries.filter((e) => e.file in report.files && (e.matched === 0 || e.detected === e.matched));
    const summary = { score: Number(score.toFixed(2)), target: TARGET_SCORE, ...counts, untriaged, stale: stale.map(({ matched, detected, ...e }) => ({ ...e, why: matched === 0 ? "matches no mutant" : "every mutant it matches is now detected" })) };
    const out = process.env.IMWIRE_MUTATION_SUMMARY ?? "reports/mutation/triage-summary.json";
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`);
    const lines = [
      "",
      `mutation score of the conformance runner: ${score.toFixed(2)}% of ${valid} mutants that are not equivalent (target ${TARGET_SCORE}%)`,
      `  ${counts.total} mutants: ${counts.killed} killed, ${counts.timeout} timed out, ${counts.survived} survived, ${counts.noCoverage} not reached, ${counts.equivalent} equivalent (${TRIAGE}), ${counts.errors} errors, ${counts.ignored} ignored`,
      ...untriaged.map((m) => `  untriaged ${m.status.toLowerCase()}: ${m.file}:${m.line}:${m.column} ${m.mutator}: ${m.original.slice(0, 80)} → ${m.replacement.slice(0, 80)}`),
      ...stale.map((e) => `  stale triage entry: ${e.file} ${e.mutator} ${squash(e.original).slice(0, 60)} → ${squash(e.replacement).slice(0, 40)} (${e.matched === 0 ? "matches no mutant" : "now detected"})`),
      `  summary: ${out}`,
      "",
    ];
    process.stdout.write(lines.join("\n"));
  }
}

export const strykerPlugins = [declareClassPlugin(PluginKind.Reporter, "triage", TriageReporter)];
