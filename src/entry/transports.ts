/**
 * imwire/transports and @imwire/protocol/transports: the connection a runner
 * drives a machine over, the WebSocket transport on any WHATWG WebSocket (the
 * browser's, Node 22's, ws's), and two transports joined in memory for
 * deterministic tests. Portable: TCP, TLS and the ws-based server-side
 * WebSocket transport (Node) are added by imwire/transports.
 */
export type { FrameTransport } from "../transport/frame-transport.js";
export { connectWebSocket, type ConnectWebSocketOptions, type WebSocketConstructor, type WebSocketLike } from "../transport/browser-websocket.js";
export { memoryLink, MemoryTransport, type DelayScheduler, type MemoryLinkOptions } from "../runtime/memory-link.js";
