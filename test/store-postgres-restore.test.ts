import { afterAll, afterEach, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { guardCursorWatermark, watermarkKey, type CursorWatermarkKeeper, type Schedule } from "../src/cluster/cursor-watermark.js";
import { RedisBus } from "../src/cluster/redis-bus.js";
import { ConversationKind } from "../src/gen/imwire/v1/conversation_pb.js";
import type { Frame } from "../src/gen/imwire/v1/frame_pb.js";
import { startReferenceServer, type ReferenceServer } from "../src/server/reference-server.js";
import { silentLogger } from "../src/server/logger.js";
import { CURSOR_MARGIN_AFTER_RESTORE, fingerprintToRecord, sameDatabase, type DatabaseFingerprint } from "../src/store/postgres/postgres-epoch.js";
import { PostgresStore } from "../src/store/postgres/postgres-store.js";
import { SyncPostgres } from "../src/store/postgres/sync-postgres.js";
import { dropSchema, freshSchema, POSTGRES_URL, withPostgres } from "./support/postgres.js";
import { rawLogin, type RawClient } from "./support/raw-client.js";
import { deadRedisUrl, REDIS_URL, withRedis } from "./support/redis.js";

/**
 * CUR-4, CLU-4: a database restored from an older backup changes the epoch.
 * Restored elsewhere (another database, a dump, a new timeline), the
 * fingerprint kept beside the epoch no longer matches at open; restored over
 * the same instance, the cursor counter is below the cluster's watermark in
 * Redis when a node starts. Reopening the same database changes nothing.
 */
const ref = (seq: number) => ({ case: "eventRef", conversationId: "g", seq }) as const;
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let adminConnection: SyncPostgres | undefined;
const admin = (): SyncPostgres => (adminConnection ??= new SyncPostgres(POSTGRES_URL!));
afterAll(() => adminConnection?.close());

/** A fresh schema (dropped after the test), and how to open a node on it (closed after the test). */
function freshStore(): { schema: string; node: (url?: string) => PostgresStore } {
  const schema = freshSchema();
  cleanups.push(() => dropSchema(schema));
  return { schema, node: (url = POSTGRES_URL!) => openNode(url, schema) };
}

function openNode(url: string, schema: string): PostgresStore {
  const store = PostgresStore.open(url, { schema });
  cleanups.push(() => store.close());
  return store;
}

const storedFingerprint = (schema: string): DatabaseFingerprint => JSON.parse(admin().query<{ value: string }>(`SELECT value FROM "${schema}".meta WHERE key = 'fingerprint'`).rows[0]!.value);
const setStoredFingerprint = (schema: string, fingerprint: DatabaseFingerprint) => admin().query(`UPDATE "${schema}".meta SET value = $1 WHERE key = 'fingerprint'`, [JSON.stringify(fingerprint)]);
const counter = (schema: string) => admin().query<{ value: number }>(`SELECT value FROM "${schema}".counters WHERE name = 'cursor'`).rows[0]!.value;

/** A database of its own, owned by the test role, dropped after the test: where a dump is restored. */
function freshDatabase(): string {
  const name = `imwire_restore_${randomUUID().replaceAll("-", "")}`;
  admin().query(`CREATE DATABASE ${name}`);
  cleanups.unshift(() => void admin().query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  const url = new URL(POSTGRES_URL!);
  url.pathname = `/${name}`;
  return url.toString();
}

/** pg_dump of one schema, restored with psql (as an operator restores a logical backup). */
function dumpAndRestore(schema: string, fromUrl: string, toUrl: string): void {
  const dump = execFileSync("pg_dump", ["--no-owner", "--no-privileges", `--schema=${schema}`, fromUrl]);
  execFileSync("psql", ["-q", "-v", "ON_ERROR_STOP=1", toUrl], { input: dump, stdio: ["pipe", "ignore", "pipe"] });
}

/** Every table of a schema, in creation order (so that foreign keys are satisfied when copied in that order). */
const tablesOf = (schema: string) => admin().query<{ name: string }>("SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY c.oid", [schema]).rows.map((r) => r.name);

/** A snapshot of a schema's rows, in a schema of its own (a backup), and putting it back over the same tables (a file-level restore: same instance, same OIDs). */
function snapshotOf(schema: string): { restore: () => void } {
  const snapshot = freshSchema();
  cleanups.push(() => dropSchema(snapshot));
  const tables = tablesOf(schema);
  admin().query(`CREATE SCHEMA "${snapshot}"`);
  for (const table of tables) admin().query(`CREATE TABLE "${snapshot}"."${table}" AS SELECT * FROM "${schema}"."${table}"`);
  return {
    restore() {
      admin().query(`TRUNCATE ${tables.map((t) => `"${schema}"."${t}"`).join(", ")}`);
      for (const table of tables) admin().query(`INSERT INTO "${schema}"."${table}" OVERRIDING SYSTEM VALUE SELECT * FROM "${snapshot}"."${table}"`);
    },
  };
}

withPostgres("a restored PostgreSQL database changes the epoch (CUR-4, CLU-4)", () => {
  describe("the fingerprint, at open", () => {
    it("reopening the same database keeps the epoch; the fingerprint is recorded, every part readable by this role", () => {
      const { schema, node } = freshStore();
      const first = node();
      const epoch = first.epoch("u");
      first.close();
      const again = node();
      expect(again.epoch("u")).toBe(epoch);
      expect(again.epochAtOpen).toEqual({ found: epoch, schema });
      const fingerprint = storedFingerprint(schema);
      expect(Object.values(fingerprint).every((part) => typeof part === "string" && part.length > 0)).toBe(true);
      expect(fingerprint.timeline).toMatch(/^[0-9A-F]{8}$/);
    });

    it("a fingerprint that does not match (another cluster): a new epoch, seen at once by a node already running; the next open keeps it", () => {
      const { schema, node } = freshStore();
      const running = node();
      const epoch = running.epoch("u");
      setStoredFingerprint(schema, { ...storedFingerprint(schema), system: "1234" });
      const restarted = node();
      const renewed = restarted.epochAtOpen.renewed!;
      expect(renewed).toBeDefined();
      expect(renewed).not.toBe(epoch);
      expect(restarted.epochAtOpen.found).toBe(epoch);
      expect(restarted.epoch("u")).toBe(renewed);
      expect(running.epoch("u")).toBe(renewed);
      expect(storedFingerprint(schema).system).not.toBe("1234");
      expect(node().epochAtOpen).toEqual({ found: renewed, schema });
    });

    it("a part that could not be read is not compared, and is recorded once it can be", () => {
      const { schema, node } = freshStore();
      const epoch = node().epoch("u");
      const live = storedFingerprint(schema);
      setStoredFingerprint(schema, { ...live, system: null, timeline: null });
      expect(node().epochAtOpen.renewed).toBeUndefined();
      expect(storedFingerprint(schema)).toEqual(live);
      expect(node().epoch("u")).toBe(epoch);
    });

    it("sameDatabase: any part both sides read that differs tells another database; unreadable parts tell nothing", () => {
      const a: DatabaseFingerprint = { system: "1", timeline: "00000001", database: "10", meta: "20" };
      expect(sameDatabase(a, { ...a })).toBe(true);
      for (const part of ["system", "timeline", "database", "meta"] as const) {
        expect(sameDatabase(a, { ...a, [part]: "x" })).toBe(false);
        expect(sameDatabase({ ...a, [part]: null }, { ...a, [part]: "x" })).toBe(true);
        expect(sameDatabase(a, { ...a, [part]: null })).toBe(true);
        // Unreadable now (a privilege revoked): the recorded part is kept, to compare with once it is readable again.
        expect(fingerprintToRecord(a, { ...a, [part]: null })).toEqual(a);
        expect(fingerprintToRecord({ ...a, [part]: null }, a)).toEqual(a);
      }
      expect(fingerprintToRecord(undefined, { ...a, system: null })).toEqual({ ...a, system: null });
    });

    it("a pg_dump restored into a new database: a new epoch", () => {
      const { schema, node } = freshStore();
      const original = node();
      const epoch = original.epoch("u");
      original.appendUserEntry("u", ref(1));
      const copyUrl = freshDatabase();
      dumpAndRestore(schema, POSTGRES_URL!, copyUrl);
      const restored = openNode(copyUrl, schema);
      expect(restored.epochAtOpen.found).toBe(epoch);
      expect(restored.epoch("u")).not.toBe(epoch);
      expect(restored.userEntries("u", 0, 10)).toHaveLength(1); // the data came back, under a new epoch
    });

    it("a pg_dump restored into the same database, over the dropped schema: a new epoch (the tables are new)", () => {
      const { schema, node } = freshStore();
      const original = node();
      const epoch = original.epoch("u");
      original.close();
      const dump = execFileSync("pg_dump", ["--no-owner", "--no-privileges", `--schema=${schema}`, POSTGRES_URL!]);
      dropSchema(schema);
      execFileSync("psql", ["-q", "-v", "ON_ERROR_STOP=1", POSTGRES_URL!], { input: dump, stdio: ["pipe", "ignore", "pipe"] });
      const restored = node();
      expect(restored.epochAtOpen.found).toBe(epoch);
      expect(restored.epoch("u")).not.toBe(epoch);
    });
  });

  describe("the cursor watermark check (store side)", () => {
    it("a counter below the watermark: a new epoch, and the next cursor past the watermark; a second node's check renews nothing more", () => {
      const { schema, node } = freshStore();
      const a = node();
      const b = node();
      const epoch = a.epoch("u");
      a.appendUserEntry("u", ref(1));
      expect(counter(schema)).toBe(1);
      const check = a.checkCursorWatermark(epoch, 10);
      expect(check.raisedFrom).toBe(1);
      expect(check.renewed).toBeDefined();
      expect(a.epoch("u")).toBe(check.renewed);
      expect(b.checkCursorWatermark(epoch, 10)).toEqual({});
      expect(b.epoch("u")).toBe(check.renewed);
      expect(b.appendUserEntry("u", ref(2))).toBe(10 + CURSOR_MARGIN_AFTER_RESTORE + 1);
    });

    it("a counter at or above the watermark: nothing changes", () => {
      const { schema, node } = freshStore();
      const store = node();
      const epoch = store.epoch("u");
      store.appendUserEntry("u", ref(1));
      store.appendUserEntry("u", ref(2));
      expect(store.checkCursorWatermark(epoch, 2)).toEqual({});
      expect(store.checkCursorWatermark(epoch, 1)).toEqual({});
      expect([store.epoch("u"), counter(schema)]).toEqual([epoch, 2]);
    });

    it("after the fingerprint renewed the epoch at open, the old epoch's watermark still raises the counter, without a second renewal", () => {
      const { schema, node } = freshStore();
      const epoch = node().epoch("u");
      setStoredFingerprint(schema, { ...storedFingerprint(schema), database: "1" });
      const restored = node();
      const renewed = restored.epochAtOpen.renewed!;
      expect(restored.checkCursorWatermark(restored.epochAtOpen.found, 50)).toEqual({ raisedFrom: 0 });
      expect(restored.epoch("u")).toBe(renewed);
      expect(restored.epochAtOpen.found).toBe(epoch);
      expect(counter(schema)).toBe(50 + CURSOR_MARGIN_AFTER_RESTORE);
    });

    it("committedPosition: what is committed, never an open batch's cursors", () => {
      const { node } = freshStore();
      const store = node();
      const epoch = store.epoch("u");
      const first = store.appendUserEntry("u", ref(1));
      store.enableGroupCommit(() => {});
      store.appendUserEntry("u", ref(2));
      expect(store.batchOpen).toBe(true);
      expect(store.committedPosition()).toBeUndefined();
      store.commitBatch();
      expect(store.committedPosition()).toEqual({ epoch, cursor: first + 1 });
    });
  });

  withRedis("with the cluster's Redis", () => {
    const redis = new Redis(REDIS_URL!);
    afterAll(() => redis.disconnect());
    /** The keeper's timer, run when the test says (virtual time). */
    const manual = () => {
      const due: (() => void)[] = [];
      const schedule: Schedule = (run) => {
        due.push(run);
        return () => {};
      };
      return { schedule, run: () => due.splice(0).forEach((run) => run()) };
    };
    const guard = async (store: PostgresStore, url = REDIS_URL!) => {
      const time = manual();
      const keeper = await guardCursorWatermark(store, url, silentLogger, { schedule: time.schedule });
      cleanups.push(() => keeper.close());
      return { keeper, time };
    };
    const watermarkOf = async (schema: string, epoch: string) => redis.get(watermarkKey(schema, epoch));
    const dropWatermarks = (schema: string) => cleanups.push(async () => {
      const keys = await redis.keys(`imwire:cursor-watermark:${schema}:*`);
      if (keys.length > 0) await redis.del(...keys);
    });

    describe("guardCursorWatermark at a node's start", () => {
      it("a watermark above the counter: a new epoch, the next cursor above the watermark, whose own watermark the keeper starts", async () => {
        const { schema, node } = freshStore();
        dropWatermarks(schema);
        const store = node();
        const epoch = store.epoch("u");
        store.appendUserEntry("u", ref(1));
        await redis.set(watermarkKey(schema, epoch), "40");
        const { keeper, time } = await guard(store);
        const renewed = store.epoch("u");
        expect(renewed).not.toBe(epoch);
        expect(store.appendUserEntry("u", ref(2))).toBeGreaterThan(40);
        time.run();
        await keeper.settled();
        expect(Number(await watermarkOf(schema, renewed))).toBe(counter(schema));
        expect(await watermarkOf(schema, epoch)).toBe("40");
      });

      it("no watermark (Redis flushed, or a first start): nothing changes", async () => {
        const { schema, node } = freshStore();
        dropWatermarks(schema);
        const store = node();
        const epoch = store.epoch("u");
        store.appendUserEntry("u", ref(1));
        await guard(store);
        expect([store.epoch("u"), counter(schema)]).toEqual([epoch, 1]);
      });

      it("Redis down: the node starts, nothing changes", async () => {
        const { schema, node } = freshStore();
        const store = node();
        const epoch = store.epoch("u");
        const { keeper, time } = await guard(store, await deadRedisUrl());
        expect([store.epoch("u"), counter(schema)]).toEqual([epoch, 0]);
        time.run();
        await expect(keeper.settled()).resolves.toBeUndefined();
      });
    });

    it("end to end: a device holds cursors, the database is restored over the same instance from an earlier snapshot, the node restarts: the device's next sync is a snapshot of a new epoch (SYNC-4)", async () => {
      const { schema, node } = freshStore();
      dropWatermarks(schema);
      const secret = "restore-secret";
      /** A node as `imwire serve --store … --bus …` runs it: the watermark checked before it serves, raised after durable commits. */
      const start = async () => {
        const store = node();
        const bus = await RedisBus.open(REDIS_URL!, silentLogger, `imwire:test:${schema}`);
        const { keeper, time } = await guard(store);
        time.run(); // the watermark starts at the counter; from here on only durable commits schedule a raise
        await keeper.settled();
        const server = await startReferenceServer({ tcp: { port: 0 }, store, secret, bus, log: silentLogger, afterDurableCursors: () => keeper.committed() });
        // As a crash: the keeper is not closed, so the watermark is only what the running node raised.
        const crash = async () => {
          await server.kill();
          await bus.close();
          store.close();
        };
        cleanups.push(crash);
        return { server, store, keeper, time, crash };
      };
      const login = async (server: ReferenceServer, user: string): Promise<RawClient & { epoch: string }> => {
        const client = await rawLogin(server.urls.tcp!, secret, user, "phone");
        cleanups.push(() => void client.socket.destroy());
        return client;
      };
      let requestId = 10;
      const request = async (client: RawClient, body: Parameters<RawClient["send"]>[0]): Promise<Frame> => {
        const id = ++requestId;
        client.send(body, id);
        return client.next((f) => f.requestId === id);
      };
      const say = (client: RawClient, conversationId: string, text: string) =>
        request(client, { case: "sendMessage", value: { conversationId, clientMessageId: randomUUID(), content: { kind: { case: "text", value: { text } } } } });
      const head = async (client: RawClient, epoch: string) => {
        const page = await request(client, { case: "syncUser", value: { epoch, afterCursor: 0n } });
        return page.body.case === "userPage" ? page.body.value.headCursor : -1n;
      };

      const first = await start();
      const alice = await login(first.server, "alice");
      const bob = await login(first.server, "bob");
      const opened = await request(alice, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["bob"] } });
      const conversationId = opened.body.case === "conversationOpened" ? opened.body.value.conversation!.conversationId : "";
      await say(alice, conversationId, "before the backup");
      const backup = snapshotOf(schema);
      for (const text of ["after the backup 1", "after the backup 2"]) await say(alice, conversationId, text);
      const held = await head(alice, alice.epoch); // what alice's device holds: entries the backup does not have
      first.time.run(); // the keeper's interval passes
      await first.keeper.settled();
      expect(Number(await watermarkOf(schema, alice.epoch))).toBeGreaterThanOrEqual(Number(held));
      await first.crash();

      backup.restore();
      expect(BigInt(counter(schema))).toBeLessThan(held);
      const second = await start();
      expect(second.store.epochAtOpen.renewed).toBeUndefined(); // same instance, same tables: the fingerprint cannot tell
      // Bob writes on: without a new epoch, alice's old cursor would now name one of these entries.
      const bobAgain = await login(second.server, "bob");
      for (let i = 0; i < 4; i++) await say(bobAgain, conversationId, `after the restore ${i}`);
      const aliceAgain = await login(second.server, "alice");
      expect(aliceAgain.epoch).not.toBe(alice.epoch);
      const page = await request(aliceAgain, { case: "syncUser", value: { epoch: alice.epoch, afterCursor: held } });
      expect(page.body.case).toBe("userPage");
      const userPage = page.body.case === "userPage" ? page.body.value : undefined;
      expect(userPage?.events).toEqual([]);
      expect(userPage?.snapshot?.epoch).toBe(aliceAgain.epoch);
      expect(userPage!.snapshot!.cursor).toBeGreaterThan(held);
    });
  });
});
