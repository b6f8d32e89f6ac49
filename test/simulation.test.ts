import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ConversationKind } from "../src/gen/imwire/v1/conversation_pb.js";
import { checkStateEquivalence } from "../src/sim/checks.js";
import { runScenario, type Scenario } from "../src/sim/scenario.js";
import { Simulation, perfectLink } from "../src/sim/simulation.js";
import { faultsArb, scenarioArb } from "./support/scenarios.js";
import { silentPeerProblems } from "./support/heartbeat.js";

/**
 * The protocol's promises, checked by simulation (issue properties 1 to 8;
 * 9, membership intervals, and 10, push latency, in src/sim/checks.ts)
 * over random conversations, memberships, sends and fault schedules, under
 * write and read fan-out (CUR-7, CUR-8) with version 1.0 and feature-
 * negotiating devices mixed (test/simulation-read-fan-out.test.ts): links
 * that lose up to 30% of frames, duplicate up to 20%, reorder by up to
 * 150 ms; connections dropped, devices partitioned and black-holed, the
 * server restarted. Each run ends by healing the network and letting the
 * world settle; property 5's bound is that it settles within 60 virtual
 * seconds of healing.
 *
 * A failure prints the scenario; `npm run sim:replay -- '<scenario>'`
 * replays it exactly with its frame trace.
 */

const RUNS = Number(process.env.SIM_RUNS ?? 150);

function replayHint(scenario: Scenario): string {
  return `replay with: npm run sim:replay -- '${JSON.stringify(scenario)}'`;
}

describe("SEQ-2 SEQ-4 DLV-1 IDEM-2 CUR-5 ACK-2 CONV-8 CUR-7: properties 1-5 and 7-10 over random fault schedules (server restarts keep the store)", () => {
  it("order, no duplicates, no loss, idempotent sends, liveness, state equivalence, counters, intervals, push latency", () => {
    fc.assert(
      fc.property(scenarioArb(), (scenario) => {
        const report = runScenario(scenario, { checkEquivalence: true });
        expect(report.violations, replayHint(scenario)).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });

  it("the schedules are not trivial: they carry traffic, faults and recoveries", () => {
    let frames = 0;
    let events = 0;
    let resyncs = 0;
    let reconnects = 0;
    for (const scenario of fc.sample(scenarioArb(), { numRuns: 30, seed: 7 })) {
      const report = runScenario(scenario);
      frames += report.frames;
      events += report.events;
      resyncs += report.sim.devices.reduce((n, d) => n + d.resyncs, 0);
      reconnects += report.sim.closes.length;
    }
    expect(frames).toBeGreaterThan(10_000);
    expect(events).toBeGreaterThan(1_000);
    expect(resyncs).toBeGreaterThan(30);
    expect(reconnects).toBeGreaterThan(30);
  });
});

describe("schedules npm run soak found failing, kept as regressions (test/fixtures/soak-*.json)", () => {
  const dir = new URL("./fixtures/", import.meta.url);
  const found = readdirSync(dir).filter((name) => name.startsWith("soak-") && name.endsWith(".json"));
  it("there is at least one", () => expect(found.length).toBeGreaterThan(0));
  for (const name of found) {
    it(name, () => {
      const scenario = JSON.parse(readFileSync(new URL(name, dir), "utf8")) as Scenario;
      expect(runScenario(scenario, { checkEquivalence: true }).violations).toEqual([]);
    });
  }
});

describe("HB-3 HB-4: property 6, a silent peer is detected within 1.5 heartbeat intervals", () => {
  it("a black-holed connection is closed by the server and abandoned by the client in time", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1_000, max: 10_000 }), fc.integer({ min: 0, max: 20_000 }), fc.nat(), (interval, quietFor, seed) => {
        expect(silentPeerProblems(interval, quietFor, seed)).toEqual([]);
      }),
      { numRuns: 40 },
    );
  });

  it("a healthy idle connection is never closed", () => {
    const sim = new Simulation({ seed: 3, users: 2, devicesPerUser: 2, server: { heartbeatIntervalMs: 1_000 } });
    sim.run(600_000);
    expect(sim.closes).toEqual([]);
    expect(sim.devices.every((d) => d.client.status === "ready")).toBe(true);
  });
});

