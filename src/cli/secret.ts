import { readFile } from "node:fs/promises";
import { CliError } from "./io.js";
import { readOptionFile } from "./options.js";

/** The development secret: tokens signed with it are only fit for a local test. */
export const DEVELOPMENT_SECRET = "imwire-development-secret-do-not-deploy";

/** What the help texts say about --secret-file, so serve, token and conformance say the same. */
export const SECRET_FILE_HELP = "read the secret from a file (one final newline dropped)";

/**
 * The token secret from --secret, --secret-file or IMWIRE_SECRET, else the
 * development secret (so `imwire serve` and `imwire token` agree out of the
 * box) with a warning. A file that cannot be read is a CliError naming the flag.
 */
export async function resolveSecret(
  values: { secret?: string; "secret-file"?: string },
  warn: (text: string) => void,
  read: (path: string) => Promise<Uint8Array> = readFile,
): Promise<string | Buffer> {
  if (values.secret !== undefined) return values.secret;
  const path = values["secret-file"];
  if (path !== undefined) {
    const secret = withoutFinalNewline(Buffer.from(await readOptionFile(read, path, "--secret-file")));
    if (secret.length === 0) throw new CliError(`--secret-file: the file is empty: ${path}`);
    return secret;
  }
  const fromEnvironment = process.env.IMWIRE_SECRET;
  if (fromEnvironment !== undefined && fromEnvironment !== "") return fromEnvironment;
  warn("no --secret, --secret-file or IMWIRE_SECRET: using the development secret, which anyone can read in the source\n");
  return DEVELOPMENT_SECRET;
}

/**
 * `echo s3cret > f` writes "s3cret\n": the newline is the editor's or the
 * shell's, not the secret's, and keeping it made the file's tokens differ
 * from --secret s3cret. Exactly one "\n" or "\r\n" goes; anything else is
 * the secret, bytes and all.
 */
export function withoutFinalNewline(bytes: Buffer): Buffer {
  if (bytes.at(-1) !== 0x0a) return bytes;
  return bytes.subarray(0, bytes.at(-2) === 0x0d ? -2 : -1);
}
