import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { clone, create, getOption, toBinary, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { ErrorCode } from "../src/gen/imwire/v1/error_pb.js";
import { FrameSchema, type Frame } from "../src/gen/imwire/v1/frame_pb.js";
import { SendMessageSchema } from "../src/gen/imwire/v1/message_pb.js";
import { required, required_oneof } from "../src/gen/imwire/v1/options_pb.js";
import { decodeFrame, encodeFrame, frame } from "../src/codec/frame-codec.js";
import { isImwireError, type ImwireError } from "../src/errors.js";
import { frameCases, frameOfCaseArb } from "./support/arbitraries.js";
import { bytesOf, hexOf } from "./support/drain.js";

function decodeError(payload: Uint8Array): ImwireError {
  try {
    decodeFrame(payload);
  } catch (error) {
    if (isImwireError(error)) return error;
    throw error;
  }
  throw new Error(`decoded without error: ${hexOf(payload)}`);
}

const validSend = frame({
  requestId: 9,
  body: {
    case: "sendMessage",
    value: { conversationId: "c1", clientMessageId: "m1", content: { kind: { case: "text", value: { text: "hi" } } } },
  },
});

describe("ENV-3: bytes that are not a Protobuf Frame are MALFORMED_FRAME", () => {
  it.each([
    ["an illegal wire type", "0f"],
    ["a length-delimited field running past the end", "120a0a02"],
    ["a truncated varint", "08ff"],
    ["an end-group tag with no start", "0c"],
    ["field number 0", "0001"],
  ])("%s", (_name, hex) => {
    const error = decodeError(bytesOf(hex));
    expect(ErrorCode[error.code]).toBe("MALFORMED_FRAME");
    expect(error.requirement).toBe("ENV-3");
    expect(error.closesConnection).toBe(true);
  });

  it("invalid UTF-8 in a string field", () => {
    // send_message { conversation_id: <ff fe> ... }
    const payload = bytesOf("1206" + "0a02fffe" + "1200");
    const error = decodeError(payload);
    expect(ErrorCode[error.code]).toBe("MALFORMED_FRAME");
  });

  it("a truncated copy of every valid frame fails cleanly or decodes (never an untyped throw)", () => {
    fc.assert(
      fc.property(frameOfCaseArb("sendMessage"), fc.nat(), (f, cut) => {
        const payload = encodeFrame(f);
        const truncated = payload.subarray(0, cut % payload.length);
        try {
          decodeFrame(truncated);
        } catch (error) {
          expect(isImwireError(error)).toBe(true);
        }
      }),
    );
  });
});

describe("ENV-4: a frame without a body this version knows is UNKNOWN_FRAME, answerable", () => {
  it("a body from a later version (field 99) keeps its request id and does not close", () => {
    // request_id 42, field 99 (length-delimited, 2 bytes)
    const payload = bytesOf("082a" + "9a0602" + "0801");
    const error = decodeError(payload);
    expect(ErrorCode[error.code]).toBe("UNKNOWN_FRAME");
    expect(error.requirement).toBe("ENV-4");
    expect(error.requestId).toBe(42);
    expect(error.closesConnection).toBe(false);
  });

  it("FRM-7: an empty payload is a frame with no body", () => {
    const error = decodeError(new Uint8Array(0));
    expect(ErrorCode[error.code]).toBe("UNKNOWN_FRAME");
    expect(error.requestId).toBe(0);
  });
});

describe("ENV-5: every field the schema marks required is checked", () => {
  interface Slot {
    readonly path: string;
    readonly clear: () => void;
  }

  /** Every required field and oneof present in `message`, nested ones included, with a way to clear it. */
  function requiredSlots(desc: DescMessage, message: Record<string, unknown>, path: string): Slot[] {
    const slots: Slot[] = [];
    const at = (name: string) => (path === "" ? name : `${path}.${name}`);
    for (const oneof of desc.oneofs) {
      if (getOption(oneof, required_oneof)) slots.push({ path: at(oneof.name), clear: () => (message[oneof.localName] = { case: undefined }) });
    }
    for (const field of desc.fields) {
      if (getOption(field, required) && !field.oneof) slots.push({ path: at(field.name), clear: () => (message[field.localName] = emptyValue(field)) });
    }
    for (const field of desc.fields) {
      const value = field.oneof
        ? ((message[field.oneof.localName] as { case?: string; value?: unknown }).case === field.localName
            ? (message[field.oneof.localName] as { value: unknown }).value
            : undefined)
        : message[field.localName];
      if (value === undefined) continue;
      if (field.fieldKind === "message") slots.push(...requiredSlots(field.message, value as Record<string, unknown>, at(field.name)));
      if (field.fieldKind === "list" && field.listKind === "message") {
        (value as Record<string, unknown>[]).forEach((item, i) => slots.push(...requiredSlots(field.message, item, `${at(field.name)}[${i}]`)));
      }
    }
    return slots;
  }

  /** The value a field has in a new message: its implicit-presence default. */
  function emptyValue(field: DescField): unknown {
    return (create(field.parent) as Record<string, unknown>)[field.localName];
  }

  it.each(frameCases)("%s: clearing any one required field gives MISSING_FIELD naming it", (frameCase) => {
    fc.assert(
      fc.property(frameOfCaseArb(frameCase), (original: Frame) => {
        const count = requiredSlots(FrameSchema, clone(FrameSchema, original) as never, "").length;
        for (let i = 0; i < count; i++) {
          const copy = clone(FrameSchema, original);
          const slot = requiredSlots(FrameSchema, copy as never, "")[i]!;
          slot.clear();
          if (slot.path === "body") continue; // no body is ENV-4, tested above
          const error = decodeError(toBinary(FrameSchema, copy));
          expect(ErrorCode[error.code]).toBe("MISSING_FIELD");
          expect(error.requirement).toBe("ENV-5");
          expect(error.field).toBe(slot.path);
          expect(error.requestId).toBe(original.requestId);
          expect(error.closesConnection).toBe(false);
        }
      }),
      { numRuns: 20 },
    );
  });

  it("MSG-2: the check is not vacuous: frames with required fields expose them", () => {
    const [sample] = fc.sample(frameOfCaseArb("sendMessage"), { numRuns: 1, seed: 1 });
    const paths = requiredSlots(FrameSchema, clone(FrameSchema, sample!) as never, "").map((s) => s.path);
    expect(paths).toEqual(expect.arrayContaining(["body", "send_message.conversation_id", "send_message.client_message_id", "send_message.content", "send_message.content.kind"]));
  });

  it("the encoder refuses to send an invalid frame unless told to", () => {
    const invalid = clone(FrameSchema, validSend);
    if (invalid.body.case === "sendMessage") invalid.body.value.clientMessageId = "";
    expect(() => encodeFrame(invalid)).toThrow(/client_message_id/);
    expect(encodeFrame(invalid, { validate: false }).length).toBeGreaterThan(0);
  });
});

describe("ENV-6: unknown fields are accepted and preserved", () => {
  it("an unknown field inside a known frame survives decode and re-encode byte for byte", () => {
    const send = validSend.body.value!;
    const inner = new Uint8Array([...toBinary(SendMessageSchema, send as never), ...bytesOf("c03e05")]); // field 1000 varint 5
    const payload = new Uint8Array([...bytesOf("0809"), 0x12, inner.length, ...inner]);
    const decoded = decodeFrame(payload);
    expect(decoded.body.case).toBe("sendMessage");
    expect(hexOf(encodeFrame(decoded))).toBe(hexOf(payload));
  });
});

describe("EXT-3 ENV-5: a oneof member from a later version is not a missing field", () => {
  it("a send whose content kind is unknown here (field 99) is valid, and keeps the unknown kind", () => {
    // send_message { conversation_id: "c", client_message_id: "m", content: { <field 99>: "x" } }
    const content = bytesOf("9a060178"); // field 99, length 1, "x"
    const send = new Uint8Array([...bytesOf("0a016312016d"), 0x1a, content.length, ...content]);
    const payload = new Uint8Array([0x12, send.length, ...send]);
    const decoded = decodeFrame(payload);
    expect(decoded.body.case === "sendMessage" && decoded.body.value.content?.kind.case).toBeUndefined();
    expect(hexOf(encodeFrame(decoded))).toBe(hexOf(payload));
  });

  it("the same content with nothing in it is still MISSING_FIELD", () => {
    const send = new Uint8Array([...bytesOf("0a016312016d"), 0x1a, 0x00]);
    const error = decodeError(new Uint8Array([0x12, send.length, ...send]));
    expect(error.field).toBe("send_message.content.kind");
  });
});
