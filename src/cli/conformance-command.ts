import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import picocolors from "picocolors";
import { startEmbeddedServer, type EmbeddedServer } from "../conformance/embedded-server.js";
import { checkProfile, hooksFromProfile, type HookProfile, type OperatorHooks } from "../conformance/suite/operator-hooks.js";
import { PushListener } from "../conformance/suite/push-listener.js";
import type { Logger } from "../server/logger.js";
import type { ServerMachineFactory } from "../machines/server/server-machine.js";
import { loadRequirements } from "../spec/requirements.js";
import { allTests, select, SUITE_VERSION } from "../conformance/suite/catalogue.js";
import { PROFILE_LIMITS, type ProfileLimits, type Target } from "../conformance/suite/context.js";
import { readExpectedFailures, resultKey, writeExpectedFailures, type ExpectedFailures } from "../conformance/suite/expected-failures.js";
import { heartbeatHint } from "../conformance/suite/heartbeat-hint.js";
import { LiveProgress } from "../conformance/suite/live-progress.js";
import { precheck } from "../conformance/suite/precheck.js";
import { failureReport, jsonReport, junitReport, progressLine, specCoverage, summarise, summaryLine, testList } from "../conformance/suite/report.js";
import { runSuite, suiteJobs } from "../conformance/suite/run-suite.js";
import { commandTokens, secretTokens, type TokenSource } from "../conformance/suite/tokens.js";
import { FEATURES, type ConformanceTest, type Feature } from "../conformance/suite/types.js";
import { replayLine, replayNote, type ReplaySettings } from "./conformance-replay.js";
import { CliError, UsageError, type CliIO } from "./io.js";
import { fileError, integerOption, parseOptions, readOptionFile, serverAddressOption } from "./options.js";
import { resolveSecret, SECRET_FILE_HELP } from "./secret.js";

export const conformanceHelp = `Usage: imwire conformance [options]

Check a server against SPEC.md, black-box: scripted clients (and a
fault-injecting proxy) run every test of the suite and report, per test, the
requirement it checks and whether the server met it. Exit status 0 only when
every required test passes and the expected-failures file is exact.

Without --target, starts the reference server in this process on free ports
(on SQLite in a temporary file, with every operator hook wired: restart,
shutdown, push webhook) and checks it over TCP and WebSocket: the whole
protocol working, in one command.

With --target, first checks once per target that it can be reached and
accepts the runner's tokens (hello, then authenticate one user); if not,
says why in one line (exit status 2) instead of failing every test. A long
heartbeat interval makes the heartbeat tests slow: the run says so first.

Target:
  --target URL            tcp://, tls://, ws:// or wss:// address (not http://); repeat for
                          several transports
  --node URL              another node of the same server (a cluster), on the
                          target's transport; repeat for each: every test's
                          connections are spread over the target and its nodes
                          in turn, so its devices meet on different nodes (CLU-1)
  --insecure              accept any TLS certificate (self-signed test servers)
  --features LIST         optional features the server has, comma-separated, from:
                          ${FEATURES.join(", ")} (default: all for the embedded
                          server; for --target, websocket/stream follow the targets)
  --profile FILE          the same as JSON, with operator hooks (SPEC.md Appendix C):
                          {"features": [...], "hooks": {"restart": CMD, "shutdown": CMD
                          or {"pidFile": PATH}, "pushWebhook": "http://127.0.0.1:PORT/path"},
                          "limits": {"maxGroupSize": N, "streamRetentionEntries": N,
                          "readFanOutMembers": N, "maxInlineMembers": N,
                          "receiptMembers": N}};
                          tests needing an undeclared hook are reported unsupported
Tokens (the runner names its users; the server must accept them):
  --secret TEXT           sign tokens with the reference scheme and this secret
                          (default: IMWIRE_SECRET, else the development secret)
  --secret-file PATH      ${SECRET_FILE_HELP}
  --token-command CMD     run CMD through the shell for each token; {user}, {device}
                          and {ttl_ms} are replaced; its stdout is the token. The
                          runner names fresh users per test (<run id>-<n>-<name>),
                          so the server must accept users it has not seen before.
                          Replay lines show SECRET or 'COMMAND' in place of these values
Selection and output:
  --only IDS              comma-separated test ids, id prefixes, requirement ids or groups
  --skip IDS              the same, to leave out
  --list                  print the selected tests (id, requirements, group, level, title),
                          one a line, and exit without connecting to anything; honours
                          --only, --skip, --features, --profile and the --target transports
  --expected-failures F   strict list of tests expected to fail (JSON)
  --fix                   rewrite the expected-failures file from this run
  --json FILE             write the full results as JSON
  --junit FILE            write JUnit XML
  --spec-coverage         list which SPEC.md requirements the run exercised
  --seed N                replay a run (default: random, printed)
  --timeout-ms N          wait this long for anything the server should send promptly (default 5000)
  --quiet-ms N            watch this long for what must not happen, such as a push to a
                          former member (default 500)
  --concurrency N         tests at once, 1 to 64 (default 4)
  -h, --help              show this help

On a terminal a status line shows the test running and how many are done
([123/370] tcp HB-3/silent-connection-closed …); results are coloured
(NO_COLOR turns colours off). Piped or in CI, only the result lines appear.

Examples:
  imwire conformance
  imwire conformance --target tcp://127.0.0.1:5300 --target ws://127.0.0.1:5301/ --secret s3cret
  imwire conformance --target tcp://chat.example:5300 --token-command 'mint-token {user} {device}' --only handshake,auth
  imwire conformance --list --only HB-3
`;


