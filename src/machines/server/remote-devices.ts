/** CLU-5: how often a node of a cluster sends the list of every device connected to it. */
export const ALIVE_INTERVAL_MS = 5_000;
/** CLU-5: a node not heard from for this long is taken to be gone, and its devices with it. */
export const NODE_SILENCE_MS = 3 * ALIVE_INTERVAL_MS;

/** A user whose devices on other nodes came or went, as a change of "online anywhere else". */
export interface RemoteChange {
  readonly userId: string;
  readonly online: boolean;
  /** For a user gone: when its device was last heard of. */
  readonly lastSeenMs: number;
}

interface NodeDevices {
  heardAt: number;
  /** Each device connected there, with when its connection was opened (-Infinity: not told, as in a full list). */
  readonly devices: Map<string, number>;
}

/**
 * CLU-5: the devices connected to the other nodes of a cluster, as their
 * notices tell (arrivals, departures, and a full list every
 * ALIVE_INTERVAL_MS that repairs any notice the bus lost). Kept by node, so
 * that a node that dies takes its devices with it once NODE_SILENCE_MS has
 * passed without a word from it. Presence (EPH-4) asks whether a user is
 * online on another node, push alerts (PSH-1) whether a device is.
 */
export class RemoteDevices {
  readonly #nodes = new Map<string, NodeDevices>();
  /** How many (node, device) pairs each user has: online elsewhere while above 0. */
  readonly #perUser = new Map<string, number>();
  /** How many nodes hold each device (two, briefly, while it moves). */
  readonly #perDevice = new Map<string, number>();

  userOnline(userId: string): boolean {
    return this.#perUser.has(userId);
  }

  deviceConnected(deviceKey: string): boolean {
    return this.#perDevice.has(deviceKey);
  }

  /**
   * AUTH-4 across nodes: the latest time a connection of the device still open on another node was opened,
   * or -Infinity. A connection opened before it is the older one, whatever order they authenticated in.
   */
  newestOpenedAt(deviceKey: string): number {
    let newest = -Infinity;
    if (!this.#perDevice.has(deviceKey)) return newest;
    for (const { devices } of this.#nodes.values()) newest = Math.max(newest, devices.get(deviceKey) ?? -Infinity);
    return newest;
  }

  /** A notice from `node` arrived at `now`: it is alive. */
  heard(node: string, now: number): void {
    this.#node(node).heardAt = now;
  }

  /** The device authenticated on `node`; a change when its user was online nowhere else before. */
  arrived(node: string, deviceKey: string, openedAt = -Infinity): RemoteChange | undefined {
    const devices = this.#node(node).devices;
    const known = devices.get(deviceKey);
    if (known !== undefined) {
      if (openedAt > known) devices.set(deviceKey, openedAt);
      return undefined;
    }
    devices.set(deviceKey, openedAt);
    return this.#count(deviceKey, +1, 0);
  }

  /** The device's connection on `node` ended; a change when its user is now online nowhere else. */
  departed(node: string, deviceKey: string, lastSeenMs: number): RemoteChange | undefined {
    const devices = this.#nodes.get(node)?.devices;
    if (!devices?.delete(deviceKey)) return undefined;
    return this.#count(deviceKey, -1, lastSeenMs);
  }

  /** `node`'s full list (ALIVE_INTERVAL_MS): what the notices between lost is made up. */
  replace(node: string, deviceKeys: readonly string[], now: number): RemoteChange[] {
    const listed = new Set(deviceKeys);
    const changes: RemoteChange[] = [];
    for (const key of [...this.#node(node).devices.keys()]) if (!listed.has(key)) push(changes, this.departed(node, key, now));
    for (const key of listed) push(changes, this.arrived(node, key));
    return changes;
  }

  /** Forget the nodes silent since before `now - NODE_SILENCE_MS`: their devices are gone, last heard of when the node was. */
  expire(now: number): RemoteChange[] {
    const changes: RemoteChange[] = [];
    for (const [node, entry] of this.#nodes) {
      if (now - entry.heardAt < NODE_SILENCE_MS) continue;
      for (const key of [...entry.devices.keys()]) push(changes, this.departed(node, key, entry.heardAt));
      this.#nodes.delete(node);
    }
    return changes;
  }

  #node(node: string): NodeDevices {
    let entry = this.#nodes.get(node);
    if (!entry) this.#nodes.set(node, (entry = { heardAt: -Infinity, devices: new Map() }));
    return entry;
  }

  #count(deviceKey: string, delta: 1 | -1, lastSeenMs: number): RemoteChange | undefined {
    bump(this.#perDevice, deviceKey, delta);
    const userId = deviceKey.slice(0, deviceKey.indexOf("\u0000"));
    const before = this.#perUser.get(userId) ?? 0;
    bump(this.#perUser, userId, delta);
    if (before === 0 && delta > 0) return { userId, online: true, lastSeenMs: 0 };
    if (before === 1 && delta < 0) return { userId, online: false, lastSeenMs };
    return undefined;
  }
}

function bump(counts: Map<string, number>, key: string, delta: number): void {
  const count = (counts.get(key) ?? 0) + delta;
  if (count > 0) counts.set(key, count);
  else counts.delete(key);
}

function push(changes: RemoteChange[], change: RemoteChange | undefined): void {
  if (change) changes.push(change);
}
