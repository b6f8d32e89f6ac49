// The conformance runner against a cluster (npm run conformance:cluster [-- --nodes 3 …runner flags]): a fresh
// PostgreSQL database, N `imwire serve` nodes over it and one Redis bus, each a process of its own on a loopback
// port, and `imwire conformance --target NODE0 --node NODE1 …` spreading every test's connections over the nodes
// (CLU-1). The profile declares what the nodes run with — the embedded server's small limits, so that limits,
// windows and heartbeats are reached in seconds — and the operator hooks: a restart kills every node with SIGKILL
// and starts it again on its port (a crash of the whole cluster; the stored state must hold), a shutdown sends
// every node SIGTERM (CONN-7: go_away on every node), and the nodes post push hand-offs to the runner's webhook.
// Exits with the runner's status; the database is dropped afterwards.
//
// Needs IMWIRE_POSTGRES_URL (a role that may CREATE DATABASE) and IMWIRE_REDIS_URL, as .ci/run sets them.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { EMBEDDED_LIMITS, EMBEDDED_PROTOCOL } from "../src/conformance/embedded-server.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SECRET = randomBytes(16).toString("hex");

/** The embedded server's protocol options as serve flags: the profile's limits are what the nodes enforce. */
const PROTOCOL_FLAGS = [
  ["--heartbeat-ms", EMBEDDED_PROTOCOL.heartbeatIntervalMs],
  ["--receive-window", EMBEDDED_PROTOCOL.receiveWindow],
  ["--max-frame-size", EMBEDDED_PROTOCOL.maxFrameSize],
  ["--max-group-size", EMBEDDED_LIMITS.maxGroupSize],
  ["--max-inline-members", EMBEDDED_LIMITS.maxInlineMembers],
  ["--read-fan-out-members", EMBEDDED_LIMITS.readFanOutMembers],
  ["--stream-retention", EMBEDDED_LIMITS.streamRetentionEntries],
  ["--receipt-members", EMBEDDED_LIMITS.receiptMembers],
].flatMap(([flag, value]) => [String(flag), String(value)]);

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: the cluster needs PostgreSQL and Redis (see README, "A cluster on PostgreSQL and Redis")`);
  return value;
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

/** One node: `imwire serve` on a fixed port, started again on the same port by a restart. */
class Node {
  #child: ChildProcess | undefined;

  constructor(
    readonly port: number,
    readonly args: readonly string[],
  ) {}

  get url(): string {
    return `tcp://127.0.0.1:${this.port}`;
  }

  /** Resolves once it says it listens (its JSON log on stderr). */
  start(): Promise<void> {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/run.ts", "serve", ...this.args, "--tcp", `127.0.0.1:${this.port}`, "--ws", "off", "--secret", SECRET, "--log-level", "info"], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
    this.#child = child;
    let log = "";
    return new Promise((started, failed) => {
      child.stderr!.setEncoding("utf8");
      child.stderr!.on("data", (chunk: string) => {
        if (log.length < 100_000) log += chunk;
        if (log.includes("listening on tcp://") && log.includes("storing in")) started();
      });
      child.once("exit", (code, signal) => failed(new Error(`node on ${this.port} exited (${code ?? signal}) before listening:\n${log}`)));
    });
  }

  /** Send `signal` and resolve once the process is gone. */
  stop(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    const gone = new Promise<void>((exited) => child.once("exit", () => exited()));
    child.kill(signal);
    return gone;
  }
}

/** The operator hooks as a loopback HTTP endpoint: the profile's hook commands call it and wait for its answer. */
async function hookServer(nodes: readonly Node[]): Promise<{ url: string; close(): void }> {
  let stopping: Promise<unknown> = Promise.resolve();
  const server = createHttpServer((request, response) => {
    const done = (error?: unknown) => {
      response.statusCode = error ? 500 : 200;
      response.end(error ? String(error) : "ok");
    };
    if (request.url === "/restart") {
      // A crash of the whole cluster, then every node back on its port: the runner dials them once this answers.
      const restarted = stopping.then(() => Promise.all(nodes.map((node) => node.stop("SIGKILL")))).then(() => Promise.all(nodes.map((node) => node.start())));
      stopping = restarted.catch(() => undefined);
      restarted.then(() => done(), done);
    } else if (request.url === "/shutdown") {
      // Asked, not awaited (HOOK-2): the nodes drain while the runner watches.
      stopping = Promise.all(nodes.map((node) => node.stop("SIGTERM")));
      done();
    } else {
      response.statusCode = 404;
      response.end();
    }
  });
  await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

/** A shell command that calls `url` and fails unless it answers 200. */
const call = (url: string) => `"${process.execPath}" -e "fetch('${url}').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"`;

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  let count = 3;
  const runnerArgs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--nodes") count = Number(args[++i]);
    else runnerArgs.push(args[i]!);
  }
  if (!Number.isInteger(count) || count < 1 || count > 8) throw new Error("--nodes takes 1 to 8");
  const adminUrl = required("IMWIRE_POSTGRES_URL");
  const redisUrl = required("IMWIRE_REDIS_URL");
  const database = `imwire_conformance_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  const storeUrl = new URL(adminUrl);
  storeUrl.pathname = `/${database}`;
  const webhook = `http://127.0.0.1:${await freePort()}/push`;
  const storeArgs = ["--store", storeUrl.href, "--bus", redisUrl, "--push-webhook", webhook, ...PROTOCOL_FLAGS];
  const nodes = await Promise.all(Array.from({ length: count }, async () => new Node(await freePort(), storeArgs)));
  const hooks = await hookServer(nodes);
  const dir = mkdtempSync(join(tmpdir(), "imwire-cluster-conformance-"));
  try {
    // One after another: the first creates the schema (the others would wait on its migration lock anyway).
    for (const node of nodes) await node.start();
    const profile = {
      features: ["stream", "channels", "read-receipts", "expired-tokens", "fault-injection", "push-handoff"],
      limits: EMBEDDED_LIMITS,
      hooks: { restart: call(`${hooks.url}/restart`), shutdown: call(`${hooks.url}/shutdown`), pushWebhook: webhook },
    };
    const profileFile = join(dir, "profile.json");
    writeFileSync(profileFile, JSON.stringify(profile, null, 2));
    console.log(`${count} nodes over ${database}: ${nodes.map((node) => node.url).join(", ")}`);
    const [first, ...rest] = nodes;
    const runner = spawn(process.execPath, ["--import", "tsx", "src/cli/run.ts", "conformance", "--target", first!.url, ...rest.flatMap((node) => ["--node", node.url]), "--profile", profileFile, "--secret", SECRET, ...runnerArgs], { cwd: ROOT, stdio: "inherit" });
    return await new Promise<number>((done) => runner.once("exit", (code) => done(code ?? 1)));
  } finally {
    hooks.close();
    await Promise.all(nodes.map((node) => node.stop("SIGTERM")));
    rmSync(dir, { recursive: true, force: true });
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  }
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(error.message);
    process.exit(1);
  },
);
