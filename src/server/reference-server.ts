import { randomBytes, randomUUID } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createTcpServer, type AddressInfo, type Server as NetServer, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { verifyToken } from "../auth/hmac-token.js";
import { newServerMachine, type ServerMachineFactory } from "../machines/server/server-machine.js";
import type { ServerOptions } from "../machines/server/options.js";
import type { Store } from "../store/store.js";
import { WriteBehindStore } from "../store/write-behind-store.js";
import { HANDSHAKE_MAX_FRAME_SIZE, WEBSOCKET_SUBPROTOCOL } from "../limits.js";
import { StreamTransport } from "../transport/stream-transport.js";
import type { FrameTransport } from "../transport/frame-transport.js";
import { WebSocketTransport } from "../transport/websocket-transport.js";
import { FrameLoggingTransport } from "./frame-log.js";
import { CommitGate, isBatchingStore } from "./commit-gate.js";
import type { ClusterBus } from "../cluster/cluster-bus.js";
import type { ClusterNotice } from "../machines/server/cluster-notices.js";
import { silentLogger, type Logger } from "./logger.js";
import { PushWebhook } from "./push-webhook.js";
import { ServerRunner } from "./server-runner.js";

/** How long a node of a cluster keeps a group-commit batch open across inputs (the writer lock is held meanwhile). */
const MAX_CLUSTER_BATCH_MS = 5;

export interface ListenAddress {
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port: number;
}

export interface ReferenceServerOptions {
  /** Listen for length-prefixed frames over TCP (TLS when `tls` is set). */
  readonly tcp?: ListenAddress;
  /** Listen for WebSocket connections (wss when `tls` is set). */
  readonly ws?: ListenAddress & { readonly path?: string };
  readonly tls?: { readonly key: Buffer | string; readonly cert: Buffer | string };
  readonly store: Store;
  /** The HMAC secret tokens are signed with (AUTH-2). */
  readonly secret: string | Buffer;
  readonly protocol?: Partial<ServerOptions>;
  /** Makes the machine (default: ServerMachine); the conformance runner's self-tests plant bugs through it. */
  readonly machine?: ServerMachineFactory;
  readonly log?: Logger;
  /** FLOW-3: stop reading from a connection with more unsent bytes than this (default twice max_frame_size). */
  readonly pauseReadingAbove?: number;
  /** POST every push hand-off to this URL as JSON (SPEC.md HOOK-3) instead of only logging it. */
  readonly pushWebhook?: string;
  /** PSH-4: sign each webhook POST with this secret. */
  readonly pushWebhookSecret?: string;
  /** Log every frame in and out, and each connection's life, without field contents (`imwire serve --log-frames`). */
  readonly logFrames?: boolean;
  /**
   * Group commit (default: on, for a store that can batch, such as SqliteStore): requests of one event-loop
   * turn share one durable commit, and what depends on them is held until it (commit-gate.ts). Off: one commit
   * per request, as a store without batches does anyway.
   */
  readonly groupCommit?: boolean;
  /**
   * With group commit on a store that can (SqliteStore on a file): commit without waiting for the disk and
   * fsync off the event loop, the next batch filling meanwhile; frames still wait for the fsync. Default on;
   * off, each batch's COMMIT fsyncs, blocking the loop.
   */
  readonly fsyncAfterCommit?: boolean;
  /**
   * CLU-1, CLU-2: this server is one node of a cluster sharing `store` (PostgreSQL) with the others: it tells
   * them, on `bus`, of the positions it commits, and pushes to its own devices what they commit.
   */
  readonly bus?: ClusterBus;
  /** With `bus`: told once a commit that handed out cursors is durable, as its notice goes out (CLU-4: the cursor watermark follows it). */
  readonly afterDurableCursors?: () => void;
}

/** A listener that could not start: which one, where, and the system's code (EADDRINUSE, EACCES, ...). */
export class ListenError extends Error {
  override readonly name = "ListenError";
  constructor(
    readonly listener: "tcp" | "ws",
    readonly address: ListenAddress,
    readonly code: string | undefined,
    cause: unknown,
  ) {
    super(`cannot listen for ${listener} on ${address.host ?? "127.0.0.1"}:${address.port}: ${(cause as Error).message}`, { cause });
  }
}

