import { execFile } from "node:child_process";
import { issueToken } from "../../auth/hmac-token.js";

/** How the runner obtains a token for a user's device, valid for `ttlMs` (negative: already expired). */
export type TokenSource = (userId: string, deviceId: string, ttlMs: number) => Promise<string>;

/** Tokens of the reference scheme, signed with the server's secret (AUTH-2). */
export function secretTokens(secret: string | Buffer): TokenSource {
  return async (userId, deviceId, ttlMs) => issueToken({ userId, deviceId, expiresAtMs: Date.now() + ttlMs }, secret);
}

/**
 * Tokens from a command the server's operator provides, run through the
 * shell with {user}, {device} and {ttl_ms} replaced; its standard output,
 * trimmed, is the token.
 */
export function commandTokens(template: string): TokenSource {
  return (userId, deviceId, ttlMs) =>
    new Promise((resolve, reject) => {
      const command = template.replaceAll("{user}", shellQuote(userId)).replaceAll("{device}", shellQuote(deviceId)).replaceAll("{ttl_ms}", String(ttlMs));
      execFile("/bin/sh", ["-c", command], { timeout: 10_000 }, (error, stdout, stderr) => {
        // Named after the option the user gave, so the report points at what to fix; never the command line itself (it may hold a secret).
        if (error) reject(new Error(`--token-command failed: ${stderr.trim().split("\n")[0] || (error.killed ? "no token within 10 s" : `exit status ${error.code ?? error.signal}`)}`));
        else if (stdout.trim() === "") reject(new Error("--token-command printed no token"));
        else resolve(stdout.trim());
      });
    });
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}
