import { create, getOption, toBinary, ScalarType, type DescField, type DescMessage, type DescOneof } from "@bufbuild/protobuf";
import { FrameSchema } from "../../../src/gen/imwire/v1/frame_pb.js";
import { required, required_oneof } from "../../../src/gen/imwire/v1/options_pb.js";
import { frameCatalogue } from "../../../src/codec/frame-catalogue.js";
import type { FrameCase } from "../../../src/codec/frame-codec.js";
import type { InvalidPayloadDefinition } from "./types.js";
import { bytes, dfield, sfield, vfield } from "./wire.js";

/**
 * ENV-5 vectors derived from the schema's (imwire.v1.required) and
 * (imwire.v1.required_oneof) options: every required field and required
 * oneof on every path from every frame body (through optional messages,
 * oneof members and repeated fields alike) gets one vector. Each is the
 * smallest frame that satisfies every other rule on the way, with that one
 * field left out. Implementations often validate per message type and per
 * frame, so a rule missed on one path (inside user_page.events[i], say) shows.
 */

interface Step {
  readonly field: DescField;
}

interface MissingSlot {
  /** Message fields from the Frame down to the message that lacks something. */
  readonly steps: readonly Step[];
  readonly missing: { readonly kind: "field"; readonly field: DescField } | { readonly kind: "oneof"; readonly oneof: DescOneof };
}

const isRequired = (field: DescField) => getOption(field, required);
const isRequiredOneof = (oneof: DescOneof) => getOption(oneof, required_oneof);

function messageOf(field: DescField): DescMessage | undefined {
  if (field.fieldKind === "message") return field.message;
  if (field.fieldKind === "list" && field.listKind === "message") return field.message;
  return undefined;
}

/** `onPath` holds the message types above, so a recursive schema would end the walk instead of looping. */
function slotsUnder(desc: DescMessage, steps: readonly Step[], onPath: ReadonlySet<DescMessage>): MissingSlot[] {
  const slots: MissingSlot[] = [];
  for (const oneof of desc.oneofs) if (isRequiredOneof(oneof)) slots.push({ steps, missing: { kind: "oneof", oneof } });
  for (const field of desc.fields) if (!field.oneof && isRequired(field)) slots.push({ steps, missing: { kind: "field", field } });
  for (const field of [...desc.fields].sort((a, b) => a.number - b.number)) {
    const child = messageOf(field);
    if (child === undefined || onPath.has(child)) continue;
    slots.push(...slotsUnder(child, [...steps, { field }], new Set([...onPath, child])));
  }
  return slots;
}

/** A placeholder that satisfies ENV-5 for a required field, readable in the vector's hex. */
function filler(field: DescField): unknown {
  switch (field.fieldKind) {
    case "scalar":
      return scalarFiller(field.scalar, field.name);
    case "enum":
      return field.enum.values.find((v) => v.number !== 0)!.number;
    case "message":
      return minimal(field.message, [], undefined);
    case "list":
      if (field.listKind === "scalar") return [scalarFiller(field.scalar, field.name)];
      if (field.listKind === "enum") return [field.enum.values.find((v) => v.number !== 0)!.number];
      return [minimal(field.message, [], undefined)];
    case "map":
      throw new Error(`maps are not used by imwire: ${field.toString()}`);
  }
}

function scalarFiller(scalar: ScalarType, name: string): unknown {
  switch (scalar) {
    case ScalarType.STRING:
      return name.replaceAll("_", "-");
    case ScalarType.BYTES:
      return Uint8Array.of(1);
    case ScalarType.BOOL:
      return true;
    case ScalarType.UINT64:
    case ScalarType.INT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
    case ScalarType.SINT64:
      return 1n;
    default:
      return 1;
  }
}

/**
 * The init of the smallest valid `desc` that follows `steps` downward, with
 * `missing` left out of the last message on the path.
 */
function minimal(desc: DescMessage, steps: readonly Step[], missing: MissingSlot["missing"] | undefined): Record<string, unknown> {
  const init: Record<string, unknown> = {};
  const [next, ...rest] = steps;
  const atTarget = next === undefined;
  for (const field of desc.fields) {
    if (field.oneof || !isRequired(field)) continue;
    if (atTarget && missing?.kind === "field" && missing.field === field) continue;
    init[field.localName] = filler(field);
  }
  for (const oneof of desc.oneofs) {
    if (next?.field.oneof === oneof) continue;
    if (!isRequiredOneof(oneof)) continue;
    if (atTarget && missing?.kind === "oneof" && missing.oneof === oneof) continue;
    const first = oneof.fields[0]!;
    init[oneof.localName] = { case: first.localName, value: first.fieldKind === "message" ? minimal(first.message, [], undefined) : filler(first) };
  }
  if (next !== undefined) {
    const child = minimal(messageOf(next.field)!, rest, missing);
    const value = next.field.fieldKind === "list" ? [child] : child;
    if (next.field.oneof) init[next.field.oneof.localName] = { case: next.field.localName, value };
    else init[next.field.localName] = value;
  }
  return init;
}

