import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { runScenario, type Scenario, type Step } from "../src/sim/scenario.js";
import { scenarioArb } from "./support/scenarios.js";

/**
 * SEQ-2 with group commit on a store that answers asynchronously
 * (docs/design/store-boundary.md): the server machine on a write-behind
 * store, batches sealed per event and committed one at a time with a
 * virtual commit latency, every output held until what it may depend on is
 * durable, and a restart (a crash) keeping only durable batches. Every
 * simulation property must hold; the seeded runs print the scenario to
 * replay on failure.
 */

const RUNS = Number(process.env.SIM_GROUP_COMMIT_RUNS ?? 40);

const replayHint = (scenario: Scenario, latency: number) => `replay with: durability { commitLatencyMs: ${latency} } and scenario ${JSON.stringify(scenario)}`;

describe("SEQ-2 IDEM-2 DLV-3: group commit with commit latency, crashes losing what was not durable", () => {
  for (const latency of [1, 30, 400]) {
    it(`every property holds with a ${latency} ms commit (order, no loss, no duplicates, idempotency, liveness, state equivalence)`, () => {
      fc.assert(
        fc.property(scenarioArb(), (scenario) => {
          const report = runScenario(scenario, { checkEquivalence: true, durability: { commitLatencyMs: latency } });
          expect(report.violations, replayHint(scenario, latency)).toEqual([]);
        }),
        { numRuns: RUNS, seed: 4242 + latency },
      );
    });
  }

  it("requests share commits: fewer commits than writing requests", () => {
    const sends: Step[] = Array.from({ length: 12 }, (_, i) => ({ after: 10, action: { kind: "send", user: i % 3, device: 0, conversation: 0, count: 4 } }));
    const scenario: Scenario = {
      seed: 3,
      users: 3,
      devicesPerUser: 1,
      faults: { loss: 0, duplicate: 0, delayMs: 5, jitterMs: 0 },
      steps: [{ after: 0, action: { kind: "createGroup", user: 0, device: 0, members: [1, 2] } }, { after: 3_000, action: { kind: "send", user: 0, device: 0, conversation: 0, count: 1 } }, ...sends],
    };
    const report = runScenario(scenario, { durability: { commitLatencyMs: 50 } });
    expect(report.violations).toEqual([]);
    const durability = report.sim.durability!;
    const writingRequests = durability.durable.flat().filter((w) => w.op === "appendEvent").length;
    expect(writingRequests).toBeGreaterThanOrEqual(1 + 1 + 48); // the group's created event, 49 messages and the final probe's
    expect(durability.commits).toBeGreaterThan(0);
    expect(durability.commits).toBeLessThan(writingRequests / 2);
  });

  it("the checks have teeth: answers released before their commit is durable lose acknowledged messages at a crash", () => {
    // Sends leave at the device's next wake-up; crashes at staggered delays after them land inside some commit.
    const rounds: Step[] = [100, 200, 300, 150, 250, 350].flatMap((crashAfter): Step[] => [
      { after: 1_000, action: { kind: "send", user: 0, device: 0, conversation: 0, count: 3 } },
      { after: crashAfter, action: { kind: "restartServer", loseState: false } },
    ]);
    const scenario: Scenario = {
      seed: 9,
      users: 2,
      devicesPerUser: 1,
      faults: { loss: 0, duplicate: 0, delayMs: 5, jitterMs: 0 },
      steps: [{ after: 0, action: { kind: "createDirect", user: 0, device: 0, peer: 1 } }, { after: 2_000, action: { kind: "send", user: 0, device: 0, conversation: 0, count: 1 } }, ...rounds],
    };
    const correct = runScenario(scenario, { checkEquivalence: true, durability: { commitLatencyMs: 400 } });
    expect(correct.violations).toEqual([]);
    const broken = runScenario(scenario, { durability: { commitLatencyMs: 400, releaseEarly: true } });
    expect(broken.violations.join("\n")).toMatch(/property 4 \(IDEM-2\): .* acknowledged send .* is not stored/);
  });
});
