import { getOption, type DescField, type DescMessage, type DescOneof } from "@bufbuild/protobuf";
import { required, required_oneof } from "../gen/imwire/v1/options_pb.js";

/**
 * Required-field validation driven by the schema's (imwire.v1.required) and
 * (imwire.v1.required_oneof) options, so the .proto files stay the single
 * source of what ENV-5 requires.
 */

interface Plan {
  readonly requiredFields: readonly DescField[];
  readonly requiredOneofs: readonly DescOneof[];
  /** Message-typed fields (singular, repeated or oneof members) whose type has rules of its own. */
  readonly nested: readonly DescField[];
}

const plans = new Map<DescMessage, Plan>();

function planFor(desc: DescMessage): Plan {
  let plan = plans.get(desc);
  if (plan) return plan;
  // Insert a placeholder first, so a recursive schema terminates.
  const requiredFields: DescField[] = [];
  const requiredOneofs: DescOneof[] = [];
  const nested: DescField[] = [];
  plan = { requiredFields, requiredOneofs, nested };
  plans.set(desc, plan);
  for (const field of desc.fields) {
    if (getOption(field, required)) requiredFields.push(field);
  }
  for (const oneof of desc.oneofs) {
    if (getOption(oneof, required_oneof)) requiredOneofs.push(oneof);
  }
  for (const field of desc.fields) {
    const child = messageTypeOf(field);
    if (child && hasRules(child, new Set())) nested.push(field);
  }
  return plan;
}

function messageTypeOf(field: DescField): DescMessage | undefined {
  if (field.fieldKind === "message") return field.message;
  if (field.fieldKind === "list" && field.listKind === "message") return field.message;
  if (field.fieldKind === "map" && field.mapKind === "message") return field.message;
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

type AnyMessage = Record<string, unknown>;

function valueOf(message: AnyMessage, field: DescField): unknown {
  if (field.oneof) {
    const selected = message[field.oneof.localName] as { case?: string; value?: unknown };
    return selected.case === field.localName ? selected.value : undefined;
  }
  return message[field.localName];
}

function isPresent(field: DescField, value: unknown): boolean {
  switch (field.fieldKind) {
    case "message":
      return value !== undefined;
    case "list":
      return (value as unknown[]).length > 0;
    case "map":
      return Object.keys(value as object).length > 0;
    case "enum":
      return value !== undefined && value !== 0;
    case "scalar":
      if (value === undefined) return false;
      if (typeof value === "string") return value.length > 0;
      if (value instanceof Uint8Array) return value.length > 0;
      if (typeof value === "bigint") return value !== 0n;
      if (typeof value === "number") return value !== 0;
      return value === true;
  }
}

/**
 * The path of the first required field or oneof that is absent, in Protobuf
 * field names ("send_message.content.text"), or undefined when the message
 * satisfies every rule. The path starts with `prefix` when one is given.
 */
export function findMissingField(desc: DescMessage, message: object, prefix = ""): string | undefined {
  const plan = planFor(desc);
  const msg = message as AnyMessage;
  for (const oneof of plan.requiredOneofs) {
    if ((msg[oneof.localName] as { case?: string }).case === undefined) return join(prefix, oneof.name);
  }
  for (const field of plan.requiredFields) {
    if (!isPresent(field, valueOf(msg, field))) return join(prefix, field.name);
  }
  for (const field of plan.nested) {
    const value = valueOf(msg, field);
    if (value === undefined) continue;
    const child = messageTypeOf(field)!;
    const path = join(prefix, field.name);
    if (field.fieldKind === "list") {
      const items = value as object[];
      for (let i = 0; i < items.length; i++) {
        const missing = findMissingField(child, items[i]!, `${path}[${i}]`);
        if (missing) return missing;
      }
    } else if (field.fieldKind === "map") {
      for (const [key, item] of Object.entries(value as Record<string, object>)) {
        const missing = findMissingField(child, item, `${path}[${key}]`);
        if (missing) return missing;
      }
    } else {
      const missing = findMissingField(child, value as object, path);
      if (missing) return missing;
    }
  }
  return undefined;
}

function join(prefix: string, name: string): string {
  return prefix === "" ? name : `${prefix}.${name}`;
}
