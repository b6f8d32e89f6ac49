import { createSecureContext } from "node:tls";
import { ListenError, startReferenceServer, type ListenAddress, type ReferenceServer } from "../server/reference-server.js";
import { createLogger, LOG_FORMATS, LOG_LEVELS, type Logger } from "../server/logger.js";
import { serverOptions } from "../machines/server/options.js";
import { MemoryStore } from "../store/memory-store.js";
import { PostgresStore } from "../store/postgres/postgres-store.js";
import { RedisBus } from "../cluster/redis-bus.js";
import { guardCursorWatermark, type CursorWatermarkKeeper } from "../cluster/cursor-watermark.js";
import type { Store } from "../store/store.js";
import { CliError, UsageError, type CliIO } from "./io.js";
import { openJournalStore, openSqliteStore } from "./open-store.js";
import { choiceOption, integerOption, parseOptions, readOptionFile } from "./options.js";
import { resolveSecret, SECRET_FILE_HELP } from "./secret.js";

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
  --journal PATH         keep everything in memory, made durable in an append-only
                         journal file (created if missing, replayed at start): no
                         storage read on any request, so faster than SQLite, but
                         the whole state must fit in memory
  --store postgres://USER:PASSWORD@HOST:PORT/DB
                         PostgreSQL 15 as the store (a cluster's system of
                         record): any number of servers may share one database
  --bus redis://HOST:PORT  with --store postgres://: a node of a cluster, telling
                         the others of what it commits over Redis pub/sub (and
                         hearing theirs); without it, a single node on PostgreSQL
  --group-commit on|off  on (default): the requests of one event-loop turn share one
                         SQLite commit, every answer held until it; off: one commit
                         (one fsync) per request
  --fsync after-commit|in-commit  with group commit: after-commit (default) fsyncs
                         the log off the event loop while the next batch runs;
                         in-commit: each COMMIT fsyncs, blocking the loop
  --read-fan-out-members N  groups above N members store each event once, read by
                         every member's stream (default 100; channels always; CUR-7)
  --max-group-size N     the group size limit (default 200000; LIM-4)
  --max-inline-members N groups up to N list their members in each conversation,
                         larger ones are paged (default 1000, fewer under 133 KB
                         frames; LIM-9)
  --stream-retention N   a device more than N entries behind its stream's head is
                         sent a snapshot instead (default 10000; CUR-5, SYNC-4)
  --receipt-members N    read and delivery receipts name each member in
                         conversations of up to N members, counts above
                         (default 100; READ-3, RCPT-3)
  --secret TEXT          token secret (default: IMWIRE_SECRET, else the development secret)
  --secret-file PATH     ${SECRET_FILE_HELP}
  --heartbeat-ms N       welcome.heartbeat_interval_ms (default 30000)
  --max-frame-size N     welcome.max_frame_size (default 1048576)
  --receive-window N     push window per device (default 100)
  --receive-window-bytes N  push window per device in bytes (default 2097152; FLOW-2)
  --rate-limit N         requests a second per connection, bursts of 2N; twice that
                         per user across its devices (default 1000; FLOW-4)
  --push-webhook URL     POST every push hand-off to URL as JSON (SPEC.md HOOK-3),
                         instead of only logging it
  --push-webhook-secret S  sign each POST: X-Imwire-Signature t=<ms>,v1=<HMAC-SHA256
                         of "<t>.<body>"> (SPEC.md PSH-4)
  --log-level LEVEL      ${LOG_LEVELS.join(", ")} (default info)
  --log-format FORMAT    json (default): one JSON object a line on stderr, with
                         time, level, msg and fields, for jq or a log shipper;
                         text: "time LEVEL msg key=value ..." for reading
  --log-frames           log every frame in and out (direction, connection, kind,
                         request id, size) and each connection's life; never
                         field contents: no tokens, no message texts
  --verbose              the same as --log-frames
  -h, --help             show this help

Logs go to stderr; stdout stays free. Then issue a token and connect:
  imwire token --user alice --device phone
