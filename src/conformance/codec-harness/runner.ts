import type { Manifest, Vector } from "./manifest.js";
import { planRequests, type PlannedCheck } from "./checks.js";
import type { Capability, Request, TesteeHello } from "./protocol.js";
import type { StartSession, TesteeSession } from "./session.js";

/**
 * Runs every vector's checks against a testee, one request at a time. A
 * testee that crashes, hangs or breaks the protocol fails the check it was
 * answering; the runner then starts a fresh testee and goes on, up to
 * maxRestarts times.
 */

export type CheckStatus = "pass" | "fail" | "unsupported";

export interface CheckResult {
  readonly name: string;
  readonly family: string;
  readonly status: CheckStatus;
  /** Failures: one short line, the same on every run for the same behaviour (it goes into failure signatures). */
  readonly reason?: string;
  /** Failures: what was expected and what came, in full. Unsupported: the capabilities missing. */
  readonly detail?: string;
}

export interface VectorResult {
  readonly id: string;
  readonly kind: Vector["kind"];
  readonly requirements: readonly string[];
  readonly description: string;
  readonly status: CheckStatus;
  readonly checks: readonly CheckResult[];
}

export interface RunResult {
  readonly testee: TesteeHello | undefined;
  readonly seed: number;
  readonly vectors: readonly VectorResult[];
  readonly restarts: number;
  /** Problems outside any one vector: the testee could not be (re)started, or did not shut down cleanly. */
  readonly problems: readonly string[];
}

export interface RunOptions {
  readonly manifest: Manifest;
  readonly startSession: StartSession;
  readonly seed: number;
  /** Run only vectors whose id starts with one of these. */
  readonly only?: readonly string[];
  readonly requestTimeoutMs: number;
  readonly maxRestarts: number;
  readonly onVector?: (result: VectorResult) => void;
}

export function selectVectors(manifest: Manifest, only: readonly string[] | undefined): Vector[] {
  if (only === undefined || only.length === 0) return [...manifest.vectors];
  return manifest.vectors.filter((v) => only.some((prefix) => v.id.startsWith(prefix)));
}

export async function runVectors(options: RunOptions): Promise<RunResult> {
  const selected = selectVectors(options.manifest, options.only);
  if (selected.length === 0) {
    return { testee: undefined, seed: options.seed, vectors: [], restarts: 0, problems: [`no vector id starts with ${options.only?.join(" or ")}`] };
  }
  const problems: string[] = [];
  let restarts = 0;
  let session: TesteeSession | undefined;
  let unavailable: string | undefined;
  let nextId = 1;
  try {
    session = await options.startSession();
  } catch (error) {
    return { testee: undefined, seed: options.seed, vectors: [], restarts, problems: [`the testee did not start: ${(error as Error).message}`] };
  }
  const testee = session.hello;
  const capabilities = new Set<Capability>(testee.capabilities);

  const replace = async (): Promise<void> => {
    await session?.close();
    session = undefined;
    nextId = 1;
    if (restarts >= options.maxRestarts) {
      unavailable = `not run: the testee was restarted ${restarts} times already (--max-restarts)`;
      problems.push(`gave up after ${restarts} restarts of the testee`);
      return;
    }
    restarts++;
    try {
      session = await options.startSession();
    } catch (error) {
      unavailable = `not run: the testee could not be restarted: ${(error as Error).message}`;
      problems.push(unavailable);
    }
  };

  const results: VectorResult[] = [];
  for (const vector of selected) {
    const checks: CheckResult[] = [];
    for (const planned of planRequests(vector, options.seed)) {
      const supported = planned.checks.filter((c) => c.needs.every((n) => capabilities.has(n)));
      for (const c of planned.checks) if (!supported.includes(c)) checks.push(unsupported(c, capabilities));
      if (supported.length === 0) continue;
      if (session === undefined) {
        for (const c of supported) checks.push({ name: c.name, family: c.family, status: "fail", reason: "not run: no testee", detail: unavailable });
        continue;
      }
      const outcome = await session.request({ ...planned.request, id: nextId++ } as Request, options.requestTimeoutMs);
      if (outcome.kind === "broken") {
        for (const c of supported) checks.push({ name: c.name, family: c.family, status: "fail", reason: outcome.summary, detail: outcome.detail });
        await replace();
        continue;
      }
      for (const c of supported) {
        const verdict = c.evaluate(outcome.answer);
        checks.push(verdict.ok ? { name: c.name, family: c.family, status: "pass" } : { name: c.name, family: c.family, status: "fail", reason: verdict.reason, detail: verdict.detail });
      }
    }
    const result: VectorResult = {
      id: vector.id,
      kind: vector.kind,
      requirements: vector.kind === "valid" ? vector.requirements : [vector.requirement],
      description: vector.description,
      status: checks.some((c) => c.status === "fail") ? "fail" : checks.some((c) => c.status === "unsupported") ? "unsupported" : "pass",
      checks,
    };
    results.push(result);
    options.onVector?.(result);
  }
  if (session !== undefined) {
    const problem = await session.close();
    if (problem !== undefined) problems.push(problem);
  }
  return { testee, seed: options.seed, vectors: results, restarts, problems };
}

function unsupported(check: PlannedCheck, capabilities: ReadonlySet<Capability>): CheckResult {
  const missing = check.needs.filter((n) => !capabilities.has(n));
  return { name: check.name, family: check.family, status: "unsupported", detail: `the testee did not declare ${missing.join(" and ")}` };
}
