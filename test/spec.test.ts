import { describe, expect, it } from "vitest";
import { ErrorCode } from "../src/gen/imwire/v1/error_pb.js";
import { FrameSchema } from "../src/gen/imwire/v1/frame_pb.js";
import { definedErrorCodes, errorClass, errorCodeInfo, ErrorClass } from "../src/errors.js";
import { frameCatalogue } from "../src/codec/frame-catalogue.js";
import { withRequiredFieldsTable } from "../scripts/required-fields.js";
import { idsMentionedIn, requirements, specText } from "./support/spec.js";

describe("SPEC.md is consistent with itself and with the code", () => {
  const reqs = requirements();

  it("every requirement has a unique, well-formed id and a level", () => {
    expect(reqs.length).toBeGreaterThan(80);
    const ids = reqs.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    // Every bold id-looking token in the text is a requirement definition.
    const bold = [...specText.matchAll(/\*\*([A-Z]+-\d+)\*\*/g)].map((m) => m[1]);
    expect(bold.sort()).toEqual([...ids].sort());
  });

  it("every requirement id named in the code, the schemas and the tests exists", () => {
    const known = new Set(reqs.map((r) => r.id));
    const unknown = [...idsMentionedIn(["src", "proto", "test", "scripts"])].filter(([id]) => !known.has(id));
    expect(unknown).toEqual([]);
  });

  it("every requirement id the spec cites in its own text exists", () => {
    const known = new Set(reqs.map((r) => r.id));
    const cited = new Set([...specText.matchAll(/\b([A-Z]{2,5}-\d+)\b/g)].map((m) => m[1]!).filter((id) => !id.startsWith("UTF") && !id.startsWith("XEP") && !id.startsWith("RFC")));
    expect([...cited].filter((id) => !known.has(id))).toEqual([]);
  });

  it("ERR-2 ERR-3: the error table matches the ErrorCode enum and the code's table", () => {
    const rows = [...specText.matchAll(/^\| (\d+) \| `ERROR_CODE_([A-Z_]+)` \| (\w+) \| (yes|no) \| (yes|no) \|/gm)];
    const table = rows.map((m) => ({ code: Number(m[1]), name: m[2]!, cls: m[3]!, closes: m[4] === "yes", retryable: m[5] === "yes" }));
    const enumCodes = Object.values(ErrorCode).filter((v): v is number => typeof v === "number" && v !== 0);
    expect(table.map((r) => r.code)).toEqual([...enumCodes].sort((a, b) => a - b));
    expect([...definedErrorCodes]).toEqual(table.map((r) => r.code));
    const className: Record<ErrorClass, string> = { 1: "protocol", 2: "auth", 3: "request", 4: "temporary", 5: "server" };
    for (const row of table) {
      expect(ErrorCode[row.code]).toBe(row.name);
      expect(className[errorClass(row.code)!]).toBe(row.cls);
      expect(errorCodeInfo(row.code)).toEqual({ closes: row.closes, retryable: row.retryable });
    }
  });

  it("ERR-3: codes this version does not define are handled by class", () => {
    expect(errorCodeInfo(199)).toEqual({ closes: true, retryable: false });
    expect(errorCodeInfo(250)).toEqual({ closes: true, retryable: false });
    expect(errorCodeInfo(399)).toEqual({ closes: false, retryable: false });
    expect(errorCodeInfo(403)).toEqual({ closes: false, retryable: true });
    expect(errorCodeInfo(599)).toEqual({ closes: false, retryable: true });
    expect(errorClass(42)).toBeUndefined();
  });

  it("ENV-7: the frame catalogue in §4.1 matches the schema and the code's catalogue", () => {
    const rows = [...specText.matchAll(/^\| (\d+) \| `(\w+)`(?: \(`\w+`\))? \| ([CS, ]+) \| ([a-z ]+) \| (?:`(\w+)`)? ?\|/gm)];
    const senders: Record<string, string> = { C: "client", S: "server", "C, S": "both" };
    const toCamel = (s: string) => s.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
    const bodyFields = FrameSchema.oneofs[0]!.fields;
    expect(rows.map((m) => Number(m[1]))).toEqual(bodyFields.map((f) => f.number));
    for (const m of rows) {
      const field = bodyFields.find((f) => f.number === Number(m[1]))!;
      expect(field.name).toBe(m[2]);
      const entry = frameCatalogue[field.localName as keyof typeof frameCatalogue];
      expect(entry.sender).toBe(senders[m[3]!.trim()]);
      expect(entry.kind).toBe(m[4]!.trim());
      expect(entry.answer).toBe(m[5] === undefined ? undefined : toCamel(m[5]));
    }
  });

  it("ERR-4: §19.1's table of each request's errors is the runner's (REQUEST_ERRORS), and lists every request", async () => {
    const { REQUEST_ERRORS, ANY_REQUEST_ERRORS } = await import("../src/conformance/suite/request-errors.js");
    const block = specText.slice(specText.indexOf("<!-- request-errors:begin -->"), specText.indexOf("<!-- request-errors:end -->"));
    const rows = [...block.matchAll(/^\| `(\w+)` \| (.+) \|$/gm)].map((m) => [m[1]!.replace(/_(\w)/g, (_, c: string) => c.toUpperCase()), [...m[2]!.matchAll(/`ERROR_CODE_([A-Z_]+)`/g)].map((c) => ErrorCode[c[1] as keyof typeof ErrorCode])]);
    expect(Object.fromEntries(rows)).toEqual(REQUEST_ERRORS);
    const requests = Object.entries(frameCatalogue).filter(([, e]) => e.kind === "request").map(([name]) => name);
    expect(Object.keys(REQUEST_ERRORS).sort()).toEqual(requests.sort());
    const prose = specText.slice(specText.indexOf("### 19.1"), specText.indexOf("<!-- request-errors:begin -->"));
    expect([...prose.matchAll(/`ERROR_CODE_([A-Z_]+)`/g)].map((c) => ErrorCode[c[1] as keyof typeof ErrorCode])).toEqual([...ANY_REQUEST_ERRORS, ErrorCode.UNAUTHENTICATED]);
  });

  it("requirement texts are read whole, up to the blank line that ends them", () => {
    const env2 = reqs.find((r) => r.id === "ENV-2")!;
    expect(env2.text).toMatch(/^A request carries a non-zero `request_id`.*closes the\s+connection\.$/s);
  });

  it("ENV-5: Appendix A lists exactly the schema's required fields (npm run spec:tables)", () => {
    expect(withRequiredFieldsTable(specText)).toBe(specText);
  });
});
