import { randomUUID } from "node:crypto";
import { Worker } from "node:worker_threads";

/** What the proxy carries now: its connections, and the local ports of their upstream sockets (pg_stat_activity.client_port). */
export interface Carried {
  readonly connections: number;
  readonly upstreamPorts: readonly number[];
}

/**
 * A loopback TCP proxy to a database that a test can cut and restore, as
 * PostgreSQL restarting would: cut() destroys every connection it carries and
 * refuses new ones (its listener closed: connecting is ECONNREFUSED);
 * restore() listens again on the same port.
 *
 * It runs in a worker thread of its own. PostgresStore is synchronous
 * (SyncPostgres blocks the event loop on Atomics.wait for every statement):
 * a proxy on the test's own event loop could not forward a single byte while
 * a node waited for its answer.
 */
export class CuttableProxy {
  readonly #worker: Worker;
  readonly #replies = new Map<string, (reply: Reply) => void>();
  readonly #port: number;
  #onCommitCut: (() => void) | undefined;

  private constructor(worker: Worker, port: number) {
    this.#worker = worker;
    this.#port = port;
    worker.on("message", (message: Reply | { event: "commit-cut" }) => {
      if ("event" in message) return this.#onCommitCut?.();
      this.#replies.get(message.id)?.(message);
      this.#replies.delete(message.id);
    });
  }

  /** Listening on a free loopback port, forwarding to `target`. */
  static async start(target: { host: string; port: number }): Promise<CuttableProxy> {
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { target } });
    const { port } = await new Promise<{ port: number }>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
    return new CuttableProxy(worker, port);
  }

  get port(): number {
    return this.#port;
  }

  /** `url` (postgres://user:pass@host:port/db) pointed at this proxy instead. */
  via(url: string): string {
    const proxied = new URL(url);
    proxied.hostname = "127.0.0.1";
    proxied.port = String(this.#port);
    return proxied.toString();
  }

  /** Refuse new connections and destroy every carried one. */
  async cut(): Promise<void> {
    await this.#call("cut");
  }

  /** Accept connections again, on the same port. */
  async restore(): Promise<void> {
    await this.#call("restore");
  }

  async carried(): Promise<Carried> {
    const reply = await this.#call("carried");
    return { connections: reply.connections!, upstreamPorts: reply.upstreamPorts! };
  }

  /**
   * An outage at the worst moment for a write: once a connection has carried
   * `marker` (a client_message_id, say), its next COMMIT goes to the server
   * and is answered there — the transaction IS durable — but the answer is
   * swallowed, that connection destroyed, and new connections refused. The
   * client cannot tell whether it committed. Resolves once that happened;
   * the other carried connections are left for the caller to end.
   */
  cutAfterCommitOf(marker: string): { readonly armed: Promise<void>; readonly cut: Promise<void> } {
    const cut = new Promise<void>((resolve) => (this.#onCommitCut = resolve));
    return { armed: this.#call("arm", { marker }).then(() => {}), cut };
  }

  async close(): Promise<void> {
    await this.#worker.terminate();
  }

  #call(op: string, args: Record<string, unknown> = {}): Promise<Reply> {
    const id = randomUUID();
    return new Promise((resolve, reject) => {
      this.#replies.set(id, (reply) => (reply.error ? reject(new Error(`proxy ${op}: ${reply.error}`)) : resolve(reply)));
      this.#worker.postMessage({ id, op, ...args });
    });
  }
}

interface Reply {
  readonly id: string;
  readonly error?: string;
  readonly connections?: number;
  readonly upstreamPorts?: number[];
}

// PostgreSQL's wire protocol, just enough: a simple query "COMMIT" from the client, and ReadyForQuery ('Z', length 5) after its answer.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const net = require("node:net");
const { target } = workerData;
const COMMIT = Buffer.from("COMMIT\\0");
const READY_FOR_QUERY = Buffer.from([0x5a, 0, 0, 0, 5]);
const pairs = new Set();
let server;
let port = 0;
let marker;

function listen() {
  return new Promise((resolve, reject) => {
    server = net.createServer(accept);
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      port = server.address().port;
      resolve();
    });
  });
}

// The listening socket closes at once; close()'s callback would wait for every carried connection to end.
function refuse() {
  server?.close();
  server = undefined;
}

function accept(client) {
  const upstream = net.connect({ host: target.host, port: target.port });
  const pair = { client, upstream, marked: false, swallowing: false };
  pairs.add(pair);
  const end = () => {
    client.destroy();
    upstream.destroy();
    pairs.delete(pair);
  };
  for (const socket of [client, upstream]) {
    socket.setNoDelay(true);
    socket.on("error", end);
    socket.on("close", end);
  }
  client.on("data", (chunk) => {
    if (marker && chunk.includes(marker)) pair.marked = true;
    if (pair.marked && chunk.includes(COMMIT)) {
      marker = undefined;
      pair.marked = false;
      pair.swallowing = true;
      refuse();
    }
    upstream.write(chunk);
  });
  upstream.on("data", (chunk) => {
    if (!pair.swallowing) return void client.write(chunk);
    // The COMMIT is answered: durable at the server, and its answer never reaches the client.
    if (chunk.includes(READY_FOR_QUERY)) {
      end();
      parentPort.postMessage({ event: "commit-cut" });
    }
  });
}

parentPort.on("message", async ({ id, op, ...args }) => {
  try {
    if (op === "cut") {
      refuse();
      for (const pair of [...pairs]) {
        pair.client.destroy();
        pair.upstream.destroy();
        pairs.delete(pair);
      }
    } else if (op === "restore") {
      if (!server) await listen();
    } else if (op === "arm") {
      marker = Buffer.from(args.marker);
    } else if (op === "carried") {
      const live = [...pairs].filter((pair) => !pair.upstream.destroyed);
      return parentPort.postMessage({ id, connections: pairs.size, upstreamPorts: live.map((pair) => pair.upstream.localPort).filter((p) => p !== undefined) });
    }
    parentPort.postMessage({ id });
  } catch (error) {
    parentPort.postMessage({ id, error: String(error && error.message || error) });
  }
});

listen().then(() => parentPort.postMessage({ port }), (error) => { throw error; });
`;
