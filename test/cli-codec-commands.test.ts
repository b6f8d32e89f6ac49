import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "../src/cli/main.js";
import type { CliIO } from "../src/cli/io.js";
import { brokenTesteeCommand } from "./support/harness-cli.js";

/**
 * decode, encode and vectors through the CLI in-process: options checked by
 * the shared layer (one line naming the flag, exit 2), input encodings never
 * guessed silently, encode's output readable by decode's defaults, and
 * `vectors run --junit`.
 */

const scratch = mkdtempSync(join(tmpdir(), "imwire-codec-cli-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The CLI with real files (so ENOENT is the file system's own) and a scripted stdin. */
async function run(args: string[], stdin?: Uint8Array | string) {
  const out: (string | Uint8Array)[] = [];
  const err: string[] = [];
  const io: CliIO = {
    writeOut: (data) => void out.push(data),
    writeErr: (text) => void err.push(text),
    readStdin: async () => (typeof stdin === "string" ? new TextEncoder().encode(stdin) : (stdin ?? new Uint8Array())),
    readFile: async (path) => new Uint8Array(await readFile(path)),
    stdinIsTTY: stdin === undefined,
  };
  const status = await runCli(args, io);
  const bytes = Buffer.concat(out.map((d) => (typeof d === "string" ? Buffer.from(d) : Buffer.from(d))));
  return { status, out: bytes.toString("utf8"), bytes: new Uint8Array(bytes), err: err.join("") };
}

const frames = ['{"requestId":1,"hello":{"versions":[1],"deviceId":"d1"}}', '{"ping":{"nonce":"18446744073709551615"}}', '{"requestId":7,"syncUser":{"afterCursor":"5","epoch":"e"}}'];
const parsed = frames.map((f) => JSON.parse(f) as unknown);
const decodedLines = (out: string) => out.trim().split("\n").map((line) => JSON.parse(line) as unknown);

describe("encode's output is decode's default input", () => {
  for (const out of ["hex", "base64", "binary"] as const) {
    it(`imwire encode --out ${out} > f && imwire decode --file f round-trips three frames`, async () => {
      const encoded = await run(["encode", ...(out === "hex" ? [] : ["--out", out]), "-"], frames.join("\n"));
      expect(encoded.status, encoded.err).toBe(0);
      const file = join(scratch, `frames.${out}`);
      writeFileSync(file, encoded.bytes);
      const decoded = await run(["decode", "--file", file]);
      expect(decoded.status, decoded.err).toBe(0);
      expect(decodedLines(decoded.out)).toEqual(parsed);
      // And through a pipe, as `imwire encode … | imwire decode` runs.
      expect(decodedLines((await run(["decode"], encoded.bytes)).out)).toEqual(parsed);
    });
  }

  it("payloads round-trip one a line (--payload on both sides), and raw payloads hold one frame only", async () => {
    const encoded = await run(["encode", "--payload", "--out", "base64", "-"], frames.join("\n"));
    const file = join(scratch, "payloads.b64");
    writeFileSync(file, encoded.bytes);
    expect(decodedLines((await run(["decode", "--payload", "--file", file])).out)).toEqual(parsed);
    const refused = await run(["encode", "--payload", "--out", "binary", "-"], frames.join("\n"));
    expect(refused.status).toBe(2);
    expect(refused.err).toMatch(/--payload --out binary holds one frame, not 3/);
    const one = await run(["encode", "--payload", "--out", "binary", frames[1]!]);
    expect(decodedLines((await run(["decode", "--payload"], one.bytes)).out)).toEqual([parsed[1]]);
  });
});

describe("decode: hex or base64, said or refused, never guessed wrong", () => {
  it("odd-length hex digits are an error, not base64", async () => {
    const result = await run(["decode", "0c08018201070a01011202643"]);
    expect(result).toMatchObject({ status: 2, out: "" });
    expect(result.err.split("\n")[0]).toBe("imwire decode: odd number of hex digits (25): two make a byte; --in base64 reads the text as base64");
  });

  it("text that is neither is refused, naming the character", async () => {
    const result = await run(["decode", "zz!"]);
    expect(result.status).toBe(2);
    expect(result.err).toMatch(/^imwire decode: input is neither hex nor base64: unexpected character "!"/);
    expect((await run(["decode", "abcdefghi"])).err).toMatch(/neither hex nor base64: "abcdefghi" has a length no base64 text has/);
  });

  it("--base64 and --in base64 read hex-looking text as base64; --hex with --in is a conflict", async () => {
    // "MgIIBw==" is base64 of the ping payload 32020807; "AAAA" is hex-clean but only base64 with the flag.
    expect(decodedLines((await run(["decode", "--payload", "--base64", "MgIIBw=="])).out)).toEqual([{ ping: { nonce: "7" } }]);
    const asHex = await run(["decode", "--payload", "abcd"]);
    const asBase64 = await run(["decode", "--payload", "--in", "base64", "abcd"]);
    expect(asHex.out).not.toEqual(asBase64.out);
    const conflict = await run(["decode", "--hex", "--in", "base64", "00"]);
    expect([conflict.status, conflict.err]).toEqual([2, expect.stringMatching(/give one of --in base64, --hex/)]);
    expect((await run(["decode", "--in", "octal", "00"])).err).toMatch(/--in takes one of hex, base64, binary, not "octal"/);
  });

  it("a text file with odd hex is refused; bytes that are not text are frames", async () => {
    const file = join(scratch, "odd.txt");
    writeFileSync(file, "0c0\n");
    expect((await run(["decode", "--file", file])).err).toMatch(/odd number of hex digits \(3\)/);
    const bin = join(scratch, "ping.bin");
    writeFileSync(bin, Buffer.from("0432020807", "hex"));
    expect(decodedLines((await run(["decode", "--file", bin])).out)).toEqual([{ ping: { nonce: "7" } }]);
    // Text given as binary on purpose: read as bytes, so "0" (0x30) is a 48-byte prefix with nothing after it (FRM-6).
    expect(JSON.parse((await run(["decode", "--in", "binary", "--file", file])).out).error).toMatchObject({ requirement: "FRM-6" });
  });
});

describe("options: one line naming the flag, exit 2, no stack", () => {
  it("ENOENT on decode --file and encode --file", async () => {
    const missing = join(scratch, "no-such.bin");
    for (const command of ["decode", "encode"]) {
      const result = await run([command, "--file", missing]);
      expect([result.status, result.err]).toEqual([2, `imwire ${command}: --file: no such file or directory: ${missing}\n`]);
    }
  });

  it("numbers that are not numbers", async () => {
    const frame = await run(["decode", "--max-frame-size", "big", "00"]);
    expect([frame.status, frame.err.split("\n")[0]]).toEqual([2, 'imwire decode: --max-frame-size takes an integer 0 or more, not "big"']);
    for (const [flag, value] of [["--timeout", "soon"], ["--handshake-timeout", "0"], ["--max-restarts", "-1"], ["--seed", "1.5"]] as const) {
      const result = await run(["vectors", "run", "--testee", "x", `${flag}=${value}`]);
      expect(result.status, flag).toBe(2);
      expect(result.err.split("\n")[0]).toMatch(new RegExp(`^imwire vectors: ${flag} takes an integer .*not "${value}"$`));
    }
    expect((await run(["vectors", "verify", "--seed", "x"])).err).toMatch(/--seed takes an integer from 0 to 4294967295, not "x"/);
  });

  it("ENOENT on vectors --expected-failures and --manifest", async () => {
    const missing = join(scratch, "none.txt");
    expect(await run(["vectors", "run", "--testee", "x", "--expected-failures", missing])).toMatchObject({ status: 2, err: `imwire vectors: --expected-failures: no such file or directory: ${missing}\n` });
    expect(await run(["vectors", "run", "--testee", "x", "--manifest", missing])).toMatchObject({ status: 2, err: `imwire vectors: --manifest: no such file or directory: ${missing}\n` });
    expect(await run(["vectors", "verify", "--expected-failures", missing])).toMatchObject({ status: 2, err: `imwire vectors: --expected-failures: no such file or directory: ${missing}\n` });
  });

  it("--help says what changed", async () => {
    expect((await run(["decode", "--help"])).out).toMatch(/--hex, --base64[\s\S]*odd number of/);
    expect((await run(["encode", "--help"])).out).toMatch(/imwire decode --file f/);
    expect((await run(["vectors", "run", "--help"])).out).toMatch(/--junit FILE/);
  });
});

describe("imwire vectors run --junit", () => {
  it("writes a test case per vector: unexpected failures fail, expected ones pass with their signature, passes are empty", async () => {
    // plain protobuf-es lets a field run past its enclosing message: two known failures.
    const testee = brokenTesteeCommand("trust-protobuf-es");
    const list = join(scratch, "known.txt");
    writeFileSync(list, "invalid/protobuf/varint-past-enclosing-message\n");
    const xmlPath = join(scratch, "vectors.xml");
    const jsonPath = join(scratch, "vectors.json");
    const result = await run(["vectors", "run", "--testee", testee, "--only", "invalid/protobuf/", "--only", "valid/ping/", "--expected-failures", list, "--junit", xmlPath, "--json", jsonPath]);
    expect(result.status, result.out + result.err).toBe(1);
    const xml = readFileSync(xmlPath, "utf8");
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites>\n  <testsuite name="imwire-codec-harness" /);
    const cases = xml.match(/<testcase [^>]*>.*?<\/testcase>/gs) ?? [];
    const report = JSON.parse(readFileSync(jsonPath, "utf8")) as { vectors: { id: string; status: string }[] };
    expect(cases).toHaveLength(report.vectors.length);
    const caseOf = (id: string) => cases.find((c) => c.includes(`name="${id}"`)) ?? "";
    expect(caseOf("invalid/protobuf/string-past-enclosing-message")).toMatch(/<failure message="decode: expected ERROR_CODE_MALFORMED_FRAME, got [^"]*">[\s\S]*replay: imwire vectors run/);
    expect(caseOf("invalid/protobuf/varint-past-enclosing-message")).toMatch(/<system-out>expected failure: decode: expected ERROR_CODE_MALFORMED_FRAME/);
    expect(caseOf("valid/ping/appendix-b")).toMatch(/<testcase classname="imwire\.vectors\.valid" name="valid\/ping\/appendix-b"><\/testcase>/);
    const failing = report.vectors.filter((v) => v.status === "fail").length;
    expect(failing).toBeGreaterThan(0);
    expect(xml).toContain(`tests="${report.vectors.length}" failures="${failing}" skipped="0"`);
  }, 60_000);
});
