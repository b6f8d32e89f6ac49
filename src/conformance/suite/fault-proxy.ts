import { createServer, connect, type AddressInfo, type Server, type Socket } from "node:net";
import WebSocket, { WebSocketServer } from "ws";
import type { Frame } from "../../gen/imwire/v1/frame_pb.js";
import { decodeFrame } from "../../codec/frame-codec.js";
import { FrameSplitter } from "../../framing/frame-splitter.js";
import { withLengthPrefix } from "../../framing/length-prefix.js";
import { MAX_MAX_FRAME_SIZE, WEBSOCKET_SUBPROTOCOL } from "../../limits.js";
import type { Random } from "../../sim/random.js";
import { describe, type Transcript } from "./scripted-connection.js";

/**
 * An amount a fault uses: an exact value, an exact list used in turn, or a
 * seeded random value from 1 (0 for delays) up to `randomUpTo`.
 */
export type Amount = number | readonly number[] | { readonly randomUpTo: number };

/** Faults applied to one direction of every connection through the proxy. Frame indexes count from 0. */
export interface DirectionFaults {
  /** Byte streams: write each frame in pieces of this many bytes. */
  readonly split?: Amount;
  /** Byte streams: gather what arrives for this many ms and forward it in one write. */
  readonly coalesceMs?: Amount;
  /** Forward this many bytes, then cut the connection (byte streams: possibly inside a frame). */
  readonly truncateAfterBytes?: number;
  /** Frames to drop: an exact list of indexes, or each with a seeded probability. */
  readonly drop?: readonly number[] | { readonly probability: number };
  /** Delay every frame by this many ms (kept in order). */
  readonly delayMs?: Amount;
  /** Hold frames this says yes to until release() is called. */
  readonly hold?: (frame: Frame, index: number) => boolean;
  /** Cut the connection (both sides) after forwarding this many frames. */
  readonly cutAfterFrames?: number;
  /** After this many frames, forward nothing more and close nothing: a black hole. */
  readonly blackholeAfterFrames?: number;
}

export interface FaultPlan {
  /** Client → server. */
  readonly upstream?: DirectionFaults;
  /** Server → client. */
  readonly downstream?: DirectionFaults;
}

/** The next value of an amount; `floor` is the smallest random value. */
function take(amount: Amount, random: Random, turn: number, floor: number): number {
  if (typeof amount === "number") return amount;
  if (Array.isArray(amount)) return amount[turn % amount.length]!;
  return floor + random.int((amount as { randomUpTo: number }).randomUpTo - floor + 1);
}

/** One direction of one proxied connection. */
class Pipe {
  #turn = 0;
  #index = 0;
  #bytes = 0;
  #held: Uint8Array[] = [];
  #queue = Promise.resolve();
  #gathered: Uint8Array[] = [];
  #gatherTimer: NodeJS.Timeout | undefined;
  #dead = false;

  constructor(
    readonly label: string,
    readonly faults: DirectionFaults,
    readonly random: Random,
    readonly write: (bytes: Uint8Array) => void,
    readonly cut: () => void,
    readonly byteStream: boolean,
    readonly transcript: Transcript,
  ) {}

  /** A whole frame payload arrived from one side. */
  frame(payload: Uint8Array): void {
    if (this.#dead) return;
    const index = this.#index++;
    const { faults } = this;
    const frame = tryDecode(payload);
    const what = frame ? describe(frame) : `${payload.length} bytes`;
    if (faults.blackholeAfterFrames !== undefined && index >= faults.blackholeAfterFrames) return this.#note(`black hole swallows #${index} ${what}`);
    const drop = Array.isArray(faults.drop) ? faults.drop.includes(index) : faults.drop !== undefined && this.random.chance((faults.drop as { probability: number }).probability);
    if (drop) return this.#note(`drops #${index} ${what}`);
    if (faults.hold && frame && faults.hold(frame, index)) {
      this.#note(`holds #${index} ${what}`);
      this.#held.push(payload);
      return;
    }
    this.#forward(payload, index);
  }

  release(): void {
    const held = this.#held;
    this.#held = [];
    for (const payload of held) this.#forward(payload, -1);
  }

  #forward(payload: Uint8Array, index: number): void {
    const delay = this.faults.delayMs === undefined ? 0 : take(this.faults.delayMs, this.random, this.#turn++, 0);
    this.#queue = this.#queue.then(async () => {
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      if (this.#dead) return;
      this.#emit(this.byteStream ? withLengthPrefix(payload) : payload);
      if (index >= 0 && this.faults.cutAfterFrames !== undefined && index + 1 >= this.faults.cutAfterFrames) {
        this.#note(`cuts the connection after #${index}`);
        this.#dead = true;
        this.cut();
      }
    });
  }

