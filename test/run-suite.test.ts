import { describe, expect, it } from "vitest";
import type { Target } from "../src/conformance/suite/context.js";
import { runSuite } from "../src/conformance/suite/run-suite.js";
import { FEATURES, type ConformanceTest } from "../src/conformance/suite/types.js";

/** The runner's scheduling, with tests that only record when they ran. */
function recorder() {
  const log: string[] = [];
  let running = 0;
  const test = (id: string, hooks?: ConformanceTest["hooks"]): ConformanceTest => ({
    id,
    requirements: ["HOOK-4"],
    level: "required",
    group: "g",
    title: id,
    ...(hooks ? { hooks } : {}),
    async run() {
      running++;
      log.push(`${id} starts with ${running - 1} others running`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      running--;
    },
  });
  return { log, test };
}

const target = (hooks: Target["hooks"]): Target => ({ url: "tcp://127.0.0.1:1", dial: {}, tokens: async () => "t", features: new Set(FEATURES), runId: "r", hooks });

describe("HOOK-4: tests that restart or shut down the server run alone, after the others; undeclared hooks are unsupported", () => {
  it("runs restarting tests last, one at a time, while the rest run four at once", async () => {
    const { log, test } = recorder();
    const tests = [test("restart-1", ["restart"]), ...Array.from({ length: 8 }, (_, i) => test(`plain-${i}`)), test("shutdown-1", ["shutdown", "restart"]), test("webhook-1", ["pushWebhook"])];
    const results = await runSuite({ targets: [target({ restart: async () => {}, shutdown: async () => {}, pushWebhook: "http://127.0.0.1:1/p" })], tests, seed: 1, timeoutMs: 1_000, concurrency: 4 });
    expect(results.map((r) => r.outcome.status)).toEqual(tests.map(() => "pass"));
    const order = log.map((line) => line.split(" ")[0]);
    expect(order.slice(-2).sort()).toEqual(["restart-1", "shutdown-1"]);
    expect(log.filter((line) => /^(restart|shutdown)/.test(line)).every((line) => line.endsWith("with 0 others running"))).toBe(true);
    expect(log.some((line) => /^plain.*with 3 others running/.test(line))).toBe(true);
    // A webhook does not change the server: that test runs with the others.
    expect(order.indexOf("webhook-1")).toBeLessThan(order.length - 2);
  });

  it("reports a test whose hooks the profile does not declare as unsupported, never run", async () => {
    const { log, test } = recorder();
    const results = await runSuite({ targets: [target({ restart: async () => {} })], tests: [test("needs-shutdown", ["shutdown", "restart"]), test("needs-webhook", ["pushWebhook"])], seed: 1, timeoutMs: 1_000 });
    expect(results.map((r) => r.outcome)).toEqual([
      { status: "unsupported", reason: "the server's profile does not declare the shutdown hook" },
      { status: "unsupported", reason: "the server's profile does not declare the pushWebhook hook" },
    ]);
    expect(log).toEqual([]);
  });
});
