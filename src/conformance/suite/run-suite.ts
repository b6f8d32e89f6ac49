import { Transcript } from "./scripted-connection.js";
import { TestContext, type Target } from "./context.js";
import { runsAlone, Unsupported, Violation, type ConformanceTest, type TestResult } from "./types.js";

export interface SuiteOptions {
  readonly targets: readonly Target[];
  readonly tests: readonly ConformanceTest[];
  readonly seed: number;
  /** How long to wait for anything the server should send promptly. */
  readonly timeoutMs: number;
  /** How long to watch for something that must not happen (default 500 ms). */
  readonly quietMs?: number;
  /** Tests run at once (results keep the list's order). */
  readonly concurrency?: number;
  /**
   * The longest heartbeat interval among the targets, when known (the
   * pre-check's welcome): a test's time cap grows with it, since the
   * heartbeat tests wait up to ~3 intervals.
   */
  readonly heartbeatIntervalMs?: number;
  readonly onStart?: (test: ConformanceTest, target: Target) => void;
  readonly onResult?: (result: TargetResult) => void;
}

export interface TargetResult extends TestResult {
  readonly target: Target;
}

/** Which transports a test applies to: framing tests are per transport, the rest run everywhere. */
export function applies(test: ConformanceTest, target: Target): boolean {
  const websocket = target.url.startsWith("ws");
  if (test.group === "framing-stream") return !websocket;
  if (test.group === "websocket") return websocket;
  return true;
}

/**
 * Run every applicable test against every target; a test never sees
 * another's users. Tests that restart or shut down the server run last, one
 * at a time, when nothing else runs (HOOK-4).
 */
export async function runSuite(options: SuiteOptions): Promise<TargetResult[]> {
  const jobs = suiteJobs(options.targets, options.tests);
  const results: TargetResult[] = new Array(jobs.length);
  const run = async (i: number) => {
    const { target, test } = jobs[i]!;
    options.onStart?.(test, target);
    results[i] = await runOne(test, { ...target, runId: `${target.runId}-${i}` }, options);
    options.onResult?.(results[i]!);
  };
  const together = jobs.flatMap((job, i) => (runsAlone(job.test) ? [] : [i]));
  let next = 0;
  const worker = async () => {
    for (let k = next++; k < together.length; k = next++) await run(together[k]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));
  for (const [i, job] of jobs.entries()) if (runsAlone(job.test)) await run(i);
  return results.map((r, i) => ({ ...r, target: jobs[i]!.target }));
}

/** Every (target, test) pair a run goes through, in report order. */
export function suiteJobs(targets: readonly Target[], tests: readonly ConformanceTest[]): { readonly target: Target; readonly test: ConformanceTest }[] {
  return targets.flatMap((target) => tests.filter((test) => applies(test, target)).map((test) => ({ target, test })));
}

/** Run one test against one target (what runSuite does for each job). */
export async function runOne(test: ConformanceTest, target: Target, options: Pick<SuiteOptions, "seed" | "timeoutMs" | "quietMs" | "heartbeatIntervalMs">): Promise<TargetResult> {
  const started = Date.now();
  const transcript = new Transcript();
  const missing = [
    ...(test.needs ?? []).filter((feature) => !target.features.has(feature)),
    ...(test.hooks ?? []).filter((hook) => target.hooks[hook] === undefined).map((hook) => `the ${hook} hook`),
  ];
  if (missing.length > 0) {
    return { test, target, outcome: { status: "unsupported", reason: `the server's profile does not declare ${missing.join(", ")}` }, durationMs: 0, transcript: [] };
  }
  const context = new TestContext(target, transcript, options.timeoutMs, seedFor(options.seed, test.id), options.quietMs);
  let outcome: TestResult["outcome"];
  try {
    // HB-1 alone takes 2.8 intervals: with a 60 s heartbeat a fixed cap would fail it for the runner's own impatience.
    const cap = Math.max(60_000, options.timeoutMs * 20) + 3 * (options.heartbeatIntervalMs ?? 0);
    const note = await Promise.race([
      test.run(context),
      new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error(`the test did not finish within ${cap} ms`)), cap).unref()),
    ]);
    await context.finish();
    outcome = test.level === "informational" ? { status: "observed", note: note ?? "done" } : { status: "pass", ...(note ? { note } : {}) };
  } catch (error) {
    await context.finish().catch(() => undefined);
    outcome =
      error instanceof Unsupported
        ? { status: "unsupported", reason: error.message }
        : error instanceof Violation
        ? { status: "fail", message: error.message, acceptable: error.acceptable, actual: error.actual }
        : { status: "fail", message: (error as Error).message, acceptable: ["the scenario to complete"], actual: String((error as Error).stack ?? error) };
    if (test.level === "informational" && outcome.status === "fail") outcome = { status: "observed", note: `could not observe: ${outcome.message}` };
  }
  return { test, target, outcome, durationMs: Date.now() - started, transcript: transcript.entries };
}

/** Each test's own seed, derived from the run's: replaying one test replays exactly its draws. */
export function seedFor(seed: number, testId: string): number {
  let hash = seed >>> 0;
  for (let i = 0; i < testId.length; i++) hash = Math.imul(hash ^ testId.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
}
