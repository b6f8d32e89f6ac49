import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatReport, runCrash } from "../scripts/crash.js";
import { expectNothingLost } from "./support/crash-report.js";

/**
 * SEQ-2, IDEM-2, DLV-3 end to end: `npm run crash`, short. `imwire serve` on SQLite is killed with
 * SIGKILL under the load of 4 users × 2 devices running the reference client, restarted on the same file
 * and port; afterwards every acknowledged message is stored once, in order and gapless, every device's
 * application has every event of its conversations once and in order, and every retry gets the first
 * send_ack. The long run is `npm run crash -- --kills 25`.
 */
describe("crash: kill -9 the reference server under load (SEQ-2, IDEM-2, DLV-3)", () => {
  it("SEQ-2 IDEM-2: 3 kills, seed 11: nothing acknowledged is lost, duplicated or out of order", async () => {
    const report = await runCrash({ seed: 11, kills: 3, users: 4, devicesPerUser: 2 });
    expectNothingLost(report, 3);
    expect(report.retried, formatReport(report)).toBeGreaterThan(0); // sends were cut by the kills and went again
  }, 90_000);

  it("SEQ-2 IDEM-2 on the write-behind journal (--journal): 3 kills, seed 12: nothing acknowledged is lost, duplicated or out of order", async () => {
    expectNothingLost(await runCrash({ seed: 12, kills: 3, users: 4, devicesPerUser: 2, store: "journal" }), 3);
  }, 90_000);

  it("the checks have teeth: a server that forgets everything on restart (--memory) fails the run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "imwire-crash-test-"));
    const report = await runCrash({ seed: 5, kills: 1, users: 1, devicesPerUser: 1, mutant: "memory", drainTimeoutMs: 2_000, maxLoadMs: 300, db: join(dir, "unused.sqlite") }).finally(() => rmSync(dir, { recursive: true, force: true }));
    expect(report.failures.length).toBeGreaterThan(0);
    expect(report.lost, formatReport(report)).toBeGreaterThan(0);
  }, 60_000);
});
