import { parseArgs, type ParseArgsConfig } from "node:util";

type OptionsConfig = NonNullable<ParseArgsConfig["options"]>;
import { CliError, UsageError } from "./io.js";

/**
 * The one option layer every command goes through: parseArgs for the shape,
 * then typed readers that turn a bad value into a UsageError naming the flag
 * (exit 2, one line), never a NaN or a TypeError further down.
 */
export function parseOptions<const T extends OptionsConfig>(args: string[], options: T, allowPositionals = false): ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: boolean; strict: true }>> {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (error) {
    // node:util's errors (ERR_PARSE_ARGS_*) are already one readable line.
    throw new UsageError((error as Error).message);
  }
}

export interface IntegerRange {
  readonly min?: number;
  readonly max?: number;
}

/** An integer option, or `fallback` when absent: "--timeout-ms takes an integer from 1 to …, not abc". */
export function integerOption(value: string | undefined, flag: string, fallback: number, range?: IntegerRange): number;
export function integerOption(value: string | undefined, flag: string, fallback?: undefined, range?: IntegerRange): number | undefined;
export function integerOption(value: string | undefined, flag: string, fallback?: number, range: IntegerRange = {}): number | undefined {
  if (value === undefined) return fallback;
  const min = range.min ?? 0;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  const n = /^[+-]?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const bounds = range.max === undefined ? `${min} or more` : `from ${min} to ${max}`;
    throw new UsageError(`${flag} takes an integer ${bounds}, not ${JSON.stringify(value)}`);
  }
  return n;
}

/** One of a fixed set of words. */
export function choiceOption<const C extends string>(value: string | undefined, flag: string, choices: readonly C[], fallback: C): C {
  if (value === undefined) return fallback;
  if (!(choices as readonly string[]).includes(value)) throw new UsageError(`${flag} takes one of ${choices.join(", ")}, not ${JSON.stringify(value)}`);
  return value as C;
}

/** An imwire server address: tcp://, tls://, ws:// or wss:// (an http:// URL is a usage mistake, not a connection failure). */
export function serverAddressOption(value: string, flag: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${flag} takes a server address such as tcp://127.0.0.1:5300 or ws://127.0.0.1:5301, not ${JSON.stringify(value)}`);
  }
  if (!["tcp:", "tls:", "ws:", "wss:"].includes(url.protocol)) {
    const hint = url.protocol === "http:" || url.protocol === "https:" ? ` (for WebSocket write ${url.protocol === "https:" ? "wss" : "ws"}://${url.host}${url.pathname === "/" ? "" : url.pathname})` : "";
    throw new UsageError(`${flag} takes a tcp://, tls://, ws:// or wss:// address, not ${value}${hint}`);
  }
  if (url.port === "" && (url.protocol === "tcp:" || url.protocol === "tls:")) throw new UsageError(`${flag} needs a port: ${value}`);
  return value;
}

/**
 * Read a file named by an option: a missing or unreadable file is one line
 * naming the flag and the cause ("--secret-file: no such file: s.txt"), exit 2.
 */
export async function readOptionFile(read: (path: string) => Promise<Uint8Array>, path: string, flag: string): Promise<Uint8Array> {
  try {
    return await read(path);
  } catch (error) {
    throw fileError(error, path, flag);
  }
}

/** A file-system error as a CliError naming the flag; other errors pass unchanged. */
export function fileError(error: unknown, path: string, flag: string): unknown {
  const code = (error as { code?: string }).code;
  const cause = code === undefined ? undefined : FILE_ERRORS[code];
  return cause === undefined ? error : new CliError(`${flag}: ${cause}: ${path}`);
}

const FILE_ERRORS: Record<string, string> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  EPERM: "not permitted",
  EISDIR: "is a directory, not a file",
  ENOTDIR: "a part of the path is not a directory",
  EROFS: "read-only file system",
  ENOSPC: "no space left on the device",
};
