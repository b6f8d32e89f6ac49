import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";

/** A nats-server child process with JetStream on, for benchmarks: started on a free loopback port, killed by stop(). */
export interface NatsServer {
  readonly url: string;
  readonly pid: number;
  readonly version: string;
  /** Bytes the server process has sent to the storage layer so far (/proc/<pid>/io write_bytes). */
  writeBytes(): number;
  stop(): Promise<void>;
}

/** A port that was free a moment ago (the child process that is given it takes it right after). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** /proc/<pid>/io's write_bytes: what a process wrote to storage (page cache write-back included), 0 if unreadable. */
export function procWriteBytes(pid: number | "self"): number {
  try {
    const line = readFileSync(`/proc/${pid}/io`, "utf8").split("\n").find((l) => l.startsWith("write_bytes:"));
    return line ? Number(line.split(/\s+/)[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Start `nats-server -js` (from PATH, or IMWIRE_NATS_SERVER) with its store in `storeDir`, listening on
 * 127.0.0.1 only, and wait until it says it is ready. Throws if the binary is missing.
 */
export async function startNatsServer(storeDir: string, binary = process.env.IMWIRE_NATS_SERVER ?? "nats-server"): Promise<NatsServer> {
  const port = await freePort();
  const child: ChildProcess = spawn(binary, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  let ready = false;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nats-server did not become ready in 10 s:\n${log}`)), 10_000);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${binary} (apt-get install nats-server, or set IMWIRE_NATS_SERVER): ${error.message}`));
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (!ready) reject(new Error(`nats-server exited with ${code}:\n${log}`));
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => {
      if (log.length < 64_000) log += chunk;
      if (!ready && log.includes("Server is ready")) {
        ready = true;
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const version = /Version:\s+(\S+)/.exec(log)?.[1] ?? "unknown";
  return {
    url: `nats://127.0.0.1:${port}`,
    pid: child.pid!,
    version,
    writeBytes: () => procWriteBytes(child.pid!),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
