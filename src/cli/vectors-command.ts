import { access, readFile, writeFile } from "node:fs/promises";
import { splitCommandWords } from "../conformance/codec-harness/command-words.js";
import { classify, ExpectedFailuresFormatError, parseExpectedFailures, renderExpectedFailures } from "../conformance/codec-harness/expected-failures.js";
import { defaultManifestPath, loadManifest } from "../conformance/codec-harness/manifest.js";
import { jsonReport, junitReport, renderSummary, runPassed } from "../conformance/codec-harness/report.js";
import { runVectors } from "../conformance/codec-harness/runner.js";
import { serveTestee } from "../conformance/codec-harness/serve-testee.js";
import { startTesteeProcess } from "../conformance/codec-harness/testee-process.js";
import { createTypescriptTestee } from "../conformance/codec-harness/typescript-testee.js";
import { defaultExpectedFailuresPath, verifyManifest } from "../conformance/codec-harness/verify.js";
import { shellWord, UsageError, type CliIO } from "./io.js";
import { fileError, integerOption, parseOptions } from "./options.js";

export const vectorsHelp = `Usage: imwire vectors <command> [options]

The golden vectors (conformance/vectors/manifest.json) and the codec harness
that runs them against an implementation in any language over stdin/stdout
(conformance/README.md).

Commands:
  verify   check the manifest against its JSON Schema and this package's codec
  run      run the vectors against a codec implementation (a testee)
  testee   be the TypeScript testee on stdin/stdout (for "imwire vectors run")

Run "imwire vectors <command> --help" for a command's options.
`;

const verifyHelp = `Usage: imwire vectors verify [options]

Check the vector manifest against manifest.schema.json and the rules the
schema cannot state (unique ids, wire bytes, SPEC.md requirement ids), then run
every harness check against this package's codec in-process. Vectors listed
in the TypeScript testee's expected-failures file must fail exactly as listed
(they record known codec bugs). Exit status 1 on any mismatch.

Options:
  --manifest PATH            the manifest (default: conformance/vectors/manifest.json)
  --expected-failures FILE   default: conformance/harness/typescript-expected-failures.txt
  --seed N                   seed of the random stream splits (default 1)
  -h, --help                 show this help
`;

const runHelp = `Usage: imwire vectors run --testee "<command>" [options]

Start the testee command, speak the codec harness protocol with it over its
stdin and stdout (conformance/README.md, "Codec harness protocol"), and run
every vector: valid ones are decoded (JSON compared), re-encoded and encoded
(bytes compared exactly), and streamed whole, one byte at a time and in
seeded random splits; invalid ones must give the exact error code, request
id and field. A testee that crashes, hangs or writes garbage fails the check
at hand and is restarted.

The command is split into words like a shell splits quoted words, without
expanding anything, and run without a shell: write sh -c '...' to use one.

Exit status 0 only when nothing unexpected happened: every failing vector is
listed in the expected-failures file with the same failure signature, and
every listed vector still fails that way.

Options:
  --testee COMMAND           the testee to run (required)
  --expected-failures FILE   vectors expected to fail, one id per line with "# signature"
  --fix                      rewrite the expected-failures file from this run
  --json FILE                write a JSON report
  --junit FILE               write JUnit XML: a test case per vector; what fails the run
                             is a failure, expected failures pass, unsupported are skipped
  --seed N                   seed of the random stream splits (default 1)
  --only ID-PREFIX           run only vectors whose id starts with this (repeatable)
  --manifest PATH            the manifest (default: conformance/vectors/manifest.json)
  --timeout MS               time to answer one request, 1 or more (default 10000)
  --handshake-timeout MS     time to start and answer hello, 1 or more (default 30000)
  --max-restarts N           restarts of a crashed or hung testee (default 10)
  -h, --help                 show this help

Example:
  imwire vectors run --testee "python3 my_testee.py" --expected-failures known.txt --json report.json
  imwire vectors run --testee "imwire vectors testee" --junit vectors.xml
`;

const testeeHelp = `Usage: imwire vectors testee

Serve this package's codec as a testee of the codec harness on stdin and
stdout (conformance/README.md, "Codec harness protocol"), with the
capabilities decode, encode, stream and json. For example:

  imwire vectors run --testee "imwire vectors testee"
`;

