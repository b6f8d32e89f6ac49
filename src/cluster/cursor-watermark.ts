import { Redis } from "ioredis";
import type { Logger } from "../server/logger.js";

/**
 * CLU-4 (b): the highest cursor a cluster's nodes made durable, per store
 * and epoch, kept in the cluster's Redis, outside the database. A database
 * restored over the same instance (a file-level copy: same fingerprint,
 * postgres-epoch.ts) comes back with its counter below it; the node that
 * starts on it renews the epoch and raises the counter past it. Best
 * effort: the watermark is raised after durable commits, never blocking
 * one; with Redis flushed or away when a node starts, this check finds
 * nothing that start, and the node serves all the same.
 */

/** What the watermark needs of a store (PostgresStore has it), so that no Redis reaches src/store. */
export interface WatermarkedStore {
  /** The epoch the database came with (`renewed` if the fingerprint renewed it at open), and the schema naming the store. */
  readonly epochAtOpen: { readonly found: string; readonly renewed?: string; readonly schema: string };
  /** Renew the epoch if the counter is below `watermark` of `epoch`, and raise the counter past it. */
  checkCursorWatermark(epoch: string, watermark: number): { readonly renewed?: string; readonly raisedFrom?: number };
  /** The committed epoch and cursor counter; undefined while a batch is open. */
  committedPosition(): { readonly epoch: string; readonly cursor: number } | undefined;
}

/** The key of a store's watermark for one epoch: a restore brings an old epoch back, and with it the key its cursors were counted under. */
export function watermarkKey(schema: string, epoch: string): string {
  return `imwire:cursor-watermark:${schema}:${epoch}`;
}

