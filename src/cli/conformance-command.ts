import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { startEmbeddedServer, type EmbeddedServer } from "../conformance/embedded-server.js";
import { checkProfile, hooksFromProfile, type HookProfile, type OperatorHooks } from "../conformance/suite/operator-hooks.js";
import { PushListener } from "../conformance/suite/push-listener.js";
import type { Logger } from "../server/logger.js";
import type { ServerMachineFactory } from "../machines/server/server-machine.js";
import { loadRequirements } from "../spec/requirements.js";
import { allTests, select, SUITE_VERSION } from "../conformance/suite/catalogue.js";
import type { ProfileLimits, Target } from "../conformance/suite/context.js";
import { readExpectedFailures, writeExpectedFailures } from "../conformance/suite/expected-failures.js";
import { failureReport, jsonReport, junitReport, progressLine, specCoverage, summarise, summaryLine } from "../conformance/suite/report.js";
import { runSuite } from "../conformance/suite/run-suite.js";
import { commandTokens, secretTokens, type TokenSource } from "../conformance/suite/tokens.js";
import { FEATURES, type Feature } from "../conformance/suite/types.js";
import { UsageError, type CliIO } from "./io.js";
import { resolveSecret } from "./secret.js";

export const conformanceHelp = `Usage: imwire conformance [options]

Check a server against SPEC.md, black-box: scripted clients (and a
fault-injecting proxy) run every test of the suite and report, per test, the
requirement it checks and whether the server met it. Exit status 0 only when
every required test passes and the expected-failures file is exact.

Without --target, starts the reference server in this process on free ports
(on SQLite in a temporary file, with every operator hook wired: restart,
shutdown, push webhook) and checks it over TCP and WebSocket: the whole
protocol working, in one command.

Target:
  --target URL            tcp://, tls://, ws:// or wss:// address; repeat for several transports
  --insecure              accept any TLS certificate (self-signed test servers)
  --features LIST         optional features the server has, comma-separated, from:
                          ${FEATURES.join(", ")} (default: all for the embedded
                          server; for --target, websocket/stream follow the targets)
  --profile FILE          the same as JSON, with operator hooks (SPEC.md Appendix C):
                          {"features": [...], "hooks": {"restart": CMD, "shutdown": CMD
                          or {"pidFile": PATH}, "pushWebhook": "http://127.0.0.1:PORT/path"},
                          "limits": {"maxGroupSize": N, "streamRetentionEntries": N}};
                          tests needing an undeclared hook are reported unsupported
Tokens (the runner names its users; the server must accept them):
  --secret TEXT           sign tokens with the reference scheme and this secret
                          (default: IMWIRE_SECRET, else the development secret)
  --token-command CMD     run CMD through the shell for each token; {user}, {device}
                          and {ttl_ms} are replaced; its stdout is the token. The
                          runner names fresh users per test (<run id>-<n>-<name>),
                          so the server must accept users it has not seen before
Selection and output:
  --only IDS              comma-separated test ids, id prefixes, requirement ids or groups
  --skip IDS              the same, to leave out
  --expected-failures F   strict list of tests expected to fail (JSON)
  --fix                   rewrite the expected-failures file from this run
  --json FILE             write the full results as JSON
  --junit FILE            write JUnit XML
  --spec-coverage         list which SPEC.md requirements the run exercised
  --seed N                replay a run (default: random, printed)
  --timeout-ms N          wait this long for anything the server should send promptly (default 5000)
  --quiet-ms N            watch this long for what must not happen, such as a push to a
                          former member (default 500)
  --concurrency N         tests at once (default 4)
  -h, --help              show this help

Examples:
  imwire conformance
  imwire conformance --target tcp://127.0.0.1:5300 --target ws://127.0.0.1:5301/ --secret s3cret
  imwire conformance --target tcp://chat.example:5300 --token-command 'mint-token {user} {device}' --only handshake,auth
`;


export interface ConformanceCommandHooks {
  /** Makes the embedded server's machine: the runner's self-tests plant bugs through it. */
  readonly embeddedMachine?: ServerMachineFactory;
  /** Test-only: where the embedded server logs (silent by default). */
  readonly embeddedLog?: Logger;
}