`;

const PORT_RANGE = { min: 0, max: 65_535 };
const POSITIVE = { min: 1 };

export async function serveCommand(args: string[], io: CliIO): Promise<number> {
  const { values } = parseOptions(args, {
    tcp: { type: "string", default: "127.0.0.1:5300" },
    ws: { type: "string", default: "127.0.0.1:5301" },
    "tls-key": { type: "string" },
    "tls-cert": { type: "string" },
    db: { type: "string", default: "imwire.sqlite" },
    memory: { type: "boolean", default: false },
    journal: { type: "string" },
    store: { type: "string" },
    bus: { type: "string" },
    secret: { type: "string" },
    "secret-file": { type: "string" },
    "heartbeat-ms": { type: "string" },
    "max-frame-size": { type: "string" },
    "receive-window": { type: "string" },
    "receive-window-bytes": { type: "string" },
    "rate-limit": { type: "string" },
    "push-webhook": { type: "string" },
    "push-webhook-secret": { type: "string" },
    "log-level": { type: "string" },
    "log-format": { type: "string" },
    "log-frames": { type: "boolean", default: false },
    "group-commit": { type: "string" },
    fsync: { type: "string" },
    "read-fan-out-members": { type: "string" },
    "max-group-size": { type: "string" },
    "max-inline-members": { type: "string" },
    "stream-retention": { type: "string" },
    "receipt-members": { type: "string" },
    verbose: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
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
  if (values["push-webhook-secret"] !== undefined && pushWebhook === undefined) throw new UsageError("--push-webhook-secret needs --push-webhook");
  if (pushWebhook !== undefined && !/^https?:\/\//.test(pushWebhook)) throw new UsageError(`--push-webhook takes an http:// or https:// URL, not ${pushWebhook}`);
  const heartbeatIntervalMs = integerOption(values["heartbeat-ms"], "--heartbeat-ms", undefined, POSITIVE);
  const maxFrameSize = integerOption(values["max-frame-size"], "--max-frame-size", undefined, POSITIVE);
  const receiveWindow = integerOption(values["receive-window"], "--receive-window", undefined, POSITIVE);
  const receiveWindowBytes = integerOption(values["receive-window-bytes"], "--receive-window-bytes", undefined, POSITIVE);
  const rateLimit = integerOption(values["rate-limit"], "--rate-limit", undefined, POSITIVE);
  const readFanOutMembers = integerOption(values["read-fan-out-members"], "--read-fan-out-members", undefined, POSITIVE);
  const maxGroupSize = integerOption(values["max-group-size"], "--max-group-size", undefined, POSITIVE);
  const maxInlineMembers = integerOption(values["max-inline-members"], "--max-inline-members", undefined, POSITIVE);
  const snapshotAfterEntries = integerOption(values["stream-retention"], "--stream-retention", undefined, POSITIVE);
  const readReceiptMaxMembers = integerOption(values["receipt-members"], "--receipt-members", undefined, POSITIVE);
  const protocol = {
    ...(heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs } : {}),
    ...(maxFrameSize !== undefined ? { maxFrameSize } : {}),
    ...(receiveWindow !== undefined ? { receiveWindow } : {}),
    ...(receiveWindowBytes !== undefined ? { receiveWindowBytes } : {}),
    ...(rateLimit !== undefined ? { rateLimits: rateLimits(rateLimit) } : {}),
    ...(readFanOutMembers !== undefined ? { readFanOutMembers } : {}),
    ...(maxGroupSize !== undefined ? { maxGroupSize } : {}),
    ...(maxInlineMembers !== undefined ? { maxInlineMembers } : {}),
    ...(snapshotAfterEntries !== undefined ? { snapshotAfterEntries } : {}),
    ...(readReceiptMaxMembers !== undefined ? { readReceiptMaxMembers } : {}),
  };
  try {
    serverOptions(protocol); // refused before anything is opened: a server that cannot send a valid Welcome
  } catch (error) {
    if (error instanceof RangeError) throw new UsageError(error.message);
    throw error;
  }
  const groupCommit = choiceOption(values["group-commit"], "--group-commit", ["on", "off"] as const, "on") === "on";
  const fsyncAfterCommit = choiceOption(values.fsync, "--fsync", ["after-commit", "in-commit"] as const, "after-commit") === "after-commit";
  const log = createLogger({ level: choiceOption(values["log-level"], "--log-level", LOG_LEVELS, "info"), format: choiceOption(values["log-format"], "--log-format", LOG_FORMATS, "json") });
  const tls = values["tls-key"] !== undefined ? await readTls(io, values["tls-key"], values["tls-cert"]!) : undefined;
  // Warnings wait until the server listens, so that a server that fails to start prints only its error.
  const warnings: string[] = [];
  const secret = await resolveSecret(values, (text) => warnings.push(text.trimEnd()), io.readFile);
  if (values.memory && values.journal !== undefined) throw new UsageError("give --memory or --journal, not both");
  if (values.journal !== undefined && !groupCommit) throw new UsageError("--journal needs --group-commit on: the journal is written only by group commits");
  const stores = [values.memory && "--memory", values.journal !== undefined && "--journal", values.store !== undefined && "--store"].filter(Boolean);
  if (stores.length > 1) throw new UsageError(`give one of ${stores.join(", ")}`);
  if (values.store !== undefined && !/^postgres(ql)?:\/\//.test(values.store)) throw new UsageError(`--store takes a postgres:// URL, not ${values.store}`);
  if (values.bus !== undefined && values.store === undefined) throw new UsageError("--bus needs --store postgres://…: the nodes of a cluster share one database");
  if (values.bus !== undefined && !/^rediss?:\/\//.test(values.bus)) throw new UsageError(`--bus takes a redis:// URL, not ${values.bus}`);
  const opened = await openStore(values);
  const store = opened.store;
  const renewed = opened.postgres?.epochAtOpen.renewed;
  if (renewed !== undefined) warnings.push(`the database is not the one its epoch was born in (restored from a backup, promoted, or copied): new epoch ${renewed}, devices resynchronise (CUR-4)`);
  let bus: RedisBus | undefined;
  let watermark: CursorWatermarkKeeper | undefined;
  if (values.bus !== undefined) {
    try {
      // One channel per store: clusters over other databases or schemas on the same Redis never hear each other.
      const database = decodeURIComponent(new URL(values.store!).pathname.slice(1));
      bus = await RedisBus.open(values.bus, log, `imwire:notices:${database}:${opened.postgres!.epochAtOpen.schema}`);
    } catch (error) {
      await opened.close();
      throw new CliError(`--bus: cannot reach Redis at ${values.bus}: ${(error as Error).message}`);
    }
    // CLU-4: before serving, a database restored over the same instance shows as a counter below the cluster's watermark.
    watermark = await guardCursorWatermark(opened.postgres!, values.bus, log);
  }
  let server: ReferenceServer;
  try {
    server = await startReferenceServer({
      ...(tcp ? { tcp } : {}),
      ...(ws ? { ws } : {}),
      ...(tls ? { tls } : {}),
      ...(pushWebhook ? { pushWebhook } : {}),
      ...(values["push-webhook-secret"] !== undefined ? { pushWebhookSecret: values["push-webhook-secret"] } : {}),
      store,
      secret,
      protocol,
      log,
      logFrames: values["log-frames"] || values.verbose,
      groupCommit,
      fsyncAfterCommit,
      ...(bus ? { bus } : {}),
      ...(watermark ? { afterDurableCursors: () => watermark.committed() } : {}),
    });
  } catch (error) {
    await watermark?.close();
    await bus?.close();
    await opened.close();
    if (error instanceof ListenError) throw new CliError(listenFailure(error, error.listener === "tcp" ? values.tcp : values.ws));
    throw error;
  }
  // Said once it listens: a server that fails to start prints its one error line and nothing else.
  for (const warning of warnings) log.warn(warning);
  log.info(opened.description, opened.fields);
  await untilSignalled(server, log);
  // After the drain's last commit: the watermark ends at the final counter.
  await watermark?.close();
  await bus?.close();
  await opened.close();
  return 0;
}

/** The store the flags name, with how to close it and what to log about it. */
async function openStore(values: { memory: boolean; journal?: string | undefined; store?: string | undefined; db: string }): Promise<{ store: Store; postgres?: PostgresStore; close: () => Promise<void>; description: string; fields: Readonly<Record<string, string | number | boolean | undefined>> }> {
  if (values.memory) return { store: new MemoryStore(`memory-${Date.now()}`), close: async () => {}, description: "storing in memory: everything is lost on exit", fields: { event: "store", store: "memory" } };
  if (values.store !== undefined) {
    const url = values.store;
    let postgres: PostgresStore;
    try {
      postgres = PostgresStore.open(url);
    } catch (error) {
      throw new CliError(`--store: cannot open PostgreSQL at ${redactPassword(url)}: ${(error as Error).message}`);
    }
    return { store: postgres, postgres, close: async () => postgres.close(), description: `storing in PostgreSQL at ${redactPassword(url)}`, fields: { event: "store", store: "postgres", url: redactPassword(url) } };
  }
  if (values.journal !== undefined) {
    const opened = await openJournalStore(values.journal);
    const replayed = `${opened.batches} batches replayed${opened.truncatedBytes > 0 ? `, ${opened.truncatedBytes} bytes of an unfinished last write cut off` : ""}`;
    return { store: opened.store, close: () => opened.journal.close(), description: `storing in memory and the journal ${values.journal} (${replayed})`, fields: { event: "store", store: "journal", path: values.journal, batches: opened.batches, truncatedBytes: opened.truncatedBytes } };
  }
  const sqlite = openSqliteStore(values.db);
  return { store: sqlite, close: async () => sqlite.close(), description: `storing in ${values.db}`, fields: { event: "store", store: "sqlite", path: values.db } };
}

async function untilSignalled(server: ReferenceServer, log: Logger): Promise<void> {
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      server.close(`received ${signal}`).then(resolve, (error: unknown) => {
        log.error(`shutdown failed: ${(error as Error).message}`);
        resolve();
      });
    };
    const onInt = () => stop("SIGINT");
    const onTerm = () => stop("SIGTERM");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
  });
}

