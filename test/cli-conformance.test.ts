import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "../src/cli/main.js";
import type { CliIO } from "../src/cli/io.js";
import { replayLine, replayNote } from "../src/cli/conformance-replay.js";
import { allTests } from "../src/conformance/suite/catalogue.js";
import type { Target } from "../src/conformance/suite/context.js";
import { HEARTBEAT_BOUND_TESTS, heartbeatHint } from "../src/conformance/suite/heartbeat-hint.js";
import { LiveProgress } from "../src/conformance/suite/live-progress.js";
import { failureReport } from "../src/conformance/suite/report.js";
import type { TargetResult } from "../src/conformance/suite/run-suite.js";
import { FEATURES } from "../src/conformance/suite/types.js";
import { startReferenceServer, type ReferenceServer } from "../src/server/reference-server.js";
import { MemoryStore } from "../src/store/memory-store.js";
import { parseRequirements } from "../src/spec/requirements.js";
import { brokenServer, type Breakage } from "./support/broken-servers.js";
import type { ServerOptions } from "../src/machines/server/options.js";

/**
 * `imwire conformance` as a user meets it: options refused before anything
 * starts, a target that cannot be reached or refuses the runner's tokens
 * said once, --list, the status line and colours on a terminal only, the
 * heartbeat hint, replay lines without secrets, whole requirements quoted.
 */

