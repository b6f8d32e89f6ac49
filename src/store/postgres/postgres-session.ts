import { PostgresError, StoreUnavailableError, SyncPostgres, type QueryResult } from "./sync-postgres.js";

export interface PostgresSessionOptions {
  /** A schema to keep the tables in, created if missing; else the role's search_path. */
  readonly schema?: string;
  /** How long one statement may take, waiting for the writer lock included, before the database counts as unavailable. */
  readonly timeoutMs?: number;
}

/**
 * After a connection attempt fails, the next one waits: this long at first, doubling up to the most.
 * An attempt blocks the node's event loop (a worker thread started and a connect, about 100 ms even when
 * refused at once): while the database is away, a node that tried at every request would spend its
 * time starting threads, every request it serves waiting behind them. Meanwhile a statement fails at
 * once. The most is the retry_after_ms UNAVAILABLE answers carry (1 s), so a client that waits as told
 * finds the node connected again.
 */
const RECONNECT_FIRST_DELAY_MS = 100;
const RECONNECT_MAX_DELAY_MS = 1_000;

/** The cluster writer lock: the one cursor counter row, locked first by every writing transaction (see PostgresStore). */
const WRITER_LOCK = "SELECT value FROM counters WHERE name = 'cursor' FOR UPDATE";

/**
 * PostgresStore's connection and its transactions: the one place that knows
 * whether a transaction is open, how deep its savepoints go, whether a
 * statement failed in it, and whether a group-commit batch holds it.
 *
 * A statement that fails inside a transaction aborts it in PostgreSQL (in
 * SQLite only the statement is undone): inside a nested transaction() that
 * is its savepoint's to undo; otherwise the whole transaction (a batch) is
 * refused at its commit, never committed short of what failed (COMMIT of an
 * aborted transaction would quietly roll back). After the connection is
 * lost, the next statement outside a transaction connects again; inside
 * one, everything fails until it ends. A connection attempt that fails
 * makes the next wait (RECONNECT_FIRST_DELAY_MS, doubling to
 * RECONNECT_MAX_DELAY_MS), statements failing at once meanwhile.
 */
export class PostgresSession {
  readonly #url: string;
  readonly #options: PostgresSessionOptions;
  #db: SyncPostgres | undefined;
  /** A transaction is open on the connection (BEGIN ran, and the writer lock is held). */
  #inTransaction = false;
  /** Savepoints open inside it: the depth of nested transaction() calls. */
  #savepoints = 0;
  /** A statement failed in the open transaction outside any savepoint: PostgreSQL will only roll it back. */
  #aborted = false;
  /** The connection was lost while the transaction was open: it is gone, and nothing more can run in it. */
  #lost = false;
  /** Group commit (enableGroupCommit): told when a batch opens, so that someone commits it. */
  #onBatchOpened: (() => void) | undefined;
  #batchOpen = false;
  #closed = false;
  /** Changed whenever what the open transaction reads may have changed: at BEGIN, at each write, at ROLLBACK TO SAVEPOINT. */
  #generation = 0;
  /** After a failed connection attempt: no other before this time (performance.now()), and the delay that set it. */
  #reconnectAt = 0;
  #reconnectDelayMs = 0;

  /** Connects at once: StoreUnavailableError when the database is not there. */
  constructor(url: string, options: PostgresSessionOptions = {}) {
    this.#url = url;
    this.#options = options;
    this.#connect();
  }

  /** Close the connection (an open transaction rolls back with it); nothing runs afterwards. */
  close(): void {
    this.#closed = true;
    this.#db?.close();
    this.#db = undefined;
  }