describe("CUR-4 SYNC-4: property 8, an epoch change always leads to a full resync", () => {
  it("after the server loses its state, every device resynchronises to the new epoch and matches a fresh device", () => {
    fc.assert(
      fc.property(scenarioArb({ maxSteps: 20 }), fc.nat(), fc.boolean(), (base, at, faulty) => {
        const steps = [...base.steps];
        steps.splice(2 + (at % Math.max(1, steps.length - 1)), 0, { after: 200, action: { kind: "restartServer", loseState: true } });
        const after: Scenario["steps"] = [
          { after: 500, action: { kind: "createGroup", user: 0, device: 0, members: [1, 2] } },
          { after: 2_000, action: { kind: "send", user: 1, device: 0, conversation: 0, count: 3 } },
        ];
        const scenario: Scenario = { ...base, faults: faulty ? base.faults : perfectLink, steps: [...steps, ...after] };
        const report = runScenario(scenario, { serverLosesState: true });
        const { sim } = report;
        const problems = [...report.violations];
        const loss = sim.stateLosses[0]!;
        for (const device of sim.devices) {
          if (device.client.epoch !== sim.store.epoch(device.userId)) problems.push(`${device.deviceId} is on epoch ${device.client.epoch}`);
          const then = loss.devices.get(device);
          if (then?.epoch !== undefined && device.resyncs <= then.resyncs) problems.push(`${device.deviceId} held epoch ${then.epoch} and never resynchronised`);
          for (const id of device.client.conversations().keys()) {
            if (!sim.store.conversation(id)) problems.push(`${device.deviceId} still shows ${id}, which the new epoch does not have`);
          }
        }
        if (problems.length === 0) problems.push(...checkStateEquivalence(sim, sim.now + 60_000));
        expect(problems, replayHint(scenario)).toEqual([]);
      }),
      { numRuns: 40 },
    );
  });
});

describe("FLOW-2: a device that stops acknowledging holds at most the window", () => {
  it("the server pushes no more than receive_window unacknowledged entries", () => {
    let pushedToSlow = 0;
    const sim = new Simulation({
      seed: 5,
      users: 2,
      devicesPerUser: 1,
      faults: perfectLink,
      server: { receiveWindow: 8 },
      onTrace: (line) => {
        if (line.includes("← u1d0 deliver")) pushedToSlow++;
      },
    });
    sim.run(1_000);
    const [sender, slow] = sim.devices;
    sender!.client.open({ kind: ConversationKind.DIRECT, userIds: [slow!.userId] }, sim.now);
    sim.run(2_000);
    sim.blackhole(slow!); // the slow device neither reads nor acknowledges
    const conversationId = sim.conversationIds()[0]!;
    for (let i = 0; i < 50; i++) sender!.client.send(conversationId, { kind: { case: "text", value: { text: `m${i}` } } }, sim.now);
    const pushedBefore = pushedToSlow;
    sim.run(sim.now + 1_500);
    expect(sender!.acked.size + sender!.client.pendingOperations).toBe(50);
    expect(sender!.acked.size).toBe(50);
    expect(pushedToSlow - pushedBefore).toBeLessThanOrEqual(8);
    expect(pushedToSlow - pushedBefore).toBeGreaterThan(0);
  });
});

describe("random faults alone (no actions) never break a quiet world", () => {
  it("devices stay ready or recover under any fault mix", () => {
    fc.assert(
      fc.property(faultsArb, fc.nat(), (faults, seed) => {
        const report = runScenario({ seed, users: 3, devicesPerUser: 2, faults, steps: [] }, { checkEquivalence: true });
        expect(report.violations).toEqual([]);
      }),
      { numRuns: 20 },
    );
  });
});
