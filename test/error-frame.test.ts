import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { ErrorCode } from "../src/gen/imwire/v1/error_pb.js";
import { WelcomeSchema } from "../src/gen/imwire/v1/connection_pb.js";
import { errorFrame, errorFrameFor } from "../src/codec/error-frame.js";
import { welcomeProblem } from "../src/codec/welcome.js";
import { decodeFrame, encodeFrame } from "../src/codec/frame-codec.js";
import { definedErrorCodes, errorCodeInfo, ImwireError } from "../src/errors.js";
import { frameCatalogue, maySend } from "../src/codec/frame-catalogue.js";
import { frameCases } from "./support/arbitraries.js";

describe("ERR-1 ERR-2: error frames", () => {
  it.each(definedErrorCodes.map((c) => [ErrorCode[c], c] as const))("%s carries closing and retryable from the table", (_name, code) => {
    const frame = decodeFrame(encodeFrame(errorFrame(code, { requestId: 5, requirement: "FRM-2" })));
    expect(frame.requestId).toBe(5);
    expect(frame.body.case).toBe("error");
    const error = frame.body.value as { closing: boolean; retryable: boolean; requirement: string; supportedVersions: number[] };
    expect(error.closing).toBe(errorCodeInfo(code).closes);
    expect(error.retryable).toBe(errorCodeInfo(code).retryable);
    expect(error.requirement).toBe("FRM-2");
    expect(error.supportedVersions).toEqual(code === ErrorCode.UNSUPPORTED_VERSION ? [1] : []);
  });

  it("ENV-2: the report of an input error answers the request it came from", () => {
    const frame = errorFrameFor(new ImwireError(ErrorCode.MISSING_FIELD, "hello.device_id is missing", { requestId: 9, requirement: "ENV-5" }));
    expect(frame.requestId).toBe(9);
    expect(frame.body.value).toMatchObject({ code: ErrorCode.MISSING_FIELD, closing: false, requirement: "ENV-5" });
  });
});

describe("CONN-3 LIM-1 LIM-6: a client checks Welcome", () => {
  const good = { version: 1, maxFrameSize: 1_048_576, heartbeatIntervalMs: 30_000, maxInFlight: 100, receiveWindow: 100, dedupWindowS: 86_400 };
  it("accepts the recommended values and rejects each value out of range", () => {
    expect(welcomeProblem(create(WelcomeSchema, good), [1])).toBeUndefined();
    expect(welcomeProblem(create(WelcomeSchema, { ...good, version: 2 }), [1])).toMatch(/^CONN-3/);
    expect(welcomeProblem(create(WelcomeSchema, { ...good, maxFrameSize: 65_535 }), [1])).toMatch(/^LIM-1/);
    expect(welcomeProblem(create(WelcomeSchema, { ...good, maxFrameSize: 16_777_217 }), [1])).toMatch(/^LIM-1/);
    expect(welcomeProblem(create(WelcomeSchema, { ...good, heartbeatIntervalMs: 999 }), [1])).toMatch(/^LIM-6/);
    expect(welcomeProblem(create(WelcomeSchema, { ...good, receiveWindow: 70_000 }), [1])).toMatch(/^LIM-6/);
    expect(welcomeProblem(create(WelcomeSchema, { ...good, dedupWindowS: 3600 }), [1])).toMatch(/^LIM-6/);
  });
});

describe("ENV-7: the catalogue says who may send each frame", () => {
  it("covers every body, and requests name an answer the other side sends", () => {
    expect(Object.keys(frameCatalogue).sort()).toEqual([...frameCases].sort());
    for (const frameCase of frameCases) {
      const entry = frameCatalogue[frameCase];
      if (entry.kind === "request") {
        expect(maySend("client", frameCase)).toBe(true);
        expect(maySend("server", entry.answer!)).toBe(true);
      }
    }
    expect(maySend("server", "sendMessage")).toBe(false);
    expect(maySend("client", "welcome")).toBe(false);
    expect(maySend("server", "ping") && maySend("client", "ping")).toBe(true);
  });
});
