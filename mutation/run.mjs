// npm run mutation: both passes of stryker.config.mjs, then one score over both.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

const started = Date.now();
const passes = ["sqlite", "memory"];
for (const store of passes) {
  const summary = `reports/mutation/${store}/triage-summary.json`;
  const run = spawnSync("npx", ["stryker", "run"], { stdio: "inherit", env: { ...process.env, IMWIRE_MUTATION_STORE: store, IMWIRE_MUTATION_SUMMARY: summary } });
  if (run.status !== 0) process.exit(run.status ?? 1);
}
const summaries = passes.map((store) => JSON.parse(readFileSync(`reports/mutation/${store}/triage-summary.json`, "utf8")));
const sum = (key) => summaries.reduce((total, s) => total + s[key], 0);
const detected = sum("killed") + sum("timeout");
const untriaged = summaries.flatMap((s) => s.untriaged);
const score = (100 * detected) / (detected + untriaged.length);
const minutes = ((Date.now() - started) / 60_000).toFixed(1);
console.log(`\nmutation score, both passes: ${score.toFixed(2)}% (${detected} of ${detected + untriaged.length} mutants that are not equivalent detected; ${sum("equivalent")} equivalent, ${untriaged.length} untriaged) in ${minutes} min`);
console.log(`reports: reports/mutation/{${passes.join(",")}}/mutation.html, mutation.json, triage-summary.json`);
process.exit(untriaged.length === 0 && score >= 90 ? 0 : 1);
