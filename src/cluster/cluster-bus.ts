import type { ClusterNotice } from "../machines/server/cluster-notices.js";

/**
 * CLU-2: how the nodes of a cluster tell each other of positions. At most
 * once and unordered is enough: a notice only shortens the time before a
 * node pushes what is already in the shared store; a lost one is made up by
 * the device's own catch-up (CUR-6's pong, DLV-3 on reconnect).
 */
export interface ClusterBus {
  /** Tell the other nodes; never throws, never waits (a bus that is down drops it). */
  publish(notice: ClusterNotice): void;
  /** Notices from the other nodes (never this node's own). */
  subscribe(handler: (notice: ClusterNotice) => void): void;
  close(): Promise<void>;
}

/** Every node in this process on one in-memory bus: for tests of a cluster without Redis. */
export class LocalBusHub {
  readonly #nodes = new Set<{ handler?: (notice: ClusterNotice) => void }>();
  /** Notices published, for tests; `dropping` loses every one (a bus that is down). */
  published = 0;
  dropping = false;

  node(): ClusterBus {
    const node: { handler?: (notice: ClusterNotice) => void } = {};
    this.#nodes.add(node);
    return {
      publish: (notice) => {
        this.published++;
        if (this.dropping) return;
        // Asynchronously, as over a network: never inside the publishing node's own turn.
        for (const other of this.#nodes) if (other !== node) queueMicrotask(() => other.handler?.(notice));
      },
      subscribe: (handler) => {
        node.handler = handler;
      },
      close: async () => {
        this.#nodes.delete(node);
      },
    };
  }
}
