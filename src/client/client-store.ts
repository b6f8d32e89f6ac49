import type { PersistedClientState } from "../machines/client/persisted-state.js";

export type { PersistedClientState, PersistedConversation, PersistedOperation, PersistedStream } from "../machines/client/persisted-state.js";
export { PERSISTED_STATE_VERSION } from "../machines/client/persisted-state.js";

/**
 * Where a device keeps what must survive its process (CLI-1 to CLI-5): the
 * outbox with its idempotency keys, the stream's epoch and cursor, each
 * conversation's position. One record, replaced whole by each save.
 *
 * Shaped for IndexedDB as much as for a file: both calls are asynchronous,
 * and the state is a structured-clone value (plain objects, arrays,
 * strings, numbers, bigints, Uint8Arrays), so an IndexedDB store is
 *
 *     load: get(deviceId) on an object store, in a readonly transaction;
 *     save: put(state, deviceId) in a readwrite transaction whose
 *           "complete" event (durability: "strict") resolves the promise.
 *
 * The driver (client-driver.ts) never has two saves outstanding, and holds
 * back every output after a save until it resolves: a resolved save must
 * mean the state survives a crash of the process (fsync, a completed
 * transaction). A rejected one stops the client.
 */
export interface ClientStore {
  /** The state last saved; undefined when nothing was ever saved (a first run). */
  load(): Promise<PersistedClientState | undefined>;
  /** Replace the saved state, durably, atomically: after a crash, load() gives this state or the one before, never a mix. */
  save(state: PersistedClientState): Promise<void>;
}

/**
 * A ClientStore in memory, for tests and the simulator: it keeps a
 * structured clone, so a state that changed after it was handed out — or
 * one that cannot be cloned, as IndexedDB could not store it — shows.
 */
export class MemoryClientStore implements ClientStore {
  #state: PersistedClientState | undefined;
  /** How many saves were made. */
  saves = 0;

  constructor(state?: PersistedClientState) {
    this.#state = state && structuredClone(state);
  }

  /** What a restarted process would load, now. */
  get current(): PersistedClientState | undefined {
    return this.#state && structuredClone(this.#state);
  }

  /** Save at once: the simulator's durable write, which a crash cannot interrupt. */
  put(state: PersistedClientState): void {
    this.#state = structuredClone(state);
    this.saves++;
  }

  load(): Promise<PersistedClientState | undefined> {
    return Promise.resolve(this.current);
  }

  save(state: PersistedClientState): Promise<void> {
    this.put(state);
    return Promise.resolve();
  }
}
