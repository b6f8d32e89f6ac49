/**
 * What a node tells the others of a cluster after its commits (CLU-2): only
 * positions — whose streams grew, which read-fan-out conversations reached
 * which seq, which devices authenticated here — never content: a node that
 * hears of one reads what it needs from the shared store, and one that
 * misses a notice still converges, later, through CUR-6 and DLV-3. Beside
 * them, what is not stored at all (CLU-5): typing passed on, devices
 * connected here, alerts made.
 */
export interface ClusterNotice {
  /** The node that sent it (its presence is kept by node, and forgotten when the node falls silent). */
  readonly node: string;
  /** Users whose streams gained entries. */
  readonly users: readonly string[];
  /** Read-fan-out conversations and the newest seq each published. */
  readonly published: readonly (readonly [conversationId: string, seq: number])[];
  /** "user\0device" keys of devices that authenticated (AUTH-4: an older connection elsewhere is replaced). */
  readonly devices: readonly string[];
  /**
   * AUTH-4: when each of `devices`' connections was opened (the node's clock, ms): of two connections of one
   * device the one opened later is kept. A device missing here (a node of an older version) counts as newest.
   */
  readonly openedAt: readonly (readonly [deviceKey: string, openedAtMs: number])[];
  /** Devices whose connection here ended (and none of theirs replaced it), with when they were last heard. */
  readonly departed: readonly (readonly [deviceKey: string, lastSeenMs: number])[];
  /** EPH-2: typing changes this node passed on (members checked, EPH-3's rate applied). */
  readonly typing: readonly TypingNotice[];
  /** EPH-5: users who changed presence sharing here. */
  readonly sharing: readonly (readonly [userId: string, hidden: boolean])[];
  /** PSH-3: away devices alerted of a conversation here: one alert each cluster-wide until the device returns. */
  readonly alerted: readonly (readonly [deviceKey: string, conversationId: string])[];
  /** CLU-5: every device connected here, sent every ALIVE_INTERVAL_MS; absent from the other notices. */
  readonly alive?: readonly string[];
}

export interface TypingNotice {
  readonly conversationId: string;
  readonly userId: string;
  readonly typing: boolean;
}

/** Collects one input's notice; empty when the node runs alone. */
export class ClusterNotices {
  readonly #users = new Set<string>();
  readonly #published = new Map<string, number>();
  readonly #devices = new Map<string, number>();
  readonly #departed = new Map<string, number>();
  #typing: TypingNotice[] = [];
  readonly #sharing = new Map<string, boolean>();
  #alerted: (readonly [string, string])[] = [];
  #alive: readonly string[] | undefined;

  constructor(
    readonly enabled: boolean,
    readonly node: string,
  ) {}

  streamGrew(userId: string): void {
    if (this.enabled) this.#users.add(userId);
  }

  published(conversationId: string, seq: number): void {
    if (this.enabled && seq > (this.#published.get(conversationId) ?? 0)) this.#published.set(conversationId, seq);
  }

  authenticated(deviceKey: string, openedAt: number): void {
    if (!this.enabled) return;
    this.#devices.set(deviceKey, openedAt);
    this.#departed.delete(deviceKey); // replaced here in the same notice: it stays
  }

  departed(deviceKey: string, lastSeenMs: number): void {
    if (this.enabled) this.#departed.set(deviceKey, lastSeenMs);
  }

  typing(signal: TypingNotice): void {
    if (this.enabled) this.#typing.push(signal);
  }

  sharing(userId: string, hidden: boolean): void {
    if (this.enabled) this.#sharing.set(userId, hidden);
  }

  alerted(deviceKey: string, conversationId: string): void {
    if (this.enabled) this.#alerted.push([deviceKey, conversationId]);
  }

  alive(deviceKeys: readonly string[]): void {
    if (this.enabled) this.#alive = deviceKeys;
  }

  /** What was collected since the last call, or undefined for nothing. */
  take(): ClusterNotice | undefined {
    const empty = this.#users.size === 0 && this.#published.size === 0 && this.#devices.size === 0 && this.#departed.size === 0;
    if (empty && this.#typing.length === 0 && this.#sharing.size === 0 && this.#alerted.length === 0 && this.#alive === undefined) return undefined;
    const notice: ClusterNotice = {
      node: this.node,
      users: [...this.#users],
      published: [...this.#published],
      devices: [...this.#devices.keys()],
      openedAt: [...this.#devices],
      departed: [...this.#departed],
      typing: this.#typing,
      sharing: [...this.#sharing],
      alerted: this.#alerted,
      ...(this.#alive ? { alive: this.#alive } : {}),
    };
    this.#users.clear();
    this.#published.clear();
    this.#devices.clear();
    this.#departed.clear();
    this.#typing = [];
    this.#sharing.clear();
    this.#alerted = [];
    this.#alive = undefined;
    return notice;
  }
}

/**
 * A notice as another node sent it, checked field by field: the bus is
 * shared, and what it carries is trusted no further than its shape.
 * Fields a node of an older version leaves out read as empty.
 */
export function parseClusterNotice(value: unknown): ClusterNotice | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const message = value as Record<string, unknown>;
  const node = message.node;
  const users = orEmpty(message.users);
  const published = orEmpty(message.published);
  const devices = orEmpty(message.devices);
  const departed = orEmpty(message.departed);
  const typing = orEmpty(message.typing);
  const sharing = orEmpty(message.sharing);
  const alerted = orEmpty(message.alerted);
  const openedAt = orEmpty(message.openedAt);
  if (typeof node !== "string" || !strings(users) || !strings(devices)) return undefined;
  if (!pairs(published, isString, isSafeInteger) || !pairs(departed, isString, isFiniteNumber)) return undefined;
  if (!pairs(sharing, isString, isBoolean) || !pairs(alerted, isString, isString) || !pairs(openedAt, isString, isFiniteNumber)) return undefined;
  if (!Array.isArray(typing) || !typing.every(isTypingNotice)) return undefined;
  if (message.alive !== undefined && !strings(message.alive)) return undefined;
  return { node, users, published, devices, openedAt, departed, typing, sharing, alerted, ...(message.alive !== undefined ? { alive: message.alive as string[] } : {}) };
}

function orEmpty(value: unknown): unknown {
  return value === undefined ? [] : value;
}

function isString(value: unknown): value is string {
  return typeof value === "string";
}

function strings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every(isString);
}

const isSafeInteger = (value: unknown): value is number => Number.isSafeInteger(value);
const isFiniteNumber = (value: unknown): value is number => Number.isFinite(value);
const isBoolean = (value: unknown): value is boolean => typeof value === "boolean";

function pairs<A, B>(value: unknown, first: (v: unknown) => v is A, second: (v: unknown) => v is B): value is (readonly [A, B])[] {
  return Array.isArray(value) && value.every((p) => Array.isArray(p) && p.length === 2 && first(p[0]) && second(p[1]));
}

function isTypingNotice(value: unknown): value is TypingNotice {
  if (typeof value !== "object" || value === null) return false;
  const { conversationId, userId, typing } = value as Record<string, unknown>;
  return isString(conversationId) && isString(userId) && typeof typing === "boolean";
}
