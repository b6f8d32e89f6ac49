import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { defaultExpectedFailuresPath } from "../src/conformance/codec-harness/verify.js";
import { defaultManifestPath } from "../src/conformance/codec-harness/manifest.js";
import { brokenTesteeCommand, imwire, typescriptTesteeCommand } from "./support/harness-cli.js";

/**
 * The codec harness against the TypeScript testee in its own process
 * (`imwire vectors testee`), through the CLI as a user runs it.
 */

const scratch = mkdtempSync(join(tmpdir(), "imwire-harness-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Report {
  result: string;
  testee: { testee: string; capabilities: string[] };
  checks: Record<string, { pass: number; fail: number; unsupported: number }>;
  vectors: { id: string; status: string }[];
  unexpected: Record<string, unknown[]>;
}

describe("FRM-1 FRM-2 FRM-3 FRM-4 FRM-6 ENV-3 ENV-4 ENV-5 ENV-6 EXT-4: the harness against the TypeScript testee, spawned", () => {
  it("passes every vector and every check, with an empty expected-failures file", async () => {
    const reportPath = join(scratch, "report.json");
    const result = await imwire(["vectors", "run", "--testee", typescriptTesteeCommand, "--expected-failures", defaultExpectedFailuresPath, "--json", reportPath]);
    expect(result.status, result.out + result.err).toBe(0);
    expect(result.out).toMatch(/result: {2}PASS/);
    const report = JSON.parse(readFileSync(reportPath, "utf8")) as Report;
    expect(report.result).toBe("pass");
    expect(report.testee).toMatchObject({ testee: "imwire-typescript", capabilities: ["decode", "encode", "stream", "json"] });
    expect(report.vectors.filter((v) => v.status !== "pass" && v.status !== "expected-failure")).toEqual([]);
    expect(report.vectors.filter((v) => v.status === "expected-failure")).toEqual([]);
    for (const counts of Object.values(report.checks)) expect(counts.unsupported).toBe(0);
    expect(report.checks.stream!.pass).toBeGreaterThan(1500);
  });
});

describe("the expected-failures file is strict, and --fix rewrites it", () => {
  // A codec with known bugs: plain protobuf-es, which lets a field run past its enclosing message.
  const testee = brokenTesteeCommand("trust-protobuf-es");
  const only = ["--only", "invalid/protobuf/", "--only", "valid/ping/"];
  const run = (list: string, ...extra: string[]) => imwire(["vectors", "run", "--testee", testee, "--expected-failures", list, ...only, ...extra]);
  const signature = "decode: expected ERROR_CODE_MALFORMED_FRAME, got a frame | stream/whole, stream/bytes, stream/random: expected [ERROR_CODE_MALFORMED_FRAME], got [frame, frame]";

  it("ENV-3: a listed vector that passes, one that fails differently, an unlisted failure and an unknown id each fail the run", async () => {
    const list = join(scratch, "loud.txt");
    writeFileSync(list, ["valid/ping/appendix-b  # decode: it used to fail", "invalid/protobuf/varint-past-enclosing-message  # decode: some other failure", "invalid/no-such-vector"].join("\n"));
    const result = await run(list);
    expect(result.status).toBe(1);
    expect(result.out).toContain("PASSES NOW  valid/ping/appendix-b");
    expect(result.out).toContain("CHANGED  invalid/protobuf/varint-past-enclosing-message");
    expect(result.out).toContain(`  now:    ${signature}`);
    expect(result.out).toContain("FAIL  invalid/protobuf/string-past-enclosing-message");
    expect(result.out).toContain("UNKNOWN  invalid/no-such-vector");
  });

  it("ENV-3: --fix rewrites the list from the run (keeping its comments and the entries of vectors not run); the next run passes quietly", async () => {
    const list = join(scratch, "fix.txt");
    writeFileSync(list, "# kept by hand\nvalid/ping/appendix-b  # stale\ninvalid/framing/truncated-in-prefix  # not run here\n");
    const fixed = await run(list, "--fix");
    expect(fixed.status, fixed.out).toBe(0);
    const text = readFileSync(list, "utf8");
    expect(text.startsWith("# kept by hand\n")).toBe(true);
    expect(text).toContain("invalid/framing/truncated-in-prefix  # not run here");
    expect(text).toContain(`invalid/protobuf/varint-past-enclosing-message  # ${signature}`);
    expect(text).toContain("invalid/protobuf/string-past-enclosing-message  # decode: expected ERROR_CODE_MALFORMED_FRAME, got ERROR_CODE_MISSING_FIELD");
    expect(text).not.toContain("valid/ping/appendix-b");
    const again = await run(list);
    expect(again.status, again.out).toBe(0);
    expect(again.out).not.toMatch(/^FAIL/m);
  });
});

describe("imwire vectors: the command line", () => {
  it("has help for every subcommand", async () => {
    for (const sub of ["verify", "run", "testee"]) {
      const result = await imwire(["vectors", sub, "--help"]);
      expect(result.status).toBe(0);
      expect(result.out).toContain(`imwire vectors ${sub}`);
    }
    expect((await imwire(["vectors", "--help"])).out).toMatch(/verify.*\n.*run.*\n.*testee/);
  });

  it("rejects usage mistakes with status 2", async () => {
    expect((await imwire(["vectors", "run"])).status).toBe(2);
    expect((await imwire(["vectors", "run", "--testee", "x 'y"])).err).toMatch(/unterminated/);
    expect((await imwire(["vectors", "run", "--testee", "x", "--fix"])).err).toMatch(/--fix needs --expected-failures/);
    expect((await imwire(["vectors", "run", "--testee", "x", "--seed", "-1"])).status).toBe(2);
    expect((await imwire(["vectors", "frobnicate"])).status).toBe(2);
  });

  it("a testee that cannot start fails the run with a clear message, without hanging", async () => {
    const result = await imwire(["vectors", "run", "--testee", "/nonexistent/testee --flag", "--only", "valid/ping/"]);
    expect(result.status).toBe(1);
    expect(result.out).toMatch(/PROBLEM {2}the testee did not start: could not start "\/nonexistent\/testee"/);
  });

  it("an --only prefix that matches no vector fails the run instead of passing it empty", async () => {
    const result = await imwire(["vectors", "run", "--testee", "/nonexistent/testee", "--only", "valid/no-such-"]);
    expect(result.status).toBe(1);
    expect(result.out).toContain("PROBLEM  no vector id starts with valid/no-such-");
  });

  it("a testee that speaks another protocol version is refused at the handshake", async () => {
    const impostor = `node -e ${JSON.stringify("const b=Buffer.from(JSON.stringify({type:'hello',testee:'x',testeeVersion:'0',protocolVersion:2,capabilities:[]}));const h=Buffer.alloc(4);h.writeUInt32BE(b.length);process.stdout.write(Buffer.concat([h,b]));setTimeout(()=>{},5000)")}`;
    const result = await imwire(["vectors", "run", "--testee", impostor, "--only", "valid/ping/"]);
    expect(result.status).toBe(1);
    expect(result.out).toMatch(/the testee speaks harness protocol 2; this harness speaks 1/);
  });

  it("FRM-2 FRM-4 ENV-3 ENV-5: imwire vectors verify checks the committed manifest and this package's codec", async () => {
    const result = await imwire(["vectors", "verify"]);
    expect(result.status, result.out).toBe(0);
    const { vectors } = JSON.parse(readFileSync(defaultManifestPath, "utf8")) as { vectors: unknown[] };
    expect(result.out).toContain(`${vectors.length} passed, 0 failed as expected, 0 failed unexpectedly`);
  });
});
