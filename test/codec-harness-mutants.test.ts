import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { DescMessage } from "@bufbuild/protobuf";
import { decodeFrame } from "../src/codec/frame-codec.js";
import { FrameSchema } from "../src/gen/imwire/v1/frame_pb.js";
import { defaultManifestPath, parseManifest, type InvalidVector, type ValidVector } from "../src/conformance/codec-harness/manifest.js";
import { brokenTesteeCommand, imwire } from "./support/harness-cli.js";

/**
 * The harness must catch broken implementations, and blame exactly the
 * vectors each bug affects: every other vector still passes. Each broken
 * testee is the TypeScript testee with one part replaced
 * (test/support/broken-testee.ts). The runs have no expected-failures file:
 * the TypeScript codec passes every vector, so only the bug's vectors fail.
 */

const manifest = parseManifest(readFileSync(defaultManifestPath, "utf8"));
const valid = manifest.vectors.filter((v): v is ValidVector => v.kind === "valid");
const invalid = manifest.vectors.filter((v): v is InvalidVector => v.kind === "invalid");

const scratch = mkdtempSync(join(tmpdir(), "imwire-mutants-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Report {
  result: string;
  restarts: number;
  vectors: { id: string; status: string; checks: { name: string; status: string; reason?: string }[] }[];
}

async function runBroken(name: string, command: string, ...options: string[]): Promise<{ status: number; report: Report; failing: string[] }> {
  const reportPath = join(scratch, `${name}.json`);
  const result = await imwire(["vectors", "run", "--testee", command, "--json", reportPath, ...options]);
  const report = JSON.parse(readFileSync(reportPath, "utf8")) as Report;
  return { status: result.status, report, failing: report.vectors.filter((v) => v.status === "fail").map((v) => v.id).sort() };
}

const sorted = (ids: Iterable<string>) => [...new Set(ids)].sort();
const failingChecks = (report: Report, id: string) => report.vectors.find((v) => v.id === id)!.checks.filter((c) => c.status === "fail").map((c) => c.name);

function hasUnknownFields(desc: DescMessage, message: Record<string, unknown>): boolean {
  if (((message.$unknown as unknown[] | undefined) ?? []).length > 0) return true;
  return desc.fields.some((field) => {
    const value = field.oneof
      ? (message[field.oneof.localName] as { case?: string; value?: unknown }).case === field.localName
        ? (message[field.oneof.localName] as { value: unknown }).value
        : undefined
      : message[field.localName];
    if (field.fieldKind === "message" && value !== undefined) return hasUnknownFields(field.message, value as Record<string, unknown>);
    if (field.fieldKind === "list" && field.listKind === "message") return (value as Record<string, unknown>[]).some((item) => hasUnknownFields(field.message, item));
    return false;
  });
}

describe.concurrent("the harness catches broken codecs and blames exactly the affected vectors", () => {
  it("ENV-6: a testee that drops unknown fields on re-encode fails the round trip of every vector with unknown fields, and nothing else", async () => {
    const { status, report, failing } = await runBroken("drop-unknown-fields", brokenTesteeCommand("drop-unknown-fields"));
    const affected = valid.filter((v) => hasUnknownFields(FrameSchema, decodeFrame(Buffer.from(v.payloadHex, "hex")) as never)).map((v) => v.id);
    expect(affected.length).toBeGreaterThanOrEqual(15);
    expect(status).toBe(1);
    expect(failing).toEqual(sorted(affected));
    for (const id of affected) expect(failingChecks(report, id)).toEqual(["roundtrip"]);
  });

  it("FRM-2: a testee that accepts non-minimal length prefixes fails the non-minimal-prefix stream vectors, and nothing else", async () => {
    const { status, report, failing } = await runBroken("accept-non-minimal-prefix", brokenTesteeCommand("accept-non-minimal-prefix"));
    const affected = invalid.filter((v) => v.input === "stream" && v.id.includes("non-minimal-prefix")).map((v) => v.id);
    expect(affected.length).toBeGreaterThanOrEqual(5);
    expect(status).toBe(1);
    expect(failing).toEqual(sorted(affected));
    expect(failingChecks(report, "invalid/framing/non-minimal-prefix-two-bytes")).toEqual(["stream/whole", "stream/bytes", "stream/random-1", "stream/random-2", "stream/random-3"]);
  });

  it("ENV-5: a testee that reports MISSING_FIELD without the field fails every MISSING_FIELD vector, payload and stream", async () => {
    const { status, report, failing } = await runBroken("missing-field-without-field", brokenTesteeCommand("missing-field-without-field"));
    const affected = invalid.filter((v) => v.expectedError === "ERROR_CODE_MISSING_FIELD").map((v) => v.id);
    expect(status).toBe(1);
    expect(failing).toEqual(sorted(affected));
    expect(report.vectors.find((v) => v.id === "invalid/missing-field/send_message/content.kind")!.checks[0]!.reason).toBe(
      'ERROR_CODE_MISSING_FIELD naming field (none), expected "send_message.content.kind"',
    );
  });

  it("ENV-5: a testee that answers MISSING_FIELD with another code fails every MISSING_FIELD vector", async () => {
    const { status, report, failing } = await runBroken("missing-field-wrong-code", brokenTesteeCommand("missing-field-wrong-code"));
    const affected = invalid.filter((v) => v.expectedError === "ERROR_CODE_MISSING_FIELD").map((v) => v.id);
    expect(status).toBe(1);
    expect(failing).toEqual(sorted(affected));
    expect(report.vectors.find((v) => v.id === "invalid/missing-field/hello/versions")!.checks[0]!.reason).toBe(
      "expected ERROR_CODE_MISSING_FIELD, got ERROR_CODE_INVALID_ARGUMENT (field hello.versions)",
    );
  });

  it("ENV-8: a testee that encodes request_id after the body fails encode and round trip of every frame with a request id", async () => {
    const { status, report, failing } = await runBroken("request-id-after-body", brokenTesteeCommand("request-id-after-body"));
    const affected = valid.filter((v) => (v.json as { requestId?: number }).requestId !== undefined).map((v) => v.id);
    expect(affected.length).toBeGreaterThan(50);
    expect(status).toBe(1);
    expect(failing).toEqual(sorted(affected));
    expect(failingChecks(report, "valid/hello/appendix-b")).toEqual(["roundtrip", "encode"]);
  });
  it("ENV-3: a testee built on plain protobuf-es fromBinary (wire types ignored, fields past their message) fails every mistyped-field and past-enclosing-message vector, and nothing else", async () => {
    const { status, report, failing } = await runBroken("trust-protobuf-es", brokenTesteeCommand("trust-protobuf-es"));
    const affected = manifest.vectors.filter((v) => v.id.includes("mistyped") || v.id.includes("past-enclosing-message")).map((v) => v.id);
    expect(affected.length).toBeGreaterThanOrEqual(16);
    expect(status).toBe(1);
    expect(failing).toEqual(sorted(affected));
    expect(report.vectors.find((v) => v.id === "invalid/unknown-frame/request-id-mistyped-holding-a-ping")!.checks[0]!.reason).toBe("expected ERROR_CODE_UNKNOWN_FRAME, got a frame");
  });
});

describe("a testee that crashes, hangs or writes garbage fails that vector; the harness restarts it and goes on", () => {
  it("one exit, one silence, one stray print: three failures, three restarts, every other vector checked", async () => {
    const [crash, hang, garbage] = ["valid/ping/appendix-b", "valid/pong/empty", "valid/go_away/empty"].map((id) => valid.find((v) => v.id === id)!);
    const command = brokenTesteeCommand("crash-hang-garbage", crash!.payloadHex, hang!.payloadHex, garbage!.payloadHex);
    // 6 s: ample for the slowest request (the 64 KiB frame one byte per chunk) on a loaded machine, and the cost of the hang.
    const { status, report, failing } = await runBroken("crash-hang-garbage", command, "--timeout", "6000");
    expect(status).toBe(1);
    expect(failing).toEqual(sorted([crash!.id, hang!.id, garbage!.id]));
    expect(report.restarts).toBe(3);
    const reasons = (id: string) => sorted(report.vectors.find((v) => v.id === id)!.checks.filter((c) => c.status === "fail").map((c) => c.reason!));
    expect(reasons(crash!.id)).toEqual(["the testee exited (exit code 3)"]);
    expect(reasons(hang!.id)).toEqual(["no answer within the timeout"]);
    expect(reasons(garbage!.id)).toEqual(["the testee wrote something that is not a harness message"]);
    // The same vectors' stream and encode checks, sent to the restarted testee, pass.
    expect(report.vectors.find((v) => v.id === crash!.id)!.checks.filter((c) => c.status === "pass").length).toBeGreaterThan(4);
  });
});