export interface ReferenceServer {
  /** The URLs clients connect to, for example tcp://127.0.0.1:5300 and ws://127.0.0.1:5301/. */
  readonly urls: { readonly tcp?: string; readonly ws?: string };
  readonly runner: ServerRunner;
  /** The commit gate, when group commit is on: `commits` counts the batches made durable. */
  readonly gate: CommitGate | undefined;
  /** Graceful shutdown: go_away, drain, stop listening. */
  close(reason?: string): Promise<void>;
  /** Stop as a crash would: stop listening, cut every connection at once, no go_away. */
  kill(): Promise<void>;
}

/** The reference server: the server machine over TCP/TLS and WebSocket, on a real clock. */
export async function startReferenceServer(options: ReferenceServerOptions): Promise<ReferenceServer> {
  const log = options.log ?? silentLogger;
  const machine = (options.machine ?? newServerMachine)(
    {
      store: options.store,
      verifyToken: (token, now) => verifyToken(token, options.secret, now),
      // SEC-6: 96 random bits, 16 characters.
      randomId: () => randomBytes(12).toString("base64url"),
    },
    { ...options.protocol, ...(options.bus ? { clusterNotices: true, clusterNodeId: randomUUID() } : {}) },
  );
  const bus = options.bus;
  const published = (notice: ClusterNotice) => {
    bus!.publish(notice);
    options.afterDurableCursors?.();
  };
  const runner = new ServerRunner(machine, {
    log,
    ...(options.pauseReadingAbove !== undefined ? { pauseReadingAbove: options.pauseReadingAbove } : {}),
    ...(options.pushWebhook !== undefined ? { pushWebhook: new PushWebhook(options.pushWebhook, log, options.pushWebhookSecret) } : {}),
    // CLU-2: a notice names positions, so it goes once they are durable, lest another node read before the commit.
    // A node of a cluster holds the cluster's writer lock while its batch is open: at most a few milliseconds of requests share one.
    ...(bus ? { afterInput: () => gate?.commitIfOpenFor(MAX_CLUSTER_BATCH_MS) } : {}),
    ...(bus ? { clusterNotice: (notice) => (gate ? gate.afterDurable(() => published(notice)) : published(notice)) } : {}),
  });
  bus?.subscribe((notice) => runner.remoteNotice(notice));
  const listeners: (NetServer | HttpServer)[] = [];
  const urls: { tcp?: string; ws?: string } = {};
  const secure = options.tls !== undefined;
  let connections = 0;
  // A write-behind store has no durability of its own without the gate: its writes reach storage only through commits.
  if (options.groupCommit === false && options.store instanceof WriteBehindStore) throw new Error("a write-behind store (the journal) needs group commit: it has no commit of its own");
  const gate = options.groupCommit !== false && isBatchingStore(options.store) ? new CommitGate(options.store, log, { fsyncAfterCommit: options.fsyncAfterCommit !== false }) : undefined;
  const accepted = (transport: FrameTransport): FrameTransport => {
    const logged = options.logFrames ? new FrameLoggingTransport(transport, log, ++connections) : transport;
    return gate ? gate.wrap(logged) : logged;
  };
  const stopListening = () =>
    Promise.all(
      listeners.map((listener) => {
        const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
        (listener as { closeAllConnections?: () => void }).closeAllConnections?.();
        return closed;
      }),
    );
  // A listener that fails to start must not leave the others open: the process would never exit.
  const listenOrUnwind = async (listener: "tcp" | "ws", server: NetServer | HttpServer, address: ListenAddress): Promise<AddressInfo> => {
    try {
      return await listen(server, address);
    } catch (error) {
      await stopListening();
      throw new ListenError(listener, address, (error as { code?: string }).code, error);
    }
  };

  if (options.tcp) {
    const accept = (socket: Socket) => runner.attach(accepted(new StreamTransport(socket, secure ? "tls" : "tcp")));
    const server = secure ? createTlsServer({ key: options.tls!.key, cert: options.tls!.cert, handshakeTimeout: machine.options.handshakeTimeoutMs }, accept) : createTcpServer(accept);
    const address = await listenOrUnwind("tcp", server, options.tcp);
    listeners.push(server);
    urls.tcp = `${secure ? "tls" : "tcp"}://${hostForUrl(address)}:${address.port}`;
  }

  if (options.ws) {
    const path = options.ws.path ?? "/";
    // The pre-welcome limit from the first byte (FRM-5, WS-4); the transport raises it after welcome.
    const wss = new WebSocketServer({ noServer: true, maxPayload: HANDSHAKE_MAX_FRAME_SIZE, handleProtocols: (offered) => (offered.has(WEBSOCKET_SUBPROTOCOL) ? WEBSOCKET_SUBPROTOCOL : false) });
    const http = secure ? createHttpsServer({ key: options.tls!.key, cert: options.tls!.cert, handshakeTimeout: machine.options.handshakeTimeoutMs }) : createHttpServer();
    http.on("request", (_request, response) => {
      response.writeHead(426, { "content-type": "text/plain", upgrade: "websocket" }).end(`imwire: connect with WebSocket, subprotocol ${WEBSOCKET_SUBPROTOCOL}\n`);
    });
    // CONN-6 from the first byte: an HTTP upgrade dribbled in slowly is cut at the handshake limit, as any other pre-hello stall.
    const upgrades = new WeakMap<Duplex, { readonly openedAt: number; readonly timer: NodeJS.Timeout }>();
    const handshakeTimeoutMs = machine.options.handshakeTimeoutMs;
    http.on(secure ? "secureConnection" : "connection", (socket: Duplex) => {
      upgrades.set(socket, { openedAt: Date.now(), timer: setTimeout(() => socket.destroy(), handshakeTimeoutMs).unref() });
    });
    http.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const upgrade = upgrades.get(socket);
      clearTimeout(upgrade?.timer);
      const offered = String(request.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim());
      if (new URL(request.url ?? "/", "http://x").pathname !== path || !offered.includes(WEBSOCKET_SUBPROTOCOL)) {
        // WS-1: refuse the handshake without the imwire subprotocol.
        socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nimwire: offer the WebSocket subprotocol ${WEBSOCKET_SUBPROTOCOL}\r\n`);
        return;
      }
      wss.handleUpgrade(request, socket, head, (ws) => {
        const remote = `${request.socket.remoteAddress ?? "?"}:${request.socket.remotePort ?? "?"}`;
        // The machine's CONN-6 deadline counts from the TCP connection, not from the end of the upgrade.
        runner.attach(accepted(new WebSocketTransport(ws, `${secure ? "wss" : "ws"} ${remote}`)), upgrade?.openedAt);
      });
    });
    const address = await listenOrUnwind("ws", http, options.ws);
    listeners.push(http);
    urls.ws = `${secure ? "wss" : "ws"}://${hostForUrl(address)}:${address.port}${path}`;
  }

  for (const url of Object.values(urls)) log.info(`imwire server listening on ${url}`, { event: "listening", url });
  let closing: Promise<void> | undefined;
  return {
    urls,
    runner,
    gate,
    kill() {
      closing ??= (async () => {
        log.info("killed: every connection cut");
        const stopped = stopListening();
        gate?.discard();
        runner.abort();
        await stopped;
      })();
      return closing;
    },
    close(reason = "server shutting down") {
      closing ??= (async () => {
        log.info(`shutting down: ${reason}`);
        for (const listener of listeners) listener.close();
        await runner.shutdown(reason);
        // What the drain wrote is made durable before the caller closes the store.
        await gate?.flush();
        for (const listener of listeners) (listener as { closeAllConnections?: () => void }).closeAllConnections?.();
        log.info("stopped");
      })();
      return closing;
    },
  };
}

function listen(server: NetServer | HttpServer, address: ListenAddress): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function hostForUrl(address: AddressInfo): string {
  return address.family === "IPv6" ? `[${address.address}]` : address.address;
}
