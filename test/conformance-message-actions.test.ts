import { describe, expect, it } from "vitest";
import type { ServerMachineFactory } from "../src/machines/server/server-machine.js";
import { allTests, select } from "../src/conformance/suite/catalogue.js";
import { ofStatus, runConformance } from "./support/conformance-run.js";
import { brokenMessageActions, brokenServer } from "./support/broken-servers.js";

/**
 * The runner's message-action tests (SPEC.md §8.1, ACT-1 to ACT-7) against
 * the embedded reference server: all pass; on a server without
 * FEATURE_MESSAGE_ACTIONS every ACT test is unsupported, never failed; and a
 * server with a message-action bug planted fails the test of the
 * requirement it breaks.
 */

const run = (machine?: ServerMachineFactory) => runConformance(["--only", "message-actions"], machine);
const actTests = select(allTests, ["message-actions"], []).filter((t) => t.id.startsWith("ACT-"));

describe("the conformance runner's message-action tests (ACT-1 to ACT-7)", () => {
  it("the reference server passes every one, over TCP and WebSocket; a server without FEATURE_MESSAGE_ACTIONS has every ACT test unsupported, none failed; planted bugs fail the test of the requirement they break", async () => {
    expect(actTests.length).toBeGreaterThanOrEqual(8);
    expect(new Set(actTests.flatMap((t) => t.requirements.filter((r) => r.startsWith("ACT-"))))).toEqual(new Set(["ACT-1", "ACT-2", "ACT-3", "ACT-4", "ACT-5", "ACT-6", "ACT-7"]));

    // (a) The reference server: every test passes on both transports.
    const reference = await run();
    expect(ofStatus(reference.results, "fail")).toEqual([]);
    expect(reference.results).toHaveLength(2 * select(allTests, ["message-actions"], []).length);
    expect(reference.results.every((r) => r.outcome.status === "pass")).toBe(true);
    expect(reference.status).toBe(0);

    // (b) Without the feature: unsupported, never failed; the EXT-5 check still holds (and passes).
    const without = await run(brokenMessageActions({ withoutFeature: true }));
    expect(ofStatus(without.results, "fail")).toEqual([]);
    const acts = without.results.filter((r) => r.id.startsWith("ACT-"));
    expect(acts).toHaveLength(2 * actTests.length);
    for (const r of acts) {
      expect(r.outcome.status, r.id).toBe("unsupported");
      expect(r.outcome).toMatchObject({ reason: expect.stringMatching(/FEATURE_MESSAGE_ACTIONS/) });
    }
    expect(without.results.filter((r) => !r.id.startsWith("ACT-")).map((r) => r.outcome.status)).toEqual(["pass", "pass"]);
    expect(without.status).toBe(0);

    // (c) Planted bugs, each caught by the test of the requirement it breaks.
    const planted: [string, ServerMachineFactory, string][] = [
      ["edits keep their content after a redaction", brokenMessageActions({ keepEditsOnRedaction: true }), "ACT-4/redaction-leaves-tombstones"],
      ["any member edits any message", brokenMessageActions({ anyoneEdits: true }), "ACT-3/edit-only-by-sender-within-window"],
      ["a retried action appends a second event", brokenServer({ skipDedup: true }), "ACT-1/action-answered-once-with-send-ack"],
    ];
    for (const [name, machine, test] of planted) {
      const broken = await run(machine);
      const failed = ofStatus(broken.results, "fail");
      expect(failed, name).toEqual(expect.arrayContaining([`tcp ${test}`, `ws ${test}`]));
      expect(broken.status, name).toBe(1);
      expect(broken.output, name).toMatch(/DOES NOT CONFORM/);
    }
  }, 120_000);
});
