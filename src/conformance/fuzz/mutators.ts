import type { Random } from "../../sim/random.js";
import { concat, scanFields, tag, varint } from "./wire.js";

/** The ways a valid payload is damaged; each is a class in the report. */
export const MUTATIONS = ["bit-flip", "truncate", "splice", "wire-type", "duplicate-field", "random-payload"] as const;
export type Mutation = (typeof MUTATIONS)[number];

export function randomBytes(random: Random, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = random.int(256);
  return out;
}

/** Flip 1 to 4 bits anywhere. */
export function bitFlip(random: Random, payload: Uint8Array): Uint8Array {
  const out = payload.slice();
  if (out.length === 0) return Uint8Array.of(1 << random.int(8));
  const flips = 1 + random.int(4);
  for (let i = 0; i < flips; i++) out[random.int(out.length)]! ^= 1 << random.int(8);
  return out;
}

/** Cut the payload short (the length prefix then says the shorter length). */
export function truncate(random: Random, payload: Uint8Array): Uint8Array {
  return payload.subarray(0, payload.length === 0 ? 0 : random.int(payload.length));
}

/** A top-level field of `other` put into `payload`, before, after or instead of one of its own. */
export function splice(random: Random, payload: Uint8Array, other: Uint8Array): Uint8Array {
  const mine = scanFields(payload);
  const theirs = scanFields(other);
  if (theirs.length === 0) return concat(payload, other);
  const donor = theirs[random.int(theirs.length)]!;
  const piece = other.subarray(donor.start, donor.end);
  if (mine.length === 0) return concat(payload, piece);
  const target = mine[random.int(mine.length)]!;
  switch (random.int(3)) {
    case 0:
      return concat(payload.subarray(0, target.start), piece, payload.subarray(target.start));
    case 1:
      return concat(payload, piece);
    default:
      // The donor's value under the target's tag: a body of one kind holding another kind's fields.
      if (donor.wireType === target.wireType) return concat(payload.subarray(0, target.valueStart), other.subarray(donor.valueStart, donor.end), payload.subarray(target.end));
      return concat(payload.subarray(0, target.start), piece, payload.subarray(target.end));
  }
}

/** A top-level field re-sent with another wire type, its value reshaped so that the payload still parses (ENV-3: an unknown field). */
export function wrongWireType(random: Random, payload: Uint8Array): Uint8Array {
  const fields = scanFields(payload);
  if (fields.length === 0) return payload;
  const f = fields[random.int(fields.length)]!;
  const choices = [0, 1, 2, 5].filter((w) => w !== f.wireType);
  const wireType = choices[random.int(choices.length)]!;
  const value = payload.subarray(f.valueStart, f.end);
  let body: Uint8Array;
  switch (wireType) {
    case 0:
      body = varint(value.length);
      break;
    case 1:
      body = new Uint8Array(8).map((_, i) => value[i] ?? 0);
      break;
    case 5:
      body = new Uint8Array(4).map((_, i) => value[i] ?? 0);
      break;
    default:
      body = concat(varint(value.length), value);
  }
  return concat(payload.subarray(0, f.start), tag(f.field, wireType), body, payload.subarray(f.end));
}

/** A top-level field repeated (ENV-8: the last value wins, a message merges, a oneof takes its last member). */
export function duplicateField(random: Random, payload: Uint8Array): Uint8Array {
  const fields = scanFields(payload);
  if (fields.length === 0) return payload;
  const f = fields[random.int(fields.length)]!;
  return concat(payload, payload.subarray(f.start, f.end));
}

export function mutate(random: Random, kind: Mutation, payload: Uint8Array, other: Uint8Array): Uint8Array {
  switch (kind) {
    case "bit-flip":
      return bitFlip(random, payload);
    case "truncate":
      return truncate(random, payload);
    case "splice":
      return splice(random, payload, other);
    case "wire-type":
      return wrongWireType(random, payload);
    case "duplicate-field":
      return duplicateField(random, payload);
    case "random-payload":
      return randomBytes(random, random.int(64));
  }
}
