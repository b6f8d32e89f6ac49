import fc from "fast-check";
import { ReceiveMode } from "../../src/gen/imwire/v1/settings_pb.js";
import type { Action, Scenario, Step } from "../../src/sim/scenario.js";

/** fast-check arbitraries for simulation scenarios; shrinking removes steps and softens faults. */

const who = { user: fc.nat({ max: 7 }), device: fc.nat({ max: 3 }) };
const index = fc.nat({ max: 9 });

export const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("createGroup" as const), ...who, members: fc.array(fc.nat({ max: 7 }), { maxLength: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("createDirect" as const), ...who, peer: fc.nat({ max: 7 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("createChannel" as const), ...who }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("subscribe" as const), ...who, channel: index }) },
  // Often enough that, under a low read fan-out threshold, groups cross it mid-run (CUR-8).
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("addMembers" as const), ...who, conversation: index, members: fc.array(fc.nat({ max: 7 }), { minLength: 1, maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("leave" as const), ...who, conversation: index }) },
  { weight: 10, arbitrary: fc.record({ kind: fc.constant("send" as const), ...who, conversation: index, count: fc.integer({ min: 1, max: 4 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("setMode" as const),
      ...who,
      conversation: fc.option(index, { nil: null }),
      mode: fc.constantFrom(ReceiveMode.UNSPECIFIED, ReceiveMode.FULL, ReceiveMode.NOTIFY_ONLY, ReceiveMode.MUTED),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("setBackground" as const), ...who, background: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("markRead" as const), ...who, conversation: index }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("drop" as const), ...who }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("partition" as const), ...who, ms: fc.integer({ min: 100, max: 10_000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("blackhole" as const), ...who }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("restartServer" as const), loseState: fc.constant(false) }) },
  // CLI-5: a device's process killed at any point, and restarted from what it persisted.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("restartClient" as const), ...who }) },
  // HIS-2, THR-1: history visibility changes (FROM_JOIN, LAST_EVENTS, FULL) and thread replies.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("setHistory" as const), ...who, conversation: index, visibility: fc.constantFrom(1, 2, 3), events: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("hide" as const), ...who, conversation: index, message: fc.nat({ max: 20 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("threadReply" as const), ...who, conversation: index, message: fc.nat({ max: 20 }) }) },
  // ACT-1 to ACT-5: edits, redactions and reactions of earlier messages, as often as a quarter of the sends.
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom("edit" as const, "redact" as const), ...who, conversation: index, message: fc.nat({ max: 20 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("react" as const), ...who, conversation: index, message: fc.nat({ max: 20 }), remove: fc.boolean() }) },
);

const stepArb: fc.Arbitrary<Step> = fc.record({ after: fc.integer({ min: 0, max: 1_500 }), action: actionArb });

const percent = (max: number) => fc.integer({ min: 0, max }).map((n) => n / 100);

export const faultsArb = fc.record({
  loss: percent(30),
  duplicate: percent(20),
  delayMs: fc.integer({ min: 1, max: 40 }),
  jitterMs: fc.integer({ min: 0, max: 150 }),
});

export interface ScenarioArbOptions {
  readonly maxSteps?: number;
  readonly maxUsers?: number;
  /** Steps that always come first, so that conversations exist to act on. */
  readonly prelude?: readonly Step[];
  /** fast-check's size for the step list (default "medium": tens of steps). */
  readonly size?: fc.SizeForArbitrary;
}

/** Random scenarios: 2 to 4 users, 1 or 2 devices each, up to `maxSteps` actions under random faults. */
export function scenarioArb(options: ScenarioArbOptions = {}): fc.Arbitrary<Scenario> {
  const prelude = options.prelude ?? [
    { after: 0, action: { kind: "createGroup", user: 0, device: 0, members: [1, 2, 3] } },
    { after: 0, action: { kind: "createDirect", user: 1, device: 0, peer: 0 } },
    // A group of two that grows seconds later: over a threshold of 2 or 3, it moves to read fan-out then (CUR-8).
    // Whichever of the two groups the server made first, one of these adds to it; the other group has everyone already.
    { after: 0, action: { kind: "createGroup", user: 2, device: 0, members: [0] } },
    { after: 2_500, action: { kind: "addMembers", user: 2, device: 0, conversation: 0, members: [1, 2, 3] } },
    { after: 0, action: { kind: "addMembers", user: 2, device: 0, conversation: 1, members: [1, 2, 3] } },
  ];
  return fc
    .record({
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      users: fc.integer({ min: 2, max: options.maxUsers ?? 4 }),
      devicesPerUser: fc.integer({ min: 1, max: 2 }),
      faults: faultsArb,
      steps: fc.array(stepArb, { maxLength: options.maxSteps ?? 60, size: options.size ?? "medium" }),
      // CUR-7, CUR-8: the default threshold (nothing but channels under read fan-out) in a third of the runs; in the rest, groups above 2 or 3 members are under it.
      readFanOutMembers: fc.constantFrom(undefined, 2, 3),
      // EXT-5, SYNC-8: some devices are version 1.0 clients without features.
      featurelessDevices: fc.uniqueArray(fc.nat({ max: 7 }), { maxLength: 4 }),
    })
    .map(({ readFanOutMembers, ...s }) => ({ ...s, ...(readFanOutMembers === undefined ? {} : { readFanOutMembers }), steps: [...prelude, ...s.steps] }));
}
