import fc from "fast-check";
import { runScenario, type Scenario, type ScenarioOptions } from "../../src/sim/scenario.js";
import { scenarioArb } from "./scenarios.js";

/** Shrink a failing scenario to a minimal one that still fails (development helper). */
export function shrink(seed: number, runs: number, options: ScenarioOptions & { maxSteps?: number; maxUsers?: number }): { scenario: Scenario; violations: string[] } | undefined {
  const result = fc.check(
    fc.property(scenarioArb({ maxSteps: options.maxSteps, maxUsers: options.maxUsers }), (scenario) => runScenario(scenario, options).violations.length === 0),
    { seed, numRuns: runs },
  );
  if (!result.failed || !result.counterexample) return undefined;
  const [scenario] = result.counterexample;
  return { scenario, violations: runScenario(scenario, options).violations };
}
