/**
 * The reference server as a cluster (issue 14): 1, 2 and 3 `imwire serve`
 * child processes over one PostgreSQL database and a Redis bus, beside the
 * baseline, one node on its embedded SQLite store (`serve --db FILE`), in
 * the same run. Run: node --import tsx bench/cluster.bench.ts [--quick].
 *
 * Per setup: a fresh store (CREATE DATABASE, dropped at the end; a fresh
 * SQLite file in a temp dir), fresh nodes (bench/support/serve-node.ts:
 * `node --import tsx src/cli/run.ts serve --store postgres://… --bus
 * redis://… --tcp 127.0.0.1:PORT --ws off --log-level warn`, FLOW-4 lifted),
 * and a redis-server of our own (the shared one's channel carries other
 * clusters' notices). Two workloads, interleaved over rounds after a
 * warm-up (bench/support/cluster-workloads.ts):
 *  (a) 1:1 — PAIRS DIRECT conversations, pair p's sender on node p mod N
 *      and its peer on node p+1 mod N, PAIR_DEPTH messages in flight each;
 *  (b) a GROUP_SIZE-member group (read fan-out, CUR-7), member m on node
 *      m mod N, all connected; GROUP_SENDERS members (on different nodes)
 *      send, GROUP_DEPTH in flight each.
 * Measured per round: acknowledged messages/s (every message sent in the
 * round is acknowledged and pushed everywhere before it ends), send →
 * send_ack p50/p99, send → the push to the last member on another node than
 * the sender (one node: any other member), CPU seconds per 1,000 messages of
 * every node process, of this database's PostgreSQL backends, of the shared
 * PostgreSQL background writers, of Redis, of this process (the load
 * generator: every client is here, none in a node), and what the rest of
 * the machine used meanwhile (other engineers' work: noise); and, from
 * inside each node (bench/support/writer-lock-probe.ts), the writer lock —
 * every write transaction's `SELECT … FROM counters WHERE name = 'cursor'
 * FOR UPDATE` — held per commit, waited for, requests per commit.
 *
 * No assertion on timings; a wrong run (an error frame, a gap, a lost or
 * duplicated push) throws. IMWIRE_POSTGRES_URL names the server and a role
 * that may CREATEDB (default the local imwire one).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { RunResult } from "./support/ack-pipeline.js";
import { directPairs, oneGroup, type Workload } from "./support/cluster-workloads.js";
import { CpuMeter, machineBusySeconds, processCommandLine, processesOwnedBy, userId } from "./support/proc-cpu.js";
import { RedisServerProcess } from "../test/support/redis-server.js";
import { machine, median } from "./support/runner.js";
import { startServeNode, type ServeNode } from "./support/serve-node.js";
import type { LockReport } from "./support/writer-lock-probe.js";

const quick = process.argv.includes("--quick");
const ROUNDS = quick ? 1 : 2;
const ROUND_MS = quick ? 1500 : 5000;
const WARMUP_MS = quick ? 300 : 1000;
const PAIRS = quick ? 16 : 32;
// In flight: enough to keep every node busy, few enough that a round drains (waits for its last message) quickly at
// PostgreSQL's rates; the same for every setup.
const PAIR_DEPTH = 2;
/** Above readFanOutMembers (100): read fan-out, as a large group is stored. */
const GROUP_SIZE = quick ? 200 : 500;
const GROUP_SENDERS = 4;
const GROUP_DEPTH = 1;
const NODE_COUNTS = quick ? [1, 3] : [1, 2, 3];
const SECRET = "bench-secret";
const POSTGRES_URL = process.env.IMWIRE_POSTGRES_URL ?? "postgres://imwire:imwire@127.0.0.1:5432/imwire";
const POSTGRES_UID = userId("postgres");
const SHARED_POSTGRES_PROCESSES = /: (checkpointer|background writer|walwriter)\b/;

// ---- set-ups --------------------------------------------------------------------

interface Setup {
  readonly label: string;
  readonly postgres: boolean;
  readonly nodes: readonly ServeNode[];
  /** This setup's PostgreSQL backends (none on SQLite). */
  backends(): Promise<number[]>;
  close(): Promise<void>;
}

const admin = new pg.Client({ connectionString: POSTGRES_URL });
await admin.connect();
const redis = await RedisServerProcess.start();
const scratch = mkdtempSync(join(tmpdir(), "imwire-cluster-bench-"));

