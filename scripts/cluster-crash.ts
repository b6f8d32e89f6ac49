// Crash test of a cluster (issue 14; npm run crash:cluster [-- --seed S --kills N --nodes N --users N
// --devices-per-user N --store postgres://… --bus redis://…]): N real `imwire serve` processes, each on a
// port of its own, over one fresh PostgreSQL database (created for the run, dropped after it) and one Redis
// bus. Under multi-user, multi-device load a random node is killed with SIGKILL at random moments and
// restarted on its port; its devices fail over to another node (each device dials one of the other nodes
// of the list, picked at random, on every reconnect, as a client given a list of servers would). At the end, exactly the checks of
// scripts/crash.ts (checkRun): every acknowledged message stored once, at its seq, gapless, with its id;
// every device's application saw every event in order, none twice; every retry answered the same — the
// resends going to a node other than the device's last, so IDEM-2 is checked across nodes.
//
// Measured: failover time, from the kill to a device's next successful authentication on another node.
import { randomBytes } from "node:crypto";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import pg from "pg";
import { Transcript } from "../src/conformance/suite/scripted-connection.js";
import { seededRandom } from "../src/conformance/codec-harness/splits.js";
import type { ClientBreakage } from "../test/support/broken-clients.js";
import { checkRun, type CrashOptions, type CrashReport, deviceStatuses, type Device, drain, formatReport, freePort, makeDevices, newReport, openConversations, runUsers, ServerProcess, sleep, waitFor } from "./crash.js";

export const CLUSTER_MUTANTS = ["splitStore", "newIdPerRetry"] as const;
/**
 * Self-checks, each of which must fail the run. "splitStore": every node on a database of its own, so
 * the nodes are no cluster (a device that fails over finds another history); "newIdPerRetry": the broken
 * client that retries a send under a new client_message_id.
 */
export type ClusterMutant = (typeof CLUSTER_MUTANTS)[number];

export interface ClusterCrashOptions extends Pick<CrashOptions, "seed" | "kills" | "users" | "devicesPerUser" | "minLoadMs" | "maxLoadMs" | "outstanding" | "paceMs" | "tailMs" | "drainTimeoutMs" | "log"> {
  readonly nodes: number;
  /** A database whose role may CREATE DATABASE: the run's own database is created beside it and dropped after. */
  readonly postgresUrl: string;
  readonly redisUrl: string;
  /** A killed node stays down uniformly in [0, maxDownMs] before its restart is begun. */
  readonly maxDownMs?: number;
  readonly mutant?: ClusterMutant;
}

export interface Failover {
  readonly kill: number;
  readonly device: string;
  /** From the SIGKILL to the device's next authenticated frame. */
  readonly ms: number;
  /** It authenticated on the node that was killed (restarted meanwhile), not on another. */
  readonly sameNode: boolean;
}

export interface ClusterCrashReport extends CrashReport {
  readonly nodes: number;
  readonly database: string;
  /** Kills per node. */
  readonly killsPerNode: number[];
  readonly failovers: Failover[];
  /** Devices of a killed node that never authenticated again. */
  neverFailedOver: number;
}

/** A database for the run beside `adminUrl`'s; dropped with `drop` (every node's connection closed by then, or forced). */
async function createDatabase(adminUrl: string, name: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted.length % 2 === 1 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
};

