import { describe, expect, it } from "vitest";
import { runCli } from "../src/cli/main.js";
import type { CliIO } from "../src/cli/io.js";

function fakeIO(stdin = "", files: Record<string, Uint8Array> = {}) {
  const out: (string | Uint8Array)[] = [];
  const err: string[] = [];
  const io: CliIO = {
    writeOut: (data) => void out.push(data),
    writeErr: (text) => void err.push(text),
    readStdin: async () => new TextEncoder().encode(stdin),
    readFile: async (path) => {
      const data = files[path];
      if (!data) throw new Error(`ENOENT: ${path}`);
      return data;
    },
    stdinIsTTY: stdin === "",
  };
  const text = () => out.map((d) => (typeof d === "string" ? d : Buffer.from(d).toString("hex"))).join("");
  return { io, text, err: () => err.join("") };
}

async function run(args: string[], stdin = "", files: Record<string, Uint8Array> = {}) {
  const io = fakeIO(stdin, files);
  const status = await runCli(args, io.io);
  return { status, out: io.text(), err: io.err() };
}

describe("imwire encode / decode", () => {
  const helloJson = '{"requestId":1,"hello":{"versions":[1],"deviceId":"d1"}}';

  it("encodes JSON into framed hex, and decodes it back (SPEC.md Appendix B)", async () => {
    const encoded = await run(["encode", helloJson]);
    expect(encoded).toEqual({ status: 0, out: "0c08018201070a010112026431\n", err: "" });
    const decoded = await run(["decode", "0c08018201070a010112026431"]);
    expect(decoded.status).toBe(0);
    expect(JSON.parse(decoded.out)).toEqual(JSON.parse(helloJson));
  });

  it("round-trips several frames through base64, payload mode and files", async () => {
    const frames = [helloJson, '{"ping":{"nonce":"18446744073709551615"}}', '{"requestId":7,"syncUser":{"afterCursor":"5","epoch":"e"}}'];
    const b64 = await run(["encode", "--out", "base64", "-"], frames.join("\n"));
    expect(b64.status).toBe(0);
    const back = await run(["decode", b64.out.trim().split("\n").join(" ")]);
    expect(back.out.trim().split("\n").map((l) => JSON.parse(l))).toEqual(frames.map((f) => JSON.parse(f)));

    const binary = await run(["encode", "--out", "binary", JSON.stringify(frames.map((f) => JSON.parse(f)))]);
    const bytes = new Uint8Array(Buffer.from(binary.out, "hex"));
    const fromFile = await run(["decode", "--file", "frames.bin"], "", { "frames.bin": bytes });
    expect(fromFile.out.trim().split("\n")).toHaveLength(3);

    const payload = await run(["encode", "--payload", '{"ping":{"nonce":"7"}}']);
    expect(payload.out).toBe("32020807\n");
    expect(JSON.parse((await run(["decode", "--payload", "32020807"])).out)).toEqual({ ping: { nonce: "7" } });
  });

  it("reports each bad frame with its code and requirement, continuing past recoverable ones", async () => {
    // An unknown frame (field 99), then a valid ping, then a non-minimal prefix.
    const result = await run(["decode", "05082a9a0600" + "0432020807" + "8000"]);
    expect(result.status).toBe(1);
    const lines = result.out.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines[0].error).toMatchObject({ code: "ERROR_CODE_UNKNOWN_FRAME", requirement: "ENV-4", requestId: 42 });
    expect(lines[1]).toEqual({ ping: { nonce: "7" } });
    expect(lines[2].error).toMatchObject({ code: "ERROR_CODE_MALFORMED_FRAME", requirement: "FRM-2" });
  });

  it("FRM-6: input that ends inside a frame is an error", async () => {
    const result = await run(["decode", "0c0801"]);
    expect(result.status).toBe(1);
    expect(JSON.parse(result.out).error).toMatchObject({ code: "ERROR_CODE_MALFORMED_FRAME", requirement: "FRM-6" });
  });

  it("FRM-4: --max-frame-size applies", async () => {
    const result = await run(["decode", "--max-frame-size", "10", "0c08018201070a010112026431"]);
    expect(JSON.parse(result.out).error).toMatchObject({ code: "ERROR_CODE_FRAME_TOO_LARGE", requirement: "FRM-4" });
  });

  it("refuses to encode an invalid frame unless --no-validate", async () => {
    const invalid = '{"requestId":1,"hello":{"versions":[1]}}';
    const refused = await run(["encode", invalid]);
    expect(refused.status).toBe(2);
    expect(refused.err).toMatch(/ENV-5.*hello\.device_id/);
    const forced = await run(["encode", "--no-validate", invalid]);
    expect(forced).toMatchObject({ status: 0, out: "0808018201030a0101\n" });
    expect(JSON.parse((await run(["decode", forced.out.trim()])).out).error).toMatchObject({ code: "ERROR_CODE_MISSING_FIELD", field: "hello.device_id" });
  });

  it("explains usage mistakes with exit status 2, and has --help everywhere", async () => {
    expect((await run(["decode", "zz!"])).status).toBe(2);
    expect((await run(["encode", "{not json"])).status).toBe(2);
    expect((await run(["encode", '{"nope":1}'])).err).toMatch(/not valid imwire JSON/);
    expect((await run(["frobnicate"])).status).toBe(2);
    expect((await run(["decode", "--bogus"])).status).toBe(2);
    // LIM-1, LIM-6: a server that could not send a valid welcome does not start.
    const tooSmall = await run(["serve", "--memory", "--max-frame-size", "1000"]);
    expect([tooSmall.status, tooSmall.err]).toEqual([2, expect.stringMatching(/maxFrameSize 1000 is outside 65536\.\.16777216 \(LIM-1\)/)]);
    expect((await run(["serve", "--memory", "--heartbeat-ms", "500"])).err).toMatch(/heartbeatIntervalMs 500 is outside .*LIM-6/);
    for (const args of [["--help"], ["decode", "--help"], ["encode", "-h"]]) {
      const help = await run(args);
      expect(help.status).toBe(0);
      expect(help.out).toMatch(/^Usage: imwire/);
    }
  });
});
