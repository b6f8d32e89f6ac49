import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { connect } from "node:net";

/**
 * What the operator lets the runner do to the server beyond speaking the
 * protocol (SPEC.md Appendix C): restart it (HOOK-1), shut it down
 * gracefully (HOOK-2), and see its push hand-offs (HOOK-3).
 */
export interface OperatorHooks {
  /** Bring the server back with its stored state, running or stopped; resolves once it accepts connections. */
  readonly restart?: () => Promise<void>;
  /** Ask for a graceful shutdown (CONN-7); resolves once asked. */
  readonly shutdown?: () => Promise<void>;
  /** The loopback URL the server posts push hand-offs to; the runner listens there. */
  readonly pushWebhook?: string;
}

export type HookName = "restart" | "shutdown" | "pushWebhook";

/** The profile's "hooks" object, as SPEC.md Appendix C gives it. */
export interface HookProfile {
  readonly restart?: string;
  readonly shutdown?: string | { readonly pid?: number; readonly pidFile?: string; readonly signal?: NodeJS.Signals };
  readonly pushWebhook?: string;
}

const HOOK_TIMEOUT_MS = 60_000;

/** Hooks from a profile: shell commands, a signal to a process, the webhook address. `targets` are waited for after a restart. */
export function hooksFromProfile(profile: HookProfile, targets: readonly string[]): OperatorHooks {
  const problem = checkProfile(profile);
  if (problem) throw new Error(problem);
  const { restart, shutdown, pushWebhook } = profile;
  return {
    ...(restart !== undefined
      ? {
          restart: async () => {
            await shell(restart, "restart");
            await Promise.all(targets.map((t) => reachable(t, HOOK_TIMEOUT_MS)));
          },
        }
      : {}),
    ...(shutdown !== undefined ? { shutdown: typeof shutdown === "string" ? () => shell(shutdown, "shutdown") : () => signal(shutdown) } : {}),
    ...(pushWebhook !== undefined ? { pushWebhook } : {}),
  };
}

/** Why a profile's hooks cannot be used, or undefined. */
export function checkProfile(profile: HookProfile): string | undefined {
  if (profile.shutdown !== undefined && typeof profile.shutdown !== "string" && profile.shutdown.pid === undefined && profile.shutdown.pidFile === undefined) {
    return 'hooks.shutdown needs a command, {"pid": N} or {"pidFile": "path"}';
  }
  if (profile.pushWebhook !== undefined) {
    let url: URL;
    try {
      url = new URL(profile.pushWebhook);
    } catch {
      return `hooks.pushWebhook is not a URL: ${profile.pushWebhook}`;
    }
    if (url.protocol !== "http:" || !isLoopback(url.hostname)) return `hooks.pushWebhook must be an http:// URL on a loopback address (HOOK-3), not ${profile.pushWebhook}`;
  }
  return undefined;
}

export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function shell(command: string, hook: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("/bin/sh", ["-c", command], { timeout: HOOK_TIMEOUT_MS }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`the ${hook} hook failed: ${stderr.trim() || error.message}`));
      else resolve();
    });
  });
}

async function signal(target: { readonly pid?: number; readonly pidFile?: string; readonly signal?: NodeJS.Signals }): Promise<void> {
  const pid = target.pid ?? Number((await readFile(target.pidFile!, "utf8")).trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`the shutdown hook's pid is not a process id: ${pid}`);
  process.kill(pid, target.signal ?? "SIGTERM");
}

/** Resolves once `url`'s host accepts a TCP connection, or rejects after `timeoutMs`. */
export async function reachable(url: string, timeoutMs: number): Promise<void> {
  const { hostname, port, protocol } = new URL(url);
  const host = hostname.replace(/^\[|\]$/g, "");
  const portNumber = Number(port || (protocol === "wss:" || protocol === "tls:" ? 443 : 80));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port: portNumber }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${url} did not accept connections within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
