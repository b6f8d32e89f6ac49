/**
 * Loaded into a `serve` child with `--import` (bench/support/serve-node.ts
 * does it for bench/cluster.bench.ts): it times the PostgreSQL store's
 * writer lock from inside the node, where it is taken. Every outermost
 * transaction opens with one round trip, `BEGIN; SELECT … FROM counters
 * WHERE name = 'cursor' FOR UPDATE` (PostgresSession), and holds the row to
 * COMMIT or ROLLBACK; SyncPostgres.query runs each statement synchronously,
 * so wrapping it sees both ends:
 *
 * - hold: from BEGIN's answer (the lock is ours) to COMMIT's answer (it is
 *   released). Each end is half a round trip after PostgreSQL's own event,
 *   so the interval's length is the lock's hold time as PostgreSQL sees it;
 * - wait: BEGIN's round trip, which is mostly waiting for the lock while
 *   another node holds it;
 * - requests: SAVEPOINTs in the transaction (group commit gives each request
 *   of a batch one), so requests per commit.
 *
 * The figures go to the parent over the IPC channel, on request, and are
 * reset by each report. The wrapper adds two performance.now() calls per
 * statement: nothing beside a loopback round trip.
 */
import { SyncPostgres } from "../../src/store/postgres/sync-postgres.js";

export interface LockReport {
  /** Outermost transactions ended (commits and rollbacks), since the last report. */
  readonly commits: number;
  /** Each one's hold, ms. */
  readonly holdMs: number[];
  /** Sum of BEGIN round trips (lock wait included), ms. */
  readonly waitMs: number;
  /** SAVEPOINTs (requests of group-commit batches) in them. */
  readonly savepoints: number;
  /** Statements run inside them, BEGIN and COMMIT included. */
  readonly statements: number;
  /** Every statement the node ran (inside a transaction or not), by its SQL's first 120 characters: count and round-trip ms. */
  readonly bySql: Record<string, { count: number; ms: number }>;
}

let holdMs: number[] = [];
let waitMs = 0;
let savepoints = 0;
let statements = 0;
let lockedAt: number | undefined;
let bySql: Record<string, { count: number; ms: number }> = {};

const query = SyncPostgres.prototype.query;
SyncPostgres.prototype.query = function timedQuery<R>(this: SyncPostgres, sql: string, params?: readonly unknown[]) {
  const begins = sql.startsWith("BEGIN;");
  const start = performance.now();
  let ok = false;
  try {
    const result = query.call(this, sql, params) as ReturnType<typeof query<R>>;
    ok = true;
    return result;
  } finally {
    const end = performance.now();
    const key = sql.replace(/\s+/g, " ").trim().slice(0, 120);
    const entry = (bySql[key] ??= { count: 0, ms: 0 });
    entry.count++;
    entry.ms += end - start;
    if (begins) {
      waitMs += end - start;
      if (ok) {
        lockedAt = end;
        statements++;
      }
    } else if (lockedAt !== undefined) {
      statements++;
      if (sql.startsWith("SAVEPOINT")) savepoints++;
      // A failed statement other than COMMIT leaves the transaction open (to be rolled back); a failed COMMIT ends it.
      if (sql === "COMMIT" || sql === "ROLLBACK") {
        holdMs.push(end - lockedAt);
        lockedAt = undefined;
      }
    }
  }
} as typeof query;

process.on("message", (message: unknown) => {
  if (message !== "lock-report") return;
  const report: LockReport = { commits: holdMs.length, holdMs, waitMs, savepoints, statements, bySql };
  bySql = {};
  holdMs = [];
  waitMs = 0;
  savepoints = 0;
  statements = 0;
  process.send?.({ lockReport: report });
});