  #emit(bytes: Uint8Array): void {
    const { faults } = this;
    let out = bytes;
    if (faults.truncateAfterBytes !== undefined && this.#bytes + out.length > faults.truncateAfterBytes) {
      out = out.subarray(0, Math.max(0, faults.truncateAfterBytes - this.#bytes));
      this.#send(out);
      this.#note(`truncates after ${faults.truncateAfterBytes} bytes and cuts`);
      this.#dead = true;
      this.cut();
      return;
    }
    this.#bytes += out.length;
    this.#send(out);
  }

  #send(bytes: Uint8Array): void {
    const { faults } = this;
    if (faults.coalesceMs !== undefined && this.byteStream) {
      this.#gathered.push(bytes);
      this.#gatherTimer ??= setTimeout(() => {
        this.#gatherTimer = undefined;
        this.write(new Uint8Array(Buffer.concat(this.#gathered.splice(0))));
      }, take(faults.coalesceMs, this.random, this.#turn++, 0));
      return;
    }
    if (faults.split !== undefined && this.byteStream) {
      for (let i = 0; i < bytes.length; ) {
        const piece = Math.max(1, take(faults.split, this.random, this.#turn++, 1));
        this.write(bytes.subarray(i, i + piece));
        i += piece;
      }
      return;
    }
    this.write(bytes);
  }

  #note(text: string): void {
    this.transcript.note("proxy", "!", `${this.label} ${text}`);
  }
}

/**
 * A proxy between the runner's clients and the server that injects the
 * faults of a plan, deterministically (exact indexes, or a seeded
 * generator), so that loss, delay, reordering across connections and cut
 * connections can be exercised against any server.
 */
export class FaultProxy {
  readonly url: string;
  /** Whether the plan can lose frames (drops, holds, truncation, cuts, black holes) rather than only split, merge or delay them. */
  readonly lossy: boolean;
  readonly #server: Server;
  readonly #wss: WebSocketServer | undefined;
  readonly #pipes = new Set<Pipe>();
  readonly #cuts = new Set<() => void>();

  private constructor(url: string, server: Server, wss: WebSocketServer | undefined, plan: FaultPlan) {
    this.url = url;
    this.lossy = [plan.upstream, plan.downstream].some(
      (d) => d !== undefined && (d.drop !== undefined || d.hold !== undefined || d.truncateAfterBytes !== undefined || d.cutAfterFrames !== undefined || d.blackholeAfterFrames !== undefined),
    );
    this.#server = server;
    this.#wss = wss;
  }

  static async start(targetUrl: string, plan: FaultPlan, random: Random, transcript: Transcript): Promise<FaultProxy> {
    const target = new URL(targetUrl);
    if (target.protocol !== "tcp:" && target.protocol !== "ws:") throw new Error(`the fault proxy needs a plaintext target (tcp:// or ws://), not ${target.protocol}`);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    if (target.protocol === "tcp:") {
      const proxy = new FaultProxy(`tcp://127.0.0.1:${port}`, server, undefined, plan);
      server.on("connection", (client) => proxy.#pairStreams(client, target, plan, random, transcript));
      return proxy;
    }
    const wss = new WebSocketServer({ server: undefined as never, noServer: true, maxPayload: MAX_MAX_FRAME_SIZE, handleProtocols: (p) => (p.has(WEBSOCKET_SUBPROTOCOL) ? WEBSOCKET_SUBPROTOCOL : false) });
    server.close();
    const { createServer: createHttp } = await import("node:http");
    const http = createHttp();
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const httpPort = (http.address() as AddressInfo).port;
    http.on("upgrade", (request, socket, head) => wss.handleUpgrade(request, socket, head, (client) => proxyWebSockets(client)));
    const proxy = new FaultProxy(`ws://127.0.0.1:${httpPort}${target.pathname}`, http as unknown as Server, wss, plan);
    const proxyWebSockets = (client: WebSocket) => {
      const upstreamSocket = new WebSocket(targetUrl, [WEBSOCKET_SUBPROTOCOL], { maxPayload: MAX_MAX_FRAME_SIZE });
      const pending: Uint8Array[] = [];
      const cut = () => {
        client.terminate();
        upstreamSocket.terminate();
      };
      proxy.#cuts.add(cut);
      const up = new Pipe("client→server", plan.upstream ?? {}, random.fork(), (b) => (upstreamSocket.readyState === WebSocket.OPEN ? upstreamSocket.send(b) : pending.push(b)), cut, false, transcript);
      const down = new Pipe("server→client", plan.downstream ?? {}, random.fork(), (b) => client.send(b), cut, false, transcript);
      proxy.#pipes.add(up).add(down);
      upstreamSocket.on("open", () => pending.splice(0).forEach((b) => upstreamSocket.send(b)));
      client.on("message", (data) => up.frame(new Uint8Array(data as Buffer)));
      upstreamSocket.on("message", (data) => down.frame(new Uint8Array(data as Buffer)));
      client.on("close", () => upstreamSocket.close());
      upstreamSocket.on("close", () => client.close());
      client.on("error", cut);
      upstreamSocket.on("error", cut);
    };
    return proxy;
  }

  /** Forward every held frame, in order. */
  release(): void {
    for (const pipe of this.#pipes) pipe.release();
  }

  /** Cut every proxied connection at both ends now. */
  cutAll(): void {
    for (const cut of this.#cuts) cut();
  }

  async stop(): Promise<void> {
    this.cutAll();
    this.#wss?.close();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #pairStreams(client: Socket, target: URL, plan: FaultPlan, random: Random, transcript: Transcript): void {
    const upstreamSocket = connect({ host: target.hostname.replace(/^\[|\]$/g, ""), port: Number(target.port) });
    client.setNoDelay(true);
    upstreamSocket.setNoDelay(true);
    const cut = () => {
      client.destroy();
      upstreamSocket.destroy();
    };
    this.#cuts.add(cut);
    const up = new Pipe("client→server", plan.upstream ?? {}, random.fork(), (b) => upstreamSocket.write(b), cut, true, transcript);
    const down = new Pipe("server→client", plan.downstream ?? {}, random.fork(), (b) => client.write(b), cut, true, transcript);
    this.#pipes.add(up).add(down);
    pump(client, up, cut);
    pump(upstreamSocket, down, cut);
    client.on("close", () => upstreamSocket.end());
    upstreamSocket.on("close", () => client.end());
  }
}

/** Split what a socket sends into frames and hand them to the pipe; a framing error cuts the pair. */
function pump(socket: Socket, pipe: Pipe, cut: () => void): void {
  const splitter = new FrameSplitter({ maxFrameSize: MAX_MAX_FRAME_SIZE });
  socket.on("data", (chunk: Buffer) => {
    splitter.push(chunk);
    try {
      for (let payload = splitter.next(); payload !== undefined; payload = splitter.next()) pipe.frame(payload.slice());
    } catch {
      // Malformed input is forwarded as it is: the proxy only injects faults, it does not judge.
      pipe.write(chunk);
    }
  });
  socket.on("error", cut);
}

function tryDecode(payload: Uint8Array): Frame | undefined {
  try {
    return decodeFrame(payload);
  } catch {
    return undefined;
  }
}
