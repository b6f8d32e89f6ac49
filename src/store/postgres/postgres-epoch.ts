import { randomUUID } from "node:crypto";
import type { PostgresSession } from "./postgres-session.js";
import { PostgresError } from "./sync-postgres.js";

/**
 * CUR-4, CLU-4: the epoch is born with the schema (postgres-schema.ts), so
 * it changes when the stored state is lost. A database restored from an
 * older backup brings its old epoch back with an older cursor counter:
 * devices holding later cursors would go on from positions that now name
 * other entries. Two checks renew the epoch then:
 * - at open, a fingerprint of the database instance kept beside the epoch
 *   (this file): a restore into another cluster, onto a new timeline or into
 *   another database or table no longer matches it;
 * - at a cluster node's start, the cursor watermark the nodes keep outside
 *   the database (src/cluster/cursor-watermark.ts), for a file-level copy
 *   restored over the same instance: a counter below it went back in time.
 */

/**
 * Where the store's tables live, as PostgreSQL identifies it. A part the
 * role may not read (a managed service may revoke pg_control_system) is
 * null, and is not compared: that check is lost, never a refusal to start.
 */
export interface DatabaseFingerprint {
  /** initdb's system identifier: a base backup keeps it; another cluster (pg_upgrade's new one included) has its own. */
  readonly system: string | null;
  /** The timeline WAL is written on: point-in-time recovery and a standby's promotion start a new one. */
  readonly timeline: string | null;
  /** The database's OID: a dump restored into a recreated database gets a new one. */
  readonly database: string | null;
  /** The meta table's OID: a dump restored anywhere, the same database included, creates the table anew. */
  readonly meta: string | null;
}

type Part = keyof DatabaseFingerprint;

/**
 * One statement per part. The timeline is read from the name of the WAL
 * segment being written, which follows a promotion at once (PostgreSQL 15's
 * pg_walfile_name takes the insertion timeline), where
 * pg_control_checkpoint() lags until the next checkpoint.
 */
const FINGERPRINT_PARTS: Readonly<Record<Part, string>> = {
  system: "SELECT system_identifier::text AS v FROM pg_control_system()",
  timeline: "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) AS v",
  database: "SELECT oid::text AS v FROM pg_database WHERE datname = current_database()",
  meta: "SELECT 'meta'::regclass::oid::text AS v",
};
const PARTS = Object.keys(FINGERPRINT_PARTS) as Part[];

/**
 * Cursors skipped past a cursor watermark when the counter is raised above
 * it: the watermark trails what was handed out by up to a raise interval of
 * commits (~100 ms), more if a node crashed before raising it. Cursors need
 * not be contiguous (CUR-2) and stay far below 2^53 after any number of
 * restores.
 */
export const CURSOR_MARGIN_AFTER_RESTORE = 1_000_000;

const SQL = {
  meta: "SELECT key, value FROM meta WHERE key IN ('epoch', 'fingerprint')",
  setEpoch: "UPDATE meta SET value = $1 WHERE key = 'epoch'",
  setFingerprint: "INSERT INTO meta (key, value) VALUES ('fingerprint', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
  cursor: "SELECT value FROM counters WHERE name = 'cursor'",
  setCursor: "UPDATE counters SET value = $1 WHERE name = 'cursor'",
  schema: "SELECT current_schema() AS schema",
  // The epoch and the counter in one snapshot: what the watermark is raised to, under the epoch it belongs to.
  committedPosition: "SELECT (SELECT value FROM meta WHERE key = 'epoch') AS epoch, value AS cursor FROM counters WHERE name = 'cursor'",
  // A user brought into existence and the live epoch, in one round trip: a node sees another node's renewal at once.
  epochForUser: "WITH made AS (INSERT INTO users (user_id) VALUES ($1) ON CONFLICT DO NOTHING) SELECT value FROM meta WHERE key = 'epoch'",
} as const;

export { SQL as EPOCH_SQL };