export interface ConformanceCommandHooks {
  /** Makes the embedded server's machine: the runner's self-tests plant bugs through it. */
  readonly embeddedMachine?: ServerMachineFactory;
  /** Test-only: where the embedded server logs (silent by default). */
  readonly embeddedLog?: Logger;
}

const OPTIONS = {
  target: { type: "string", multiple: true },
  node: { type: "string", multiple: true },
  insecure: { type: "boolean", default: false },
  features: { type: "string" },
  profile: { type: "string" },
  secret: { type: "string" },
  "secret-file": { type: "string" },
  "token-command": { type: "string" },
  only: { type: "string" },
  skip: { type: "string" },
  list: { type: "boolean", default: false },
  "expected-failures": { type: "string" },
  fix: { type: "boolean", default: false },
  json: { type: "string" },
  junit: { type: "string" },
  "spec-coverage": { type: "boolean", default: false },
  seed: { type: "string" },
  "timeout-ms": { type: "string" },
  "quiet-ms": { type: "string" },
  concurrency: { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} as const;

/** A server profile (SPEC.md Appendix C), as --profile gives it. */
interface Profile {
  readonly features?: readonly string[];
  readonly hooks?: HookProfile;
  readonly limits?: ProfileLimits;
}

export async function conformanceCommand(args: string[], io: CliIO, hooks_: ConformanceCommandHooks = {}): Promise<number> {
  const { values } = parseOptions(args, OPTIONS);
  if (values.help) {
    io.writeOut(conformanceHelp);
    return 0;
  }
  // Every option is checked before anything starts: a typo must not cost a server start or a run.
  if (values.fix && !values["expected-failures"]) throw new UsageError("--fix needs --expected-failures FILE");
  const tokenOptions = (["--secret", "--secret-file", "--token-command"] as const).filter((flag) => values[flag.slice(2) as "secret" | "secret-file" | "token-command"] !== undefined);
  if (tokenOptions.length > 1) throw new UsageError(`give one of ${tokenOptions.join(", ")}, not ${tokenOptions.length === 2 ? "both" : "all three"}`);
  const seed = integerOption(values.seed, "--seed", undefined, { min: 0, max: 0xffffffff }) ?? randomBytes(4).readUInt32BE();
  const timeoutMs = integerOption(values["timeout-ms"], "--timeout-ms", 5_000, { min: 1 });
  const quietMs = integerOption(values["quiet-ms"], "--quiet-ms", 500);
  const concurrency = integerOption(values.concurrency, "--concurrency", 4, { min: 1, max: 64 });
  const urls = (values.target ?? []).map((url) => serverAddressOption(url, "--target"));
  const nodes = (values.node ?? []).map((url) => serverAddressOption(url, "--node"));
  if (nodes.length > 0 && urls.length !== 1) throw new UsageError("--node needs exactly one --target: the nodes are other addresses of that server, on its transport");
  // Said rather than ignored: someone passing a secret expects it to be used.
  if (urls.length === 0 && tokenOptions.length > 0) throw new UsageError(`${tokenOptions[0]} needs --target: the embedded reference server signs its own tokens`);
  const profile = values.profile === undefined ? undefined : await readProfile(values.profile);
  const features = declaredFeatures(values.features, profile, urls);
  const tests = select(allTests, list(values.only), list(values.skip));
  if (tests.length === 0) throw new UsageError("--only/--skip leave no test to run");

  if (values.list) {
    const runnable = tests.filter((t) => (t.needs ?? []).every((f) => features === "all" || features.has(f)));
    io.writeOut(`${testList(runnable)}\n`);
    const left = tests.length - runnable.length;
    io.writeErr(`${plural(runnable.length, "test")}${left > 0 ? ` (${left} more need features not declared: ${[...new Set(tests.flatMap((t) => (t.needs ?? []).filter((f) => features !== "all" && !features.has(f))))].join(", ")})` : ""}\n`);
    return 0;
  }
  const expected = await readExpected(values["expected-failures"], values.fix);
  const colours = picocolors.createColors(io.colour ?? false);

  let embedded: EmbeddedServer | undefined;
  let pushes: PushListener | undefined;
  let tokens: TokenSource;
  let hooks: OperatorHooks;
  let limits: ProfileLimits = {};
  let targetUrls = urls;
  if (urls.length === 0) {
    embedded = await startEmbeddedServer({ ...(hooks_.embeddedMachine ? { machine: hooks_.embeddedMachine } : {}), ...(hooks_.embeddedLog ? { log: hooks_.embeddedLog } : {}) });
    targetUrls = [...embedded.urls];
    ({ tokens, hooks, pushes, limits } = embedded);
    io.writeOut(`imwire conformance ${SUITE_VERSION}: started the reference server on ${targetUrls.join(" and ")}\n`);
  } else {
    tokens = values["token-command"] ? commandTokens(values["token-command"]) : secretTokens(await resolveSecret(values, io.writeErr, (path) => readFile(path)));
    limits = profile?.limits ?? {};
    hooks = hooksFromProfile(profile?.hooks ?? {}, urls);
    io.writeOut(`imwire conformance ${SUITE_VERSION} against ${urls.join(" and ")}\n`);
  }
  const featureSet = features === "all" ? new Set(FEATURES) : features;
  const runId = `cf${seed.toString(36)}${randomBytes(3).toString("hex")}`;
  const targets: Target[] = targetUrls.map((url) => ({ url, dial: { tls: values.insecure ? { rejectUnauthorized: false } : {} }, tokens, features: featureSet, runId, hooks, limits, ...(nodes.length > 0 ? { nodes } : {}) }));

  let heartbeatIntervalMs: number | undefined;
  if (!embedded) {
    const checks = await Promise.all(targets.map((target) => precheck(target, timeoutMs)));
    const problems = [...new Set(checks.flatMap((c) => (c.ok ? [] : [c.problem])))];
    if (problems.length > 0) throw new CliError(problems.join("; "));
    heartbeatIntervalMs = Math.max(...checks.map((c) => (c.ok ? c.welcome.heartbeatIntervalMs : 0)));
    // Started only once the targets answer: a listener on a port is one more thing to clean up after a failed pre-check.
    if (hooks.pushWebhook) pushes = await PushListener.start(hooks.pushWebhook);
  }
  const runTargets = pushes ? targets.map((t) => ({ ...t, pushes })) : targets;
  const jobs = suiteJobs(runTargets, tests);
  io.writeOut(`seed ${seed}; ${plural(tests.length, "test")} (${plural(jobs.length, "run")} over ${plural(runTargets.length, "transport")}), features: ${[...featureSet].join(", ") || "none"}\n`);
  const hint = heartbeatIntervalMs === undefined ? undefined : heartbeatHint(heartbeatIntervalMs, jobs.map((j) => j.test));
  if (hint) io.writeOut(`${colours.yellow(hint)}\n`);

  const progress = new LiveProgress({ write: (text) => io.writeOut(text), total: jobs.length, columns: io.stdoutColumns });
  let results;
  try {
    results = await runSuite({
      targets: runTargets,
      tests,
      seed,
      timeoutMs,
      quietMs,
      concurrency,
      ...(heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs } : {}),
      onStart: (test, target) => progress.started(jobKey(test, target)),
      onResult: (r) => progress.finished(jobKey(r.test, r.target), progressLine(r, expected, colours)),
    });
  } finally {
    progress.stop();
    await embedded?.close();
    if (!embedded) await pushes?.close();
  }

  const summary = summarise(results, expected);
  const requirements = await loadRequirements();
  const replay: ReplaySettings = {
    seed,
    targets: urls,
    insecure: values.insecure,
    ...(values.profile !== undefined ? { profile: values.profile } : {}),
    ...(values.features !== undefined ? { features: values.features } : {}),
    ...(values["timeout-ms"] !== undefined ? { timeoutMs: String(timeoutMs) } : {}),
    ...(values["quiet-ms"] !== undefined ? { quietMs: String(quietMs) } : {}),
    ...(urls.length > 0 && values.secret !== undefined ? { tokenOption: "--secret" as const } : {}),
    ...(urls.length > 0 && values["secret-file"] !== undefined ? { secretFile: values["secret-file"] } : {}),
    ...(urls.length > 0 && values["token-command"] !== undefined ? { tokenOption: "--token-command" as const } : {}),
  };
  const report = failureReport(results, expected, requirements, (r) => replayLine(r, replay));
  const note = report === "" ? undefined : replayNote(replay);
  const verdictLine = summaryLine(summary);
  io.writeOut(`${report}${note ? `\n\n${note}` : ""}\n\n${summary.ok ? colours.green(verdictLine) : colours.red(verdictLine)}\n`);
  if (values["spec-coverage"]) io.writeOut(`\n${specCoverage(results, requirements)}\n`);
  if (values.json) await writeReport(values.json, "--json", `${jsonReport(results, expected, summary, seed)}\n`);
  if (values.junit) await writeReport(values.junit, "--junit", junitReport(results, expected));
  if (values.fix) {
    await writeExpectedFailures(values["expected-failures"]!, results);
    io.writeOut(`rewrote ${values["expected-failures"]}\n`);
    return 0;
  }
  return summary.ok ? 0 : 1;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function list(text: string | undefined): string[] {
  return text ? text.split(",").map((s) => s.trim()).filter(Boolean) : [];
}

/** The same key as resultKey, from the job before it has a result. */
function jobKey(test: ConformanceTest, target: Target): string {
  return resultKey({ test, target });
}

/**
 * The features to test: all of them for the embedded server (unless
 * --features or --profile narrow them), else what is declared, plus the
 * transports the targets show.
 */
function declaredFeatures(featureList: string | undefined, profile: Profile | undefined, urls: readonly string[]): Set<Feature> | "all" {
  if (urls.length === 0 && featureList === undefined && profile === undefined) return "all";
  const declared = profile !== undefined ? (profile.features ?? []) : list(featureList);
  for (const f of declared) if (!(FEATURES as readonly string[]).includes(f)) throw new UsageError(`unknown feature ${f}; known: ${FEATURES.join(", ")}`);
  const features = new Set(declared as Feature[]);
  if (urls.length === 0 || urls.some((u) => u.startsWith("ws"))) features.add("websocket");
  if (urls.length === 0 || urls.some((u) => u.startsWith("tcp") || u.startsWith("tls"))) features.add("stream");
  return features;
}

async function readProfile(path: string): Promise<Profile> {
  const text = new TextDecoder().decode(await readOptionFile((p) => readFile(p), path, "--profile"));
  let profile: Profile;
  try {
    profile = JSON.parse(text) as Profile;
  } catch (error) {
    throw new UsageError(`--profile ${path} is not JSON: ${(error as Error).message}`);
  }
  if (typeof profile !== "object" || profile === null || Array.isArray(profile)) throw new UsageError(`--profile ${path}: expected a JSON object with "features", "hooks" and "limits"`);
  if (profile.features !== undefined && (!Array.isArray(profile.features) || profile.features.some((f) => typeof f !== "string"))) throw new UsageError(`--profile: "features" must be a list of names`);
  for (const [name, value] of Object.entries(profile.limits ?? {})) {
    if (!(PROFILE_LIMITS as readonly string[]).includes(name)) throw new UsageError(`--profile: unknown limit ${name}; known: ${PROFILE_LIMITS.join(", ")}`);
    if (!Number.isInteger(value) || value < 1) throw new UsageError(`--profile: limits.${name} must be a positive integer, not ${value}`);
  }
  const problem = checkProfile(profile.hooks ?? {});
  if (problem) throw new UsageError(`--profile: ${problem}`);
  return profile;
}

async function readExpected(path: string | undefined, fix: boolean): Promise<ExpectedFailures> {
  try {
    return await readExpectedFailures(path, fix);
  } catch (error) {
    if (error instanceof SyntaxError) throw new UsageError(`--expected-failures ${path}: ${error.message}`);
    throw fileError(error, path!, "--expected-failures");
  }
}

async function writeReport(path: string, flag: string, text: string): Promise<void> {
  try {
    await writeFile(path, text);
  } catch (error) {
    throw fileError(error, path, flag);
  }
}
