import { open, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { PersistedClientState } from "../machines/client/persisted-state.js";
import type { ClientStore } from "./client-store.js";

/**
 * A ClientStore in one JSON file, for Node (CLI-1). Each save writes the
 * whole state to a temporary file beside it, fsyncs it, renames it over the
 * file and fsyncs the directory: after a crash the file holds the state of
 * the last save that resolved, or of the one before it, never a torn one.
 *
 * JSON has no bigints and no bytes: they are written as {"$bigint": "12"}
 * and {"$bytes": "<base64>"} (a protobuf message has no field named so).
 */
export class FileClientStore implements ClientStore {
  readonly path: string;
  #writes = 0;
  /** Saves one after another, whoever calls. */
  #queue: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.path = path;
  }

  async load(): Promise<PersistedClientState | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
    return JSON.parse(text, revive) as PersistedClientState;
  }

  save(state: PersistedClientState): Promise<void> {
    const text = JSON.stringify(state, replace);
    const write = this.#queue.then(() => this.#write(text));
    this.#queue = write.catch(() => {});
    return write;
  }

  async #write(text: string): Promise<void> {
    const temporary = join(dirname(this.path), `.${basename(this.path)}.${process.pid}.${++this.#writes}.tmp`);
    try {
      const file = await open(temporary, "w");
      try {
        await file.writeFile(text, "utf8");
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temporary, this.path);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    await syncDirectory(dirname(this.path));
  }
}

/** The rename is durable once the directory is (POSIX); where a directory cannot be opened for it (Windows), the rename is what there is. */
async function syncDirectory(path: string): Promise<void> {
  let directory;
  try {
    directory = await open(path, "r");
  } catch {
    return;
  }
  try {
    await directory.sync();
  } catch {
    // EISDIR, EINVAL, EPERM on file systems that do not sync directories.
  } finally {
    await directory.close();
  }
}

function replace(this: unknown, key: string, value: unknown): unknown {
  if (typeof value === "bigint") return { $bigint: value.toString() };
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64") };
  return value;
}

function revive(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  if (keys.length !== 1) return value;
  const tagged = value as { $bigint?: unknown; $bytes?: unknown };
  if (typeof tagged.$bigint === "string") return BigInt(tagged.$bigint);
  if (typeof tagged.$bytes === "string") return new Uint8Array(Buffer.from(tagged.$bytes, "base64"));
  return value;
}