async function sqliteSetup(): Promise<Setup> {
  const node = await startServeNode({ storeArgs: ["--db", join(scratch, "baseline.sqlite")], secret: SECRET });
  return { label: "SQLite, 1 node (baseline)", postgres: false, nodes: [node], backends: async () => [], close: () => node.stop() };
}

async function postgresSetup(n: number): Promise<Setup> {
  const database = `imwire_cluster_bench_${process.pid}_${n}`;
  await admin.query(`CREATE DATABASE ${database}`);
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${database}`;
  const nodes: ServeNode[] = [];
  try {
    // Concurrently: the schema migration takes an advisory lock, so one node creates the tables and the others wait.
    nodes.push(...(await Promise.all(Array.from({ length: n }, () => startServeNode({ storeArgs: ["--store", url.href, "--bus", redis.url], secret: SECRET, lockProbe: true })))));
  } catch (error) {
    await Promise.all(nodes.map((node) => node.stop()));
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    throw error;
  }
  return {
    label: `PostgreSQL + Redis, ${n} node${n > 1 ? "s" : ""}`,
    postgres: true,
    nodes,
    backends: async () => (await admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'", [database])).rows.map((r) => r.pid),
    async close() {
      await Promise.all(nodes.map((node) => node.stop()));
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    },
  };
}

// ---- one round ------------------------------------------------------------------

interface Round {
  readonly messages: number;
  readonly seconds: number;
  readonly ackMs: number[];
  readonly remotePushMs: number[];
  /** CPU seconds over the round. */
  readonly nodeCpu: number[];
  readonly pgBackendCpu: number;
  readonly pgSharedCpu: number;
  readonly redisCpu: number;
  readonly loadCpu: number;
  readonly otherCpu: number;
  readonly locks: LockReport[];
}

const meter = new CpuMeter();
const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

async function round(setup: Setup, workload: Workload, depth: number, ms: number): Promise<Round> {
  const nodePids = setup.nodes.map((node) => node.pid);
  const backends = await setup.backends();
  const postgres = POSTGRES_UID === undefined ? [] : processesOwnedBy(POSTGRES_UID);
  const shared = postgres.filter((pid) => SHARED_POSTGRES_PROCESSES.test(processCommandLine(pid)));
  const pids = [...nodePids, ...backends, ...shared, redis.pid];
  await Promise.all(setup.nodes.map((node) => node.lockReport())); // resets the probes
  meter.take(pids);
  const busy = machineBusySeconds();
  const load = process.cpuUsage();
  const start = performance.now();
  const results: RunResult[] = await Promise.all(workload.pipelines.map((p) => p.run(depth, { ms })));
  const seconds = (performance.now() - start) / 1000;
  const used = meter.take(pids);
  const loadCpu = (() => {
    const u = process.cpuUsage(load);
    return (u.user + u.system) / 1e6;
  })();
  const machineCpu = machineBusySeconds() - busy;
  const locks = (await Promise.all(setup.nodes.map((node) => node.lockReport()))).filter((r): r is LockReport => r !== undefined);
  await workload.delivered();
  const cpuOf = (list: readonly number[]) => sum(list.map((pid) => used.get(pid) ?? 0));
  const ours = cpuOf(pids) + loadCpu;
  return {
    messages: sum(results.map((r) => r.messages)),
    seconds,
    ackMs: results.flatMap((r) => r.ack),
    remotePushMs: results.flatMap((r) => r.lastPush),
    nodeCpu: nodePids.map((pid) => used.get(pid) ?? 0),
    pgBackendCpu: cpuOf(backends),
    pgSharedCpu: cpuOf(shared),
    redisCpu: setup.postgres ? used.get(redis.pid) ?? 0 : 0,
    loadCpu,
    otherCpu: Math.max(0, machineCpu - ours),
    locks,
  };
}

// ---- the run ----------------------------------------------------------------------

interface Result {
  readonly setup: string;
  readonly nodes: number;
  readonly postgres: boolean;
  readonly workload: "1:1" | "group";
  readonly pushesPerMessage: number;
  readonly rounds: Round[];
}

const results: Result[] = [];
/** A device found something wrong (an error frame, a gap, a closed connection): what the nodes said of it. */
function printNodeLogs(setup: Setup): void {
  for (const node of setup.nodes) console.error(`${setup.label}, node ${node.pid} (${node.url}) stderr:\n${node.log() || "(nothing)"}`);
}
let running: Setup | undefined;
// The devices throw from their transports' callbacks: such an error ends the run here, after the nodes' logs.
process.once("uncaughtException", (error) => {
  if (running) printNodeLogs(running);
  console.error(error);
  process.exit(1);
});
const factories: (() => Promise<Setup>)[] = [sqliteSetup, ...NODE_COUNTS.map((n) => () => postgresSetup(n))];
try {
  for (const make of factories) {
    const setup = await make();
    running = setup;
    try {
      const urls = setup.nodes.map((node) => node.url);
      const direct = await directPairs(urls, SECRET, PAIRS);
      const group = await oneGroup(urls, SECRET, GROUP_SIZE, GROUP_SENDERS);
      const cases = [
        { workload: direct, depth: PAIR_DEPTH, result: { setup: setup.label, nodes: setup.nodes.length, postgres: setup.postgres, workload: "1:1" as const, pushesPerMessage: direct.pushesPerMessage, rounds: [] as Round[] } },
        { workload: group, depth: GROUP_DEPTH, result: { setup: setup.label, nodes: setup.nodes.length, postgres: setup.postgres, workload: "group" as const, pushesPerMessage: group.pushesPerMessage, rounds: [] as Round[] } },
      ];
      for (const c of cases) await round(setup, c.workload, c.depth, WARMUP_MS);
      for (let r = 0; r < ROUNDS; r++) {
        for (const c of r % 2 === 0 ? cases : [...cases].reverse()) c.result.rounds.push(await round(setup, c.workload, c.depth, ROUND_MS));
      }
      for (const c of cases) {
        results.push(c.result);
        const last = c.result.rounds.at(-1)!;
        console.error(`  ${setup.label}, ${c.result.workload}: ${Math.round(last.messages / last.seconds)} msg/s`);
      }
      await direct.close();
      await group.close();
    } catch (error) {
      printNodeLogs(setup);
      throw error;
    } finally {
      await setup.close();
    }
  }
} finally {
  await redis.stop();
  await admin.end();
  rmSync(scratch, { recursive: true, force: true });
}

// ---- report -----------------------------------------------------------------------

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
/** Per round: the percentile of its messages; reported: the median over rounds (as durable.bench.ts). */
const roundsPercentile = (rounds: readonly Round[], key: "ackMs" | "remotePushMs", p: number) => median(rounds.map((r) => percentile(r[key], p)));
const ms = (v: number) => (Number.isNaN(v) ? "—" : v >= 100 ? `${v.toFixed(0)} ms` : v >= 10 ? `${v.toFixed(1)} ms` : `${v.toFixed(2)} ms`);
const rate = (n: number) => (n >= 1e4 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(0));
const cpu = (seconds: number) => seconds.toFixed(2);

const summary = results.map((r) => {
  const messages = sum(r.rounds.map((x) => x.messages));
  const seconds = sum(r.rounds.map((x) => x.seconds));
  const per1000 = (f: (x: Round) => number) => (sum(r.rounds.map(f)) / messages) * 1000;
  const holds = r.rounds.flatMap((x) => x.locks.flatMap((l) => l.holdMs));
  const commits = holds.length;
  return {
    r,
    perSecond: median(r.rounds.map((x) => x.messages / x.seconds)),
    range: r.rounds.map((x) => rate(x.messages / x.seconds)).join(", "),
    ack50: roundsPercentile(r.rounds, "ackMs", 50),
    ack99: roundsPercentile(r.rounds, "ackMs", 99),
    push50: roundsPercentile(r.rounds, "remotePushMs", 50),
    push99: roundsPercentile(r.rounds, "remotePushMs", 99),
    nodeCpu: Array.from({ length: r.nodes }, (_, i) => per1000((x) => x.nodeCpu[i]!)),
    pgBackendCpu: per1000((x) => x.pgBackendCpu),
    pgSharedCpu: per1000((x) => x.pgSharedCpu),
    redisCpu: per1000((x) => x.redisCpu),
    loadCpu: per1000((x) => x.loadCpu),
    otherCpu: per1000((x) => x.otherCpu),
    /** Cores busy with this setup's processes (nodes, PostgreSQL, Redis, load generator), on average. */
    cores: sum(r.rounds.map((x) => sum(x.nodeCpu) + x.pgBackendCpu + x.pgSharedCpu + x.redisCpu + x.loadCpu)) / seconds,
    otherCores: sum(r.rounds.map((x) => x.otherCpu)) / seconds,
    commitsPerSecond: commits / seconds,
    messagesPerCommit: commits ? messages / commits : NaN,
    requestsPerCommit: commits ? sum(r.rounds.flatMap((x) => x.locks.map((l) => l.savepoints))) / commits : NaN,
    hold50: percentile(holds, 50),
    hold99: percentile(holds, 99),
    holdPerMessage: commits ? sum(holds) / messages : NaN,
    lockBusy: sum(holds) / 1000 / seconds,
    waitPerCommit: commits ? sum(r.rounds.flatMap((x) => x.locks.map((l) => l.waitMs))) / commits : NaN,
    statementsPerCommit: commits ? sum(r.rounds.flatMap((x) => x.locks.map((l) => l.statements))) / commits : NaN,
    statements: statementsPerMessage(r.rounds, messages),
  };
});
type Row = (typeof summary)[number];

/** Every statement the nodes ran (writes and the push path's reads), per message: round trips and the time a node's loop waited on them. */
function statementsPerMessage(rounds: readonly Round[], messages: number) {
  const bySql = new Map<string, { count: number; ms: number }>();
  for (const report of rounds.flatMap((x) => x.locks)) {
    for (const [sql, { count, ms }] of Object.entries(report.bySql)) {
      const entry = bySql.get(sql) ?? { count: 0, ms: 0 };
      entry.count += count;
      entry.ms += ms;
      bySql.set(sql, entry);
    }
  }
  const all = [...bySql.entries()].map(([sql, e]) => ({ sql, count: e.count / messages, ms: e.ms / messages }));
  return { count: sum(all.map((e) => e.count)), ms: sum(all.map((e) => e.ms)), top: all.sort((a, b) => b.ms - a.ms).slice(0, 4) };
}
const baseline = (row: Row) => summary.find((s) => !s.r.postgres && s.r.workload === row.r.workload)!;
const workloadTitle = (w: Row["r"]["workload"]) =>
  w === "1:1" ? `**1:1: ${PAIRS} DIRECT pairs, ${PAIR_DEPTH} in flight each (2 pushes/message)**` : `**${GROUP_SIZE}-member group, ${GROUP_SENDERS} senders, ${GROUP_DEPTH} in flight each (${GROUP_SIZE} pushes/message)**`;

function table(header: string[], cells: (row: Row) => string[]): string {
  const lines = [`| ${header.join(" | ")} |`, `|---|${header.slice(1).map(() => "---:").join("|")}|`];
  for (const workload of ["1:1", "group"] as const) {
    lines.push(`| ${workloadTitle(workload)} |${header.slice(1).map(() => " ").join("|")}|`);
    for (const row of summary.filter((s) => s.r.workload === workload)) lines.push(`| ${row.r.setup} | ${cells(row).join(" | ")} |`);
  }
  return lines.join("\n");
}

console.log(
  table(["setup", "acked msg/s", "rounds", "× SQLite 1 node", "pushes/s", "send→ack p50", "p99", "send→push on another node p50", "p99"], (s) => [
    rate(s.perSecond),
    s.range,
    s.r.postgres ? (s.perSecond / baseline(s).perSecond).toFixed(2) : "1.00",
    rate(s.perSecond * s.r.pushesPerMessage),
    ms(s.ack50),
    ms(s.ack99),
    s.r.nodes > 1 ? ms(s.push50) : `(same node) ${ms(s.push50)}`,
    s.r.nodes > 1 ? ms(s.push99) : `(same node) ${ms(s.push99)}`,
  ]),
);
console.log(
  `\nCPU seconds per 1,000 acknowledged messages:\n\n${table(
    ["setup", "each node", "all nodes", "PG backends (this DB)", "PG checkpointer+bgwriter+walwriter", "Redis", "load generator (this process)", "cores busy, ours", "× SQLite, nodes+PG per message", "other load on the machine, cores"],
    (s) => {
      const server = (x: Row) => sum(x.nodeCpu) + x.pgBackendCpu + x.pgSharedCpu + x.redisCpu;
      return [
        s.nodeCpu.map(cpu).join(" / "),
        cpu(sum(s.nodeCpu)),
        s.r.postgres ? cpu(s.pgBackendCpu) : "—",
        s.r.postgres ? cpu(s.pgSharedCpu) : "—",
        s.r.postgres ? cpu(s.redisCpu) : "—",
        cpu(s.loadCpu),
        s.cores.toFixed(2),
        s.r.postgres ? (server(s) / server(baseline(s))).toFixed(2) : "1.00",
        s.otherCores.toFixed(2),
      ];
    },
  )}`,
);
console.log(
  `\nThe writer lock (the cursor counter row, FOR UPDATE), measured inside the nodes:\n\n${table(
    ["setup", "commits/s", "requests/commit", "messages/commit", "statements/commit", "hold p50", "hold p99", "hold per message", "lock busy (Σ hold ÷ wall)", "BEGIN round trip (lock wait incl.)", "ceiling if only the lock bound: 1 ÷ hold per message"],
    (s) =>
      s.r.postgres
        ? [rate(s.commitsPerSecond), s.requestsPerCommit.toFixed(1), s.messagesPerCommit.toFixed(1), s.statementsPerCommit.toFixed(0), ms(s.hold50), ms(s.hold99), ms(s.holdPerMessage), `${(s.lockBusy * 100).toFixed(0)} %`, ms(s.waitPerCommit), `${rate(1000 / s.holdPerMessage)} msg/s`]
        : ["—", "—", "—", "—", "—", "—", "—", "—", "—", "—"],
  )}`,
);
console.log("\nStore round trips per message (every statement of every node: the send's transaction, the push path's reads, acks), and the four that cost most:\n");
for (const s of summary.filter((x) => x.r.postgres)) {
  const st = s.statements;
  console.log(`- ${s.r.workload === "1:1" ? "1:1" : `${GROUP_SIZE}-member group`}, ${s.r.setup}: ${st.count.toFixed(0)} round trips, ${ms(st.ms)} waited (summed over nodes) per message; ${st.top.map((t) => `${t.count.toFixed(1)}× ${ms(t.ms / t.count)} \`${t.sql.slice(0, 60)}…\``).join("; ")}`);
}
console.log(`
${machine()}. ${quick ? "QUICK run (--quick): " : ""}${ROUNDS} round(s) of ${ROUND_MS} ms per workload per setup, the two workloads interleaved, after a ${WARMUP_MS} ms warm-up of each; every message sent in a round is acknowledged and pushed to every member's device before the round ends (rate = messages ÷ that time; the median over rounds; "rounds" lists each). Latency: per round the p50/p99 over its messages, the median over rounds. "Push on another node": send → the last push among the members connected to another node than the sender (1:1: the peer; the group: ≈${Math.round((GROUP_SIZE * 2) / 3)} of ${GROUP_SIZE} with 3 nodes); with one node, any member but the sender.
Every node is its own \`imwire serve\` process (node --import tsx src/cli/run.ts serve … --ws off --log-level warn --rate-limit 1000000), with default protocol options otherwise (group commit on; readFanOutMembers 100: the group is under read fan-out, one event row per message, the 1:1 pairs under write fan-out, 2 stream entries); PostgreSQL 15 on loopback, one fresh database per setup (synchronous_commit on: each commit waits for its WAL fsync), dropped at the end; Redis 7 a redis-server of this run's own. The baseline: one node on \`serve --db FILE\` (SQLite WAL, group commit, fsync after commit). All clients (reference transports, reference client's ack policy: bench/support/imwire-device.ts) are in this process, the load generator; its CPU is its own column, never a node's.
CPU: /proc/<pid>/stat utime+stime over the round (10 ms ticks; every thread: a node's PostgreSQL worker thread included), ÷ messages × 1,000. PG backends: this database's client backends (pg_stat_activity), one per node. PG background writers: the server's checkpointer, background writer and walwriter, shared with other databases on the server. "Other load": the machine's busy CPU (/proc/stat) less all of ours — other engineers' work on the shared machine, which competes for the same ${cpus().length} cores.
The writer lock: bench/support/writer-lock-probe.ts, loaded into each PostgreSQL node with --import, wraps SyncPostgres.query: hold = from the answer to \`BEGIN; SELECT value FROM counters WHERE name = 'cursor' FOR UPDATE\` to the answer to COMMIT (both ends half a round trip after PostgreSQL's, so the length is PostgreSQL's hold); requests/commit = SAVEPOINTs per transaction (group commit: one per request in the batch; reads and acks count too); lock busy = Σ hold over every node ÷ wall time (1.00 = the row is never free: the cluster's write ceiling).`);

setTimeout(() => {
  console.error("bench/cluster.bench.ts: handles still open after the run");
  process.exit(1);
}, 10_000).unref();
