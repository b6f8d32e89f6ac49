import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { freePort } from "./nats-server.js";
import type { LockReport } from "./writer-lock-probe.js";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const PROBE = new URL("./writer-lock-probe.ts", import.meta.url).href;

/** One `imwire serve` child process (from source, through tsx), listening on a loopback TCP port. */
export interface ServeNode {
  readonly url: string;
  readonly pid: number;
  /** The writer lock's figures since the last call (see writer-lock-probe.ts); undefined without the probe. */
  lockReport(): Promise<LockReport | undefined>;
  /** What it wrote to stderr (warnings and errors; the first 64 KB): printed when a run fails. */
  log(): string;
  /** SIGTERM (graceful: go_away, drain), SIGKILL after 10 s; resolves once it has exited. */
  stop(): Promise<void>;
}

export interface ServeNodeOptions {
  /** The store and bus flags: `["--db", path]`, or `["--store", "postgres://…", "--bus", "redis://…"]`. */
  readonly storeArgs: readonly string[];
  readonly secret: string;
  /** Load writer-lock-probe.ts into the node (meaningful on PostgreSQL only). */
  readonly lockProbe?: boolean;
  /** Further serve flags. */
  readonly extraArgs?: readonly string[];
}

/** Dial until the port answers (the server listens once its store is open), or fail after `ms`. */
async function untilListening(port: number, child: ChildProcess, log: () => string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`imwire serve exited (${child.exitCode ?? child.signalCode}) before listening:\n${log()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: "127.0.0.1", port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`imwire serve did not listen on ${port} within ${ms} ms:\n${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Start `node --import tsx src/cli/run.ts serve … --tcp 127.0.0.1:PORT --ws
 * off --log-level warn` on a free port and wait until it listens. FLOW-4's
 * rate limits are lifted (--rate-limit 1e6): the benchmarks measure the
 * store and the cluster, not the token buckets. Its stderr (warnings and
 * errors only) is kept, and printed if it exits before it is stopped.
 */
export async function startServeNode(options: ServeNodeOptions): Promise<ServeNode> {
  const port = await freePort();
  const args = [
    "--import",
    "tsx",
    ...(options.lockProbe ? ["--import", PROBE] : []),
    "src/cli/run.ts",
    "serve",
    ...options.storeArgs,
    "--tcp",
    `127.0.0.1:${port}`,
    "--ws",
    "off",
    "--secret",
    options.secret,
    "--log-level",
    "warn",
    "--rate-limit",
    "1000000",
    ...(options.extraArgs ?? []),
  ];
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ["ignore", "ignore", "pipe", "ipc"] });
  let log = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => {
    if (log.length < 64_000) log += chunk;
  });
  let stopping = false;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.once("exit", (code, signal) => {
    if (!stopping) console.error(`imwire serve (pid ${child.pid}) exited unexpectedly (${code ?? signal}):\n${log}`);
  });
  const waiting = new Set<(report: LockReport) => void>();
  child.on("message", (message: { lockReport?: LockReport }) => {
    if (!message.lockReport) return;
    for (const resolve of waiting) resolve(message.lockReport);
    waiting.clear();
  });
  try {
    await untilListening(port, child, () => log);
  } catch (error) {
    stopping = true;
    child.kill("SIGKILL");
    throw error;
  }
  return {
    url: `tcp://127.0.0.1:${port}`,
    pid: child.pid!,
    log: () => log,
    lockReport() {
      if (!options.lockProbe) return Promise.resolve(undefined);
      return new Promise((resolve) => {
        waiting.add(resolve);
        child.send("lock-report");
      });
    },
    async stop() {
      stopping = true;
      // The IPC channel would keep the child's event loop alive after the server has closed.
      if (child.connected) child.disconnect();
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
