import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { startReferenceServer, type ListenAddress } from "../server/reference-server.js";
import { stderrLogger } from "../server/logger.js";
import { serverOptions } from "../machines/server/options.js";
import { MemoryStore } from "../store/memory-store.js";
import { SqliteStore } from "../store/sqlite-store.js";
import type { Store } from "../store/store.js";
import { UsageError, type CliIO } from "./io.js";
import { resolveSecret } from "./secret.js";

export const serveHelp = `Usage: imwire serve [options]

Run the imwire reference server: the server state machine over TCP
(length-prefixed frames) and WebSocket (subprotocol imwire.v1), storing
everything in an embedded SQLite file, so acknowledged messages survive a
restart. Stops gracefully on SIGINT or SIGTERM: clients get go_away. (Under
npx, npm runs the command through sh, which does not pass SIGTERM on: run
node_modules/.bin/imwire serve, as a process manager would, to stop it so.)

Options:
  --tcp HOST:PORT        TCP listen address (default 127.0.0.1:5300); "off" disables
  --ws HOST:PORT         WebSocket listen address (default 127.0.0.1:5301); "off" disables
  --tls-key PATH         serve TLS (tls:// and wss://) with this key...
  --tls-cert PATH        ...and this certificate
  --db PATH              SQLite file (default imwire.sqlite); created if missing
  --memory               keep everything in memory instead (lost on exit)
  --secret TEXT          token secret (default: IMWIRE_SECRET, else the development secret)
  --secret-file PATH     read the token secret from a file
  --heartbeat-ms N       welcome.heartbeat_interval_ms (default 30000)
  --max-frame-size N     welcome.max_frame_size (default 1048576)
  --receive-window N     push window per device (default 100)
  --receive-window-bytes N  push window per device in bytes (default 2097152; FLOW-2)
  --rate-limit N         requests a second per connection, bursts of 2N; twice that
                         per user across its devices (default 1000; FLOW-4)
  --push-webhook URL     POST every push hand-off to URL as JSON (SPEC.md HOOK-3),
                         instead of only logging it
  -h, --help             show this help

Then issue a token and connect:
  imwire token --user alice --device phone
`;

export async function serveCommand(args: string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      tcp: { type: "string", default: "127.0.0.1:5300" },
      ws: { type: "string", default: "127.0.0.1:5301" },
      "tls-key": { type: "string" },
      "tls-cert": { type: "string" },
      db: { type: "string", default: "imwire.sqlite" },
      memory: { type: "boolean", default: false },
      secret: { type: "string" },
      "secret-file": { type: "string" },
      "heartbeat-ms": { type: "string" },
      "max-frame-size": { type: "string" },
      "receive-window": { type: "string" },
      "receive-window-bytes": { type: "string" },
      "rate-limit": { type: "string" },
      "push-webhook": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.writeOut(serveHelp);
    return 0;
  }
  if ((values["tls-key"] === undefined) !== (values["tls-cert"] === undefined)) throw new UsageError("give both --tls-key and --tls-cert, or neither");
  const tcp = parseAddress(values.tcp, "--tcp");
  const ws = parseAddress(values.ws, "--ws");
  if (!tcp && !ws) throw new UsageError("nothing to listen on: --tcp and --ws are both off");
  const pushWebhook = values["push-webhook"];
  if (pushWebhook !== undefined && !/^https?:\/\//.test(pushWebhook)) throw new UsageError(`--push-webhook takes an http:// or https:// URL, not ${pushWebhook}`);
  const protocol = {
    ...(values["heartbeat-ms"] ? { heartbeatIntervalMs: positive(values["heartbeat-ms"], "--heartbeat-ms") } : {}),
    ...(values["max-frame-size"] ? { maxFrameSize: positive(values["max-frame-size"], "--max-frame-size") } : {}),
    ...(values["receive-window"] ? { receiveWindow: positive(values["receive-window"], "--receive-window") } : {}),
    ...(values["receive-window-bytes"] ? { receiveWindowBytes: positive(values["receive-window-bytes"], "--receive-window-bytes") } : {}),
    ...(values["rate-limit"] ? { rateLimits: rateLimits(positive(values["rate-limit"], "--rate-limit")) } : {}),
  };
  try {
    serverOptions(protocol); // refused before anything is opened: a server that cannot send a valid Welcome
  } catch (error) {
    if (error instanceof RangeError) throw new UsageError(error.message);
    throw error;
  }
  const tls = values["tls-key"] ? { key: await readFile(values["tls-key"]), cert: await readFile(values["tls-cert"]!) } : undefined;
  const secret = await resolveSecret(values, (text) => stderrLogger.warn(text.trimEnd()));
  const store: Store & { close?: () => void } = values.memory ? new MemoryStore(`memory-${Date.now()}`) : new SqliteStore(values.db);
  stderrLogger.info(values.memory ? "storing in memory: everything is lost on exit" : `storing in ${values.db}`);
  const server = await startReferenceServer({ ...(tcp ? { tcp } : {}), ...(ws ? { ws } : {}), ...(tls ? { tls } : {}), ...(pushWebhook ? { pushWebhook } : {}), store, secret, protocol, log: stderrLogger });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      server.close(`received ${signal}`).then(resolve, resolve);
    };
    const onInt = () => stop("SIGINT");
    const onTerm = () => stop("SIGTERM");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
  });
  store.close?.();
  return 0;
}

function parseAddress(text: string, flag: string): ListenAddress | undefined {
  if (text === "off") return undefined;
  const match = /^(.*):(\d+)$/.exec(text);
  if (!match) throw new UsageError(`${flag} takes HOST:PORT or off, not ${text}`);
  return { host: match[1]!.replace(/^\[|\]$/g, "") || "127.0.0.1", port: Number(match[2]) };
}

function positive(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} takes a positive integer, not ${text}`);
  return n;
}

/** FLOW-4 buckets from one figure: per connection N/s with bursts of 2N, per user twice that. */
function rateLimits(perSecond: number) {
  return { connection: { perSecond, burst: 2 * perSecond }, user: { perSecond: 2 * perSecond, burst: 4 * perSecond } };
}
