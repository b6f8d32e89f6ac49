import { randomUUID } from "node:crypto";
import { describe, it } from "vitest";
import { PostgresStore, type PostgresStoreOptions } from "../../src/store/postgres/postgres-store.js";
import { SyncPostgres } from "../../src/store/postgres/sync-postgres.js";

/** The database the PostgreSQL suites run against (a role that may CREATE SCHEMA); unset, they do not run. */
export const POSTGRES_URL = process.env.IMWIRE_POSTGRES_URL;

/**
 * Define a suite that needs PostgreSQL. Without IMWIRE_POSTGRES_URL it is
 * skipped locally, under a name that says why; on CI (CI set) it FAILS,
 * so that a pipeline that lost its database does not pass by skipping.
 */
export function withPostgres(suiteName: string, define: () => void): void {
  if (POSTGRES_URL) {
    define();
    return;
  }
  if (process.env.CI) {
    describe(suiteName, () => {
      it("has a PostgreSQL to run against", () => {
        throw new Error("IMWIRE_POSTGRES_URL is not set: CI must run the PostgreSQL suites (set it to a database whose role may CREATE SCHEMA)");
      });
    });
    return;
  }
  describe.skip(`${suiteName} (skipped: IMWIRE_POSTGRES_URL is not set)`, () => {
    it("runs against PostgreSQL", () => {});
  });
}

const schemas = new WeakMap<PostgresStore, string>();

/** A fresh random schema's name: each store the tests open starts empty and leaves nothing behind. */
export function freshSchema(): string {
  return `imwire_test_${randomUUID().replaceAll("-", "")}`;
}

/** A PostgresStore on a fresh schema of its own (or on `schema`, to open a second node or reopen one). */
export function openTestPostgresStore(options: PostgresStoreOptions = {}): PostgresStore {
  const schema = options.schema ?? freshSchema();
  const store = PostgresStore.open(requiredUrl(), { ...options, schema });
  schemas.set(store, schema);
  return store;
}

/** Close the store and drop its schema. */
export function closeTestPostgresStore(store: PostgresStore): void {
  store.close();
  const schema = schemas.get(store);
  if (schema !== undefined) dropSchema(schema);
}

let admin: SyncPostgres | undefined;

/** Drop a test schema and everything in it. */
export function dropSchema(schema: string): void {
  admin ??= new SyncPostgres(requiredUrl());
  admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

function requiredUrl(): string {
  if (!POSTGRES_URL) throw new Error("IMWIRE_POSTGRES_URL is not set");
  return POSTGRES_URL;
}