/** Max-only, in one step on the server: nodes raising it at once never lower it. Cursors stay below 2^53, exact in Lua's numbers. */
const RAISE_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
local proposed = tonumber(ARGV[1])
if proposed > current then redis.call('SET', KEYS[1], ARGV[1]) return proposed end
return current`;

/** The watermarks of one store (one schema) in Redis. */
export class CursorWatermark {
  readonly #redis: Redis;
  readonly #schema: string;
  readonly #log: Logger;
  #failing = false;

  private constructor(url: string, schema: string, log: Logger) {
    this.#schema = schema;
    this.#log = log;
    // No offline queue: while Redis is away a raise fails at once rather than piling up (a later one carries the value).
    this.#redis = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true });
    this.#redis.on("error", (error: Error) => this.#failed(error));
  }

  /** Connected, or trying to be (ioredis reconnects by itself): never refuses, so a node starts without Redis. */
  static async open(url: string, schema: string, log: Logger): Promise<CursorWatermark> {
    const watermark = new CursorWatermark(url, schema, log);
    await watermark.#redis.connect().catch(() => {});
    return watermark;
  }

  /** The watermark of `epoch`; undefined when Redis has none (flushed, or never raised) or cannot be reached. */
  async read(epoch: string): Promise<number | undefined> {
    let text: string | null;
    try {
      text = await this.#redis.get(watermarkKey(this.#schema, epoch));
    } catch (error) {
      this.#failed(error as Error);
      return undefined;
    }
    if (text === null) return undefined;
    const value = Number(text);
    if (Number.isSafeInteger(value) && value >= 0) return value;
    this.#log.warn("cursor watermark: not a cursor in Redis, ignored", { event: "cursor-watermark", key: watermarkKey(this.#schema, epoch) });
    return undefined;
  }

  /** Raise the watermark of `epoch` to `cursor` unless it is higher already; resolves either way. */
  async raise(epoch: string, cursor: number): Promise<void> {
    try {
      await this.#redis.eval(RAISE_SCRIPT, 1, watermarkKey(this.#schema, epoch), String(cursor));
      this.#failing = false;
    } catch (error) {
      this.#failed(error as Error);
    }
  }

  close(): void {
    this.#redis.disconnect();
  }

  /** Said once per outage: a node raises the watermark several times a second. */
  #failed(error: Error): void {
    if (this.#failing) return;
    this.#failing = true;
    this.#log.warn(`cursor watermark: Redis: ${error.message} (a restore over the same database is not detected from what is missed meanwhile)`, { event: "cursor-watermark" });
  }
}

/** When to raise: a delayed call, and how to cancel it (a test passes virtual time). */
export type Schedule = (run: () => void, ms: number) => () => void;

const realSchedule: Schedule = (run, ms) => {
  const timer = setTimeout(run, ms).unref();
  return () => clearTimeout(timer);
};

/**
 * Keeps the watermark up with the store's committed counter: told of each
 * durable commit that handed out cursors, it reads the committed counter
 * and raises the watermark at most once per `intervalMs`, after the commit,
 * so it never delays or blocks one.
 */
export class CursorWatermarkKeeper {
  readonly #store: WatermarkedStore;
  readonly #watermark: Pick<CursorWatermark, "raise" | "close">;
  readonly #intervalMs: number;
  readonly #schedule: Schedule;
  #cancel: (() => void) | undefined;
  #raised: { epoch: string; cursor: number } | undefined;
  #inFlight: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(store: WatermarkedStore, watermark: Pick<CursorWatermark, "raise" | "close">, { intervalMs = 100, schedule = realSchedule }: { intervalMs?: number; schedule?: Schedule } = {}) {
    this.#store = store;
    this.#watermark = watermark;
    this.#intervalMs = intervalMs;
    this.#schedule = schedule;
  }

  /** A commit that handed out cursors is durable: the watermark follows within the interval. */
  committed(): void {
    if (this.#cancel !== undefined || this.#closed) return;
    this.#cancel = this.#schedule(() => {
      this.#cancel = undefined;
      this.#raiseNow();
    }, this.#intervalMs);
  }

  /** Resolves once every raise begun so far has had Redis's answer (or failed). */
  settled(): Promise<void> {
    return this.#inFlight;
  }

  /** At shutdown, after the last commit: the watermark raised to the final counter, Redis's answer awaited; nothing more after. */
  async close(): Promise<void> {
    this.#cancel?.();
    this.#cancel = undefined;
    // A batch still open at shutdown rolls back: nothing more of it to raise, so no retry.
    this.#raiseNow(false);
    this.#closed = true;
    await this.#inFlight;
    this.#watermark.close();
  }

  #raiseNow(retry = true): void {
    if (this.#closed) return;
    let position: { epoch: string; cursor: number } | undefined;
    try {
      position = this.#store.committedPosition();
    } catch {
      // The store is unavailable (CLU-3): the next durable commit tries again.
      return;
    }
    // A batch is open: its cursors are not durable yet; read once it has committed.
    if (position === undefined) return retry ? this.committed() : undefined;
    const raised = this.#raised;
    if (raised !== undefined && raised.epoch === position.epoch && raised.cursor >= position.cursor) return;
    this.#raised = position;
    this.#inFlight = this.#inFlight.then(() => this.#watermark.raise(position.epoch, position.cursor));
  }
}

/**
 * CLU-4 at a cluster node's start, before it serves: the watermark of the
 * epoch the database came with, compared with its counter (a counter below
 * it renews the epoch and is raised past it); then the keeper that raises
 * the watermark from here on, started at the current counter.
 */
export async function guardCursorWatermark(store: WatermarkedStore, url: string, log: Logger, options: { intervalMs?: number; schedule?: Schedule } = {}): Promise<CursorWatermarkKeeper> {
  const { found, schema } = store.epochAtOpen;
  const watermark = await CursorWatermark.open(url, schema, log);
  const mark = await watermark.read(found);
  if (mark === undefined) {
    log.info("cursor watermark: none in Redis for this epoch, so this start cannot tell a database restored over the same instance", { event: "cursor-watermark", epoch: found });
  } else {
    const check = store.checkCursorWatermark(found, mark);
    if (check.renewed !== undefined) {
      log.warn("the cursor counter is below the cluster's cursor watermark: the database went back in time (restored?), so the epoch is renewed and devices resynchronise", { event: "epoch-renewed", reason: "cursor-watermark", watermark: mark, counter: check.raisedFrom, epoch: check.renewed });
    } else if (check.raisedFrom !== undefined) {
      log.info("cursor counter raised past the cursor watermark of the epoch renewed at open", { event: "cursor-watermark", watermark: mark, counter: check.raisedFrom });
    }
  }
  const keeper = new CursorWatermarkKeeper(store, watermark, options);
  keeper.committed();
  return keeper;
}
