import { expect } from "vitest";
import { formatReport, type CrashReport } from "../../scripts/crash.js";

/**
 * A crash run (scripts/crash.ts, scripts/cluster-crash.ts) that lost nothing: `kills` kills and restarts, every
 * send acknowledged and its retry checked, every device fed, no loss, duplicate, reorder or differing retry.
 */
export function expectNothingLost(report: CrashReport, kills: number, table = formatReport(report)): void {
  expect(report.failures, table).toEqual([]);
  expect(report.kills).toBe(kills);
  expect(report.restarts).toBe(kills);
  expect(report.acknowledged, table).toBeGreaterThan(0);
  expect(report.acknowledged, table).toBe(report.sent);
  expect(report.idempotencyChecked, table).toBe(report.acknowledged);
  expect([...report.deliveredPerDevice.values()].every((n) => n > 0), table).toBe(true);
  expect({ lost: report.lost, duplicated: report.duplicated, outOfOrder: report.outOfOrder, mismatched: report.mismatched, incomplete: report.incomplete, retryAnsweredDifferently: report.idempotencyMismatches }).toEqual({
    lost: 0,
    duplicated: 0,
    outOfOrder: 0,
    mismatched: 0,
    incomplete: 0,
    retryAnsweredDifferently: 0,
  });
}
