import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { conformanceCommand } from "../src/cli/conformance-command.js";
import type { CliIO } from "../src/cli/io.js";
import { brokenMemberPages, brokenServer, type Breakage } from "./support/broken-servers.js";
import type { ServerMachineFactory } from "../src/machines/server/server-machine.js";
import type { Logger } from "../src/server/logger.js";

/**
 * The black-box runner against the reference server it embeds: 100% against
 * the real one, and failures naming the right requirement against servers
 * broken on purpose.
 */

interface Run {
  readonly status: number;
  readonly output: string;
  readonly results: { id: string; target: string; requirements: string[]; level: string; verdict: string; outcome: { status: string; message?: string } }[];
}

async function run(args: string[], mutations?: Breakage | ServerMachineFactory, log?: Logger): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), "imwire-cf-"));
  const chunks: string[] = [];
  const io: CliIO = {
    writeOut: (d) => void chunks.push(String(d)),
    writeErr: (d) => void chunks.push(d),
    readStdin: async () => new Uint8Array(),
    readFile: async () => new Uint8Array(),
    stdinIsTTY: true,
  };
  try {
    const status = await conformanceCommand(["--seed", "7", "--json", join(dir, "r.json"), "--concurrency", "8", ...args], io, { ...(mutations ? { embeddedMachine: typeof mutations === "function" ? mutations : brokenServer(mutations) } : {}), ...(log ? { embeddedLog: log } : {}) });
    const results = JSON.parse(readFileSync(join(dir, "r.json"), "utf8")).results as Run["results"];
    return { status, output: chunks.join(""), results };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const failed = (r: Run) => r.results.filter((x) => x.outcome.status === "fail");

describe("imwire conformance against the embedded reference server", () => {
  it("every required test passes, over TCP and WebSocket, and the exit status says so; SEC-2: no token reaches the server's log", async () => {
    const logged: string[] = [];
    const log: Logger = { info: (m) => void logged.push(m), warn: (m) => void logged.push(m), error: (m) => void logged.push(m) };
    const result = await run(["--spec-coverage"], undefined, log);
    expect(failed(result).map((r) => `${r.target} ${r.id}: ${r.outcome.message}`)).toEqual([]);
    expect(result.status).toBe(0);
    expect(result.results.filter((r) => r.outcome.status === "pass").length).toBeGreaterThan(120);
    expect(new Set(result.results.map((r) => r.target.split(":")[0]))).toEqual(new Set(["tcp", "ws"]));
    expect(result.output).toMatch(/CONFORMS/);
    expect(result.output).toMatch(/spec coverage: \d+ of \d+ requirements exercised/);
    // The run authenticates hundreds of times, with valid, expired, foreign and garbage tokens;
    // the server logs every connection it closes and why, failed authentications included.
    expect(logged.filter((line) => /UNAUTHENTICATED/.test(line)).length).toBeGreaterThan(4);
    expect(logged.filter((line) => /imw1\.[\w-]+\.[\w-]+|this-is-not-a-token/.test(line))).toEqual([]);
  }, 60_000);

  it.each<[string, Breakage | ServerMachineFactory, string, RegExp]>([
    ["without deduplication", { skipDedup: true }, "idempotency", /^IDEM-2\//],
    ["that loses redelivery after a reconnect", { skipRedelivery: true }, "delivery", /^DLV-3\//],
    ["that reorders pushes", { reorderPushes: true }, "delivery,messaging", /^(CUR-3|SEQ-1)\//],
    ["that answers wrong error codes", { wrongErrorCodes: true }, "authorization", /^SEC-3\//],
    ["that accepts any token", { acceptAnyToken: true }, "auth", /^AUTH-1\/invalid-token/],
    ["that lets outsiders in", { skipMembershipCheck: true }, "authorization", /^SEC-3\//],
    ["that ignores silent connections", { ignoreHeartbeatTimeout: true }, "heartbeat", /^HB-3\//],
    ["that sends a snapshot whole, whatever its size", { unpagedSnapshots: true }, "sync", /^SYNC-7\//],
    ["whose member pages skip the member after each boundary", brokenMemberPages({ skipPageBoundary: true }), "CONV-10/member-pages-in-utf8-order", /^CONV-10\//],
    ["that pages members in UTF-16 order", brokenMemberPages({ utf16MemberOrder: true }), "CONV-10/member-pages-in-utf8-order", /^CONV-10\//],
    ["that lists features the client did not offer", brokenMemberPages({ unofferedFeatures: true }), "EXT-5/features-in-force-are-offered-ones", /^EXT-5\//],
    ["that drops the event a group moves to read fan-out at", { dropFirstPublished: true }, "CUR-8/group-moves-to-read-fan-out", /^CUR-8\//],
    ["that pushes no read-fan-out event", { noPublishedPush: true }, "CUR-7/channel-posts-pushed-and-paged", /^CUR-7\//],
    ["whose summaries carry the oldest seq", { summaryOldestSeq: true }, "SYNC-8/one-summary-per-read-fan-out-conversation", /^SYNC-8\//],
  ])("catches a server %s, naming the requirement", async (_name, mutations, groups, expected) => {
    const result = await run(["--only", groups], mutations);
    expect(result.status).toBe(1);
    const ids = failed(result).map((r) => r.id);
    expect(ids.some((id) => expected.test(id)), `failures: ${ids.join(", ")}`).toBe(true);
    expect(result.output).toMatch(/DOES NOT CONFORM/);
    expect(result.output).toMatch(/replay: imwire conformance --only \S+ --seed 7/);
    expect(result.output).toMatch(/frames exchanged:/);
  }, 60_000);
});

describe("the runner's reports and expected failures", () => {
  it("a strict expected-failures file: --fix writes it, listed failures are quiet, a listed pass or a different failure fails the run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "imwire-xf-"));
    const file = join(dir, "expected.json");
    try {
      const broken: Breakage = { wrongErrorCodes: true };
      const fixed = await run(["--only", "SEC-3/outsider-send", "--expected-failures", file, "--fix"], broken);
      expect(fixed.status).toBe(0);
      const listed = JSON.parse(readFileSync(file, "utf8")).failures as Record<string, string>;
      expect(Object.keys(listed).sort()).toEqual(["tcp SEC-3/outsider-send", "ws SEC-3/outsider-send"]);

      const quiet = await run(["--only", "SEC-3/outsider-send", "--expected-failures", file], broken);
      expect(quiet.status).toBe(0);
      expect(quiet.results.map((r) => r.verdict)).toEqual(["expected-failure", "expected-failure"]);

      const repaired = await run(["--only", "SEC-3/outsider-send", "--expected-failures", file]);
      expect(repaired.status).toBe(1);
      expect(repaired.results.map((r) => r.verdict)).toEqual(["unexpected-pass", "unexpected-pass"]);
      expect(repaired.output).toMatch(/UNEXPECTED PASS/);

      const { writeFileSync } = await import("node:fs");
      writeFileSync(file, JSON.stringify({ failures: Object.fromEntries(Object.keys(listed).map((k) => [k, "some other failure"])) }));
      const different = await run(["--only", "SEC-3/outsider-send", "--expected-failures", file], broken);
      expect(different.status).toBe(1);
      expect(different.results.map((r) => r.verdict)).toEqual(["failed-differently", "failed-differently"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("writes JUnit XML with a test case per test and transport, failures marked", async () => {
    const dir = mkdtempSync(join(tmpdir(), "imwire-junit-"));
    try {
      await run(["--only", "authorization", "--junit", join(dir, "r.xml")], { wrongErrorCodes: true });
      const xml = readFileSync(join(dir, "r.xml"), "utf8");
      expect(xml).toMatch(/^<\?xml/);
      const { allTests, select } = await import("../src/conformance/suite/catalogue.js");
      expect((xml.match(/<testcase /g) ?? []).length).toBe(2 * select(allTests, ["authorization"], []).length);
      expect(xml).toMatch(/<failure message="PERMISSION_DENIED|<failure message="[^"]*PERMISSION_DENIED/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("reports optional features the server did not declare as unsupported, never as passed or failed", async () => {
    const { startReferenceServer } = await import("../src/server/reference-server.js");
    const { MemoryStore } = await import("../src/store/memory-store.js");
    const server = await startReferenceServer({ tcp: { port: 0 }, store: new MemoryStore(), secret: "s" });
    try {
      const result = await run(["--target", server.urls.tcp!, "--secret", "s", "--features", "", "--only", "CONV-6/broadcast-channel,AUTH-1/expired-token,faults"]);
      expect(new Set(result.results.map((r) => r.outcome.status))).toEqual(new Set(["unsupported"]));
      expect(result.status).toBe(0);
    } finally {
      await server.close();
    }
  }, 60_000);
});
