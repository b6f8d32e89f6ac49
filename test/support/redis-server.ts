import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";
import { Redis } from "ioredis";

/**
 * A redis-server child process of a test's (or a benchmark's) own, on a free loopback port and
 * without persistence, that the test may SIGKILL and start again on the
 * same port (a Redis outage). The shared Redis cannot be killed: other test
 * files use it at the same time.
 */
export class RedisServerProcess {
  readonly port: number;
  readonly #binary: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #log = "";

  private constructor(port: number, binary: string) {
    this.port = port;
    this.#binary = binary;
  }

  /** Started (from PATH, or IMWIRE_REDIS_SERVER) and answering PING. */
  static async start(binary = process.env.IMWIRE_REDIS_SERVER ?? "redis-server"): Promise<RedisServerProcess> {
    const server = new RedisServerProcess(await freeLoopbackPort(), binary);
    await server.restart();
    return server;
  }

  /** The running process's pid (for CPU accounting: bench/cluster.bench.ts); -1 while it is down. */
  get pid(): number {
    return this.#child?.pid ?? -1;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Start it again on the same port (nothing kept: no persistence); resolves once it answers PING. */
  async restart(): Promise<void> {
    if (this.#child) throw new Error("redis-server is running");
    const child = spawn(this.#binary, ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"], { stdio: ["ignore", "pipe", "pipe"] });
    this.#child = child;
    this.#log = "";
    for (const stream of [child.stdout!, child.stderr!]) stream.on("data", (chunk: Buffer) => void (this.#log += chunk.toString()));
    this.#exited = new Promise((resolve) => child.once("exit", () => resolve()));
    const failed = new Promise<never>((_, reject) => {
      child.once("error", (error) => reject(new Error(`cannot start ${this.#binary} (apt-get install redis-server, or set IMWIRE_REDIS_SERVER): ${error.message}`)));
      child.once("exit", (code, signal) => reject(new Error(`redis-server exited (${code ?? signal}) before answering:\n${this.#log}`)));
    });
    failed.catch(() => {}); // raced below, until it answers; an exit after that is kill()'s or stop()'s
    const deadline = Date.now() + 10_000;
    while (!(await Promise.race([this.#answers(), failed]))) {
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on ${this.port} within 10 s:\n${this.#log}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** SIGKILL: no shutdown, every connection reset. Resolves once the process is gone (its sockets closed by the kernel). */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await this.#exited;
  }

  /** Stop for good (SIGTERM, then SIGKILL after 5 s). */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await this.#exited;
    clearTimeout(killer);
  }

  /** One command on a connection of its own (no retries: a server that is down is an error). */
  async command(...args: (string | number)[]): Promise<unknown> {
    const redis = new Redis(this.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on("error", () => {}); // the rejected promise below says it
    try {
      await redis.connect();
      return await redis.call(String(args[0]), ...args.slice(1).map(String));
    } finally {
      redis.disconnect();
    }
  }

  /** Clients connected, other than the one asking, from CLIENT LIST: each one's last command ("NULL" before its first). */
  async clients(): Promise<{ readonly cmd: string }[]> {
    const list = String(await this.command("CLIENT", "LIST"));
    return list
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => ({ cmd: /\bcmd=(\S+)/.exec(line)?.[1] ?? "" }))
      .filter((client) => client.cmd !== "client|list");
  }

  async #answers(): Promise<boolean> {
    try {
      return (await this.command("PING")) === "PONG";
    } catch {
      return false;
    }
  }
}

/** A loopback port nothing listens on (bound, then released). */
export async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
