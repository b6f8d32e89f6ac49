import { describe, expect, it } from "vitest";
import type { ServerMachineFactory } from "../src/machines/server/server-machine.js";
import { allTests, select } from "../src/conformance/suite/catalogue.js";
import { ofStatus, runConformance } from "./support/conformance-run.js";
import { brokenThreadsHistory } from "./support/broken-servers.js";

/**
 * The runner's thread and history-visibility tests (SPEC.md §8.2 THR-1 to
 * THR-4, §7.1 HIS-1 to HIS-3) against the embedded reference server: all
 * pass; on a server without FEATURE_THREADS and FEATURE_HISTORY_VISIBILITY
 * every one is unsupported, never failed; and a server with a thread or
 * history bug planted fails the test of the requirement it breaks.
 */

const run = (machine?: ServerMachineFactory) => runConformance(["--only", "THR,HIS"], machine);
const tests = select(allTests, ["THR", "HIS"], []);

describe("the conformance runner's thread and history-visibility tests (THR-1 to THR-4, HIS-1 to HIS-3)", () => {
  it("the reference server passes every one, over TCP and WebSocket; a server without the features has every one unsupported, none failed; planted bugs fail the test of the requirement they break", async () => {
    expect(new Set(tests.flatMap((t) => t.requirements.filter((r) => /^(THR|HIS)-/.test(r))))).toEqual(new Set(["THR-1", "THR-2", "THR-3", "THR-4", "HIS-1", "HIS-2", "HIS-3"]));
    expect(tests.every((t) => t.group === "threads" || t.group === "history-visibility")).toBe(true);

    // (a) The reference server: every test passes on both transports.
    const reference = await run();
    expect(ofStatus(reference.results, "fail")).toEqual([]);
    expect(reference.results).toHaveLength(2 * tests.length);
    expect(reference.results.every((r) => r.outcome.status === "pass")).toBe(true);
    expect(reference.status).toBe(0);

    // (b) Without the features: unsupported, never failed.
    const without = await run(brokenThreadsHistory({ withoutFeatures: true }));
    expect(ofStatus(without.results, "fail")).toEqual([]);
    expect(without.results).toHaveLength(2 * tests.length);
    for (const r of without.results) {
      expect(r.outcome.status, r.id).toBe("unsupported");
      expect(r.outcome).toMatchObject({ reason: expect.stringMatching(r.id.startsWith("THR") ? /FEATURE_THREADS/ : /FEATURE_HISTORY_VISIBILITY/) });
    }
    expect(without.status).toBe(0);

    // (c) Planted bugs, each caught by the test of the requirement it breaks.
    const planted: [string, ServerMachineFactory, string][] = [
      ["a thread page with every event in its bounds", brokenThreadsHistory({ threadIncludesUnrelated: true }), "THR-2/thread-page-root-and-replies-only"],
      ["a thread marker that moves the conversation's", brokenThreadsHistory({ threadMarkerMovesConversation: true }), "THR-3/thread-marker-its-own"],
      ["LAST_EVENTS applied as FROM_JOIN", brokenThreadsHistory({ lastEventsAsFromJoin: true }), "HIS-3/start-fixed-when-added"],
    ];
    for (const [name, machine, test] of planted) {
      const broken = await run(machine);
      const failed = ofStatus(broken.results, "fail");
      expect(failed, name).toEqual(expect.arrayContaining([`tcp ${test}`, `ws ${test}`]));
      expect(broken.status, name).toBe(1);
      expect(broken.output, name).toMatch(/DOES NOT CONFORM/);
    }
  }, 180_000);
});
