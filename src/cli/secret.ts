import { readFile } from "node:fs/promises";

/** The development secret: tokens signed with it are only fit for a local test. */
export const DEVELOPMENT_SECRET = "imwire-development-secret-do-not-deploy";

/**
 * The token secret from --secret, --secret-file or IMWIRE_SECRET, else the
 * development secret (so `imwire serve` and `imwire token` agree out of the
 * box) with a warning.
 */
export async function resolveSecret(values: { secret?: string; "secret-file"?: string }, warn: (text: string) => void): Promise<string | Buffer> {
  if (values.secret !== undefined) return values.secret;
  if (values["secret-file"] !== undefined) return (await readFile(values["secret-file"])).subarray();
  const fromEnvironment = process.env.IMWIRE_SECRET;
  if (fromEnvironment !== undefined && fromEnvironment !== "") return fromEnvironment;
  warn("no --secret, --secret-file or IMWIRE_SECRET: using the development secret, which anyone can read in the source\n");
  return DEVELOPMENT_SECRET;
}
