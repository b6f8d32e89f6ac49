import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { randomUUID } from "node:crypto";
import { CursorWatermark, CursorWatermarkKeeper, watermarkKey, type Schedule, type WatermarkedStore } from "../src/cluster/cursor-watermark.js";
import { silentLogger } from "../src/server/logger.js";
import { deadRedisUrl, REDIS_URL, withRedis } from "./support/redis.js";

/**
 * CLU-4 (b): the cursor watermark in Redis (max-only, absent or unreachable
 * reads as none), and the keeper that raises it after durable commits, at
 * most once per interval, on virtual time.
 */

/** Virtual time for the keeper: what it scheduled, run when the test says. */
function manualSchedule() {
  const pending: { run: () => void; ms: number; cancelled: boolean }[] = [];
  const schedule: Schedule = (run, ms) => {
    const entry = { run, ms, cancelled: false };
    pending.push(entry);
    return () => void (entry.cancelled = true);
  };
  const live = () => pending.filter((e) => !e.cancelled);
  const runDue = () => {
    const due = live();
    pending.length = 0;
    for (const entry of due) entry.run();
    return due.length;
  };
  return { schedule, live, runDue };
}

/** A store whose committed position the test sets; undefined stands for an open batch, an Error for an outage. */
function fakeStore(position: { epoch: string; cursor: number } | undefined | Error): WatermarkedStore & { position: typeof position } {
  return {
    position,
    epochAtOpen: { found: "e1", schema: "s" },
    checkCursorWatermark: () => ({}),
    committedPosition() {
      if (this.position instanceof Error) throw this.position;
      return this.position;
    },
  };
}

function recordingWatermark() {
  const raised: [string, number][] = [];
  let closed = false;
  return { raised, closed: () => closed, raise: async (epoch: string, cursor: number) => void raised.push([epoch, cursor]), close: () => void (closed = true) };
}

describe("CursorWatermarkKeeper", () => {
  it("raises at most once per interval, after the commits, to the committed counter, and not again for the same one", async () => {
    const time = manualSchedule();
    const store = fakeStore({ epoch: "e1", cursor: 7 });
    const watermark = recordingWatermark();
    const keeper = new CursorWatermarkKeeper(store, watermark, { schedule: time.schedule, intervalMs: 100 });
    for (let i = 0; i < 5; i++) keeper.committed();
    expect(time.live().map((e) => e.ms)).toEqual([100]);
    expect(watermark.raised).toEqual([]); // never within the commit itself
    expect(time.runDue()).toBe(1);
    await keeper.settled();
    expect(watermark.raised).toEqual([["e1", 7]]);
    keeper.committed();
    time.runDue();
    await keeper.settled();
    expect(watermark.raised).toEqual([["e1", 7]]); // unchanged counter: no round trip to Redis
    store.position = { epoch: "e1", cursor: 9 };
    keeper.committed();
    time.runDue();
    store.position = { epoch: "e2", cursor: 9 }; // a renewed epoch is a key of its own
    keeper.committed();
    time.runDue();
    await keeper.settled();
    expect(watermark.raised).toEqual([["e1", 7], ["e1", 9], ["e2", 9]]);
  });

  it("with a batch open, reads again an interval later; with the store down, waits for the next commit", async () => {
    const time = manualSchedule();
    const store = fakeStore(undefined);
    const watermark = recordingWatermark();
    const keeper = new CursorWatermarkKeeper(store, watermark, { schedule: time.schedule });
    keeper.committed();
    time.runDue();
    expect(time.live()).toHaveLength(1); // the open batch's cursors are not durable: not raised, read again
    store.position = { epoch: "e1", cursor: 3 };
    time.runDue();
    await keeper.settled();
    expect(watermark.raised).toEqual([["e1", 3]]);
    store.position = new Error("PostgreSQL is away");
    keeper.committed();
    time.runDue();
    expect(time.live()).toHaveLength(0);
    await keeper.settled();
    expect(watermark.raised).toEqual([["e1", 3]]);
  });

  it("close: raises to the final counter at once, waits for it, cancels the timer and raises nothing after", async () => {
    const time = manualSchedule();
    const store = fakeStore({ epoch: "e1", cursor: 4 });
    const watermark = recordingWatermark();
    const keeper = new CursorWatermarkKeeper(store, watermark, { schedule: time.schedule });
    keeper.committed();
    await keeper.close();
    expect(watermark.raised).toEqual([["e1", 4]]);
    expect(watermark.closed()).toBe(true);
    expect(time.live()).toHaveLength(0);
    store.position = { epoch: "e1", cursor: 5 };
    keeper.committed();
    expect(time.live()).toHaveLength(0);
  });
});

withRedis("CursorWatermark on Redis (CLU-4)", () => {
  describe("CursorWatermark on Redis (CLU-4)", () => {
    const schema = `test_${randomUUID()}`;
    const redis = new Redis(REDIS_URL!);
    const opened: CursorWatermark[] = [];
    afterEach(async () => {
      for (const watermark of opened.splice(0)) watermark.close();
      const keys = await redis.keys(`imwire:cursor-watermark:${schema}:*`);
      if (keys.length > 0) await redis.del(...keys);
    });
    afterAll(() => redis.disconnect());
    const open = async (url = REDIS_URL!) => {
      const watermark = await CursorWatermark.open(url, schema, silentLogger);
      opened.push(watermark);
      return watermark;
    };

    it("is max-only, per store and epoch; none reads as undefined, and so does what is not a cursor", async () => {
      const [a, b] = [await open(), await open()];
      expect(await a.read("e1")).toBeUndefined();
      await a.raise("e1", 5);
      await b.raise("e1", 3); // another node, behind: never lowers it
      expect(await a.read("e1")).toBe(5);
      await b.raise("e1", 2 ** 53 - 1);
      expect(await a.read("e1")).toBe(2 ** 53 - 1);
      expect(await a.read("e2")).toBeUndefined();
      expect(await redis.get(watermarkKey(schema, "e1"))).toBe(String(2 ** 53 - 1));
      await redis.set(watermarkKey(schema, "e3"), "garbage");
      expect(await a.read("e3")).toBeUndefined();
    });

    it("with Redis down: opens, reads none, and a raise resolves (a node starts without it)", async () => {
      const watermark = await open(await deadRedisUrl());
      expect(await watermark.read("e1")).toBeUndefined();
      await expect(watermark.raise("e1", 5)).resolves.toBeUndefined();
    });
  });
});
