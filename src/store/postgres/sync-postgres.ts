import { createRequire } from "node:module";
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import { StoreUnavailableError } from "../store-errors.js";

export { isStoreUnavailable, StoreUnavailableError } from "../store-errors.js";

/**
 * PostgreSQL, synchronously: the server machine's Store is synchronous (a
 * request is answered within one input, as with SQLite), so each statement
 * runs on a `pg` client in a worker thread while this thread waits on a
 * shared flag (Atomics.wait) and then takes the answer with
 * receiveMessageOnPort. The wait is a loopback round trip per statement —
 * the cost SQLite pays in disk reads — and is bounded by `timeoutMs`: a
 * database that does not answer is a StoreUnavailableError, never a hang.
 *
 * (synckit packages the same mechanism, but needs a worker file and a
 * TypeScript runner for it; this worker is the few lines below, evaluated.)
 */
export class SyncPostgres {
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #flag = new Int32Array(new SharedArrayBuffer(4));
  readonly #timeoutMs: number;
  #closed = false;

  constructor(url: string, { timeoutMs = 10_000 }: { timeoutMs?: number } = {}) {
    this.#timeoutMs = timeoutMs;
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    const pgPath = createRequire(import.meta.url).resolve("pg");
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { url, pgPath, port: port2, flag: this.#flag }, transferList: [port2] });
    this.#worker.unref();
    // The first round trip connects; its failure (wrong URL, server down) is the constructor's.
    this.query("SELECT 1");
  }

  /** Run one statement; rows as objects, int8 as numbers, bytea as Uint8Array. */
  query<R = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): QueryResult<R> {
    if (this.#closed) throw new StoreUnavailableError("the PostgreSQL store is closed");
    Atomics.store(this.#flag, 0, 0);
    this.#port.postMessage({ sql, params });
    const waited = Atomics.wait(this.#flag, 0, 0, this.#timeoutMs);
    const reply = receiveMessageOnPort(this.#port)?.message as Reply | undefined;
    if (waited === "timed-out" || reply === undefined) {
      // The answer may still come: this connection's state is unknown, so it is not used again.
      this.close();
      throw new StoreUnavailableError(`PostgreSQL did not answer within ${this.#timeoutMs} ms`);
    }
    if ("error" in reply) {
      const { message, code } = reply.error;
      // No SQLSTATE at all is a socket-level failure (ECONNREFUSED, a reset): the database is not there.
      if (code === undefined || !isStatementError(code)) {
        this.close();
        throw new StoreUnavailableError(`PostgreSQL: ${message}`, code);
      }
      throw new PostgresError(message, code);
    }
    return reply as QueryResult<R>;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#port.close();
    void this.#worker.terminate();
  }
}

export interface QueryResult<R> {
  readonly rows: R[];
  readonly rowCount: number;
}

type Reply = QueryResult<unknown> | { readonly error: { readonly message: string; readonly code?: string } };

/** A statement PostgreSQL refused (a constraint, a syntax error): the caller's bug or a conflict, not an outage. */
export class PostgresError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = "PostgresError";
  }
}

/**
 * SQLSTATE classes that say something about the statement (data, integrity,
 * syntax, a serialization failure or deadlock, which the caller retries),
 * not about the connection: 08 (connection), 57 (shutdown), 53 (resources)
 * and anything unclassified mean the database is not there.
 */
function isStatementError(code: string): boolean {
  return ["22", "23", "25", "40", "42", "P0"].includes(code.slice(0, 2));
}

const WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const pg = require(workerData.pgPath);
// int8 (cursors, seqs, times) as numbers: every one stays below 2^53.
pg.types.setTypeParser(20, (value) => Number(value));
const { port, flag } = workerData;
const client = new pg.Client({ connectionString: workerData.url });
let broken;
client.on("error", (error) => { broken = error; });
const ready = client.connect().catch((error) => { broken = error; });
port.on("message", async ({ sql, params }) => {
  let reply;
  try {
    await ready;
    if (broken) throw broken;
    const result = await client.query(sql, params);
    reply = { rows: result.rows, rowCount: result.rowCount ?? 0 };
  } catch (error) {
    reply = { error: { message: String(error && error.message || error), code: error && typeof error.code === "string" && /^[0-9A-Z]{5}$/.test(error.code) ? error.code : undefined } };
  }
  port.postMessage(reply);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
});
`;