/** The ENV-5 path a decoder reports: Protobuf field names, [0] for the list element the vector fills. */
function pathOf(slot: MissingSlot): string {
  const names = slot.steps.map((s) => (s.field.fieldKind === "list" ? `${s.field.name}[0]` : s.field.name));
  names.push(slot.missing.kind === "field" ? slot.missing.field.name : slot.missing.oneof.name);
  return names.join(".");
}

/** Requests and answers carry a request id (ENV-2); a decoder must report it with the error. */
function requestIdFor(frameCase: FrameCase, bodyField: DescField): number {
  const kind = frameCatalogue[frameCase].kind;
  return kind === "request" || kind === "answer" ? 100 + bodyField.number : 0;
}

export function derivedMissingFieldVectors(): InvalidPayloadDefinition[] {
  const vectors: InvalidPayloadDefinition[] = [];
  for (const bodyField of FrameSchema.oneofs[0]!.fields) {
    const frameCase = bodyField.localName as FrameCase;
    const bodyDesc = bodyField.message!;
    for (const slot of slotsUnder(bodyDesc, [{ field: bodyField }], new Set([bodyDesc]))) {
      const path = pathOf(slot);
      const requestId = requestIdFor(frameCase, bodyField);
      const frame = create(FrameSchema, { requestId, ...minimal(FrameSchema, slot.steps, slot.missing) } as never);
      vectors.push({
        id: `invalid/missing-field/${bodyField.name}/${path.slice(bodyField.name.length + 1).replaceAll("[0]", ".0")}`,
        description: `${bodyField.name} without ${path.slice(bodyField.name.length + 1)} (required ${slot.missing.kind === "oneof" ? "oneof" : "field"}); everything else it needs is present.`,
        input: "payload",
        payload: toBinary(FrameSchema, frame),
        expectedError: "ERROR_CODE_MISSING_FIELD",
        requirement: "ENV-5",
        expectedRequestId: requestId,
        expectedField: path,
      });
    }
  }
  return vectors;
}

const missing = (id: string, description: string, payload: Uint8Array, requestId: number, field: string): InvalidPayloadDefinition => ({
  id: `invalid/missing-field/${id}`,
  description,
  input: "payload",
  payload,
  expectedError: "ERROR_CODE_MISSING_FIELD",
  requirement: "ENV-5",
  expectedRequestId: requestId,
  expectedField: field,
});

const text = (value: string) => dfield(3, dfield(1, sfield(1, value)));

/** Required fields present on the wire with their default value: still missing, since proto3 cannot tell them from absent. */
export const explicitDefaultVectors: InvalidPayloadDefinition[] = [
  missing("explicit-default/empty-string", "send_message.conversation_id written explicitly as \"\" (0a 00).", bytes(vfield(1, 20), dfield(2, sfield(1, ""), sfield(2, "m"), text("x"))), 20, "send_message.conversation_id"),
  missing("explicit-default/zero-number", "mark_read.seq written explicitly as 0 (10 00).", bytes(vfield(1, 21), dfield(13, sfield(1, "c1"), vfield(2, 0))), 21, "mark_read.seq"),
  missing("explicit-default/zero-enum", "set_device_state.state written explicitly as 0 (08 00).", bytes(vfield(1, 22), dfield(27, vfield(1, 0))), 22, "set_device_state.state"),
  missing("explicit-default/empty-packed-list", "hello.versions as an empty packed run (0a 00).", bytes(vfield(1, 23), dfield(16, dfield(1), sfield(2, "d1"))), 23, "hello.versions"),
  missing("explicit-default/empty-bytes", "A thumbnail whose required data is written explicitly empty (12 00).", bytes(vfield(1, 24), dfield(2, sfield(1, "c"), sfield(2, "m"), dfield(3, dfield(2, dfield(1, sfield(1, "u"), dfield(8, dfield(2))))))), 24, "send_message.content.image.media.thumbnail.data"),
  missing("second-list-element", "The second mention lacks its user_id: the path names index 1.", bytes(vfield(1, 25), dfield(2, sfield(1, "c"), sfield(2, "m"), text("@a @b"), dfield(5, sfield(1, "u-a")), dfield(5, vfield(2, 3)))), 25, "send_message.mentions[1].user_id"),
];
