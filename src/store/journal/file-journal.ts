import { randomBytes } from "node:crypto";
import { open, type FileHandle } from "node:fs/promises";
import { MemoryStore } from "../memory-store.js";
import { applyWrite, type StoreWrite } from "../store-writes.js";
import { WriteBehindStore, type BatchSink } from "../write-behind-store.js";
import { decodeBatch, decodeHeader, decodeRecord, encodeBatch, encodeHeader, encodeRecord, type JournalHeader } from "./journal-codec.js";

/** The journal file is damaged somewhere other than its last, unfinished write. */
export class JournalCorrupt extends Error {
  override readonly name = "JournalCorrupt";
}

/** How much of the file is read at a time while replaying. */
const READ_CHUNK_BYTES = 1 << 20;

/** What opening a journal found. */
export interface JournalOpened {
  readonly store: WriteBehindStore;
  readonly journal: FileJournal;
  readonly epoch: string;
  /** Batches replayed into the working set. */
  readonly batches: number;
  /** Bytes of an unfinished last write cut off the end (never acknowledged). */
  readonly truncatedBytes: number;
}

/**
 * A durable store in one append-only file: the write-behind store's batches,
 * one record each, appended with one write and one fdatasync per commit (all
 * batches sealed while the previous commit ran go in the same one). Opening
 * replays the file into the working set.
 *
 * Limits: the whole state lives in memory, and the file keeps every batch
 * (nothing compacts it: events are kept forever anyway, but forgotten
 * idempotency keys and superseded settings stay in the file).
 */
export class FileJournal implements BatchSink {
  readonly #file: FileHandle;
  #closed = false;
  /** Commits made, bytes appended and writes by kind, for benchmarks. */
  commits = 0;
  bytesWritten = 0;
  readonly writes = new Map<StoreWrite["op"], number>();

  private constructor(file: FileHandle) {
    this.#file = file;
  }

  /** Open (or create) the journal at `path` and replay it into a new working set. */
  static async open(path: string): Promise<JournalOpened> {
    const file = await open(path, "a+");
    try {
      const replayed = await replay(file);
      const journal = new FileJournal(file);
      let epoch = replayed.header?.epoch;
      if (epoch === undefined) {
        // A new, empty journal: a new lineage (CUR-4).
        epoch = `j${randomBytes(8).toString("hex")}`;
        await journal.#append([encodeRecord(encodeHeader({ journal: "imwire", version: 1, epoch }))]);
      }
      const memory = new MemoryStore(epoch);
      for (const batch of replayed.batches) for (const write of batch) applyWrite(memory, write);
      return { store: new WriteBehindStore(memory, journal), journal, epoch, batches: replayed.batches.length, truncatedBytes: replayed.truncatedBytes };
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  commit(batches: readonly (readonly StoreWrite[])[]): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("the journal is closed"));
    for (const batch of batches) for (const write of batch) this.writes.set(write.op, (this.writes.get(write.op) ?? 0) + 1);
    return this.#append(batches.map((batch) => encodeRecord(encodeBatch(batch))));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#file.close();
  }

  async #append(records: Buffer[]): Promise<void> {
    const total = records.reduce((sum, r) => sum + r.length, 0);
    let written = 0;
    let pending = records;
    while (written < total) {
      const { bytesWritten } = await this.#file.writev(pending);
      written += bytesWritten;
      if (written < total) pending = [Buffer.concat(records).subarray(written)];
    }
    await this.#file.datasync();
    this.commits++;
    this.bytesWritten += total;
  }
}

/** Read every whole record; cut an unfinished last one off the file. */
async function replay(file: FileHandle): Promise<{ header: JournalHeader | undefined; batches: StoreWrite[][]; truncatedBytes: number }> {
  const { size } = await file.stat();
  const batches: StoreWrite[][] = [];
  let header: JournalHeader | undefined;
  let carry = Buffer.alloc(0);
  let consumed = 0; // file offset where `carry` begins
  let position = 0;
  while (position < size || carry.length > 0) {
    if (position < size) {
      const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, size - position));
      const { bytesRead } = await file.read(chunk, 0, chunk.length, position);
      position += bytesRead;
      carry = carry.length === 0 ? chunk.subarray(0, bytesRead) : Buffer.concat([carry, chunk.subarray(0, bytesRead)]);
    }
    let offset = 0;
    for (;;) {
      const record = decodeRecord(carry, offset);
      if (record === "short") break;
      if (record === "bad") {
        const end = consumed + offset + 8 + carry.readUInt32LE(offset);
        if (end < size) throw new JournalCorrupt(`journal record at byte ${consumed + offset} fails its checksum`);
        break; // the last write, unfinished
      }
      if (header === undefined) header = decodeHeader(record.payload);
      else batches.push(decodeBatch(record.payload));
      offset = record.next;
    }
    consumed += offset;
    carry = carry.subarray(offset);
    if (position >= size) break;
  }
  const truncatedBytes = size - consumed;
  // Never cut a file that did not start as a journal: it is someone else's.
  if (header === undefined && size > 0) throw new JournalCorrupt("not an imwire journal (no header record; if its very first write was cut short, remove the file to start afresh)");
  if (truncatedBytes > 0) await file.truncate(consumed);
  return { header, batches, truncatedBytes };
}
