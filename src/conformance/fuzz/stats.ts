import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";

/** One thing the server did that SPEC.md does not allow. */
export interface Violation {
  readonly kind: string;
  readonly detail: string;
  readonly connection?: string;
  readonly cls?: string;
  readonly state?: string;
  /** The bytes of the frame it is about, in hex (truncated). */
  readonly frameHex?: string;
}

/** Counters only: the fuzzer keeps no frames, so that memory stays bounded whatever --frames says. */
export class Stats {
  readonly framesByClass = new Map<string, number>();
  readonly answersByCode = new Map<string, number>();
  readonly closes = new Map<string, number>();
  readonly violationsByKind = new Map<string, number>();
  /** Kinds counted and reported but not failed on: known server bugs, named by the caller. */
  readonly tolerated: ReadonlySet<string>;
  /** The first violations in full, for the report; the rest are counted. */
  readonly violations: Violation[] = [];
  framesSent = 0;
  connectionsOpened = 0;
  connectFailures = 0;
  internal = 0;
  readonly honest = { sends: 0, acks: 0, deliveries: 0, lost: 0, duplicated: 0, outOfOrder: 0, rateLimited: 0, unanswered: 0, closed: 0 };
  /** Honest ack latency, one bucket per millisecond up to a minute. */
  readonly latency = new Uint32Array(60_001);
  latencyMax = 0;
  rssStart = 0;
  rssEnd = 0;
  rssPeak = 0;

  constructor(tolerated: readonly string[] = []) {
    this.tolerated = new Set(tolerated);
  }

  count(map: Map<string, number>, key: string, n = 1): void {
    map.set(key, (map.get(key) ?? 0) + n);
  }

  frame(cls: string, n = 1): void {
    this.framesSent += n;
    this.count(this.framesByClass, cls, n);
  }

  answer(code: ErrorCode | "positive"): void {
    if (code === ErrorCode.INTERNAL) this.internal++;
    this.count(this.answersByCode, code === "positive" ? "(positive answer)" : (ErrorCode[code] ?? `code ${code}`));
  }

  violation(v: Violation): void {
    this.count(this.violationsByKind, v.kind);
    const shown = this.violations.filter((x) => x.kind === v.kind).length;
    if (this.violations.length < 40 && shown < (this.tolerated.has(v.kind) ? 2 : 8)) this.violations.push(v);
  }

  /** Violations of kinds not tolerated. */
  get violationCount(): number {
    let n = 0;
    for (const [kind, v] of this.violationsByKind) if (!this.tolerated.has(kind)) n += v;
    return n;
  }

  ackLatency(ms: number): void {
    const bucket = Math.min(60_000, Math.max(0, Math.round(ms)));
    this.latency[bucket]!++;
    if (ms > this.latencyMax) this.latencyMax = ms;
  }

  latencyPercentile(p: number): number {
    const total = this.latency.reduce((a, b) => a + b, 0);
    if (total === 0) return 0;
    let seen = 0;
    for (let i = 0; i < this.latency.length; i++) {
      seen += this.latency[i]!;
      if (seen >= total * p) return i;
    }
    return 60_000;
  }

  sampleRss(): void {
    const rss = process.memoryUsage.rss();
    if (rss > this.rssPeak) this.rssPeak = rss;
  }
}

const mb = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MiB`;

function table(title: string, rows: readonly (readonly [string, string | number])[]): string {
  const width = Math.max(title.length, ...rows.map(([k]) => k.length));
  const valueWidth = Math.max(0, ...rows.map(([, v]) => String(v).length));
  const line = `+${"-".repeat(width + 2)}+${"-".repeat(valueWidth + 2)}+`;
  return [line, `| ${title.padEnd(width)} | ${"".padStart(valueWidth)} |`, line, ...rows.map(([k, v]) => `| ${k.padEnd(width)} | ${String(v).padStart(valueWidth)} |`), line].join("\n");
}

const sorted = (map: Map<string, number>) => [...map.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));

/** The end-of-run report: tables of counters, then the first violations in full. */
export function formatReport(stats: Stats, header: readonly (readonly [string, string | number])[]): string {
  const h = stats.honest;
  const parts = [
    table("run", [...header, ["frames sent", stats.framesSent], ["connections opened", stats.connectionsOpened], ["connection attempts failed", stats.connectFailures]]),
    table("frames sent per class", sorted(stats.framesByClass)),
    table("answers per error code", sorted(stats.answersByCode)),
    table("connections closed", sorted(stats.closes)),
    table("honest client", [
      ["sends", h.sends],
      ["acks", h.acks],
      ["deliveries (both users)", h.deliveries],
      ["lost", h.lost],
      ["duplicated", h.duplicated],
      ["out of order / gaps", h.outOfOrder],
      ["unanswered at the end", h.unanswered],
      ["rate limited (retried)", h.rateLimited],
      ["connections lost", h.closed],
      ["ack latency max", `${stats.latencyMax.toFixed(1)} ms`],
      ["ack latency p99", `${stats.latencyPercentile(0.99)} ms`],
      ["ack latency p50", `${stats.latencyPercentile(0.5)} ms`],
    ]),
    table("memory (this process: server and fuzzer)", [
      ["RSS after warm-up", mb(stats.rssStart)],
      ["RSS at the end", mb(stats.rssEnd)],
      ["RSS growth", mb(stats.rssEnd - stats.rssStart)],
      ["RSS peak", mb(stats.rssPeak)],
    ]),
    table("violations", stats.violationsByKind.size === 0 ? [["none", 0]] : sorted(stats.violationsByKind).map(([k, n]) => [stats.tolerated.has(k) ? `${k} (tolerated: known)` : k, n] as const)),
  ];
  for (const v of stats.violations) {
    parts.push(`${stats.tolerated.has(v.kind) ? "KNOWN" : "VIOLATION"} ${v.kind}: ${v.detail}${v.connection ? `\n  connection ${v.connection}` : ""}${v.cls ? ` class ${v.cls}` : ""}${v.state ? ` state ${v.state}` : ""}${v.frameHex !== undefined ? `\n  frame ${v.frameHex}` : ""}`);
  }
  return parts.join("\n");
}
