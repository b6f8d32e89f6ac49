import { decodeFrame, encodeFrame } from "../codec/frame-codec.js";
import { ImwireError, isImwireError } from "../errors.js";
import { ErrorCode } from "../gen/imwire/v1/error_pb.js";
import type { Frame } from "../gen/imwire/v1/frame_pb.js";
import { HANDSHAKE_MAX_FRAME_SIZE, WEBSOCKET_SUBPROTOCOL } from "../limits.js";
import { afterDelay } from "../runtime/wakeup-timer.js";
import { checkOutgoingSize, unassigned, type FrameTransport } from "./frame-transport.js";

/**
 * A handler property typed so that the DOM's WebSocket, Node 22's global one
 * and the ws package's all fit: each declares its own event class, and a
 * method-derived function type is compared bivariantly, so the narrow event
 * this module reads is enough.
 */
type Handler<Event> = { bivariant(event: Event): void }["bivariant"] | null;

/** The part of a WHATWG WebSocket this transport uses, declared here so that it needs no DOM types. */
export interface WebSocketLike {
  readonly protocol: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  binaryType: string;
  onopen: Handler<unknown>;
  onmessage: Handler<{ readonly data: unknown }>;
  onerror: Handler<unknown>;
  onclose: Handler<{ readonly code: number; readonly reason: string }>;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  /** ws's abrupt cut; the WHATWG API has none. */
  terminate?(): void;
}

/** A WHATWG WebSocket constructor: the browser's `WebSocket`, Node 22's global one, or `ws`'s. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export interface ConnectWebSocketOptions {
  /** The WebSocket class to use (default: globalThis.WebSocket). */
  readonly WebSocket?: WebSocketConstructor;
  /** The frame size limit in force until setMaxFrameSize (default 65,536 until welcome, FRM-5). */
  readonly maxFrameSize?: number;
  /** Give up opening after this long (default 10 s). */
  readonly timeoutMs?: number;
}

/** WebSocket readyState values (WHATWG, fixed by the standard). */
const OPEN = 1;

/** RFC 6455 §7.4.1 close codes this transport uses. */
const CLOSE = { normal: 1000, protocolError: 1002, unsupportedData: 1003, tooBig: 1009 } as const;

/**
 * Open an imwire connection over a WHATWG WebSocket (WS-1, WS-2). Resolves
 * once the server has agreed to the `imwire.v1` subprotocol; rejects with an
 * ImwireError: INVALID_ARGUMENT for an address the WebSocket refuses,
 * UNAVAILABLE for a server that cannot be reached in time, PROTOCOL_VIOLATION
 * (WS-1) for one that did not select the subprotocol.
 */
export function connectWebSocket(url: string, options: ConnectWebSocketOptions = {}): Promise<FrameTransport> {
  const WebSocketClass = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!WebSocketClass) return Promise.reject(new ImwireError(ErrorCode.INVALID_ARGUMENT, "no WebSocket class here: pass one as options.WebSocket"));
  let socket: WebSocketLike;
  try {
    socket = new WebSocketClass(url, [WEBSOCKET_SUBPROTOCOL]);
  } catch (error) {
    return Promise.reject(new ImwireError(ErrorCode.INVALID_ARGUMENT, `cannot open a WebSocket to ${url}: ${error instanceof Error ? error.message : String(error)}`));
  }
  socket.binaryType = "arraybuffer";
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const fail = (error: ImwireError) => {
      cancelTimeout();
      socket.onopen = socket.onerror = socket.onclose = null;
      reject(error);
    };
    const cancelTimeout = afterDelay(timeoutMs, () => {
      fail(new ImwireError(ErrorCode.UNAVAILABLE, `no WebSocket connection to ${url} within ${timeoutMs} ms`));
      closeWith(socket, CLOSE.normal, "connection timed out");
    });
    // The WHATWG API says nothing about why (no status, no errno): the close code is all there is.
    socket.onerror = () => fail(new ImwireError(ErrorCode.UNAVAILABLE, `cannot connect to ${url}`));
    socket.onclose = (event) => fail(new ImwireError(ErrorCode.UNAVAILABLE, `cannot connect to ${url} (WebSocket close ${event.code})`));
    socket.onopen = () => {
      if (socket.protocol !== WEBSOCKET_SUBPROTOCOL) {
        fail(new ImwireError(ErrorCode.PROTOCOL_VIOLATION, `${url} did not agree to the ${WEBSOCKET_SUBPROTOCOL} subprotocol`, { requirement: "WS-1" }));
        closeWith(socket, CLOSE.protocolError, "WS-1: no imwire.v1 subprotocol");
        return;
      }
      cancelTimeout();
      resolve(new BrowserWebSocketTransport(socket, describe(url), options.maxFrameSize ?? HANDSHAKE_MAX_FRAME_SIZE));
    };
  });
}

/** What a message turned out to be, handed over in arrival order, or held while reading is paused. */
type Arrival = { readonly frame: Frame; readonly size: number } | { readonly error: ImwireError; readonly closeCode?: number };

/**
 * Frames over a WHATWG WebSocket: one binary message per frame, no length
 * prefix (WS-2). The API hands over whole messages only, so the limit in
 * force can be checked only once a message has arrived, not from its header
 * (WS-4's SHOULD is beyond a browser), and onProgress is never called: a
 * frame still arriving is invisible until it lands.
 */