/** The key and certificate, read and checked before anything listens. */
async function readTls(io: CliIO, keyPath: string, certPath: string): Promise<{ key: Buffer; cert: Buffer }> {
  const key = Buffer.from(await readOptionFile(io.readFile, keyPath, "--tls-key"));
  const cert = Buffer.from(await readOptionFile(io.readFile, certPath, "--tls-cert"));
  try {
    createSecureContext({ key, cert });
  } catch (error) {
    throw new CliError(`--tls-key/--tls-cert: not a usable key and certificate (${keyPath}, ${certPath}): ${(error as Error).message}`);
  }
  return { key, cert };
}

/** "--tcp 127.0.0.1:5300: address already in use". */
export function listenFailure(error: ListenError, flagValue: string): string {
  const flag = `--${error.listener} ${flagValue}`;
  switch (error.code) {
    case "EADDRINUSE":
      return `${flag}: address already in use`;
    case "EACCES":
      return `${flag}: permission denied (ports below 1024 need privileges)`;
    case "EADDRNOTAVAIL":
      return `${flag}: no such address on this host`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `${flag}: unknown host`;
    default:
      return `${flag}: ${(error.cause as Error).message}`;
  }
}

function parseAddress(text: string, flag: string): ListenAddress | undefined {
  if (text === "off") return undefined;
  const match = /^(.*):(\d+)$/.exec(text);
  if (!match) throw new UsageError(`${flag} takes HOST:PORT or off, not ${text}`);
  const port = Number(match[2]);
  if (port > PORT_RANGE.max) throw new UsageError(`${flag} takes a port from ${PORT_RANGE.min} to ${PORT_RANGE.max}, not ${match[2]}`);
  return { host: match[1]!.replace(/^\[|\]$/g, "") || "127.0.0.1", port };
}

/** FLOW-4 buckets from one figure: per connection N/s with bursts of 2N, per user twice that. */
function rateLimits(perSecond: number) {
  return { connection: { perSecond, burst: 2 * perSecond }, user: { perSecond: 2 * perSecond, burst: 4 * perSecond } };
}

/** A URL as it may be logged: its password replaced. */
function redactPassword(url: string): string {
  return url.replace(/^(\w+:\/\/[^:/@]*:)[^@]*@/, "$1***@");
}
