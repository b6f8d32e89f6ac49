import { crc32 } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { UserEventSchema } from "../../gen/imwire/v1/delivery_pb.js";
import { decodeConversationEvent, encodeConversationEvent } from "../../gen/imwire/v1/message_fast.js";
import type { StoredUserEntryBody } from "../store.js";
import type { StoreWrite } from "../store-writes.js";

/**
 * The journal's record framing: a little-endian u32 length of the payload,
 * a u32 CRC-32 of it, then the payload. A record cut short or failing its
 * checksum at the end of the file is a write that never completed (its
 * batch was never acknowledged); anywhere else it is damage.
 */
export const RECORD_HEADER_BYTES = 8;

/** The first record of every journal: what it is, and the epoch of the streams it holds (CUR-4). */
export interface JournalHeader {
  readonly journal: "imwire";
  readonly version: 1;
  readonly epoch: string;
}

export function encodeRecord(payload: Uint8Array): Buffer {
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length);
  record.writeUInt32LE(payload.length, 0);
  record.writeUInt32LE(crc32(payload), 4);
  record.set(payload, RECORD_HEADER_BYTES);
  return record;
}

/** A record found at `offset` of `bytes`: its payload and where the next begins; "short" when the bytes end first, "bad" when its checksum fails. */
export function decodeRecord(bytes: Buffer, offset: number): { payload: Buffer; next: number } | "short" | "bad" {
  if (bytes.length - offset < RECORD_HEADER_BYTES) return "short";
  const length = bytes.readUInt32LE(offset);
  const next = offset + RECORD_HEADER_BYTES + length;
  if (next > bytes.length) return "short";
  const payload = bytes.subarray(offset + RECORD_HEADER_BYTES, next);
  return crc32(payload) === bytes.readUInt32LE(offset + 4) ? { payload, next } : "bad";
}

/** One batch as a record's payload: JSON, with protobuf messages (events, stream entry bodies) as base64 of their encoding. */
export function encodeBatch(batch: readonly StoreWrite[]): Buffer {
  return Buffer.from(JSON.stringify(batch.map(toJson)));
}

export function decodeBatch(payload: Buffer): StoreWrite[] {
  const writes = JSON.parse(payload.toString("utf8")) as unknown[];
  if (!Array.isArray(writes)) throw new Error("a journal batch is not a list of writes");
  return writes.map(fromJson);
}

export function encodeHeader(header: JournalHeader): Buffer {
  return Buffer.from(JSON.stringify(header));
}

export function decodeHeader(payload: Buffer): JournalHeader {
  const header = JSON.parse(payload.toString("utf8")) as Partial<JournalHeader>;
  if (header.journal !== "imwire" || header.version !== 1 || typeof header.epoch !== "string") throw new Error("not an imwire journal (version 1)");
  return header as JournalHeader;
}

function toJson(write: StoreWrite): unknown {
  switch (write.op) {
    case "appendEvent":
      return { ...write, event: base64(encodeConversationEvent(write.event)) };
    case "appendUserEntry":
      return { ...write, body: bodyToJson(write.body) };
    default:
      return write;
  }
}

function fromJson(json: unknown): StoreWrite {
  const write = json as { op: string; event?: string; body?: unknown };
  switch (write.op) {
    case "appendEvent":
      return { ...(write as object), event: decodeConversationEvent(Buffer.from(write.event!, "base64")) } as StoreWrite;
    case "appendUserEntry":
      return { ...(write as object), body: bodyFromJson(write.body) } as StoreWrite;
    default:
      return write as StoreWrite;
  }
}

function bodyToJson(body: StoredUserEntryBody): unknown {
  if (body.case === "eventRef") return body;
  return { case: "userEvent", bytes: base64(toBinary(UserEventSchema, create(UserEventSchema, { body }))) };
}

function bodyFromJson(json: unknown): StoredUserEntryBody {
  const body = json as { case: string; bytes?: string };
  if (body.case === "eventRef") return body as StoredUserEntryBody;
  const decoded = fromBinary(UserEventSchema, Buffer.from(body.bytes!, "base64")).body;
  if (decoded.case === undefined || decoded.case === "event" || decoded.case === "notify") throw new Error(`a stream entry body of case ${decoded.case} is not stored`);
  return decoded as StoredUserEntryBody;
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}
