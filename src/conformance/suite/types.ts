import type { TestContext } from "./context.js";
import type { HookName } from "./operator-hooks.js";
import type { TranscriptEntry } from "./scripted-connection.js";

/**
 * How much a test's outcome counts: required tests check a MUST, recommended
 * ones a SHOULD, informational ones record behaviour the spec leaves open
 * (never judged).
 */
export type Level = "required" | "recommended" | "informational";

/** Optional features a server declares in its profile; tests of undeclared ones are reported unsupported. */
export const FEATURES = ["websocket", "stream", "channels", "read-receipts", "expired-tokens", "fault-injection", "push-handoff"] as const;
export type Feature = (typeof FEATURES)[number];

export interface ConformanceTest {
  /** Stable id, starting with the requirement it checks: "CONN-1/first-frame-must-be-hello". */
  readonly id: string;
  /** The SPEC.md requirements the test checks, the main one first. */
  readonly requirements: readonly string[];
  readonly level: Level;
  /** A group --only and --skip can name: "handshake", "auth", "framing", … */
  readonly group: string;
  readonly title: string;
  /** Features the server must declare for the test to run. */
  readonly needs?: readonly Feature[];
  /**
   * Operator hooks the test uses (SPEC.md Appendix C); without them it is
   * unsupported. A test that restarts or shuts the server down runs alone,
   * after every other (HOOK-4).
   */
  readonly hooks?: readonly HookName[];
  /** Run the test; throw a Violation to fail it. Informational tests return what they observed. */
  run(t: TestContext): Promise<string | void>;
}

/** Whether a test changes the server for every other test, so that it must run alone (HOOK-4). */
export function runsAlone(test: ConformanceTest): boolean {
  return (test.hooks ?? []).some((hook) => hook === "restart" || hook === "shutdown");
}

/** The server announced something under which the test cannot be run (for example a max_in_flight too large to exceed in one write). */
export class Unsupported extends Error {
  override readonly name = "Unsupported";
}

/** What the test found wrong: every acceptable outcome, and what came instead. */
export class Violation extends Error {
  override readonly name = "Violation";

  constructor(
    message: string,
    readonly acceptable: readonly string[],
    readonly actual: string,
  ) {
    super(message);
  }
}

export type Outcome =
  | { readonly status: "pass"; readonly note?: string }
  | { readonly status: "fail"; readonly message: string; readonly acceptable: readonly string[]; readonly actual: string }
  | { readonly status: "unsupported"; readonly reason: string }
  | { readonly status: "observed"; readonly note: string };

export interface TestResult {
  readonly test: ConformanceTest;
  readonly outcome: Outcome;
  readonly durationMs: number;
  readonly transcript: readonly TranscriptEntry[];
}