export async function vectorsCommand(args: string[], io: CliIO): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "verify":
      return verifyCommand(rest, io);
    case "run":
      return runCommand(rest, io);
    case "testee":
      return testeeCommand(rest, io);
    case undefined:
    case "-h":
    case "--help":
    case "help":
      io.writeOut(vectorsHelp);
      return sub === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown subcommand "${sub}": use verify, run or testee`);
  }
}

async function verifyCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseOptions(
    args,
    {
      manifest: { type: "string" },
      "expected-failures": { type: "string" },
      seed: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    true,
  );
  if (values.help) {
    io.writeOut(verifyHelp);
    return 0;
  }
  noPositionals(positionals);
  const expectedFailuresPath = values["expected-failures"] ?? defaultExpectedFailuresPath;
  const manifestPath = values.manifest ?? defaultManifestPath;
  const seed = parseSeed(values.seed);
  await mustExist(manifestPath, "--manifest");
  await mustExist(expectedFailuresPath, "--expected-failures");
  const result = await verifyManifest({ manifestPath, expectedFailuresPath, seed });
  for (const problem of result.problems) io.writeOut(`PROBLEM  ${problem}\n`);
  io.writeOut(renderSummary({ ...result, expectedFailuresPath, replay: (id) => `imwire vectors run --testee "imwire vectors testee" --only ${id}` }));
  return result.problems.length === 0 && runPassed(result) ? 0 : 1;
}

async function runCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseOptions(
    args,
    {
      testee: { type: "string" },
      "expected-failures": { type: "string" },
      fix: { type: "boolean", default: false },
      json: { type: "string" },
      junit: { type: "string" },
      seed: { type: "string" },
      only: { type: "string", multiple: true },
      manifest: { type: "string" },
      timeout: { type: "string" },
      "handshake-timeout": { type: "string" },
      "max-restarts": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    true,
  );
  if (values.help) {
    io.writeOut(runHelp);
    return 0;
  }
  noPositionals(positionals);
  if (values.testee === undefined) throw new UsageError("--testee COMMAND is required");
  if (values.fix && values["expected-failures"] === undefined) throw new UsageError("--fix needs --expected-failures FILE to rewrite");
  let argv: string[];
  try {
    argv = splitCommandWords(values.testee);
  } catch (error) {
    throw new UsageError(`--testee: ${(error as Error).message}`);
  }
  const seed = parseSeed(values.seed);
  const requestTimeoutMs = integerOption(values.timeout, "--timeout", 10_000, { min: 1 });
  const handshakeTimeoutMs = integerOption(values["handshake-timeout"], "--handshake-timeout", 30_000, { min: 1 });
  const maxRestarts = integerOption(values["max-restarts"], "--max-restarts", 10);
  const manifestPath = values.manifest ?? defaultManifestPath;
  const manifest = await loadManifest(manifestPath).catch((error: unknown) => {
    throw fileError(error, manifestPath, "--manifest");
  });
  const listPath = values["expected-failures"];
  let listText = "";
  let list = new Map<string, string | undefined>();
  if (listPath !== undefined) {
    listText = await readFile(listPath, "utf8").catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT" && values.fix) return "";
      throw fileError(error, listPath, "--expected-failures");
    });
    try {
      list = parseExpectedFailures(listText);
    } catch (error) {
      if (error instanceof ExpectedFailuresFormatError) throw new UsageError(`${listPath}: ${error.message}`);
      throw error;
    }
  }

  const run = await runVectors({
    manifest,
    startSession: () => startTesteeProcess({ argv, handshakeTimeoutMs }),
    seed,
    only: values.only,
    requestTimeoutMs,
    maxRestarts,
  });
  const manifestIds = new Set(manifest.vectors.map((v) => v.id));
  if (values.fix && listPath !== undefined && run.testee !== undefined) {
    const rewritten = renderExpectedFailures(run.vectors, listText, manifestIds);
    await writeFile(listPath, rewritten);
    list = parseExpectedFailures(rewritten);
    io.writeOut(`rewrote ${listPath} from this run\n`);
  }
  const classification = classify(run.vectors, list, manifestIds);
  const only = (values.only ?? []).map((p) => ` --only ${shellWord(p)}`).join("");
  const replay = (id: string) => `imwire vectors run --testee ${shellWord(values.testee!)} --seed ${seed} --only ${shellWord(id)}`;
  const input = { manifest, run, classification, expectedFailuresPath: listPath, replay };
  io.writeOut(renderSummary(input));
  if (values.json !== undefined) {
    await writeReport(values.json, "--json", JSON.stringify({ command: `imwire vectors run --testee ${shellWord(values.testee)} --seed ${seed}${only}`, ...(jsonReport(input) as object) }, null, 2) + "\n");
  }
  if (values.junit !== undefined) await writeReport(values.junit, "--junit", junitReport(input));
  return runPassed(input) ? 0 : 1;
}

async function testeeCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseOptions(args, { help: { type: "boolean", short: "h", default: false } }, true);
  if (values.help) {
    io.writeOut(testeeHelp);
    return 0;
  }
  noPositionals(positionals);
  // The protocol owns stdout: the testee reads and writes the process's streams directly, not through io.
  return serveTestee(process.stdin, process.stdout, createTypescriptTestee(), (text) => io.writeErr(text));
}

function noPositionals(positionals: string[]): void {
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
}

function parseSeed(text: string | undefined): number {
  return integerOption(text, "--seed", 1, { min: 0, max: 0xffffffff });
}

/** A missing input file is one line naming the flag, before any work starts. */
async function mustExist(path: string, flag: string): Promise<void> {
  await access(path).catch((error: unknown) => {
    throw fileError(error, path, flag);
  });
}

async function writeReport(path: string, flag: string, text: string): Promise<void> {
  await writeFile(path, text).catch((error: unknown) => {
    throw fileError(error, path, flag);
  });
}
