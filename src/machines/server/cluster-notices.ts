/**
 * What a node tells the others of a cluster after its commits (CLU-2): only
 * positions — whose streams grew, which read-fan-out conversations reached
 * which seq, which devices authenticated here — never content: a node that
 * hears of one reads what it needs from the shared store, and one that
 * misses a notice still converges, later, through CUR-6 and DLV-3.
 */
export interface ClusterNotice {
  /** Users whose streams gained entries. */
  readonly users: readonly string[];
  /** Read-fan-out conversations and the newest seq each published. */
  readonly published: readonly (readonly [conversationId: string, seq: number])[];
  /** "user\0device" keys of devices that authenticated (AUTH-4: an older connection elsewhere is replaced). */
  readonly devices: readonly string[];
}

/** Collects one input's notice; empty when the node runs alone. */
export class ClusterNotices {
  readonly #users = new Set<string>();
  readonly #published = new Map<string, number>();
  readonly #devices = new Set<string>();

  constructor(readonly enabled: boolean) {}

  streamGrew(userId: string): void {
    if (this.enabled) this.#users.add(userId);
  }

  published(conversationId: string, seq: number): void {
    if (this.enabled && seq > (this.#published.get(conversationId) ?? 0)) this.#published.set(conversationId, seq);
  }

  authenticated(deviceKey: string): void {
    if (this.enabled) this.#devices.add(deviceKey);
  }

  /** What was collected since the last call, or undefined for nothing. */
  take(): ClusterNotice | undefined {
    if (this.#users.size === 0 && this.#published.size === 0 && this.#devices.size === 0) return undefined;
    const notice = { users: [...this.#users], published: [...this.#published], devices: [...this.#devices] };
    this.#users.clear();
    this.#published.clear();
    this.#devices.clear();
    return notice;
  }
}
