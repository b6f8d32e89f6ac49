import { cpus, totalmem } from "node:os";
import { Bench } from "tinybench";

/** One benchmark row: `run` processes `frames` frames of `bytesPerFrame` bytes each per call. */
export interface Case {
  readonly group: string;
  readonly name: string;
  readonly frames: number;
  readonly bytesPerFrame: number;
  readonly run: () => unknown;
  /** The row of the group the others are compared with. */
  readonly baseline?: boolean;
}

export interface Row {
  readonly group: string;
  readonly name: string;
  /** Median sample: steady-state cost, robust to a noisy machine. */
  readonly nsPerFrame: number;
  /** Mean sample: includes the garbage collection the case causes, and the machine's noise. */
  readonly meanNsPerFrame: number;
  readonly framesPerSecond: number;
  readonly megabytesPerSecond: number;
  readonly ratio: number;
  readonly rme: number;
}

/**
 * Time every case in this process and compare each with its group's baseline.
 * Cases are interleaved over `rounds` short rounds, so drift in a shared
 * machine's load spreads over all of them instead of hitting a few.
 */
export async function measure(cases: readonly Case[], timeMs: number, rounds = 5): Promise<Row[]> {
  // Collect garbage before each case, so no case pays for the previous one's allocations.
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run benchmarks with node --expose-gc (npm run bench does)");
  const medians: number[][] = cases.map(() => []);
  const means: number[][] = cases.map(() => []);
  const rmes: number[][] = cases.map(() => []);
  for (let round = 0; round < rounds; round++) {
    const perRound = timeMs / rounds;
    const bench = new Bench({ time: perRound, warmupTime: Math.min(100, perRound / 2), throws: true, setup: () => gc() });
    for (const c of cases) bench.add(`${c.group} / ${c.name}`, c.run);
    await bench.run();
    cases.forEach((c, i) => {
      const result = bench.tasks[i]!.result;
      if (!("latency" in result)) throw new Error(`${c.name}: no result`);
      medians[i]!.push((result.latency.p50 * 1e6) / c.frames);
      means[i]!.push((result.latency.mean * 1e6) / c.frames);
      rmes[i]!.push(result.latency.rme);
    });
  }
  const rows = cases.map((c, i) => ({ c, nsPerFrame: median(medians[i]!), meanNsPerFrame: average(means[i]!), rme: median(rmes[i]!) }));
  return rows.map(({ c, nsPerFrame, meanNsPerFrame, rme }) => {
    const base = rows.find((r) => r.c.group === c.group && r.c.baseline);
    return {
      group: c.group,
      name: c.name,
      nsPerFrame,
      meanNsPerFrame,
      framesPerSecond: 1e9 / nsPerFrame,
      megabytesPerSecond: (c.bytesPerFrame * 1e9) / nsPerFrame / 1e6,
      ratio: base ? nsPerFrame / base.nsPerFrame : NaN,
      rme,
    };
  });
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function average(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** A Markdown table of the rows, ready for README.md; `unit` names what one operation is. */
export function markdown(rows: readonly Row[], unit = "frame"): string {
  const lines = [`| case | median/${unit} | ${unit}s/s | MB/s | × baseline | mean/${unit} (with GC) |`, "|---|---:|---:|---:|---:|---:|"];
  let group = "";
  for (const r of rows) {
    if (r.group !== group) {
      group = r.group;
      lines.push(`| **${group}** | | | | | |`);
    }
    const ratio = Number.isNaN(r.ratio) ? "" : r.ratio.toFixed(2);
    const megabytes = r.megabytesPerSecond === 0 ? "—" : r.megabytesPerSecond.toFixed(0);
    lines.push(`| ${r.name} | ${duration(r.nsPerFrame)} | ${fmt(r.framesPerSecond)} | ${megabytes} | ${ratio} | ${duration(r.meanNsPerFrame)} |`);
  }
  return lines.join("\n");
}

function duration(ns: number): string {
  return ns >= 10_000 ? `${(ns / 1000).toFixed(1)} µs` : `${Math.round(ns)} ns`;
}

function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(0);
}

/** The machine line printed under every table. */
export function machine(): string {
  const cpu = cpus()[0]?.model.trim() ?? "unknown CPU";
  return `Node ${process.version}, ${cpu}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB`;
}
