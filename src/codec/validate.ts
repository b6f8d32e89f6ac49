import { getOption, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { required, required_oneof } from "../gen/imwire/v1/options_pb.js";

/**
 * Required-field validation (ENV-5) driven by the schema's
 * (imwire.v1.required) and (imwire.v1.required_oneof) options, so the .proto
 * files stay the single source of what is required. Each message type gets a
 * plan once; checking a message then touches only its required fields, the
 * selected member of each oneof, and nested messages that have rules.
 *
 * This is the reference: frames are checked by the missingIn<Message>
 * functions protoc-gen-imwire-fast unrolls from the same options, and tests
 * hold both to the same answer on random messages of every type.
 */

type AnyMessage = Record<string, unknown>;

interface RequiredField {
  readonly name: string;
  readonly localName: string;
  readonly present: (value: unknown) => boolean;
}

interface NestedField {
  readonly name: string;
  readonly localName: string;
  readonly list: boolean;
  /** Resolved on first use, so recursive schemas terminate. */
  plan: Plan | undefined;
  readonly desc: DescMessage;
}

interface NestedOneof {
  readonly localName: string;
  readonly members: ReadonlyMap<string, NestedField>;
}

interface Plan {
  /** Oneofs that must have a member. */
  readonly requiredOneofs: readonly { readonly name: string; readonly localName: string }[];
  /** Required fields outside oneofs. */
  readonly requiredFields: readonly RequiredField[];
  /** Message fields outside oneofs whose type has rules. */
  readonly nestedFields: readonly NestedField[];
  /** Oneofs with members whose type has rules, by case name. */
  readonly nestedOneofs: readonly NestedOneof[];
}

const plans = new Map<DescMessage, Plan>();

function planFor(desc: DescMessage): Plan {
  const cached = plans.get(desc);
  if (cached) return cached;
  const withRules = (field: DescField): NestedField[] => {
    const child = messageTypeOf(field);
    if (!child || !hasRules(child, new Set())) return [];
    return [{ name: field.name, localName: field.localName, list: field.fieldKind === "list", desc: child, plan: undefined }];
  };
  const plan: Plan = {
    requiredOneofs: desc.oneofs.filter((o) => getOption(o, required_oneof)).map((o) => ({ name: o.name, localName: o.localName })),
    requiredFields: desc.fields
      .filter((f) => !f.oneof && getOption(f, required))
      .map((f) => ({ name: f.name, localName: f.localName, present: presenceTest(f) })),
    nestedFields: desc.fields.filter((f) => !f.oneof).flatMap(withRules),
    nestedOneofs: desc.oneofs.flatMap((o) => {
      const members = new Map(o.fields.flatMap((f) => withRules(f).map((n) => [f.localName, n] as const)));
      return members.size > 0 ? [{ localName: o.localName, members }] : [];
    }),
  };
  plans.set(desc, plan);
  return plan;
}

function messageTypeOf(field: DescField): DescMessage | undefined {
  if (field.fieldKind === "message") return field.message;
  if (field.fieldKind === "list" && field.listKind === "message") return field.message;
  if (field.fieldKind === "map") throw new Error(`${field.toString()}: maps are not supported by imwire validation`);
  return undefined;
}

function hasRules(desc: DescMessage, seen: Set<DescMessage>): boolean {
  if (seen.has(desc)) return false;
  seen.add(desc);
  if (desc.fields.some((f) => getOption(f, required))) return true;
  if (desc.oneofs.some((o) => getOption(o, required_oneof))) return true;
  return desc.fields.some((f) => {
    const child = messageTypeOf(f);
    return child !== undefined && hasRules(child, seen);
  });
}

/** ENV-5's notion of present: set and not the zero value (a proto3 optional field that is unset is absent too). */
function presenceTest(field: DescField): (value: unknown) => boolean {
  switch (field.fieldKind) {
    case "message":
      return (v) => v !== undefined;
    case "list":
      return (v) => (v as unknown[]).length > 0;
    default:
      return (v) => v !== undefined && v !== 0 && v !== 0n && v !== "" && v !== false && !(v instanceof Uint8Array && v.length === 0);
  }
}

/**
 * The path of the first required field or oneof that is absent, in Protobuf
 * field names ("send_message.content.kind"), or undefined when the message
 * satisfies every rule. The path starts with `prefix` when one is given.
 */
export function findMissingField(desc: DescMessage, message: object, prefix = ""): string | undefined {
  const missing = missingIn(planFor(desc), message as AnyMessage);
  return missing === undefined || prefix === "" ? missing : `${prefix}.${missing}`;
}

// Paths are built only on the way out of a failure, so a valid message allocates nothing.
function missingIn(plan: Plan, msg: AnyMessage): string | undefined {
  const { requiredOneofs, requiredFields, nestedFields, nestedOneofs } = plan;
  for (let i = 0; i < requiredOneofs.length; i++) {
    const oneof = requiredOneofs[i]!;
    // A member added by a later version arrives as an unknown field (EXT-3): present, just not known here.
    if ((msg[oneof.localName] as { case?: string }).case === undefined && !hasUnknownFields(msg)) return oneof.name;
  }
  for (let i = 0; i < requiredFields.length; i++) {
    const field = requiredFields[i]!;
    if (!field.present(msg[field.localName])) return field.name;
  }
  for (let i = 0; i < nestedFields.length; i++) {
    const nested = nestedFields[i]!;
    const missing = missingInNested(nested, msg[nested.localName]);
    if (missing !== undefined) return missing;
  }
  for (let i = 0; i < nestedOneofs.length; i++) {
    const oneof = nestedOneofs[i]!;
    const selected = msg[oneof.localName] as { case?: string; value?: unknown };
    const nested = selected.case === undefined ? undefined : oneof.members.get(selected.case);
    if (nested === undefined) continue;
    const missing = missingInNested(nested, selected.value);
    if (missing !== undefined) return missing;
  }
  return undefined;
}

function hasUnknownFields(message: AnyMessage): boolean {
  const unknown = message.$unknown as unknown[] | undefined;
  return unknown !== undefined && unknown.length > 0;
}

function missingInNested(nested: NestedField, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const plan = (nested.plan ??= planFor(nested.desc));
  if (!nested.list) {
    const missing = missingIn(plan, value as AnyMessage);
    return missing === undefined ? undefined : `${nested.name}.${missing}`;
  }
  const items = value as AnyMessage[];
  for (let i = 0; i < items.length; i++) {
    const missing = missingIn(plan, items[i]!);
    if (missing !== undefined) return `${nested.name}[${i}].${missing}`;
  }
  return undefined;
}
