import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { runScenario, type Scenario, type Step } from "../src/sim/scenario.js";
import { perfectLink } from "../src/sim/simulation.js";
import { withPostgres } from "./support/postgres.js";
import { PostgresSimulationStores } from "./support/simulation-postgres-store.js";
import { scenarioArb } from "./support/scenarios.js";

/**
 * The simulation's properties (test/simulation.test.ts) with the server on
 * PostgresStore, each run on a fresh schema, and every server restart that
 * keeps state a crash: the connection closed, a new PostgresStore opened on
 * the same schema (test/support/simulation-postgres-store.ts). Every store
 * call is a loopback round trip (~0.3 ms), so the runs are fewer and
 * shorter than on SQLite (test/simulation-sqlite.test.ts): 10 runs of up to
 * 30 steps, and 4 that lose the store (SIM_POSTGRES_RUNS and
 * SIM_POSTGRES_SEED change the first). Seeded: a failure prints the seed
 * (fast-check) and the scenario to replay.
 *
 * The simulator runs one server machine, so two nodes on one schema are
 * test/e2e/cluster.test.ts's and test/store-postgres.test.ts's to check.
 */

const RUNS = Number(process.env.SIM_POSTGRES_RUNS ?? 10);
/** A run takes 3–6 s of round trips on two busy cores: the vitest default of 60 s is too tight for the whole property. */
const PROPERTY_TIMEOUT_MS = 180_000;
const SEED = Number(process.env.SIM_POSTGRES_SEED ?? 1_414);

function replayHint(scenario: Scenario): string {
  return `replay with: npm run sim:replay -- '${JSON.stringify(scenario)}' (on PostgresStore: this file's stores)`;
}

/** The scenario with a server crash (a restart keeping the store) halfway through its steps, so that every run reopens. */
function withCrash(scenario: Scenario): Scenario {
  const steps = [...scenario.steps];
  steps.splice(Math.ceil(steps.length / 2), 0, { after: 100, action: { kind: "restartServer", loseState: false } });
  return { ...scenario, steps };
}

withPostgres("the simulation properties on PostgresStore", () => {
  describe("SEQ-2 SEQ-4 DLV-1 IDEM-2 CUR-5: the simulation properties hold on PostgresStore (server crashes reopen the schema)", () => {
    it("order, no duplicates, no loss, idempotent sends, liveness, state equivalence", () => {
      fc.assert(
        fc.property(scenarioArb({ maxSteps: 30 }).map(withCrash), (scenario) => {
          const stores = new PostgresSimulationStores();
          try {
            const report = runScenario(scenario, { checkEquivalence: true, store: stores.open, serverMachine: stores.machine() });
            expect(report.violations, replayHint(scenario)).toEqual([]);
            expect(stores.opened).toHaveLength(1); // a crash keeps the schema
            expect(stores.reopens).toBeGreaterThanOrEqual(1);
          } finally {
            stores.closeAll();
          }
        }),
        { numRuns: RUNS, seed: SEED },
      );
    }, PROPERTY_TIMEOUT_MS);
  });

  describe("CUR-4 SYNC-4: a restart that loses the PostgreSQL schema gives a new epoch, and every device resynchronises to it", () => {
    it("a new schema, a new random epoch, every device on it", () => {
      fc.assert(
        fc.property(scenarioArb({ maxSteps: 15 }), (base) => {
          const stores = new PostgresSimulationStores();
          try {
            const steps: Step[] = [...base.steps, { after: 200, action: { kind: "restartServer", loseState: true } }, { after: 500, action: { kind: "createGroup", user: 0, device: 0, members: [1] } }];
            const scenario: Scenario = { ...base, steps };
            const epochs: string[] = [];
            const report = runScenario(scenario, { serverLosesState: true, store: stores.open, serverMachine: stores.machine() });
            expect(report.violations, replayHint(scenario)).toEqual([]);
            expect(stores.opened).toHaveLength(2);
            for (const store of stores.opened) epochs.push(store.store.epoch("u0"));
            expect(epochs[1]).not.toBe(epochs[0]);
            expect(report.sim.store).toBe(stores.opened[1]!.store);
            for (const device of report.sim.devices) expect(device.client.epoch).toBe(epochs[1]);
          } finally {
            stores.closeAll();
          }
        }),
        { numRuns: 4, seed: SEED + 1 },
      );
    }, PROPERTY_TIMEOUT_MS);
  });

  describe("the checks have teeth on PostgreSQL", () => {
    // Acknowledged sends before the crash, then a crash: what the reopened store lacks, the devices were told was stored.
    const scenario: Scenario = {
      seed: 21,
      users: 2,
      devicesPerUser: 1,
      faults: perfectLink,
      steps: [
        { after: 0, action: { kind: "createDirect", user: 0, device: 0, peer: 1 } },
        { after: 2_000, action: { kind: "send", user: 0, device: 0, conversation: 0, count: 3 } },
        { after: 2_000, action: { kind: "restartServer", loseState: false } },
        { after: 2_000, action: { kind: "send", user: 1, device: 0, conversation: 0, count: 1 } },
      ],
    };

    it("a crash that reopens the same schema loses nothing", () => {
      const stores = new PostgresSimulationStores();
      try {
        expect(runScenario(scenario, { checkEquivalence: true, store: stores.open, serverMachine: stores.machine() }).violations).toEqual([]);
        expect(stores.reopens).toBe(1);
      } finally {
        stores.closeAll();
      }
    });

    it("a crash that reopens on an empty schema (what was committed lost) is caught", () => {
      const stores = new PostgresSimulationStores("reopenOnEmptySchema");
      try {
        const violations = runScenario(scenario, { store: stores.open, serverMachine: stores.machine() }).violations;
        expect(violations.join("\n")).toMatch(/property 4 \(IDEM-2\): u0d0's acknowledged send .* is not stored/);
      } finally {
        stores.closeAll();
      }
    });
  });
});
