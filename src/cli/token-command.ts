import { issueToken, parseDuration } from "../auth/hmac-token.js";
import { UsageError, type CliIO } from "./io.js";
import { parseOptions } from "./options.js";
import { resolveSecret, SECRET_FILE_HELP } from "./secret.js";

export const tokenHelp = `Usage: imwire token --user USER --device DEVICE [options]

Issue a bearer token that "imwire serve" accepts (AUTH-2): HMAC-SHA256 over
the user, the device and an expiry, with the server's secret. Prints the token.

Options:
  --user ID           the user the token authenticates
  --device ID         the device it is bound to (must match hello.device_id)
  --ttl DURATION      lifetime: 90s, 15m, 12h, 7d (default 24h); 0 never expires
  --secret TEXT       the server's secret (default: IMWIRE_SECRET, else the development secret)
  --secret-file PATH  ${SECRET_FILE_HELP}
  -h, --help          show this help

Example:
  imwire token --user alice --device phone --ttl 1h
`;

export async function tokenCommand(args: string[], io: CliIO, now = Date.now()): Promise<number> {
  const { values } = parseOptions(args, {
    user: { type: "string" },
    device: { type: "string" },
    ttl: { type: "string", default: "24h" },
    secret: { type: "string" },
    "secret-file": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.help) {
    io.writeOut(tokenHelp);
    return 0;
  }
  if (!values.user || !values.device) throw new UsageError("give --user and --device");
  let ttl: number;
  try {
    ttl = parseDuration(values.ttl);
  } catch {
    throw new UsageError(`--ttl takes a duration such as 90s, 15m, 12h or 7d, not ${JSON.stringify(values.ttl)}`);
  }
  const secret = await resolveSecret(values, io.writeErr, io.readFile);
  io.writeOut(`${issueToken({ userId: values.user, deviceId: values.device, expiresAtMs: ttl === 0 ? 0 : now + ttl }, secret)}\n`);
  return 0;
}
