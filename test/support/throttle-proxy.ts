import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";

/**
 * A TCP proxy on loopback that carries bytes in both directions at most
 * `bytesPerSecond` each way: a slow link, for tests of liveness while a
 * large frame crosses it (HB-3, HB-4).
 */
export class ThrottleProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(targetPort: number, bytesPerSecond: number): Promise<ThrottleProxy> {
    let proxy: ThrottleProxy | undefined;
    const server = createServer((client) => proxy!.#carry(client, targetPort, bytesPerSecond));
    proxy = new ThrottleProxy(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #carry(client: Socket, targetPort: number, bytesPerSecond: number): void {
    const upstream = connect({ host: "127.0.0.1", port: targetPort });
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    this.#pipe(client, upstream, bytesPerSecond);
    this.#pipe(upstream, client, bytesPerSecond);
  }

  /** Queue what arrives; every tick, pass on one tick's worth of it. */
  #pipe(from: Socket, to: Socket, bytesPerSecond: number): void {
    const tickMs = 20;
    const perTick = Math.max(1, Math.floor((bytesPerSecond * tickMs) / 1000));
    let queued = Buffer.alloc(0);
    from.on("data", (chunk: Buffer) => {
      queued = Buffer.concat([queued, chunk]);
      if (queued.length > 4 * perTick) from.pause();
    });
    const timer = setInterval(() => {
      if (queued.length === 0) return;
      const out = queued.subarray(0, perTick);
      queued = queued.subarray(out.length);
      to.write(out);
      if (queued.length <= 4 * perTick) from.resume();
    }, tickMs);
    this.#timers.add(timer);
    from.on("close", () => clearInterval(timer));
  }
}
