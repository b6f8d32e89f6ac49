import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Ajv2020 } from "ajv/dist/2020.js";
import { splitCommandWords } from "../src/conformance/codec-harness/command-words.js";
import { planRequests } from "../src/conformance/codec-harness/checks.js";
import { classify, failureSignature, isClean, parseExpectedFailures, renderExpectedFailures } from "../src/conformance/codec-harness/expected-failures.js";
import { firstJsonDifference } from "../src/conformance/codec-harness/json-diff.js";
import { defaultManifestPath, parseManifest, type Manifest } from "../src/conformance/codec-harness/manifest.js";
import { encodeMessage, MAX_MESSAGE_BYTES, MessageFramingError, MessageReader } from "../src/conformance/codec-harness/message-framing.js";
import { harnessHello, parseAnswer, parseTesteeHello, ProtocolViolation, type Request } from "../src/conformance/codec-harness/protocol.js";
import { runVectors, type VectorResult } from "../src/conformance/codec-harness/runner.js";
import { inProcessSession, type Testee } from "../src/conformance/codec-harness/session.js";
import { byteSplit, randomSplit, splitRandom } from "../src/conformance/codec-harness/splits.js";
import { createTypescriptTestee } from "../src/conformance/codec-harness/typescript-testee.js";

const manifest = parseManifest(readFileSync(defaultManifestPath, "utf8"));
const protocolSchema = JSON.parse(readFileSync(new URL("../conformance/harness/protocol.schema.json", import.meta.url), "utf8")) as object;

describe("harness message framing: 4-byte big-endian length, UTF-8 JSON", () => {
  it("writes the length big-endian and reads messages back from any split", () => {
    const bytes = Buffer.concat([encodeMessage({ type: "hello", n: "é" }), encodeMessage({ id: 1, result: "frame" })]);
    expect(bytes.subarray(0, 4).toString("hex")).toBe("00000019"); // 25 bytes of JSON: é takes two
    const reader = new MessageReader();
    const out: unknown[] = [];
    for (const piece of byteSplit(bytes)) {
      reader.push(Buffer.from(piece));
      for (let m = reader.next(); m !== undefined; m = reader.next()) out.push(m);
    }
    expect(out).toEqual([{ type: "hello", n: "é" }, { id: 1, result: "frame" }]);
    expect(reader.bufferedBytes).toBe(0);
  });

  it("rejects a stray text line (a huge length), an empty message, non-JSON and non-objects", () => {
    const fails = (bytes: Buffer) => {
      const reader = new MessageReader();
      reader.push(bytes);
      return () => reader.next();
    };
    expect(fails(Buffer.from("debug: hello\n"))).toThrow(MessageFramingError);
    expect(0x64656275).toBeGreaterThan(MAX_MESSAGE_BYTES);
    expect(fails(Buffer.from([0, 0, 0, 0]))).toThrow(/length of 0/);
    expect(fails(Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from("{x}")]))).toThrow(/not JSON/);
    expect(fails(Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from("[]")]))).toThrow(/not a JSON object/);
  });
});

describe("the testee command is split into words without a shell", () => {
  it.each([
    ["node --import tsx testee.ts", ["node", "--import", "tsx", "testee.ts"]],
    [`python3 'my testee.py' "a \\"b\\"" c\\ d`, ["python3", "my testee.py", 'a "b"', "c d"]],
    ["echo $HOME; rm -rf * | cat", ["echo", "$HOME;", "rm", "-rf", "*", "|", "cat"]],
    [`sh -c 'exec ./t --x'`, ["sh", "-c", "exec ./t --x"]],
    [`a '' b`, ["a", "", "b"]],
  ])("%s", (command, words) => {
    expect(splitCommandWords(command)).toEqual(words);
  });

  it("refuses unterminated quotes and a trailing backslash", () => {
    expect(() => splitCommandWords("a 'b")).toThrow(/unterminated/);
    expect(() => splitCommandWords("a \\")).toThrow(/backslash/);
  });
});

describe("EXT-4: canonical JSON is compared semantically", () => {
  it("ignores key order, and tells a 64-bit integer printed as a number from its string", () => {
    expect(firstJsonDifference({ a: 1, b: { c: "7" } }, { b: { c: "7" }, a: 1 })).toBeUndefined();
    expect(firstJsonDifference({ ping: { nonce: "18446744073709551615" } }, { ping: { nonce: 18446744073709551615 } })).toMatchObject({ path: "$.ping.nonce", note: expect.stringMatching(/EXT-4/) });
    expect(firstJsonDifference({ l: [1, 2] }, { l: [1] })).toMatchObject({ path: "$.l[1]", note: "missing element" });
    expect(firstJsonDifference({ a: {} }, {})).toMatchObject({ path: "$.a", actual: undefined });
  });
});

