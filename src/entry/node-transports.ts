/** imwire/transports: the portable transports (as in @imwire/protocol/transports), TCP/TLS and WebSocket on Node, and dial(). */
export * from "./transports.js";
export { dial, SCHEMES, type DialOptions } from "../transport/dial.js";
export { StreamTransport } from "../transport/stream-transport.js";
export { WebSocketTransport, WS_CLOSE } from "../transport/websocket-transport.js";