export async function conformanceCommand(args: string[], io: CliIO, hooks_: ConformanceCommandHooks = {}): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      target: { type: "string", multiple: true },
      insecure: { type: "boolean", default: false },
      features: { type: "string" },
      profile: { type: "string" },
      secret: { type: "string" },
      "token-command": { type: "string" },
      only: { type: "string" },
      skip: { type: "string" },
      "expected-failures": { type: "string" },
      fix: { type: "boolean", default: false },
      json: { type: "string" },
      junit: { type: "string" },
      "spec-coverage": { type: "boolean", default: false },
      seed: { type: "string" },
      "timeout-ms": { type: "string", default: "5000" },
      "quiet-ms": { type: "string", default: "500" },
      concurrency: { type: "string", default: "4" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.writeOut(conformanceHelp);
    return 0;
  }
  if (values.fix && !values["expected-failures"]) throw new UsageError("--fix needs --expected-failures FILE");
  const seed = values.seed === undefined ? randomBytes(4).readUInt32BE() : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new UsageError(`--seed takes a non-negative integer, not ${values.seed}`);
  const timeoutMs = Number(values["timeout-ms"]);
  const list = (text: string | undefined) => (text ? text.split(",").map((s) => s.trim()).filter(Boolean) : []);

  let embedded: EmbeddedServer | undefined;
  let pushes: PushListener | undefined;
  let urls = values.target ?? [];
  let tokens: TokenSource;
  let features: Set<Feature>;
  let hooks: OperatorHooks;
  let limits: ProfileLimits = {};
  if (urls.length === 0) {
    embedded = await startEmbeddedServer({ ...(hooks_.embeddedMachine ? { machine: hooks_.embeddedMachine } : {}), ...(hooks_.embeddedLog ? { log: hooks_.embeddedLog } : {}) });
    urls = [...embedded.urls];
    tokens = embedded.tokens;
    features = new Set(FEATURES);
    hooks = embedded.hooks;
    pushes = embedded.pushes;
    limits = embedded.limits;
    io.writeOut(`imwire conformance ${SUITE_VERSION}: started the reference server on ${urls.join(" and ")}\n`);
  } else {
    tokens = values["token-command"] ? commandTokens(values["token-command"]) : secretTokens(await resolveSecret(values, io.writeErr));
    const profile = values.profile ? (JSON.parse(await readFile(values.profile, "utf8")) as { features?: string[]; hooks?: HookProfile; limits?: ProfileLimits }) : {};
    for (const [name, value] of Object.entries(profile.limits ?? {})) {
      if (name !== "maxGroupSize" && name !== "streamRetentionEntries") throw new UsageError(`--profile: unknown limit ${name}; known: maxGroupSize, streamRetentionEntries`);
      if (!Number.isInteger(value) || value < 1) throw new UsageError(`--profile: limits.${name} must be a positive integer, not ${value}`);
    }
    limits = profile.limits ?? {};
    const declared = values.profile ? (profile.features ?? []) : list(values.features);
    for (const f of declared) if (!(FEATURES as readonly string[]).includes(f)) throw new UsageError(`unknown feature ${f}; known: ${FEATURES.join(", ")}`);
    features = new Set(declared as Feature[]);
    if (urls.some((u) => u.startsWith("ws"))) features.add("websocket");
    if (urls.some((u) => u.startsWith("tcp") || u.startsWith("tls"))) features.add("stream");
    const problem = checkProfile(profile.hooks ?? {});
    if (problem) throw new UsageError(`--profile: ${problem}`);
    hooks = hooksFromProfile(profile.hooks ?? {}, urls);
    if (hooks.pushWebhook) pushes = await PushListener.start(hooks.pushWebhook);
    io.writeOut(`imwire conformance ${SUITE_VERSION} against ${urls.join(" and ")}\n`);
  }

  const runId = `cf${seed.toString(36)}${randomBytes(3).toString("hex")}`;
  const targets: Target[] = urls.map((url) => ({ url, dial: { tls: values.insecure ? { rejectUnauthorized: false } : {} }, tokens, features, runId, hooks, limits, ...(pushes ? { pushes } : {}) }));
  const tests = select(allTests, list(values.only), list(values.skip));
  if (tests.length === 0) throw new UsageError("--only/--skip leave no test to run");
  const expected = await readExpectedFailures(values["expected-failures"]);
  io.writeOut(`seed ${seed}; ${tests.length} tests, features: ${[...features].join(", ") || "none"}\n`);

  const quietMs = Number(values["quiet-ms"]);
  if (!Number.isInteger(quietMs) || quietMs < 0) throw new UsageError(`--quiet-ms takes a non-negative integer, not ${values["quiet-ms"]}`);
  const results = await runSuite({ targets, tests, seed, timeoutMs, quietMs, concurrency: Number(values.concurrency), onResult: (r) => io.writeOut(`${progressLine(r, expected)}\n`) });
  await embedded?.close();
  if (!embedded) await pushes?.close();

  const summary = summarise(results, expected);
  const requirements = await loadRequirements();
  const targetFlags = values.target ? values.target.map((t) => `--target ${t}`).join(" ") : "";
  const replay = (r: (typeof results)[number]) => `imwire conformance ${targetFlags}${targetFlags ? " " : ""}--only ${r.test.id} --seed ${seed}`.replace(/\s+/g, " ");
  io.writeOut(`${failureReport(results, expected, requirements, replay)}\n\n${summaryLine(summary)}\n`);
  if (values["spec-coverage"]) io.writeOut(`\n${specCoverage(results, requirements)}\n`);
  if (values.json) await writeFile(values.json, `${jsonReport(results, expected, summary, seed)}\n`);
  if (values.junit) await writeFile(values.junit, junitReport(results, expected));
  if (values.fix) {
    await writeExpectedFailures(values["expected-failures"]!, results);
    io.writeOut(`rewrote ${values["expected-failures"]}\n`);
    return 0;
  }
  return summary.ok ? 0 : 1;
}
