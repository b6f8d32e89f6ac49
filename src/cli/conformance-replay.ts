import type { TargetResult } from "../conformance/suite/run-suite.js";
import { shellWord } from "./io.js";

/** What a replay line repeats of the run's command line: everything that shapes a test, and nothing secret. */
export interface ReplaySettings {
  readonly seed: number;
  /** The --target addresses given; none for the embedded server. */
  readonly targets: readonly string[];
  readonly insecure: boolean;
  readonly features?: string;
  readonly profile?: string;
  readonly timeoutMs?: string;
  readonly quietMs?: string;
  /** The token option given, shown as a placeholder: its value may be a secret, and replay lines end up in CI logs. */
  readonly tokenOption?: "--secret" | "--token-command";
  /** --secret-file's path: a path is not the secret, so the line repeats it. */
  readonly secretFile?: string;
}

export const TOKEN_PLACEHOLDER: Record<NonNullable<ReplaySettings["tokenOption"]>, string> = {
  "--secret": "SECRET",
  "--token-command": "'COMMAND'",
};

/** The command that runs one failed test again, on its own transport, with the run's seed. */
export function replayLine(result: TargetResult, settings: ReplaySettings): string {
  const words = ["imwire", "conformance"];
  // The failing transport only: on a server with several, the others passed.
  if (settings.targets.length > 0) words.push("--target", shellWord(result.target.url));
  if (settings.insecure) words.push("--insecure");
  if (settings.profile !== undefined) words.push("--profile", shellWord(settings.profile));
  else if (settings.features !== undefined) words.push("--features", shellWord(settings.features));
  if (settings.tokenOption !== undefined) words.push(settings.tokenOption, TOKEN_PLACEHOLDER[settings.tokenOption]);
  if (settings.secretFile !== undefined) words.push("--secret-file", shellWord(settings.secretFile));
  if (settings.timeoutMs !== undefined) words.push("--timeout-ms", settings.timeoutMs);
  if (settings.quietMs !== undefined) words.push("--quiet-ms", settings.quietMs);
  words.push("--only", shellWord(result.test.id), "--seed", String(settings.seed));
  return words.join(" ");
}

/** Said once under the failures, when the replay lines hold a placeholder. */
export function replayNote(settings: ReplaySettings): string | undefined {
  if (settings.tokenOption === undefined) return undefined;
  return `the replay lines show ${TOKEN_PLACEHOLDER[settings.tokenOption]} where your ${settings.tokenOption} goes (left out: it may be a secret)`;
}
