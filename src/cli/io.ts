/** The process boundary of the CLI, injectable so tests run commands in-process. */
export interface CliIO {
  writeOut(data: string | Uint8Array): void;
  writeErr(text: string): void;
  readStdin(): Promise<Uint8Array>;
  readFile(path: string): Promise<Uint8Array>;
  readonly stdinIsTTY: boolean;
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

const HEX_TEXT = /^(?:[0-9a-fA-F]{2}|\s)*$/;

/** Guess hex or base64 for text given on the command line: hex when every character could be hex. */
export function guessTextEncoding(text: string): TextEncoding {
  return HEX_TEXT.test(text) ? "hex" : "base64";
}

/** Bytes from hex (whitespace ignored) or base64 (whitespace-separated tokens, each decoded on its own). */
export function decodeText(text: string, encoding: TextEncoding): Uint8Array {
  if (encoding === "hex") {
    const compact = text.replace(/\s+/g, "");
    if (!/^(?:[0-9a-fA-F]{2})*$/.test(compact)) throw new UsageError("input is not hex: expected pairs of 0-9, a-f");
    return new Uint8Array(Buffer.from(compact, "hex"));
  }
  const parts: Buffer[] = [];
  for (const token of text.split(/\s+/)) {
    if (token === "") continue;
    if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(token)) throw new UsageError(`input is not base64: ${token.slice(0, 20)}`);
    parts.push(Buffer.from(token, "base64"));
  }
  return new Uint8Array(Buffer.concat(parts));
}

export function encodeText(bytes: Uint8Array, encoding: TextEncoding): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString(encoding);
}