class BrowserWebSocketTransport implements FrameTransport {
  onFrame: FrameTransport["onFrame"] = unassigned.onFrame;
  onInputError: FrameTransport["onInputError"] = unassigned.onInputError;
  onClose: FrameTransport["onClose"] = unassigned.onClose;
  onProgress: FrameTransport["onProgress"] = unassigned.onProgress;
  readonly description: string;
  readonly #socket: WebSocketLike;
  #maxFrameSize: number;
  #accepted = 0;
  #closed = false;
  /** A message was refused (WS-3, WS-4): nothing after it is read, and the close carries its code. */
  #rejectedWith: number | undefined;
  #paused = false;
  /**
   * The WHATWG API cannot stop reading (there is no backpressure on
   * receive), so pausing holds what arrives here, decoded, instead of in the
   * network.
   */
  readonly #held: Arrival[] = [];

  constructor(socket: WebSocketLike, description: string, maxFrameSize: number) {
    this.#socket = socket;
    this.description = description;
    this.#maxFrameSize = maxFrameSize;
    socket.onmessage = (event) => this.#arrived(event.data);
    // An error is always followed by close, which is what the owner hears of.
    socket.onerror = () => {};
    socket.onclose = () => {
      if (this.#closed) return;
      this.#closed = true;
      this.#held.length = 0;
      this.onClose();
    };
  }

  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }

  /**
   * What was sent less what the socket still buffers: bytes handed to the
   * network, not read by the peer. Browsers update bufferedAmount when their
   * network thread has taken the data, so this grows in steps, and never past
   * what the operating system accepted.
   */
  get flushedBytes(): number {
    return this.#accepted - this.#socket.bufferedAmount;
  }

  send(frame: Frame): void {
    if (this.#socket.readyState !== OPEN) return;
    const payload = encodeFrame(frame);
    checkOutgoingSize(payload.length, this.#maxFrameSize);
    this.#accepted += payload.length;
    this.#socket.send(payload);
  }

  close(): void {
    const code = this.#rejectedWith ?? CLOSE.normal;
    closeWith(this.#socket, code, code === CLOSE.normal ? "" : `imwire: close ${code}`);
  }

  /** Only ws can cut a socket; a WHATWG WebSocket closes, and nothing more reaches the owner either way. */
  destroy(): void {
    this.#held.length = 0;
    this.#paused = true;
    if (this.#socket.terminate) this.#socket.terminate();
    else closeWith(this.#socket, CLOSE.normal, "");
  }

  setMaxFrameSize(size: number): void {
    this.#maxFrameSize = size;
  }

  pauseReading(): void {
    this.#paused = true;
  }

  resumeReading(): void {
    if (!this.#paused || this.#closed) return;
    this.#paused = false;
    while (!this.#paused && this.#held.length > 0) this.#handOver(this.#held.shift()!);
  }

  #arrived(data: unknown): void {
    if (this.#closed || this.#rejectedWith !== undefined) return;
    const arrival = this.#read(data);
    if ("error" in arrival && arrival.closeCode !== undefined) this.#rejectedWith = arrival.closeCode;
    if (this.#paused) this.#held.push(arrival);
    else this.#handOver(arrival);
  }

  #read(data: unknown): Arrival {
    if (typeof data === "string") return { error: new ImwireError(ErrorCode.MALFORMED_FRAME, "text WebSocket messages carry no imwire frame", { requirement: "WS-3" }), closeCode: CLOSE.unsupportedData };
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : undefined;
    // A Blob: a WebSocket whose binaryType someone changed back. Its bytes are out of reach synchronously, and order matters.
    if (!bytes) return { error: new ImwireError(ErrorCode.INTERNAL, "a binary message arrived as neither ArrayBuffer nor bytes: binaryType must stay \"arraybuffer\""), closeCode: CLOSE.unsupportedData };
    if (bytes.length > this.#maxFrameSize) {
      return { error: new ImwireError(ErrorCode.FRAME_TOO_LARGE, `message of ${bytes.length} bytes exceeds ${this.#maxFrameSize}`, { requirement: "WS-4" }), closeCode: CLOSE.tooBig };
    }
    try {
      return { frame: decodeFrame(bytes), size: bytes.length };
    } catch (error) {
      if (!isImwireError(error)) throw error;
      return { error };
    }
  }

  #handOver(arrival: Arrival): void {
    if ("frame" in arrival) return this.onFrame(arrival.frame, arrival.size);
    // The owner answers with an error frame and closes; a refused message closes even if it does not (WS-3, WS-4).
    this.onInputError(arrival.error);
    if (arrival.closeCode !== undefined) this.close();
  }
}

/**
 * Close with `code`, or with 1000 where the API forbids it: the WHATWG
 * close() accepts only 1000 and 3000 to 4999, so a browser cannot send WS-3's
 * 1003 or WS-4's 1009 (ws can); the error frame sent before says why.
 */
function closeWith(socket: WebSocketLike, code: number, reason: string): void {
  try {
    socket.close(code, reason);
  } catch {
    socket.close(CLOSE.normal, reason);
  }
}

/** "ws host:port", "wss host", as the Node transports describe themselves. */
function describe(url: string): string {
  const match = /^(wss?):\/\/([^/?#]*)/i.exec(url);
  return match ? `${match[1]!.toLowerCase()} ${match[2]}` : url;
}
