import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ServerMachineFactory } from "../machines/server/server-machine.js";
import type { ServerOptions } from "../machines/server/options.js";
import { startReferenceServer, type ReferenceServer } from "../server/reference-server.js";
import type { Logger } from "../server/logger.js";
import { MemoryStore } from "../store/memory-store.js";
import { SqliteStore } from "../store/sqlite-store.js";
import type { Store } from "../store/store.js";
import type { OperatorHooks } from "./suite/operator-hooks.js";
import type { ProfileLimits } from "./suite/context.js";
import { PushListener } from "./suite/push-listener.js";
import { secretTokens, type TokenSource } from "./suite/tokens.js";

/**
 * The limits the embedded server announces: the smallest frames and the
 * shortest heartbeat the spec allows (LIM-1, LIM-6), and a small window, so
 * that limits, timeouts and flow control are reached in seconds. The limits
 * welcome does not carry are small too, so that groups reach them with a
 * handful of users: a group is under read fan-out above 4 members (CUR-7,
 * CUR-8), gets counts only for its receipts above 4 (RCPT-3 to RCPT-5),
 * paged above 8 (LIM-9, CONV-10), full at 40 (LIM-4).
 */
export const EMBEDDED_PROTOCOL: Partial<ServerOptions> = {
  heartbeatIntervalMs: 1_000,
  receiveWindow: 8,
  maxFrameSize: 65_536,
  drainTimeoutMs: 500,
  handshakeTimeoutMs: 2_000,
  snapshotAfterEntries: 100,
  maxGroupSize: 40,
  maxInlineMembers: 8,
  readFanOutMembers: 4,
  readReceiptMaxMembers: 4,
};

/**
 * What the embedded server's profile declares (Appendix C): the values set
 * above, which it runs with, so the profile can neither promise a limit the
 * server does not enforce nor miss one it does.
 */
export const EMBEDDED_LIMITS: ProfileLimits = limitsOf({});

export interface EmbeddedServerOptions {
  /** "sqlite" (the default, as imwire serve runs: in a temporary file, so it can be restarted) or "memory". */
  readonly store?: "sqlite" | "memory";
  readonly log?: Logger;
  /** Serve TLS (tls:// and wss://) with this key and certificate. */
  readonly tls?: { readonly key: Buffer | string; readonly cert: Buffer | string };
  /** Overrides of EMBEDDED_PROTOCOL. */
  readonly protocol?: Partial<ServerOptions>;
  /** Makes the server machine (the runner's self-tests plant bugs through it). */
  readonly machine?: ServerMachineFactory;
}

/** The reference server the runner starts in its own process when given no target, with every operator hook wired. */
export interface EmbeddedServer {
  readonly urls: readonly string[];
  readonly tokens: TokenSource;
  readonly hooks: OperatorHooks;
  readonly pushes: PushListener;
  readonly limits: ProfileLimits;
  close(): Promise<void>;
}

/**
 * Start the reference server on free loopback ports (TCP and WebSocket),
 * with a webhook listener for its push hand-offs and, on SQLite, restart and
 * shutdown hooks: a restart cuts every connection at once (as a crash would),
 * closes the database and opens it again.
 */
export async function startEmbeddedServer(options: EmbeddedServerOptions = {}): Promise<EmbeddedServer> {
  const secret = randomBytes(24);
  const dir = mkdtempSync(join(tmpdir(), "imwire-conformance-"));
  const path = join(dir, "imwire.sqlite");
  const kind = options.store ?? "sqlite";
  const pushes = await PushListener.start("http://127.0.0.1:0/imwire-push");
  const ports: { tcp: number; ws: number } = { tcp: 0, ws: 0 };
  let store: Store & { close?: () => void } = kind === "sqlite" ? new SqliteStore(path) : new MemoryStore(`embedded-${randomBytes(4).toString("hex")}`);
  const start = async () => {
    const server = await startReferenceServer({
      tcp: { port: ports.tcp },
      ws: { port: ports.ws },
      store,
      secret,
      protocol: { ...EMBEDDED_PROTOCOL, ...options.protocol },
      pushWebhook: pushes.url,
      ...(options.tls ? { tls: options.tls } : {}),
      ...(options.machine ? { machine: options.machine } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
    ports.tcp = Number(new URL(server.urls.tcp!).port);
    ports.ws = Number(new URL(server.urls.ws!).port);
    return server;
  };
  let server: ReferenceServer = await start();
  const urls = [server.urls.tcp!, server.urls.ws!];
  /** The shutdown in progress, which a restart waits for. */
  let stopping: Promise<void> | undefined;
  const stop = async () => {
    await (stopping ?? server.kill());
    stopping = undefined;
    store.close?.();
  };
  const hooks: OperatorHooks =
    kind === "sqlite"
      ? {
          restart: async () => {
            await stop();
            store = new SqliteStore(path);
            server = await start();
          },
          shutdown: async () => {
            stopping ??= server.close("shutdown hook");
          },
          pushWebhook: pushes.url,
        }
      : { pushWebhook: pushes.url };
  return {
    urls,
    tokens: secretTokens(secret),
    hooks,
    pushes,
    limits: limitsOf(options.protocol ?? {}),
    async close() {
      await (stopping ?? server.close("conformance run finished"));
      store.close?.();
      await pushes.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The profile limits of the embedded server run with `overrides` of EMBEDDED_PROTOCOL. */
function limitsOf(overrides: Partial<ServerOptions>): ProfileLimits {
  const options = { ...EMBEDDED_PROTOCOL, ...overrides };
  return {
    maxGroupSize: options.maxGroupSize!,
    streamRetentionEntries: options.snapshotAfterEntries!,
    readFanOutMembers: options.readFanOutMembers!,
    maxInlineMembers: options.maxInlineMembers!,
    receiptMembers: options.readReceiptMaxMembers!,
  };
}
