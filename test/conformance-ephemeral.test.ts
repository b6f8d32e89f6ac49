import { describe, expect, it } from "vitest";
import type { ServerMachineFactory } from "../src/machines/server/server-machine.js";
import { allTests, select } from "../src/conformance/suite/catalogue.js";
import { ofStatus, runConformance } from "./support/conformance-run.js";
import { brokenEphemeral } from "./support/broken-servers.js";

/**
 * The runner's typing and presence tests (SPEC.md §15.1, EPH-1 to EPH-5)
 * against the embedded reference server: all pass; on a server without
 * FEATURE_EPHEMERAL every EPH test is unsupported, never failed; and a server
 * with a typing or presence bug planted fails the test of the requirement it
 * breaks.
 */

const run = (machine?: ServerMachineFactory) => runConformance(["--only", "EPH"], machine);
const ephTests = select(allTests, ["EPH"], []);

describe("the conformance runner's typing and presence tests (EPH-1 to EPH-5)", () => {
  it("the reference server passes every one, over TCP and WebSocket; a server without FEATURE_EPHEMERAL has every one unsupported, none failed; planted bugs fail the test of the requirement they break", async () => {
    expect(ephTests.length).toBeGreaterThanOrEqual(5);
    expect(ephTests.every((t) => t.group === "ephemeral")).toBe(true);
    expect(new Set(ephTests.flatMap((t) => t.requirements.filter((r) => r.startsWith("EPH-"))))).toEqual(new Set(["EPH-1", "EPH-2", "EPH-3", "EPH-4", "EPH-5"]));

    // (a) The reference server: every test passes on both transports.
    const reference = await run();
    expect(ofStatus(reference.results, "fail")).toEqual([]);
    expect(reference.results).toHaveLength(2 * ephTests.length);
    expect(reference.results.every((r) => r.outcome.status === "pass")).toBe(true);
    expect(reference.status).toBe(0);

    // (b) Without the feature: unsupported, never failed.
    const without = await run(brokenEphemeral({ withoutFeature: true }));
    expect(ofStatus(without.results, "fail")).toEqual([]);
    expect(without.results).toHaveLength(2 * ephTests.length);
    for (const r of without.results) {
      expect(r.outcome.status, r.id).toBe("unsupported");
      expect(r.outcome).toMatchObject({ reason: expect.stringMatching(/FEATURE_EPHEMERAL/) });
    }
    expect(without.status).toBe(0);

    // (c) Planted bugs, each caught by the test of the requirement it breaks.
    const planted: [string, ServerMachineFactory, string][] = [
      ["typing sent to a device that stopped viewing", brokenEphemeral({ staleViewers: true }), "EPH-2/typing-to-foreground-viewers-only"],
      ["a hidden user's presence still sent, and others' to it", brokenEphemeral({ hiddenIgnored: true }), "EPH-5/hidden-presence-sent-to-no-one"],
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
