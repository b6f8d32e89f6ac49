import { MemoryStore } from "../store/memory-store.js";
import { applyWrite, type StoreWrite } from "../store/store-writes.js";
import { WriteBehindStore, type BatchSink } from "../store/write-behind-store.js";
import type { EventQueue } from "./event-queue.js";

/** How the simulated server's storage becomes durable. */
export interface DurabilityModel {
  /** Virtual time from a batch's commit starting to its being durable. */
  readonly commitLatencyMs: number;
  /**
   * A planted bug, for the tests that show the checks catch it: frames go
   * out at once instead of after the commit they depend on, so a crash can
   * lose what was acknowledged.
   */
  readonly releaseEarly?: boolean;
}

/**
 * Group commit in virtual time (docs/design/store-boundary.md): the server
 * machine runs on a WriteBehindStore; a batch opened by a write is sealed
 * once the event that opened it is handled, one commit runs at a time for
 * `commitLatencyMs`, and every frame and close the machine made meanwhile
 * is held, in order, until the batch it may depend on is durable — as the
 * reference server's commit gate does with real fsyncs. A crash keeps only
 * durable batches: the store after it is their replay.
 */
export class SimDurability implements BatchSink {
  readonly #queue: EventQueue;
  readonly #model: DurabilityModel;
  /** What survives a crash, in commit order. */
  readonly durable: StoreWrite[][] = [];
  #store: WriteBehindStore | undefined;
  /** Incremented at each crash: callbacks scheduled before it do nothing. */
  #life = 0;
  #batch = 0;
  #committed = 0;
  #durableBatch = 0;
  #inFlight: { readonly batches: readonly (readonly StoreWrite[])[]; readonly covers: number } | undefined;
  #sealScheduled = false;
  readonly #held: { readonly batch: number; readonly run: () => void }[] = [];
  /** Batches committed and commits made, for tests: several requests share one. */
  commits = 0;

  constructor(queue: EventQueue, model: DurabilityModel) {
    this.#queue = queue;
    this.#model = model;
  }

  /** Nothing is waiting to become durable, and nothing is held behind a commit. */
  get idle(): boolean {
    return this.#held.length === 0 && this.#inFlight === undefined && !this.#sealScheduled && this.#committed === this.#durableBatch;
  }

  /** The store after a start or a crash: the durable batches replayed into a new working set. */
  open(epoch: string): WriteBehindStore {
    const memory = new MemoryStore(epoch);
    for (const batch of this.durable) for (const write of batch) applyWrite(memory, write);
    const store = new WriteBehindStore(memory, this);
    store.enableGroupCommit(() => this.#opened());
    this.#store = store;
    return store;
  }

  /** The process dies: held outputs vanish, and so does whatever commit had not completed. */
  crash(epoch: string): WriteBehindStore {
    this.#life++;
    this.#held.length = 0;
    this.#inFlight = undefined;
    this.#sealScheduled = false;
    this.#batch = this.#committed = this.#durableBatch = 0;
    return this.open(epoch);
  }

  /** The storage itself is lost (a restart that loses state, CUR-4): nothing durable is left either. */
  loseEverything(): void {
    this.durable.length = 0;
    this.crash("");
  }

  /** Run `output` now, or once what it may depend on is durable. */
  release(output: () => void): void {
    const batch = this.#model.releaseEarly ? 0 : this.#store?.batchOpen ? this.#batch : this.#committed > this.#durableBatch ? this.#committed : 0;
    if (batch === 0 && this.#held.length === 0) output();
    else this.#held.push({ batch: Math.max(batch, this.#held.at(-1)?.batch ?? 0), run: output });
  }

  commit(batches: readonly (readonly StoreWrite[])[]): Promise<void> {
    this.#inFlight = { batches, covers: this.#committed };
    const life = this.#life;
    this.#queue.after(this.#model.commitLatencyMs, () => {
      if (life === this.#life) this.#completed();
    });
    return Promise.resolve();
  }

  #opened(): void {
    this.#batch++;
    if (this.#sealScheduled) return;
    this.#sealScheduled = true;
    const life = this.#life;
    // After the event being handled: everything it wrote is in the batch.
    this.#queue.after(0, () => {
      if (life !== this.#life) return;
      this.#sealScheduled = false;
      this.#store!.commitBatch();
      this.#committed = this.#batch;
      this.#startCommit();
    });
  }

  #startCommit(): void {
    if (this.#inFlight !== undefined) return;
    // Undefined when every sealed batch was empty (all its requests refused): durable already.
    if (this.#store!.syncCommitted() === undefined) {
      this.#durableBatch = this.#committed;
      this.#releaseDurable();
    }
  }

  #completed(): void {
    const { batches, covers } = this.#inFlight!;
    this.#inFlight = undefined;
    this.durable.push(...batches.map((batch) => [...batch]));
    this.commits++;
    this.#durableBatch = covers;
    this.#releaseDurable();
    if (this.#committed > this.#durableBatch) this.#startCommit();
  }

  #releaseDurable(): void {
    while (this.#held.length > 0 && this.#held[0]!.batch <= this.#durableBatch) this.#held.shift()!.run();
  }
}
