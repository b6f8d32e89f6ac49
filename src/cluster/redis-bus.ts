import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { parseClusterNotice, type ClusterNotice } from "../machines/server/cluster-notices.js";
import type { Logger } from "../server/logger.js";
import type { ClusterBus } from "./cluster-bus.js";

/** The channel of a cluster whose caller names none; nodes over different stores must use different channels. */
export const DEFAULT_CHANNEL = "imwire:notices";

/**
 * CLU-2 over Redis pub/sub: fire and forget, as the bus may be. The
 * publishing connection keeps no offline queue, so while Redis is away
 * notices are dropped, not piled up in memory; the subscribing connection
 * reconnects by itself (ioredis) and resubscribes.
 */
export class RedisBus implements ClusterBus {
  readonly #node = randomUUID();
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #log: Logger;
  /** One cluster's notices: another cluster on the same Redis (its users named alike) must never hear them. */
  readonly #channel: string;
  #handler: ((notice: ClusterNotice) => void) | undefined;
  #dropped = 0;

  private constructor(url: string, log: Logger, channel: string) {
    this.#log = log;
    this.#channel = channel;
    this.#pub = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true });
    this.#sub = new Redis(url, { lazyConnect: true });
    for (const connection of [this.#pub, this.#sub]) connection.on("error", (error: Error) => this.#log.warn(`redis bus: ${error.message}`));
    this.#sub.on("message", (_channel: string, text: string) => this.#received(text));
  }

  /** Connected and subscribed, or the reason it could not be. */
  static async open(url: string, log: Logger, channel = DEFAULT_CHANNEL): Promise<RedisBus> {
    const bus = new RedisBus(url, log, channel);
    await bus.#pub.connect();
    await bus.#sub.connect();
    await bus.#sub.subscribe(channel);
    return bus;
  }

  /** Notices not sent because Redis was away. */
  get dropped(): number {
    return this.#dropped;
  }

  publish(notice: ClusterNotice): void {
    if (this.#pub.status !== "ready") {
      this.#dropped++;
      return;
    }
    this.#pub.publish(this.#channel, JSON.stringify({ from: this.#node, notice })).catch(() => this.#dropped++);
  }

  subscribe(handler: (notice: ClusterNotice) => void): void {
    this.#handler = handler;
  }

  async close(): Promise<void> {
    this.#handler = undefined;
    this.#pub.disconnect();
    this.#sub.disconnect();
  }

  #received(text: string): void {
    let message: { from?: unknown; notice?: unknown };
    try {
      message = JSON.parse(text);
    } catch {
      return this.#log.warn("redis bus: a notice that is not JSON, ignored");
    }
    if (message.from === this.#node || !this.#handler) return;
    const notice = parseClusterNotice(message.notice);
    if (notice) this.#handler(notice);
    else this.#log.warn("redis bus: a malformed notice, ignored");
  }
}
