import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { brokenClient, type ClientBreakage } from "./support/broken-clients.js";
import { brokenServer, type Breakage } from "./support/broken-servers.js";
import { runScenario } from "../src/sim/scenario.js";
import { perfectLink } from "../src/sim/simulation.js";
import { silentPeerProblems } from "./support/heartbeat.js";
import { scenarioArb } from "./support/scenarios.js";

/**
 * The property suites bite: each deliberately broken variant of a machine is
 * run through the same scenarios and must be caught, by the property that
 * names what it breaks. (A variant no property can see would be a hole in the
 * suite.)
 */

interface Mutant {
  readonly name: string;
  readonly client?: ClientBreakage;
  readonly server?: Breakage;
  /** What the first violation found must mention. */
  readonly caughtBy: RegExp;
}

const mutants: Mutant[] = [
  // Handing events out as they come shows as disorder, or, once the gap it skipped is pulled, as the same events twice.
  { name: "client without a reorder buffer", client: { noReorderBuffer: true }, caughtBy: /property [12]/ },
  { name: "client that hands out duplicates", client: { noDuplicateCheck: true }, caughtBy: /property 2/ },
  { name: "client that never fetches gaps", client: { noGapSync: true }, caughtBy: /property [35]/ },
  { name: "client that acknowledges beyond what it holds", client: { ackBeyondHeld: true }, caughtBy: /ACK-[12]/ },
  { name: "client that acknowledges entries held after a gap", client: { ackAheadOfGap: true }, caughtBy: /ACK-1/ },
  { name: "client that gives retries new idempotency keys", client: { newIdPerRetry: true }, caughtBy: /property 4/ },
  { name: "server without deduplication", server: { skipDedup: true }, caughtBy: /property 4/ },
  { name: "server that skips redelivery on resume", server: { skipRedelivery: true }, caughtBy: /DLV-3/ },
  // Read fan-out (CUR-7, CUR-8, SYNC-8): scenarioArb puts groups under it in two runs of three, some moving mid-run.
  { name: "store whose merge leaves out the event at which a group moved to read fan-out (CUR-8)", server: { dropFirstPublished: true }, caughtBy: /property [35]/ },
  { name: "server that publishes read-fan-out events but pushes them to no connected reader (CUR-7)", server: { noPublishedPush: true }, caughtBy: /property 10|DLV-3/ },
  { name: "summaries that carry the oldest seq they stand for, not the newest (SYNC-8)", server: { summaryOldestSeq: true }, caughtBy: /property [35]/ },
  { name: "late joiner of a read-fan-out group served from before it joined (CONV-8)", server: { joinerSeesEarlier: true }, caughtBy: /property 9/ },
  // Per-member receipts (RCPT-1, RCPT-2): every device reports what it holds by default.
  { name: "server that records a member as holding the conversation's last seq on any report (RCPT-2)", server: { deliveredToLast: true }, caughtBy: /property 12 \(RCPT-2\)/ },
  { name: "server that keeps no delivered position (RCPT-1, RCPT-2)", server: { forgetDelivered: true }, caughtBy: /property 12 \(RCPT-1\)/ },
];

describe("the simulation properties catch deliberately broken machines", () => {
  it.each(mutants)("$name", ({ client, server, caughtBy }) => {
    let found: string[] = [];
    const result = fc.check(
      fc.property(scenarioArb(), (scenario) => {
        const violations = runScenario(scenario, { clientPolicy: client ? brokenClient(client) : undefined, serverMachine: server ? brokenServer(server) : undefined, settleWithinMs: 30_000 }).violations;
        if (violations.length > 0 && found.length === 0) found = violations;
        return violations.length === 0;
      }),
      { numRuns: 300, endOnFailure: true },
    );
    expect(result.failed, "the broken variant went unnoticed").toBe(true);
    expect(found.some((v) => caughtBy.test(v)), found.join("\n")).toBe(true);
  });

  it("CUR-7 DLV-1: property 10 alone sees pushes that never go to connected readers (a reader's next pong would catch it up)", () => {
    // The prelude alone, on a perfect link: nothing but the missing pushes can be wrong.
    const [base] = fc.sample(scenarioArb({ maxSteps: 0 }), { numRuns: 1, seed: 4 });
    const scenario = { ...base!, users: 4, devicesPerUser: 1, faults: perfectLink, readFanOutMembers: 2 };
    expect(runScenario(scenario).violations).toEqual([]);
    const broken = runScenario(scenario, { serverMachine: brokenServer({ noPublishedPush: true }) }).violations;
    expect(broken.length).toBeGreaterThan(0);
    expect(broken.every((v) => /^property 10 \(DLV-1\)/.test(v)), broken.join("\n")).toBe(true);
  });

  it("server that ignores silent connections", () => {
    const result = fc.check(
      fc.property(fc.integer({ min: 1_000, max: 10_000 }), fc.integer({ min: 0, max: 20_000 }), fc.nat(), (interval, quietFor, seed) => {
        return silentPeerProblems(interval, quietFor, seed, brokenServer({ ignoreHeartbeatTimeout: true })).length === 0;
      }),
      { numRuns: 40 },
    );
    expect(result.failed).toBe(true);
    const [interval, quietFor, seed] = result.counterexample!;
    expect(silentPeerProblems(interval, quietFor, seed, brokenServer({ ignoreHeartbeatTimeout: true })).join("\n")).toMatch(/HB-3/);
  });
});