  #connect(): SyncPostgres {
    if (this.#closed) throw new StoreUnavailableError("the PostgreSQL store is closed");
    const wait = this.#reconnectAt - performance.now();
    if (wait > 0) throw new StoreUnavailableError(`PostgreSQL could not be reached; the next attempt to connect is in ${Math.ceil(wait)} ms`);
    const { schema, timeoutMs } = this.#options;
    let db: SyncPostgres | undefined;
    try {
      db = new SyncPostgres(this.#url, timeoutMs === undefined ? {} : { timeoutMs });
      if (schema !== undefined) {
        db.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`);
        db.query(`SET search_path TO ${quoteIdentifier(schema)}`);
      }
    } catch (error) {
      db?.close();
      if (error instanceof StoreUnavailableError) {
        this.#reconnectDelayMs = Math.min(RECONNECT_MAX_DELAY_MS, this.#reconnectDelayMs === 0 ? RECONNECT_FIRST_DELAY_MS : 2 * this.#reconnectDelayMs);
        this.#reconnectAt = performance.now() + this.#reconnectDelayMs;
      }
      throw error;
    }
    this.#reconnectAt = 0;
    this.#reconnectDelayMs = 0;
    this.#db = db;
    return db;
  }

  /** The connection itself, for work that runs its own transactions (migrations, at open). */
  get connection(): SyncPostgres {
    return this.#db ?? this.#connect();
  }

  /**
   * What the open transaction reads stays the same while this number does
   * (undefined outside a transaction, or in one that failed): every
   * transaction holds the cluster's writer lock, so no other node commits
   * until it ends, and the number changes at each write of its own
   * (atomic()) and at each ROLLBACK TO SAVEPOINT. A read made under it may
   * be answered again, without a round trip, while it stands.
   */
  get readGeneration(): number | undefined {
    return this.#inTransaction && !this.#aborted && !this.#lost ? this.#generation : undefined;
  }

  /** One statement's rows. */
  query<R = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): R[] {
    return this.#statement<R>(sql, params).rows;
  }

  /** One write statement: how many rows it changed. */
  run(sql: string, params: readonly unknown[]): number {
    return this.#statement(sql, params).rowCount;
  }

  /** One statement on the connection, connecting again first if it was lost outside a transaction. */
  #statement<R>(sql: string, params: readonly unknown[]): QueryResult<R> {
    if (this.#lost) throw new StoreUnavailableError("the connection to PostgreSQL was lost during this transaction");
    const db = this.#db ?? this.#connect();
    try {
      return db.query<R>(sql, params);
    } catch (error) {
      if (error instanceof StoreUnavailableError) {
        // SyncPostgres closed the connection: a transaction open on it is gone with it.
        this.#db = undefined;
        if (this.#inTransaction) this.#lost = true;
      } else if (error instanceof PostgresError && this.#inTransaction) {
        this.#aborted = true;
      }
      throw error;
    }
  }

  /** Run `fn` atomically: the outermost call opens a transaction under the writer lock (or joins the batch); a nested one is a savepoint. */
  transaction<T>(fn: () => T): T {
    this.#openBatch();
    if (this.#inTransaction) return this.#savepoint(fn);
    this.#begin();
    let result: T;
    try {
      result = this.#healthyAfter(fn);
    } catch (error) {
      this.#endTransaction();
      throw error;
    }
    this.#commit();
    return result;
  }

  /**
   * Several statements (or one) as one write, under the writer lock. Inside
   * the caller's transaction they already are (and a savepoint per call would
   * cost two more round trips on the fan-out path); outside one, they get their own.
   */
  atomic<T>(fn: () => T): T {
    this.#openBatch();
    if (!this.#inTransaction) return this.transaction(fn);
    this.#generation++;
    try {
      return fn();
    } finally {
      this.#generation++;
    }
  }

  /** fn's result, unless a statement failed under it, which a swallowing fn must not hide. */
  #healthyAfter<T>(fn: () => T): T {
    const result = fn();
    if (this.#aborted) throw new PostgresError("a statement of the transaction failed, so PostgreSQL rolled it back");
    return result;
  }

  /**
   * A nested transaction. Savepoints are named by depth and not released: a
   * later one of the same name shadows it, ROLLBACK TO finds the newest, and
   * COMMIT ends them all, so each request of a batch costs one round trip
   * less than SAVEPOINT … RELEASE.
   */
  #savepoint<T>(fn: () => T): T {
    const name = `s${++this.#savepoints}`;
    try {
      this.query(`SAVEPOINT ${name}`);
      return this.#healthyAfter(fn);
    } catch (error) {
      if (!this.#lost) {
        this.query(`ROLLBACK TO SAVEPOINT ${name}`);
        this.#generation++;
        // The savepoint was made in a healthy transaction (SAVEPOINT succeeded), and is one again.
        this.#aborted = false;
      }
      throw error;
    } finally {
      this.#savepoints--;
    }
  }

  /** BEGIN and the writer lock in one round trip (a simple query may hold several statements). */
  #begin(): void {
    this.#generation++;
    this.#inTransaction = true;
    this.#aborted = false;
    this.#lost = false;
    try {
      this.query(`BEGIN; ${WRITER_LOCK}`);
    } catch (error) {
      this.#endTransaction();
      throw error;
    }
  }

  /** COMMIT the open transaction; throws, having rolled back, if it cannot. */
  #commit(): void {
    if (this.#lost || this.#aborted) {
      const lost = this.#lost;
      this.#endTransaction();
      throw lost ? new StoreUnavailableError("the connection to PostgreSQL was lost before the commit") : new PostgresError("a statement of the transaction failed, so it was rolled back");
    }
    try {
      this.query("COMMIT");
    } finally {
      // A COMMIT that failed (the connection, most likely) ended the transaction all the same.
      this.#endState();
    }
  }

  /**
   * ROLLBACK the transaction however it stands. A connection already lost
   * took it with it, and one lost now does the same: the error that made the
   * caller roll back is the one it throws.
   */
  #endTransaction(): void {
    const lost = this.#lost;
    this.#endState();
    if (lost || this.#db === undefined) return;
    try {
      this.query("ROLLBACK");
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
    }
  }

  #endState(): void {
    this.#inTransaction = false;
    this.#savepoints = 0;
    this.#aborted = false;
    this.#lost = false;
  }

  /**
   * Group commit: from now on the first write opens one transaction, the
   * batch (taking the writer lock once for all of it), and every later write
   * and transaction() joins it, each request still a savepoint of its own so
   * that a refused request undoes only its own writes, until commitBatch().
   */
  enableGroupCommit(onBatchOpened: () => void): void {
    this.#onBatchOpened = onBatchOpened;
  }

  get batchOpen(): boolean {
    return this.#batchOpen;
  }

  commitBatch(): void {
    if (!this.#batchOpen) return;
    this.#batchOpen = false;
    if (!this.#inTransaction) throw new Error("the batch's transaction ended before its commit");
    this.#commit();
  }

  rollbackBatch(): void {
    if (!this.#batchOpen) return;
    this.#batchOpen = false;
    if (this.#inTransaction) this.#endTransaction();
  }

  #openBatch(): void {
    if (this.#onBatchOpened === undefined || this.#inTransaction) return;
    this.#begin();
    if (!this.#batchOpen) {
      this.#batchOpen = true;
      this.#onBatchOpened();
    }
  }
}

/** A schema name as an SQL identifier, whatever it holds. */
function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
