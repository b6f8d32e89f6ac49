import { accessSync, constants, statSync, type Stats } from "node:fs";
import { dirname } from "node:path";
import { SqliteStore } from "../store/sqlite-store.js";
import { FileJournal, type JournalOpened } from "../store/journal/file-journal.js";
import { CliError } from "./io.js";

/**
 * `--db PATH` opened, or a one-line CliError saying why not. better-sqlite3
 * says only "unable to open database file" (or a TypeError for a missing
 * directory), so the cause is found afterwards from the file system.
 */
export function openSqliteStore(path: string, flag = "--db"): SqliteStore {
  try {
    return new SqliteStore(path);
  } catch (error) {
    throw new CliError(`${flag}: ${sqliteOpenFailure(path, error)}`);
  }
}

/** Why `path` could not be opened as an SQLite database: "directory does not exist: /no/such". */
export function sqliteOpenFailure(path: string, error: unknown): string {
  if ((error as { code?: string }).code === "SQLITE_NOTADB") return `not an SQLite database: ${path}`;
  const file = statOrCode(path);
  if (typeof file !== "string") {
    if (file.isDirectory()) return `is a directory, not a file: ${path}`;
    if (!writable(path)) return `permission denied: ${path}`;
  } else {
    const directory = dirname(path);
    const parent = statOrCode(directory);
    if (parent === "ENOENT") return `directory does not exist: ${directory}`;
    if (parent === "ENOTDIR" || (typeof parent !== "string" && !parent.isDirectory())) return `not a directory: ${directory}`;
    if (parent === "EACCES" || !writable(directory)) return `permission denied: ${directory}`;
  }
  return `cannot open ${path}: ${(error as Error).message}`;
}

/** The file's stats, or the error code that stopped stat(2). */
function statOrCode(path: string): Stats | string {
  try {
    return statSync(path);
  } catch (error) {
    return (error as { code?: string }).code ?? "unknown";
  }
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** `--journal PATH` opened and replayed, or a one-line CliError saying why not. */
export async function openJournalStore(path: string, flag = "--journal"): Promise<JournalOpened> {
  try {
    return await FileJournal.open(path);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ENOENT") throw new CliError(`${flag}: directory does not exist: ${dirname(path)}`);
    if (code === "EISDIR") throw new CliError(`${flag}: is a directory, not a file: ${path}`);
    if (code === "EACCES") throw new CliError(`${flag}: permission denied: ${path}`);
    throw new CliError(`${flag}: cannot open ${path}: ${(error as Error).message}`);
  }
}
