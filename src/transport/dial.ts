import { connect as connectTcp, isIP, type Socket } from "node:net";
import { connect as connectTls, type ConnectionOptions } from "node:tls";
import WebSocket from "ws";
import { MAX_MAX_FRAME_SIZE, WEBSOCKET_SUBPROTOCOL } from "../limits.js";
import type { FrameTransport } from "./frame-transport.js";
import { StreamTransport } from "./stream-transport.js";
import { WebSocketTransport } from "./websocket-transport.js";

export interface DialOptions {
  /** Give up connecting after this long. */
  readonly timeoutMs?: number;
  /** For tls:// and wss://: trusted CAs, or false to accept any certificate (tests only). */
  readonly tls?: Pick<ConnectionOptions, "ca" | "rejectUnauthorized" | "servername">;
}

/** The schemes an imwire address may use. */
export const SCHEMES = ["tcp:", "tls:", "ws:", "wss:"] as const;

/** Connect to tcp://, tls://, ws:// or wss:// and return the frame transport once it is open. */
export function dial(url: string, options: DialOptions = {}): Promise<FrameTransport> {
  const target = new URL(url);
  const timeoutMs = options.timeoutMs ?? 10_000;
  switch (target.protocol) {
    case "tcp:":
    case "tls:": {
      const host = target.hostname.replace(/^\[|\]$/g, "");
      const port = Number(target.port);
      const secure = target.protocol === "tls:";
      return new Promise((resolve, reject) => {
        const onReady = () => {
          socket.setTimeout(0);
          socket.off("error", reject);
          resolve(new StreamTransport(socket, secure ? "tls" : "tcp"));
        };
        const socket: Socket = secure
          ? // SNI names hosts, never addresses (RFC 6066 §3): Node warns (DEP0123) for an IP address.
            connectTls({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}), ...options.tls }, onReady)
          : connectTcp({ host, port }, onReady);
        socket.once("error", reject);
        socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no connection to ${url} within ${timeoutMs} ms`)));
      });
    }
    case "ws:":
    case "wss:":
      return new Promise((resolve, reject) => {
        const socket = new WebSocket(url, [WEBSOCKET_SUBPROTOCOL], {
          maxPayload: MAX_MAX_FRAME_SIZE,
          handshakeTimeout: timeoutMs,
          ...(target.protocol === "wss:" ? options.tls : {}),
        });
        socket.once("open", () => {
          socket.off("error", reject);
          if (socket.protocol !== WEBSOCKET_SUBPROTOCOL) {
            socket.close(1002);
            reject(new Error(`${url} did not agree to the ${WEBSOCKET_SUBPROTOCOL} subprotocol (WS-1)`));
            return;
          }
          resolve(new WebSocketTransport(socket, `${target.protocol.slice(0, -1)} ${target.host}`));
        });
        socket.once("error", reject);
        socket.once("unexpected-response", (_request, response) => reject(new Error(`${url} answered HTTP ${response.statusCode} to the WebSocket handshake`)));
      });
    default:
      return Promise.reject(new Error(`unsupported address ${url}: use ${SCHEMES.map((s) => `${s}//`).join(", ")}`));
  }
}