/** The fingerprint of the database the session is connected to, each part null when the role may not read it. */
export function liveFingerprint(session: PostgresSession): DatabaseFingerprint {
  const parts = {} as Record<Part, string | null>;
  for (const part of PARTS) {
    try {
      parts[part] = session.query<{ v: string | null }>(FINGERPRINT_PARTS[part])[0]?.v ?? null;
    } catch (error) {
      // Refused (insufficient_privilege, a function this server lacks): this part cannot tell; a lost connection is thrown.
      if (!(error instanceof PostgresError)) throw error;
      parts[part] = null;
    }
  }
  return parts;
}

/** Whether two fingerprints may be of one database: no part both can read differs. */
export function sameDatabase(stored: DatabaseFingerprint, live: DatabaseFingerprint): boolean {
  return PARTS.every((part) => stored[part] === null || live[part] === null || stored[part] === live[part]);
}

/** What to record of a database found the same: a part unreadable now keeps its recorded value, so that a privilege granted again compares with the original. */
export function fingerprintToRecord(stored: DatabaseFingerprint | undefined, live: DatabaseFingerprint): DatabaseFingerprint {
  return Object.fromEntries(PARTS.map((part) => [part, live[part] ?? stored?.[part] ?? null])) as unknown as DatabaseFingerprint;
}

/** What the store found at open (checkFingerprint). */
export interface EpochAtOpen {
  /** The epoch the database came with: the cluster's cursor watermark is kept under it. */
  readonly found: string;
  /** Set when the fingerprint did not match: the new epoch (the stored fingerprint is replaced). */
  readonly renewed?: string;
  /** current_schema(): with the epoch, names the store outside the database. */
  readonly schema: string;
}

/**
 * At open, under the writer lock (nodes opening at once agree: the first
 * renews and records the new fingerprint, the others then match it): the
 * epoch, renewed when the database is not the one it was born in. A store
 * with no fingerprint yet (new, or made before fingerprints) records it.
 */
export function checkFingerprint(session: PostgresSession): EpochAtOpen {
  const live = liveFingerprint(session);
  return session.transaction(() => {
    const meta = new Map(session.query<{ key: string; value: string }>(SQL.meta).map((row) => [row.key, row.value]));
    const found = meta.get("epoch")!;
    const { schema } = session.query<{ schema: string }>(SQL.schema)[0]!;
    const stored = meta.has("fingerprint") ? (JSON.parse(meta.get("fingerprint")!) as DatabaseFingerprint) : undefined;
    if (stored !== undefined && !sameDatabase(stored, live)) {
      const renewed = randomUUID();
      session.run(SQL.setEpoch, [renewed]);
      session.run(SQL.setFingerprint, [JSON.stringify(live)]);
      return { found, renewed, schema };
    }
    const text = JSON.stringify(fingerprintToRecord(stored, live));
    if (text !== meta.get("fingerprint")) session.run(SQL.setFingerprint, [text]);
    return { found, schema };
  });
}

/** What checkCursorWatermark did. */
export interface WatermarkCheck {
  /** The epoch was renewed: the counter was below the watermark of the epoch it still had. */
  readonly renewed?: string;
  /** The counter before it was raised past the watermark (absent: it was not behind). */
  readonly raisedFrom?: number;
}

/**
 * CLU-4: `watermark` is the highest cursor the cluster made durable under
 * `epoch`, as kept outside the database. A counter below it went back in
 * time: if the epoch is still `epoch`, it is renewed; either way (renewed
 * here, at open by the fingerprint, or by another node) the counter is
 * raised past the watermark, so that no cursor handed out before the
 * restore is handed out again. Under the writer lock, so nodes starting at
 * once renew once.
 */
export function checkCursorWatermark(session: PostgresSession, epoch: string, watermark: number): WatermarkCheck {
  return session.transaction(() => {
    const counter = session.query<{ value: number }>(SQL.cursor)[0]!.value;
    if (counter >= watermark) return {};
    session.run(SQL.setCursor, [watermark + CURSOR_MARGIN_AFTER_RESTORE]);
    const current = session.query<{ key: string; value: string }>(SQL.meta).find((row) => row.key === "epoch")!.value;
    if (current !== epoch) return { raisedFrom: counter };
    const renewed = randomUUID();
    session.run(SQL.setEpoch, [renewed]);
    return { renewed, raisedFrom: counter };
  });
}
