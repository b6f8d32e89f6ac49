// Long simulation run (npm run soak [-- --runs N --seed S --steps N --users N --no-shrink --sqlite]): far more schedules than CI.
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import fc from "fast-check";
import { runScenario, type Scenario } from "../src/sim/scenario.js";
import { scenarioArb } from "../test/support/scenarios.js";
import { SqliteStore } from "../src/store/sqlite-store.js";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "3000" },
    seed: { type: "string" },
    steps: { type: "string", default: "150" },
    users: { type: "string", default: "6" },
    // Shrinking a 150-step schedule can take longer than the run; the first failure is saved either way.
    "no-shrink": { type: "boolean", default: false },
    // The server on SqliteStore (in memory) instead of MemoryStore.
    sqlite: { type: "boolean", default: false },
  },
});
const runs = Number(values.runs);
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
const totals = { scenarios: 0, frames: 0, events: 0, sends: 0, virtualMs: 0 };
const started = Date.now();
let firstFailure: string | undefined;

console.log(`soak: ${runs} scenarios of up to ${values.steps} steps and ${values.users} users, seed ${seed}${values.sqlite ? ", on SqliteStore" : ""}`);
const property = fc.property(scenarioArb({ maxSteps: Number(values.steps), maxUsers: Number(values.users), size: "large" }), (scenario: Scenario) => {
  const outcome = attempt(scenario);
  if (typeof outcome === "string") {
    saveFirstFailure(scenario, totals.scenarios + 1);
    throw new Error(outcome);
  }
  const report = outcome;
  totals.scenarios++;
  totals.frames += report.frames;
  totals.events += report.events;
  totals.sends += report.sends;
  totals.virtualMs += report.virtualMs;
  if (totals.scenarios % 250 === 0) process.stdout.write(`  ${totals.scenarios} scenarios, ${totals.frames} frames…\n`);
  if (report.violations.length > 0) saveFirstFailure(scenario, totals.scenarios);
  return report.violations.length === 0;
});

/** The report, or what went wrong when the run itself broke (a livelock the event queue stopped). */
function attempt(scenario: Scenario): ReturnType<typeof runScenario> | string {
  const opened: SqliteStore[] = [];
  const store = values.sqlite ? () => (opened.push(new SqliteStore(":memory:")), opened.at(-1)!) : undefined;
  try {
    return runScenario(scenario, { checkEquivalence: true, ...(store ? { store } : {}) });
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    for (const s of opened) s.close();
  }
}

function saveFirstFailure(scenario: Scenario, index: number): void {
  if (firstFailure !== undefined) return;
  firstFailure = join(tmpdir(), `imwire-soak-${seed}.json`);
  writeFileSync(firstFailure, JSON.stringify(scenario));
  console.log(`  schedule ${index} fails; saved to ${firstFailure} (npm run sim:replay -- ${firstFailure})${values["no-shrink"] ? "" : "; shrinking…"}`);
}
const result = fc.check(property, { numRuns: runs, seed, endOnFailure: values["no-shrink"] });
const seconds = ((Date.now() - started) / 1000).toFixed(1);
console.log(
  `checked ${totals.scenarios} schedules: ${totals.frames} frames carried, ${totals.events} events handed to applications, ` +
    `${totals.sends} sends, ${(totals.virtualMs / 3_600_000).toFixed(1)} virtual hours, in ${seconds} s`,
);
if (result.failed && result.counterexample) {
  const [scenario] = result.counterexample;
  const outcome = attempt(scenario);
  console.log(`\nFAILED (seed ${seed}, shrunk ${result.numShrinks} times):\n${typeof outcome === "string" ? outcome : outcome.violations.join("\n")}`);
  console.log(`\nreplay: npm run sim:replay -- '${JSON.stringify(scenario)}'`);
  process.exit(1);
}
console.log("every promise held");