describe("FRM-3: stream splits", () => {
  it("are seeded by the run's seed and the vector id, so --only replays the same splits", () => {
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    const cuts = (seed: number, id: string) => randomSplit(bytes, splitRandom(seed, id, 0), [0, 150]).map((c) => c.length);
    expect(cuts(1, "valid/x")).toEqual(cuts(1, "valid/x"));
    expect(cuts(1, "valid/x")).not.toEqual(cuts(2, "valid/x"));
    expect(cuts(7, "valid/y").reduce((a, b) => a + b)).toBe(300);
  });
});

describe("the harness protocol (conformance/harness/protocol.schema.json)", () => {
  const ajv = new Ajv2020({ allErrors: true });
  ajv.addSchema(protocolSchema);
  const harnessMessage = ajv.getSchema("https://imwire.dev/conformance/harness/protocol.schema.json#/$defs/harnessMessage")!;
  const testeeMessage = ajv.getSchema("https://imwire.dev/conformance/harness/protocol.schema.json#/$defs/testeeMessage")!;

  it("every request the harness sends, and every answer of the TypeScript testee, follows the schema", async () => {
    const testee = createTypescriptTestee();
    expect(harnessMessage(harnessHello())).toBe(true);
    expect(testeeMessage(testee.hello(harnessHello())), JSON.stringify(testeeMessage.errors)).toBe(true);
    expect(harnessMessage({ type: "shutdown" })).toBe(true);
    let id = 1;
    for (const vector of manifest.vectors) {
      for (const planned of planRequests(vector, 1)) {
        const request = { ...planned.request, id: id++ } as Request;
        expect(harnessMessage(request), `${vector.id}: ${JSON.stringify(harnessMessage.errors)}`).toBe(true);
        const answer = await testee.answer(request);
        expect(testeeMessage(answer), `${vector.id}: ${JSON.stringify(testeeMessage.errors)}`).toBe(true);
        expect(() => parseAnswer(answer as unknown as Record<string, unknown>, request.id)).not.toThrow();
      }
    }
  });

  it("answers that break the protocol are told apart from verdicts", () => {
    expect(() => parseAnswer({ id: 2, result: "frame" }, 3)).toThrow(ProtocolViolation);
    expect(() => parseAnswer({ id: 3, result: "maybe" }, 3)).toThrow(/unknown result/);
    expect(() => parseAnswer({ id: 3, result: "payload", payloadHex: "xyz" }, 3)).toThrow(/hex/);
    expect(() => parseAnswer({ id: 3, result: "frames", items: [{}], end: "boundary" }, 3)).toThrow(/json/);
    expect(() => parseTesteeHello({ type: "hello", testee: "t", testeeVersion: "1", protocolVersion: 2, capabilities: [] })).toThrow(/protocol 2/);
    expect(parseTesteeHello({ type: "hello", testee: "t", testeeVersion: "1", protocolVersion: 1, capabilities: ["decode", "telepathy"] })).toMatchObject({
      capabilities: ["decode"],
      unknownCapabilities: ["telepathy"],
    });
  });
});

describe("capabilities: a check the testee did not declare is reported unsupported, never sent, never passed", () => {
  it("a testee with decode and stream but no json or encode: invalid vectors are fully checked, valid ones unsupported", async () => {
    const base = createTypescriptTestee();
    const sent = new Set<string>();
    const withoutJson: Testee = {
      hello: (h) => ({ ...base.hello(h), capabilities: ["decode", "stream"] }),
      answer: async (request) => {
        sent.add(request.type);
        const answer = (await base.answer(request)) as unknown as Record<string, unknown>;
        // What such a testee sends: no json and no re-encoding in frame answers, {"json": null} for stream frames.
        delete answer.json;
        delete answer.payloadHex;
        if (Array.isArray(answer.items)) answer.items = (answer.items as Record<string, unknown>[]).map((item) => ("json" in item ? { json: null } : item));
        return answer as never;
      },
    };
    const run = await runVectors({
      manifest,
      startSession: async () => inProcessSession(withoutJson, harnessHello()),
      seed: 1,
      requestTimeoutMs: 1000,
      maxRestarts: 0,
      only: ["valid/ping/", "invalid/unknown-frame/", "invalid/missing-field/hello/", "invalid/framing/"],
    });
    expect([...sent].sort()).toEqual(["decode", "stream"]);
    for (const vector of run.vectors) {
      if (vector.kind === "valid") {
        expect(vector.status, vector.id).toBe("unsupported");
        expect(vector.checks.filter((c) => c.status !== "unsupported")).toEqual([]);
      } else {
        expect(vector.status, `${vector.id}: ${JSON.stringify(vector.checks.find((c) => c.status !== "pass"))}`).toBe("pass");
      }
    }
    expect(isClean(classify(run.vectors, new Map(), new Set()))).toBe(true);
  });
});

