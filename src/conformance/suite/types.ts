import type { TestContext } from "./context.js";
import type { TranscriptEntry } from "./scripted-connection.js";

/**
 * How much a test's outcome counts: required tests check a MUST, recommended
 * ones a SHOULD, informational ones record behaviour the spec leaves open
 * (never judged).
 */
export type Level = "required" | "recommended" | "informational";

/** Optional features a server declares in its profile; tests of undeclared ones are reported unsupported. */
export const FEATURES = ["websocket", "stream", "channels", "read-receipts", "expired-tokens", "fault-injection"] as const;
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
  /** Run the test; throw a Violation to fail it. Informational tests return what they observed. */
  run(t: TestContext): Promise<string | void>;
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
