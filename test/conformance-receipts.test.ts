import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { ServerMachineFactory } from "../src/machines/server/server-machine.js";
import { allTests, select } from "../src/conformance/suite/catalogue.js";
import { EMBEDDED_LIMITS, EMBEDDED_PROTOCOL } from "../src/conformance/embedded-server.js";
import { startReferenceServer } from "../src/server/reference-server.js";
import { MemoryStore } from "../src/store/memory-store.js";
import { ofStatus, runConformance } from "./support/conformance-run.js";
import { brokenReceipts, brokenServer } from "./support/broken-servers.js";

/**
 * The runner's receipt tests (SPEC.md §16.1, RCPT-2 to RCPT-5) against the
 * reference server: all pass on the embedded server (SQLite) and on one on
 * a MemoryStore reached as a --target with a profile (limits.receiptMembers
 * declared); on a server without FEATURE_RECEIPTS every one is unsupported,
 * never failed; and a server with a receipt bug planted fails the test of
 * the requirement it breaks.
 */

const run = (machine?: ServerMachineFactory, args: readonly string[] = []) => runConformance(["--only", "receipts", ...args], machine);
const tests = select(allTests, ["receipts"], []);

describe("the conformance runner's receipt tests (RCPT-2 to RCPT-5)", () => {
  it("cover RCPT-2 to RCPT-5 in the group receipts, RCPT-3 as recommended (a SHOULD)", () => {
    expect(new Set(tests.flatMap((t) => t.requirements.filter((r) => r.startsWith("RCPT-"))))).toEqual(new Set(["RCPT-2", "RCPT-3", "RCPT-4", "RCPT-5"]));
    expect(tests.every((t) => t.group === "receipts")).toBe(true);
    expect(tests.filter((t) => t.level === "recommended").map((t) => t.requirements[0])).toEqual(["RCPT-3"]);
    // The embedded server's bound is small, so that the above-the-bound test builds a group of five, not of 101.
    expect(EMBEDDED_LIMITS.receiptMembers).toBe(4);
  });

  it("the reference server passes every one, on SQLite (embedded) and in memory (--target with a profile), over TCP and WebSocket", async () => {
    const embedded = await run();
    expect(ofStatus(embedded.results, "fail"), embedded.output).toEqual([]);
    expect(embedded.results).toHaveLength(2 * tests.length);
    expect(embedded.results.every((r) => r.outcome.status === "pass"), embedded.output).toBe(true);
    expect(embedded.status).toBe(0);

    const secret = "receipts-conformance-secret";
    const server = await startReferenceServer({ tcp: { port: 0 }, ws: { port: 0 }, store: new MemoryStore("receipts-conformance"), secret, protocol: EMBEDDED_PROTOCOL });
    const dir = mkdtempSync(join(tmpdir(), "imwire-receipts-"));
    try {
      const profile = join(dir, "profile.json");
      writeFileSync(profile, JSON.stringify({ features: ["channels"], limits: EMBEDDED_LIMITS }));
      const memory = await run(undefined, ["--target", server.urls.tcp!, "--target", server.urls.ws!, "--secret", secret, "--profile", profile]);
      expect(ofStatus(memory.results, "fail"), memory.output).toEqual([]);
      expect(memory.results).toHaveLength(2 * tests.length);
      expect(memory.results.every((r) => r.outcome.status === "pass"), memory.output).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await server.close();
    }
  }, 120_000);

  it("without FEATURE_RECEIPTS every one is unsupported, never failed", async () => {
    const without = await run(brokenReceipts({ withoutFeature: true }));
    expect(ofStatus(without.results, "fail")).toEqual([]);
    expect(without.results).toHaveLength(2 * tests.length);
    for (const r of without.results) {
      expect(r.outcome.status, r.id).toBe("unsupported");
      expect(r.outcome).toMatchObject({ reason: expect.stringMatching(/FEATURE_RECEIPTS/) });
    }
    expect(without.status).toBe(0);
  }, 60_000);

  it("planted bugs fail the test of the requirement they break", async () => {
    const planted: [string, ServerMachineFactory, string[]][] = [
      ["a delivered position set to the conversation's last seq on any report", brokenServer({ deliveredToLast: true }), ["RCPT-2/delivered-position-kept"]],
      ["no delivered position kept", brokenServer({ forgetDelivered: true }), ["RCPT-2/delivered-position-kept", "RCPT-4/members-in-utf8-order-and-counts", "RCPT-5/above-the-bound-counts-only"]],
      ["a channel's members listed", brokenReceipts({ channelMembersListed: true }), ["RCPT-5/channel-counts-only"]],
      ["members in UTF-16 order", brokenReceipts({ utf16Order: true }), ["RCPT-4/members-in-utf8-order-and-counts"]],
      ["PERMISSION_DENIED answered as NOT_FOUND", brokenServer({ wrongErrorCodes: true }), ["RCPT-4/only-members-and-readable-seqs"]],
    ];
    for (const [name, machine, caughtBy] of planted) {
      const broken = await run(machine);
      const failed = ofStatus(broken.results, "fail");
      expect(failed, name).toEqual(expect.arrayContaining(caughtBy.flatMap((test) => [`tcp ${test}`, `ws ${test}`])));
      expect(broken.status, name).toBe(1);
      expect(broken.output, name).toMatch(/DOES NOT CONFORM/);
    }
  }, 180_000);
});