describe("expected failures are strict (as in the Protocol Buffers conformance runner)", () => {
  const result = (id: string, status: VectorResult["status"], reason = "expected ERROR_CODE_MALFORMED_FRAME, got a frame"): VectorResult => ({
    id,
    kind: "invalid",
    requirements: ["ENV-3"],
    description: "",
    status,
    checks:
      status === "fail"
        ? [
            { name: "decode", family: "decode", status: "fail", reason },
            { name: "stream/random-2", family: "stream/random", status: "fail", reason },
          ]
        : [{ name: "decode", family: "decode", status }],
  });
  const ids = new Set(["a", "b", "c", "d", "e"]);

  it("signatures name the failing checks (random splits as one family) and the reason", () => {
    expect(failureSignature(result("a", "fail"))).toBe("decode, stream/random: expected ERROR_CODE_MALFORMED_FRAME, got a frame");
  });

  it("quiet when failing as listed; loud when passing, failing differently, failing unlisted, unchecked, or unknown", () => {
    const list = parseExpectedFailures(
      [`# comment`, `a  # ${failureSignature(result("a", "fail"))}`, "b # anything", "c  # decode: something else", "e", "zz # gone"].join("\n"),
    );
    const outcome = classify([result("a", "fail"), result("b", "pass"), result("c", "fail"), result("d", "fail"), result("e", "unsupported")], list, ids);
    expect(outcome.expected.map((r) => r.id)).toEqual(["a"]);
    expect(outcome.nowPassing.map((r) => r.id)).toEqual(["b"]);
    expect(outcome.changed.map((c) => c.result.id)).toEqual(["c"]);
    expect(outcome.newFailures.map((r) => r.id)).toEqual(["d"]);
    expect(outcome.unchecked.map((r) => r.id)).toEqual(["e"]);
    expect(outcome.unknownIds).toEqual(["zz"]);
    expect(isClean(outcome)).toBe(false);
  });

  it("an entry without a signature accepts any failure", () => {
    expect(isClean(classify([result("a", "fail")], parseExpectedFailures("a\n"), ids))).toBe(true);
  });

  it("rejects malformed lists", () => {
    expect(() => parseExpectedFailures("a b # x")).toThrow(/not one vector id/);
    expect(() => parseExpectedFailures("a\na # again")).toThrow(/twice/);
  });

  it("--fix keeps the leading comments and the entries of vectors not run, and lists every failure", () => {
    const previous = "# why these fail\n# (by hand)\n\nb  # old\nc  # not run this time\nzz # unknown id\n";
    const text = renderExpectedFailures([result("a", "fail"), result("b", "pass")], previous, ids);
    expect(text).toBe(`# why these fail\n# (by hand)\n\na  # ${failureSignature(result("a", "fail"))}\nc  # not run this time\n`);
    expect(isClean(classify([result("a", "fail"), result("b", "pass")], parseExpectedFailures(text), ids))).toBe(true);
  });
});

describe("the TypeScript testee in-process", () => {
  const testee = createTypescriptTestee();
  const answer = (request: Request) => testee.answer(request);

  it("ENV-4 ENV-5: reports request id and field with the error", () => {
    expect(answer({ type: "decode", id: 1, payloadHex: "082a9a06020801" })).toEqual({ id: 1, result: "error", code: "ERROR_CODE_UNKNOWN_FRAME", requestId: 42 });
    // request_id 7, send_message { conversation_id "c1", client_message_id "5", content {} }
    expect(answer({ type: "decode", id: 2, payloadHex: "0807" + "1209" + "0a026331" + "120135" + "1a00" })).toEqual({
      id: 2,
      result: "error",
      code: "ERROR_CODE_MISSING_FIELD",
      requestId: 7,
      field: "send_message.content.kind",
    });
  });

  it("FRM-3 FRM-6: streams frames, stops at an error that closes, and says where the input ended", () => {
    expect(answer({ type: "stream", id: 3, maxFrameSize: 100, chunksHex: ["0432", "0208070432"] })).toEqual({ id: 3, result: "frames", items: [{ json: { ping: { nonce: "7" } } }], end: "partial" });
    expect(answer({ type: "stream", id: 4, maxFrameSize: 100, chunksHex: ["8000043202"] })).toMatchObject({ items: [{ error: "ERROR_CODE_MALFORMED_FRAME" }] });
  });

  it("an encode request with JSON that is not a Frame is a failure answer, not a crash", () => {
    expect(answer({ type: "encode", id: 5, json: { nosuchfield: 1 } })).toMatchObject({ id: 5, result: "failure" });
  });

  it("a testee that throws is reported as a crash of that check, and the run goes on", async () => {
    const fragile: Testee = {
      hello: testee.hello,
      answer: (request) => {
        if (request.type === "encode") throw new Error("boom");
        return testee.answer(request);
      },
    };
    const run = await runVectors({ manifest: onlyVectors(manifest, ["valid/ping/empty"]), startSession: async () => inProcessSession(fragile, harnessHello()), seed: 1, requestTimeoutMs: 1000, maxRestarts: 3 });
    const checks = run.vectors[0]!.checks;
    expect(checks.find((c) => c.name === "encode")).toMatchObject({ status: "fail", reason: "the testee threw Error" });
    expect(checks.filter((c) => c.status === "pass").length).toBe(checks.length - 1);
    expect(run.restarts).toBe(1);
  });
});

function onlyVectors(source: Manifest, ids: string[]): Manifest {
  return { ...source, vectors: source.vectors.filter((v) => ids.includes(v.id)) };
}
