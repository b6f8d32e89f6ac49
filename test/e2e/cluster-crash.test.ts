import { describe, expect, it } from "vitest";
import { formatClusterReport, runClusterCrash } from "../../scripts/cluster-crash.js";
import { POSTGRES_URL, withPostgres } from "../support/postgres.js";
import { expectNothingLost } from "../support/crash-report.js";
import { REDIS_URL, withRedis } from "../support/redis.js";

/**
 * CLU-1, CLU-3, SEQ-2, IDEM-2 end to end: `npm run crash:cluster`, short. Three `imwire serve` processes
 * over one fresh PostgreSQL database and a Redis bus; 3 users × 3 devices, each user's devices on
 * different nodes; a random node is SIGKILLed at random moments and restarted, its devices failing over
 * to another node. Afterwards every acknowledged message is stored once, in order and gapless, every
 * device's application has every event once and in order, and every retry — sent to a node other than
 * the device's last — gets the first send_ack. The long run is `npm run crash:cluster -- --kills 25`.
 */
withPostgres("crash: kill -9 a node of a cluster under load", () => {
  withRedis("crash: kill -9 a node of a cluster under load", () => {
    describe("crash: kill -9 a node of a cluster under load (CLU-1, CLU-3, SEQ-2, IDEM-2)", () => {
      it("CLU-1 CLU-3 SEQ-2 IDEM-2: 3 nodes, 3 kills, seed 21: devices fail over; nothing acknowledged is lost, duplicated or out of order", async () => {
        const report = await runClusterCrash({ seed: 21, kills: 3, nodes: 3, users: 3, devicesPerUser: 3, postgresUrl: POSTGRES_URL!, redisUrl: REDIS_URL! });
        const table = formatClusterReport(report);
        expectNothingLost(report, 3, table);
        expect(report.failovers.length, table).toBeGreaterThan(0); // some kill found devices on its node
        expect(report.neverFailedOver, table).toBe(0);
      }, 150_000);

      it("the checks have teeth: nodes on databases of their own (no cluster) fail the run", async () => {
        const report = await runClusterCrash({ seed: 22, kills: 1, nodes: 3, users: 2, devicesPerUser: 2, postgresUrl: POSTGRES_URL!, redisUrl: REDIS_URL!, mutant: "splitStore", drainTimeoutMs: 3_000, maxLoadMs: 300 });
        expect(report.failures.length, formatClusterReport(report)).toBeGreaterThan(0);
      }, 90_000);
    });
  });
});