export async function runClusterCrash(options: ClusterCrashOptions): Promise<ClusterCrashReport> {
  if (options.nodes < 2) throw new Error("a cluster crash test needs at least 2 nodes: a device fails over to another");
  const started = Date.now();
  const log = options.log ?? (() => undefined);
  const minLoadMs = options.minLoadMs ?? 50;
  const maxLoadMs = options.maxLoadMs ?? 800;
  const tag = randomBytes(3).toString("hex");
  const databaseName = `imwire_cluster_crash_${tag}`;
  const report: ClusterCrashReport = { ...newReport(options.seed, databaseName), nodes: options.nodes, database: databaseName, killsPerNode: Array(options.nodes).fill(0), failovers: [], neverFailedOver: 0 };
  const fail = (text: string) => {
    report.failures.push(text);
  };
  const schedule = seededRandom(options.seed);
  const users = runUsers(options.users, tag);
  const split = options.mutant === "splitStore";
  const databases = await Promise.all(Array.from({ length: split ? options.nodes : 1 }, (_, i) => createDatabase(options.postgresUrl, split ? `${databaseName}_${i}` : databaseName)));
  const nodes: ServerProcess[] = [];
  for (let i = 0; i < options.nodes; i++) nodes.push(new ServerProcess(databases[split ? i : 0]!.url, await freePort(), "postgres", options.redisUrl));
  const mutations: ClientBreakage = options.mutant === "newIdPerRetry" ? { newIdPerRetry: true } : {};
  let devices: Device[] = [];
  const kills: { at: number; node: number; victims: Device[] }[] = [];
  const checkNodes = () => {
    for (const node of nodes) if (node.unexpectedExit) throw new Error(node.unexpectedExit);
  };

  try {
    // The first brings the fresh database's schema up; the others find it there.
    await nodes[0]!.start();
    await Promise.all(nodes.slice(1).map((node) => node.start()));
    log(`${nodes.length} nodes on ${nodes.map((n) => n.port).join(", ")}, database ${databaseName}, bus ${options.redisUrl}, seed ${options.seed}`);
    const memberOf = await openConversations(nodes[0]!.url, users, options.seed, tag);
    // Device k of user u starts on node u + k: the devices of one user are on different nodes.
    // Paced well inside what the cluster commits (every write takes the one writer lock, bench/cluster.bench.ts): a
    // saturated cluster queues without bound, handshakes time out (CONN-6) and failover measures the queue instead.
    const load = { ...options, paceMs: options.paceMs ?? 1_000, outstanding: options.outstanding ?? 1 };
    devices = makeDevices(users, memberOf, load, tag, mutations, (u, k) => {
      // Each reconnect dials one of the other nodes, picked at random (seeded): the devices of a killed node
      // spread over the survivors instead of all moving to the same next one.
      const pick = seededRandom((options.seed * 7919 + u * 131 + k) >>> 0);
      let at = (u + k) % nodes.length;
      let dials = 0;
      return () => {
        if (dials++ > 0) at = (at + 1 + Math.floor(pick() * (nodes.length - 1))) % nodes.length;
        return nodes[at]!.url;
      };
    });
    for (const d of devices) d.start();
    await waitFor(() => devices.every((d) => d.machine.status === "ready"), 30_000, () => `every device to be ready (${deviceStatuses(devices)})`);
    log(`${users.length} users × ${options.devicesPerUser} devices over ${nodes.length} nodes; ${options.kills} kills`);
    for (const d of devices) d.startLoad();

    for (let k = 1; k <= options.kills; k++) {
      // Mostly once every device is back; sometimes as soon as one is, so others die while failing over.
      const whileFailingOver = k > 1 && schedule() < 0.3;
      const back = (d: Device) => d.machine.status === "ready";
      await waitFor(() => (checkNodes(), whileFailingOver ? devices.some(back) : devices.every(back)), 30_000, () => `${whileFailingOver ? "a device" : "every device"} to be back before kill ${k} (${deviceStatuses(devices)})`);
      const loadMs = Math.round(minLoadMs + schedule() * (maxLoadMs - minLoadMs));
      await sleep(loadMs);
      checkNodes();
      const victim = Math.floor(schedule() * nodes.length);
      const node = nodes[victim]!;
      const victims = devices.filter((d) => back(d) && d.authentications.at(-1)?.url === node.url);
      const sentSoFar = devices.reduce((n, d) => n + d.sends.size, 0);
      await node.kill();
      kills.push({ at: Date.now(), node: victim, victims });
      report.kills++;
      report.killsPerNode[victim]!++;
      const downMs = Math.round(schedule() * (options.maxDownMs ?? 300));
      await sleep(downMs);
      await node.start();
      report.restarts++;
      log(`kill ${k}/${options.kills}: node ${victim} after ${loadMs} ms of load, ${victims.length} devices on it (${sentSoFar} sends so far), down ${downMs} ms + ${node.startMs.at(-1)} ms to restart`);
    }

    await drain(devices, options, checkNodes, fail);
    const nodeOf = (url: string | undefined) => nodes.findIndex((n) => n.url === url);
    // The fresh devices read on node 0; each device resends on a node other than its last.
    await checkRun({ report, fail, users, memberOf, devices, transcript: new Transcript(), auditUrl: nodes[0]!.url, resendUrl: (d) => nodes[(nodeOf(d.authentications.at(-1)?.url) + 1) % nodes.length]!.url });

    for (const [i, kill] of kills.entries()) {
      const killedUrl = nodes[kill.node]!.url;
      for (const d of kill.victims) {
        const next = d.authentications.find((a) => a.at >= kill.at);
        if (!next) {
          report.neverFailedOver++;
          fail(`${d.key} never authenticated again after kill ${i + 1} (node ${kill.node})`);
          continue;
        }
        report.failovers.push({ kill: i + 1, device: d.key, ms: next.at - kill.at, sameNode: next.url === killedUrl });
      }
    }
  } catch (error) {
    fail(`aborted: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    for (const d of devices) d.stop();
    await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
    for (const database of databases) await database.drop().catch((error: unknown) => fail(`could not drop the run's database: ${String(error)}`));
    report.ms = Date.now() - started;
  }
  if (report.failures.length > 0) for (const [i, node] of nodes.entries()) report.failures.push(`node ${i} log (last lines):\n${node.tail(10)}`);
  return report;
}

export function formatClusterReport(r: ClusterCrashReport): string {
  const times = r.failovers.map((f) => f.ms);
  const rows: [string, string | number][] = [
    ["nodes", r.nodes],
    ["kills per node", r.killsPerNode.join(" / ")],
    ["failovers (devices of a killed node)", r.failovers.length],
    ["  failover ms min / median / max", times.length === 0 ? "-" : `${Math.min(...times)} / ${Math.round(median(times))} / ${Math.max(...times)}`],
    ["  back on the killed node instead", r.failovers.filter((f) => f.sameNode).length],
    ["  never authenticated again", r.neverFailedOver],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return `${rows.map(([k, v]) => `  ${k.padEnd(width)}  ${String(v).padStart(10)}`).join("\n")}\n${formatReport(r)}`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seed: { type: "string" },
      kills: { type: "string", default: "12" },
      nodes: { type: "string", default: "3" },
      users: { type: "string", default: "4" },
      "devices-per-user": { type: "string", default: "3" },
      "pace-ms": { type: "string" },
      outstanding: { type: "string" },
      store: { type: "string", default: process.env.IMWIRE_POSTGRES_URL ?? "postgres://imwire:imwire@127.0.0.1:5432/imwire" },
      bus: { type: "string", default: process.env.IMWIRE_REDIS_URL ?? "redis://127.0.0.1:6379" },
      mutant: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      `Usage: npm run crash:cluster -- [--seed N] [--kills N (12)] [--nodes N (3)] [--users N (4)] [--devices-per-user N (3)]\n` +
        `       [--pace-ms N (1000: a device waits up to N ms between sends)] [--outstanding N (1: sends each device keeps unacknowledged)]\n` +
        `       [--store postgres://… (IMWIRE_POSTGRES_URL; its role must be allowed to CREATE DATABASE)] [--bus redis://… (IMWIRE_REDIS_URL)]\n` +
        `       [--mutant ${CLUSTER_MUTANTS.join("|")}  (self-check: break it on purpose; the run must fail)]\n`,
    );
    return 0;
  }
  const int = (text: string, flag: string, min: number) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new Error(`${flag} takes an integer of at least ${min}, not ${text}`);
    return n;
  };
  if (values.mutant !== undefined && !(CLUSTER_MUTANTS as readonly string[]).includes(values.mutant)) throw new Error(`--mutant takes one of ${CLUSTER_MUTANTS.join(", ")}, not ${values.mutant}`);
  const seed = values.seed === undefined ? Date.now() % 2 ** 31 : int(values.seed, "--seed", 0);
  const options: ClusterCrashOptions = {
    seed,
    kills: int(values.kills, "--kills", 0),
    nodes: int(values.nodes, "--nodes", 2),
    users: int(values.users, "--users", 1),
    devicesPerUser: int(values["devices-per-user"], "--devices-per-user", 1),
    ...(values["pace-ms"] !== undefined ? { paceMs: int(values["pace-ms"], "--pace-ms", 1) } : {}),
    ...(values.outstanding !== undefined ? { outstanding: int(values.outstanding, "--outstanding", 1) } : {}),
    postgresUrl: values.store,
    redisUrl: values.bus,
    ...(values.mutant !== undefined ? { mutant: values.mutant as ClusterMutant } : {}),
    log: (line) => process.stdout.write(`  ${line}\n`),
  };
  process.stdout.write(`crash:cluster: kill -9 a random node of ${options.nodes} ${options.kills} times under load, seed ${seed}\n`);
  const report = await runClusterCrash(options);
  process.stdout.write(formatClusterReport(report));
  return report.failures.length === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  void dirname(fileURLToPath(import.meta.url));
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`crash:cluster: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(2);
    },
  );
}
