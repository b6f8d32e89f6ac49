import picocolors from "picocolors";

/** The process boundary of the CLI, injectable so tests run commands in-process. */
export interface CliIO {
  writeOut(data: string | Uint8Array): void;
  writeErr(text: string): void;
  readStdin(): Promise<Uint8Array>;
  readFile(path: string): Promise<Uint8Array>;
  readonly stdinIsTTY: boolean;
  /** The terminal's width when stdout is a terminal (a live status line is drawn only then); undefined otherwise. */
  readonly stdoutColumns?: number;
  /** Colour the output (picocolors' verdict: a terminal, and no NO_COLOR). */
  readonly colour?: boolean;
}

/** The CLI's I/O on the real process. */
export function processIO(): CliIO {
  return {
    writeOut: (data) => process.stdout.write(data),
    writeErr: (text) => process.stderr.write(text),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return new Uint8Array(Buffer.concat(chunks));
    },
    readFile: async (path) => new Uint8Array(await (await import("node:fs/promises")).readFile(path)),
    stdinIsTTY: process.stdin.isTTY === true,
    ...(process.stdout.isTTY ? { stdoutColumns: process.stdout.columns || 80 } : {}),
    colour: picocolors.isColorSupported,
  };
}

/** A usage mistake: printed with the command's help hint, exit status 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/**
 * An ordinary failure the user can fix (a missing file, a port in use, a
 * server that cannot be reached): printed as one line, exit status 2, no
 * stack trace and no help text.
 */
export class CliError extends Error {
  override readonly name = "CliError";
}

export type TextEncoding = "hex" | "base64";

const HEX_DIGITS = /^[0-9a-fA-F]*$/;
const BASE64_TOKEN = /^(?:[A-Za-z0-9+/]*|[A-Za-z0-9_-]*)={0,2}$/;

/**
 * Which encoding text is in, for input given without --in: hex when every
 * character (whitespace aside) is a hex digit, else base64. Text that is
 * neither, or hex digits that cannot be whole bytes, is a usage error: an
 * odd-length hex string read as base64 would decode into other bytes
 * without a word.
 */
export function guessTextEncoding(text: string): TextEncoding {
  const compact = text.replace(/\s+/g, "");
  if (HEX_DIGITS.test(compact)) {
    if (compact.length % 2 === 1) throw new UsageError(`odd number of hex digits (${compact.length}): two make a byte; --in base64 reads the text as base64`);
    return "hex";
  }
  const problem = base64Problem(text);
  if (problem !== undefined) throw new UsageError(`input is neither hex nor base64: ${problem}`);
  return "base64";
}

/** Why text is not base64 (whitespace-separated tokens, standard or URL-safe alphabet, padding optional), or undefined. */
function base64Problem(text: string): string | undefined {
  for (const token of text.split(/\s+/)) {
    if (token === "") continue;
    if (!BASE64_TOKEN.test(token)) {
      const bad = [...token].find((c) => !/[A-Za-z0-9+/_=-]/.test(c));
      return bad === undefined ? `${JSON.stringify(token.slice(0, 20))} mixes the standard and URL-safe alphabets, or pads mid-token` : `unexpected character ${JSON.stringify(bad)}`;
    }
    const unpadded = token.replace(/=+$/, "").length;
    if (unpadded % 4 === 1 || (token.endsWith("=") && token.length % 4 !== 0)) return `${JSON.stringify(token.slice(0, 20))} has a length no base64 text has`;
  }
  return undefined;
}

/** Bytes from hex (whitespace ignored) or base64 (whitespace-separated tokens, each decoded on its own). */
export function decodeText(text: string, encoding: TextEncoding): Uint8Array {
  if (encoding === "hex") {
    const compact = text.replace(/\s+/g, "");
    if (!HEX_DIGITS.test(compact)) throw new UsageError("input is not hex: expected pairs of 0-9, a-f");
    if (compact.length % 2 === 1) throw new UsageError(`odd number of hex digits (${compact.length}): two make a byte`);
    return new Uint8Array(Buffer.from(compact, "hex"));
  }
  const problem = base64Problem(text);
  if (problem !== undefined) throw new UsageError(`input is not base64: ${problem}`);
  const parts = text.split(/\s+/).filter((token) => token !== "").map((token) => Buffer.from(token, "base64"));
  return new Uint8Array(Buffer.concat(parts));
}

/** Whether bytes read from a file or stdin are text (printable ASCII and line breaks): what `imwire encode` prints, not raw frames, which have control bytes in their prefixes and tags. */
export function isPrintableText(bytes: Uint8Array): boolean {
  for (const byte of bytes) if ((byte < 0x20 || byte > 0x7e) && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) return false;
  return true;
}

export function encodeText(bytes: Uint8Array, encoding: TextEncoding): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString(encoding);
}

/** Quote a word for a POSIX shell when it needs it, so printed commands can be pasted. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_./=:@%+,-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