const scratch = mkdtempSync(join(tmpdir(), "imwire-cf-cli-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Terminal {
  readonly columns?: number;
  readonly colour?: boolean;
}

async function conformance(args: string[], terminal: Terminal = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = {
    writeOut: (data) => void out.push(String(data)),
    writeErr: (text) => void err.push(text),
    readStdin: async () => new Uint8Array(),
    readFile: async () => {
      throw new Error("conformance reads its files itself");
    },
    stdinIsTTY: true,
    ...(terminal.columns !== undefined ? { stdoutColumns: terminal.columns } : {}),
    ...(terminal.colour !== undefined ? { colour: terminal.colour } : {}),
  };
  const status = await runCli(["conformance", ...args], io);
  return { status, out: out.join(""), err: err.join("") };
}

/** A port on 127.0.0.1 nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function withServer<T>(options: { secret: string; heartbeatMs?: number; breakage?: Breakage; protocol?: Partial<ServerOptions> }, body: (server: ReferenceServer) => Promise<T>): Promise<T> {
  const server = await startReferenceServer({
    tcp: { port: 0 },
    store: new MemoryStore(),
    secret: options.secret,
    ...(options.heartbeatMs || options.protocol ? { protocol: { ...options.protocol, ...(options.heartbeatMs ? { heartbeatIntervalMs: options.heartbeatMs } : {}) } } : {}),
    ...(options.breakage ? { machine: brokenServer(options.breakage) } : {}),
  });
  try {
    return await body(server);
  } finally {
    await server.close();
  }
}

describe("options are checked before anything starts: one line naming the flag, exit 2", () => {
  it.each([
    [["--timeout-ms", "abc"], 'imwire conformance: --timeout-ms takes an integer 1 or more, not "abc"'],
    [["--quiet-ms", "soon"], 'imwire conformance: --quiet-ms takes an integer 0 or more, not "soon"'],
    [["--concurrency", "0"], 'imwire conformance: --concurrency takes an integer from 1 to 64, not "0"'],
    [["--seed=-1"], 'imwire conformance: --seed takes an integer from 0 to 4294967295, not "-1"'],
    [["--target", "http://127.0.0.1:5301/"], "imwire conformance: --target takes a tcp://, tls://, ws:// or wss:// address, not http://127.0.0.1:5301/ (for WebSocket write ws://127.0.0.1:5301)"],
    [["--target", "tcp://127.0.0.1"], "imwire conformance: --target needs a port: tcp://127.0.0.1"],
    [["--features", "telepathy"], "imwire conformance: unknown feature telepathy; known: " + FEATURES.join(", ")],
    [["--only", "NO-SUCH-TEST"], "imwire conformance: --only/--skip leave no test to run"],
    [["--secret", "a", "--token-command", "b", "--target", "tcp://127.0.0.1:1"], "imwire conformance: give one of --secret, --token-command, not both"],
    [["--secret", "a"], "imwire conformance: --secret needs --target: the embedded reference server signs its own tokens"],
  ])("%j", async (args, line) => {
    const result = await conformance(args);
    expect(result.status).toBe(2);
    expect(result.err.split("\n")[0]).toBe(line);
    expect(result.out).toBe("");
  });

  it("ENOENT on --profile and --expected-failures (without --fix); a profile that is not JSON", async () => {
    const missing = join(scratch, "missing.json");
    expect(await conformance(["--profile", missing])).toEqual({ status: 2, out: "", err: `imwire conformance: --profile: no such file or directory: ${missing}\n` });
    expect(await conformance(["--expected-failures", missing])).toEqual({ status: 2, out: "", err: `imwire conformance: --expected-failures: no such file or directory: ${missing}\n` });
    expect(await conformance(["--target", "tcp://127.0.0.1:1", "--secret-file", missing])).toMatchObject({ status: 2, err: `imwire conformance: --secret-file: no such file or directory: ${missing}\n` });
    const broken = join(scratch, "broken.json");
    writeFileSync(broken, "{features: [");
    expect((await conformance(["--profile", broken])).err).toMatch(new RegExp(`^imwire conformance: --profile ${broken} is not JSON: `));
  });
});

describe("--profile limits (Appendix C)", () => {
  const profile = (limits: Record<string, number>) => {
    const path = join(scratch, `profile-${Object.keys(limits).join("-") || "none"}.json`);
    writeFileSync(path, JSON.stringify({ limits }));
    return path;
  };
  const only = ["--only", "CUR-8/group-moves-to-read-fan-out,LIM-9/members-paged-above-the-inline-limit", "--seed", "3"];

  it("readFanOutMembers and maxInlineMembers reach the tests that need them; without them those tests are unsupported", async () => {
    await withServer({ secret: "s", protocol: { readFanOutMembers: 4, maxInlineMembers: 8, maxGroupSize: 40 } }, async (server) => {
      const declared = await conformance(["--target", server.urls.tcp!, "--secret", "s", "--profile", profile({ readFanOutMembers: 4, maxInlineMembers: 8, maxGroupSize: 40 }), ...only]);
      expect([declared.status, declared.out]).toEqual([0, expect.stringMatching(/2 passed, 0 required failed/)]);
      const undeclared = await conformance(["--target", server.urls.tcp!, "--secret", "s", "--profile", profile({}), ...only]);
      expect(undeclared.out).toMatch(/0 passed, .*2 unsupported/);
      expect(undeclared.out).toMatch(/limits\.readFanOutMembers/);
      expect(undeclared.out).toMatch(/limits\.maxInlineMembers/);
    });
  }, 30_000);

  it("a limit of another name, or not a positive integer, is a usage error", async () => {
    const unknown = await conformance(["--profile", profile({ readFanOut: 4 })]);
    expect([unknown.status, unknown.err.split("\n")[0]]).toEqual([2, "imwire conformance: --profile: unknown limit readFanOut; known: maxGroupSize, streamRetentionEntries, readFanOutMembers, maxInlineMembers, receiptMembers"]);
    const zero = await conformance(["--profile", profile({ maxInlineMembers: 0 })]);
    expect([zero.status, zero.err.split("\n")[0]]).toEqual([2, "imwire conformance: --profile: limits.maxInlineMembers must be a positive integer, not 0"]);
  });
});

describe("pre-checks: a target that cannot serve the run is said once, exit 2", () => {
  it("a closed port on 127.0.0.1: connection refused", async () => {
    const port = await closedPort();
    const result = await conformance(["--target", `tcp://127.0.0.1:${port}`, "--secret", "s"]);
    expect(result.status).toBe(2);
    expect(result.err).toBe(`imwire conformance: cannot connect to tcp://127.0.0.1:${port}: connection refused\n`);
    expect(result.out).not.toMatch(/✗|seed \d+;/);
    const ws = await conformance(["--target", `ws://127.0.0.1:${port}/`, "--secret", "s"]);
    expect([ws.status, ws.err]).toEqual([2, `imwire conformance: cannot connect to ws://127.0.0.1:${port}/: connection refused\n`]);
  });

  it("a TCP port that is not an imwire server: said to be one that does not answer hello", async () => {
    const { createServer: createHttpServer } = await import("node:http");
    const http = createHttpServer((_request, response) => response.end("hello"));
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const { port } = http.address() as { port: number };
    try {
      const result = await conformance(["--target", `tcp://127.0.0.1:${port}`, "--secret", "s"]);
      expect([result.status, result.err]).toEqual([2, `imwire conformance: tcp://127.0.0.1:${port} did not answer hello: the connection closed without an answer\n`]);
    } finally {
      http.close();
    }
  });

  it("the reference server with a wrong secret: tokens refused, once", async () => {
    await withServer({ secret: "the-right-one" }, async (server) => {
      const result = await conformance(["--target", server.urls.tcp!, "--secret", "a-wrong-one"]);
      expect(result.status).toBe(2);
      expect(result.err).toMatch(new RegExp(`^imwire conformance: tokens refused by ${server.urls.tcp}: ERROR_CODE_UNAUTHENTICATED( \\(.*\\))?\\n$`));
      expect(result.out).not.toMatch(/✗/);
    });
  });

  it("a token command that fails: its own message, not the command line", async () => {
    await withServer({ secret: "s" }, async (server) => {
      const result = await conformance(["--target", server.urls.tcp!, "--token-command", "echo 'no such user database' >&2; exit 3 # hunter2"]);
      expect([result.status, result.err]).toEqual([2, "imwire conformance: --token-command failed: no such user database\n"]);
    });
  });
});

describe("--list", () => {
  it("prints every test: id, requirements, group, level, title; connects to nothing", async () => {
    const result = await conformance(["--list"]);
    expect(result.status).toBe(0);
    const lines = result.out.trimEnd().split("\n");
    expect(lines).toHaveLength(allTests.length);
    const hb3 = lines.find((l) => l.startsWith("HB-3/silent-connection-closed "))!;
    expect(hb3.split(/\s{2,}/)).toEqual(["HB-3/silent-connection-closed", "HB-3,ERR-2", "heartbeat", "required", allTests.find((t) => t.id === "HB-3/silent-connection-closed")!.title]);
    expect(result.err).toBe(`${allTests.length} tests\n`);
  });

  it("honours --only, --skip, --features and the targets' transports (a closed port: nothing connects)", async () => {
    const only = await conformance(["--list", "--only", "heartbeat", "--skip", "HB-1"]);
    const ids = only.out.trimEnd().split("\n").map((l) => l.split(" ")[0]);
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.every((id) => !id!.startsWith("HB-1/"))).toBe(true);
    expect(ids).toEqual(allTests.filter((t) => t.group === "heartbeat" && !t.id.startsWith("HB-1")).map((t) => t.id));

    const port = await closedPort();
    const narrowed = await conformance(["--list", "--target", `tcp://127.0.0.1:${port}`, "--features", ""]);
    expect(narrowed.status).toBe(0);
    const listed = new Set(narrowed.out.trimEnd().split("\n").map((l) => l.split(" ")[0]));
    const needing = allTests.filter((t) => (t.needs ?? []).some((f) => f !== "stream"));
    expect(needing.length).toBeGreaterThan(0);
    for (const t of needing) expect(listed.has(t.id), t.id).toBe(false);
    expect(narrowed.err).toMatch(new RegExp(`^${listed.size} tests \\(${allTests.length - listed.size} more need features not declared: `));
  });
});

describe("progress: a status line and colours on a terminal, nothing extra off one", () => {
  it("LiveProgress draws [done/total] and the oldest running test, clears it before each result line, and says how long it has run", () => {
    let now = 0;
    const written: string[] = [];
    const progress = new LiveProgress({ write: (t) => void written.push(t), total: 3, columns: 60, now: () => now, tickMs: 0 });
    progress.started("tcp HB-3/silent-connection-closed");
    progress.started("tcp CONN-1/first-frame-must-be-hello");
    now = 4_200;
    expect(progress.status()).toBe("[0/3] tcp HB-3/silent-connection-closed … 4 s (+1 running)");
    progress.finished("tcp CONN-1/first-frame-must-be-hello", "  ✓ CONN-1");
    progress.finished("tcp HB-3/silent-connection-closed", "  ✓ HB-3");
    progress.stop();
    expect(written).toEqual([
      "\r\x1b[2K[0/3] tcp HB-3/silent-connection-closed …",
      "\r\x1b[2K[0/3] tcp HB-3/silent-connection-closed … (+1 running)",
      "\r\x1b[2K",
      "  ✓ CONN-1\n",
      "\r\x1b[2K[1/3] tcp HB-3/silent-connection-closed … 4 s",
      "\r\x1b[2K",
      "  ✓ HB-3\n",
      "\r\x1b[2K[2/3]",
      "\r\x1b[2K",
    ]);
  });

  it("a narrow terminal gets the status cut to its width; off a terminal only result lines are written", () => {
    const written: string[] = [];
    const narrow = new LiveProgress({ write: (t) => void written.push(t), total: 1, columns: 20, now: () => 0, tickMs: 0 });
    narrow.started("tcp HB-3/silent-connection-closed");
    expect(written[0]).toBe("\r\x1b[2K[0/1] tcp HB-3/sile");
    const plain: string[] = [];
    const off = new LiveProgress({ write: (t) => void plain.push(t), total: 1, columns: undefined });
    off.started("tcp X");
    off.finished("tcp X", "  ✓ X");
    off.stop();
    expect(plain).toEqual(["  ✓ X\n"]);
  });

  it("the embedded run: status line and green marks on a terminal; plain lines in a pipe", async () => {
    const only = ["--only", "CONN-1/first-frame-must-be-hello", "--seed", "3"];
    const tty = await conformance(only, { columns: 100, colour: true });
    expect(tty.status).toBe(0);
    expect(tty.out).toContain("\r\x1b[2K[0/2] tcp CONN-1/first-frame-must-be-hello …");
    expect(tty.out).toMatch(/\x1b\[32m {2}✓ tcp CONN-1\/first-frame-must-be-hello/);
    expect(tty.out).toMatch(/\x1b\[32m.*CONFORMS/);
    const pipe = await conformance(only);
    expect(pipe.status).toBe(0);
    expect(pipe.out).not.toContain("\x1b");
    expect(pipe.out).not.toContain("\r");
    expect(pipe.out.match(/^ {2}✓ /gm)).toHaveLength(2);
  }, 60_000);
});

describe("the heartbeat hint", () => {
  it("names only tests that exist, and states what they take", () => {
    const ids = new Set(allTests.map((t) => t.id));
    for (const id of Object.keys(HEARTBEAT_BOUND_TESTS)) expect(ids.has(id), id).toBe(true);
    const heartbeat = allTests.filter((t) => t.id in HEARTBEAT_BOUND_TESTS);
    expect(heartbeatHint(30_000, heartbeat)).toBe(
      "the server's heartbeat is 30 s: the 5 heartbeat tests wait 1.5–2.8 intervals each (about 45–84 s), alongside the others; for the reference server, `imwire serve --heartbeat-ms 1000` shortens them",
    );
    expect(heartbeatHint(4_999, heartbeat)).toBeUndefined();
    expect(heartbeatHint(30_000, allTests.filter((t) => t.group === "auth"))).toBeUndefined();
  });

  it("is printed once before a run against a server with a 5 s heartbeat, whose HB-3 test then passes", async () => {
    await withServer({ secret: "s", heartbeatMs: 5_000 }, async (server) => {
      const result = await conformance(["--target", server.urls.tcp!, "--secret", "s", "--only", "HB-3/silent-connection-closed,CONN-1/first-frame-must-be-hello"]);
      expect(result.status, result.out).toBe(0);
      const hint = "the server's heartbeat is 5 s: the heartbeat test waits 1.5 intervals (about 8 s), alongside the others; for the reference server, `imwire serve --heartbeat-ms 1000` shortens them\n";
      expect(result.out.split(hint)).toHaveLength(2);
      expect(result.out.indexOf(hint)).toBeLessThan(result.out.indexOf("✓"));
    });
  }, 60_000);
});

describe("failure reports: whole requirements, replay lines without secrets", () => {
  it("against a broken server given --secret: the secret appears nowhere; the replay line has a placeholder and runs the failing transport", async () => {
    const secret = "s3cret-do-not-print";
    await withServer({ secret, breakage: { wrongErrorCodes: true } }, async (server) => {
      const result = await conformance(["--target", server.urls.tcp!, "--secret", secret, "--only", "SEC-3/outsider-send", "--seed", "7", "--timeout-ms", "3000"]);
      expect(result.status).toBe(1);
      expect(result.out + result.err).not.toContain(secret);
      // Nor the tokens signed with it: live credentials for the server, shown in the frames by their length only.
      expect(result.out).toMatch(/"authenticate":\{"token":"\(token, \d+ characters\)"\}/);
      expect(result.out).not.toMatch(/imw1\./);
      expect(result.out).toContain(`  replay: imwire conformance --target ${server.urls.tcp} --secret SECRET --timeout-ms 3000 --only SEC-3/outsider-send --seed 7\n`);
      expect(result.out).toContain("the replay lines show SECRET where your --secret goes (left out: it may be a secret)");
      // SEC-3 runs over several lines of SPEC.md: the report quotes all of it.
      const spec = parseRequirements(readFileSync(new URL("../SPEC.md", import.meta.url), "utf8"));
      const sec3 = spec.find((r) => r.id === "SEC-3")!;
      const block = result.out.slice(result.out.indexOf("  SEC-3 (MUST):"));
      const quoted = block.split("\n").slice(1).filter((l) => l.startsWith("      ")).map((l) => l.trim()).join(" ");
      expect(quoted.startsWith(sec3.text)).toBe(true);
      expect(sec3.text.length).toBeGreaterThan(100);
    });
  }, 60_000);

  it("replayLine keeps what shapes a test and hides token options", () => {
    const test = allTests[0]!;
    const target = { url: "ws://127.0.0.1:5301/" } as Target;
    const result = { test, target } as TargetResult;
    const settings = { seed: 9, targets: ["tcp://127.0.0.1:5300", "ws://127.0.0.1:5301/"], insecure: true, features: "channels,read-receipts", tokenOption: "--token-command" as const };
    expect(replayLine(result, settings)).toBe(`imwire conformance --target ws://127.0.0.1:5301/ --insecure --features channels,read-receipts --token-command 'COMMAND' --only ${test.id} --seed 9`);
    expect(replayNote(settings)).toMatch(/'COMMAND' where your --token-command goes/);
    expect(replayLine(result, { seed: 9, targets: [], insecure: false })).toBe(`imwire conformance --only ${test.id} --seed 9`);
    expect(replayNote({ seed: 9, targets: [], insecure: false })).toBeUndefined();
    // A secret file's path is not the secret: the line repeats it, and needs no note.
    const fromFile = { seed: 9, targets: ["ws://127.0.0.1:5301/"], insecure: false, secretFile: "/etc/imwire/secret" };
    expect(replayLine(result, fromFile)).toBe(`imwire conformance --target ws://127.0.0.1:5301/ --secret-file /etc/imwire/secret --only ${test.id} --seed 9`);
    expect(replayNote(fromFile)).toBeUndefined();
  });

  it("parseRequirements: a requirement is its whole paragraph, ending at a blank line, a heading or the next requirement (CRLF too)", () => {
    const spec = [
      "## 9. Example",
      "",
      "**EX-1** *(MUST)* A receiver MUST do the first thing",
      "over several lines, and the",
      "last one.",
      "",
      "Prose that is not part of it.",
      "",
      "**EX-2** *(SHOULD)* Two lines",
      "of it",
      "**EX-3** *(MAY)* right after, then a heading",
      "### next",
      "not EX-3",
    ].join("\r\n");
    expect(parseRequirements(spec)).toEqual([
      { id: "EX-1", level: "MUST", text: "A receiver MUST do the first thing over several lines, and the last one." },
      { id: "EX-2", level: "SHOULD", text: "Two lines of it" },
      { id: "EX-3", level: "MAY", text: "right after, then a heading" },
    ]);
  });

  it("failureReport quotes the whole requirement, wrapped under its id", () => {
    const long = "A receiver MUST do the first thing over several lines, and then a great deal more than fits on one line of a terminal, up to the blank line.";
    const requirements = new Map([["EX-1", { id: "EX-1", level: "MUST" as const, text: long }]]);
    const test = { ...allTests[0]!, id: "EX-1/example", requirements: ["EX-1"] };
    const result = { test, target: { url: "tcp://127.0.0.1:1" } as Target, outcome: { status: "fail", message: "EX-1: no", acceptable: ["yes"], actual: "no" }, durationMs: 1, transcript: [] } as TargetResult;
    const report = failureReport([result], {}, requirements, () => "imwire conformance --only EX-1/example");
    const lines = report.split("\n");
    const at = lines.indexOf("  EX-1 (MUST):");
    expect(at).toBeGreaterThan(0);
    const quoted = lines.slice(at + 1).filter((l) => l.startsWith("      "));
    expect(quoted.length).toBeGreaterThan(1);
    expect(quoted.every((l) => l.length <= 100)).toBe(true);
    expect(quoted.map((l) => l.trim()).join(" ")).toBe(long);
  });
});
