import { fromBinary, type DescMessage, type Message } from "@bufbuild/protobuf";
import { childPlan, fieldAt, messagePlan, varintAt, type MessagePlan } from "./wire-structure.js";

/**
 * The slow path of decoding, taken only when a known field arrived with a
 * wire type that is not its own. ENV-3 makes such a field an unknown field,
 * as Protobuf's C++, Java and Go runtimes do, but protobuf-es would read it by
 * its declared type. So the bytes are rebuilt without any unknown field
 * (lengths of enclosing messages adjusted), protobuf-es reads the rest, and
 * each message gets back its unknown fields, mistyped ones included, in wire
 * order: the same message a conforming decoder builds.
 */

interface UnknownField {
  no: number;
  wireType: number;
  data: Uint8Array;
}

/** Where a message sits: "" is the root, "/2" its field 2, "/2/5[1]" the second element of repeated field 5 inside it. */
type InstanceKey = string;

class KnownFieldsRebuilder {
  /** Unknown fields per message instance; a singular message field seen twice merges into one instance, as in Protobuf. */
  readonly unknown = new Map<InstanceKey, UnknownField[]>();
  private readonly elementCounts = new Map<string, number>();
  private readonly oneofCases = new Map<string, number>();

  constructor(private readonly bytes: Uint8Array) {}

  /** The known fields of the message in [start, end), as chunks of bytes; records its unknown fields under `key`. */
  rebuild(plan: MessagePlan, key: InstanceKey, start: number, end: number): Uint8Array[] {
    const chunks: Uint8Array[] = [];
    for (let at = start; at < end; ) {
      const { number, wireType, valueStart, end: fieldEnd } = fieldAt(this.bytes, at);
      const field = plan.fields[number];
      if (field === undefined || !((field.wireTypes >>> wireType) & 1)) {
        this.record(key, { no: number, wireType, data: this.bytes.subarray(valueStart, fieldEnd) });
      } else {
        if (field.desc.oneof !== undefined) this.selectOneofCase(key, field.desc.oneof.name, number);
        if (field.child === undefined) {
          chunks.push(this.bytes.subarray(at, fieldEnd));
        } else {
          const childStart = varintAt(this.bytes, valueStart)[1];
          const childKey = `${key}/${number}${field.desc.fieldKind === "list" ? this.nextIndex(key, number) : ""}`;
          const child = this.rebuild(childPlan(field), childKey, childStart, fieldEnd);
          chunks.push(this.bytes.subarray(at, valueStart), varint(child.reduce((n, c) => n + c.length, 0)), ...child);
        }
      }
      at = fieldEnd;
    }
    return chunks;
  }

  private record(key: InstanceKey, field: UnknownField): void {
    let fields = this.unknown.get(key);
    if (fields === undefined) this.unknown.set(key, (fields = []));
    fields.push(field);
  }

  private nextIndex(key: InstanceKey, number: number): string {
    const counter = `${key}/${number}`;
    const index = this.elementCounts.get(counter) ?? 0;
    this.elementCounts.set(counter, index + 1);
    return `[${index}]`;
  }

  /** A oneof that switches member drops what the previous member held, its unknown fields included. */
  private selectOneofCase(key: InstanceKey, oneof: string, number: number): void {
    const slot = `${key}#${oneof}`;
    const previous = this.oneofCases.get(slot);
    this.oneofCases.set(slot, number);
    if (previous === undefined || previous === number) return;
    const prefix = `${key}/${previous}`;
    const under = (k: string) => k === prefix || k.startsWith(`${prefix}/`) || k.startsWith(`${prefix}[`) || k.startsWith(`${prefix}#`);
    for (const map of [this.unknown, this.elementCounts, this.oneofCases]) for (const k of [...map.keys()]) if (under(k)) map.delete(k);
  }
}

/** Decode bytes that checkWireStructure accepted and found a mistyped known field in. */
export function decodeWithMistypedFields(schema: DescMessage, payload: Uint8Array): Message {
  const rebuilder = new KnownFieldsRebuilder(payload);
  const message = fromBinary(schema, concat(rebuilder.rebuild(messagePlan(schema), "", 0, payload.length))) as Message;
  for (const [key, fields] of rebuilder.unknown) {
    const target = instanceAt(schema, message, key);
    if (target !== undefined) (target as { $unknown?: UnknownField[] }).$unknown = fields;
  }
  return message;
}

function instanceAt(schema: DescMessage, root: Message, key: InstanceKey): object | undefined {
  let desc = schema;
  let value = root as unknown as Record<string, unknown>;
  for (const step of key.split("/").slice(1)) {
    const [, numberText, indexText] = /^(\d+)(?:\[(\d+)\])?$/.exec(step)!;
    const field = desc.fields.find((f) => f.number === Number(numberText))!;
    if (field.fieldKind !== "message" && !(field.fieldKind === "list" && field.listKind === "message")) return undefined;
    let next: unknown;
    if (field.oneof !== undefined) {
      const selected = value[field.oneof.localName] as { case?: string; value?: unknown };
      next = selected.case === field.localName ? selected.value : undefined;
    } else if (indexText !== undefined) {
      next = (value[field.localName] as unknown[])[Number(indexText)];
    } else {
      next = value[field.localName];
    }
    if (next === undefined) return undefined;
    value = next as Record<string, unknown>;
    desc = field.message;
  }
  return value;
}

function varint(value: number): Uint8Array {
  const bytes: number[] = [];
  for (; value > 0x7f; value = Math.floor(value / 128)) bytes.push((value & 0x7f) | 0x80);
  bytes.push(value);
  return Uint8Array.from(bytes);
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
