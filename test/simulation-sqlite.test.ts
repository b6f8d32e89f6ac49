import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { runScenario, type Scenario } from "../src/sim/scenario.js";
import { SqliteStore } from "../src/store/sqlite-store.js";
import { scenarioArb } from "./support/scenarios.js";

/**
 * The simulation's properties (test/simulation.test.ts) with the server on
 * SqliteStore instead of MemoryStore: fewer runs, since the store is what
 * changes, not the protocol.
 */

const RUNS = Number(process.env.SIM_SQLITE_RUNS ?? 30);

/** Every store the current run opened: closed once its checks have read them. */
const opened: SqliteStore[] = [];
const openStore = () => {
  const store = new SqliteStore(":memory:");
  opened.push(store);
  return store;
};

function replayHint(scenario: Scenario): string {
  return `replay with: npm run sim:replay -- '${JSON.stringify(scenario)}'`;
}

describe("SEQ-2 SEQ-4 DLV-1 IDEM-2 CUR-5: the simulation properties hold on SqliteStore (server restarts keep the store)", () => {
  it("order, no duplicates, no loss, idempotent sends, liveness, state equivalence", () => {
    fc.assert(
      fc.property(scenarioArb(), (scenario) => {
        try {
          const report = runScenario(scenario, { checkEquivalence: true, store: openStore });
          expect(report.violations, replayHint(scenario)).toEqual([]);
          expect(opened).toHaveLength(1); // a durable restart keeps the store
        } finally {
          for (const store of opened.splice(0)) store.close();
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe("CUR-4 SYNC-4: a restart that loses the SQLite store gives a new epoch, and every device resynchronises to it", () => {
  it("a new store, a new random epoch, every device on it", () => {
    fc.assert(
      fc.property(scenarioArb({ maxSteps: 15 }), (base) => {
        try {
          const steps = [...base.steps, { after: 200, action: { kind: "restartServer", loseState: true } } as const];
          const scenario: Scenario = { ...base, steps: [...steps, { after: 500, action: { kind: "createGroup", user: 0, device: 0, members: [1] } }] };
          const report = runScenario(scenario, { serverLosesState: true, store: openStore });
          expect(report.violations, replayHint(scenario)).toEqual([]);
          expect(opened).toHaveLength(2);
          const [before, after] = opened.map((s) => s.epoch("u0"));
          expect(after).not.toBe(before);
          expect(report.sim.store).toBe(opened[1]);
          for (const device of report.sim.devices) expect(device.client.epoch).toBe(after);
        } finally {
          for (const store of opened.splice(0)) store.close();
        }
      }),
      { numRuns: 10 },
    );
  });
});
