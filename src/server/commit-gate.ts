import type { Frame } from "../gen/imwire/v1/frame_pb.js";
import { sizeFrame } from "../gen/imwire/v1/frame_fast.js";
import { checkOutgoingSize, type FrameTransport } from "../transport/frame-transport.js";
import { TransportDecorator } from "../transport/transport-decorator.js";
import type { Logger } from "./logger.js";

/** A store that collects writes into batches and commits them when told (SqliteStore in group-commit mode). */
export interface BatchingStore {
  /** `fsyncAfterCommit`: commitBatch() returns before its fsync, which syncCommitted() does off the event loop. */
  enableGroupCommit(onBatchOpened: () => void, options?: { fsyncAfterCommit?: boolean }): void;
  readonly batchOpen: boolean;
  /** Commit the open batch; throws, the batch rolled back, if it cannot. */
  commitBatch(): void;
  rollbackBatch(): void;
  /**
   * When a commit returns before it is durable (the fsync left to after it):
   * resolves once every batch committed so far is, rejects if it cannot be.
   * Absent, or undefined, when commitBatch() is durable by itself.
   */
  syncCommitted?(): Promise<void> | undefined;
}

export function isBatchingStore(store: object): store is BatchingStore {
  return typeof (store as Partial<BatchingStore>).enableGroupCommit === "function";
}

/**
 * Group commit for the reference server (SEQ-2): many requests share one
 * durable commit, and nothing that depends on them leaves the process before
 * it is durable. Batches are numbered. While batch N is open, every frame
 * sent on a connection is held in the gate, tagged N (encoded later, but
 * size-checked now: FRM-9 throws to the runner as without the gate), and a
 * close waits behind them. At the end of the event-loop turn that opened
 * the batch the store commits; when that commit is durable — at once when
 * the commit fsyncs, or when a later fsync that covers it completes (the
 * fsync runs off the event loop, so batch N + 1 fills meanwhile) — every
 * frame tagged N or lower is written, on each connection in the order it was
 * sent. A frame sent while no batch is open depends on nothing new, but
 * waits behind what its connection already holds, to keep the order.
 *
 * Order and idempotency: a connection's frames go out in the order the
 * machine made them, after everything they could depend on is durable; a
 * retry inside the same batch reads the first attempt's idempotency record
 * (the store's reads see the open batch) and gets its answer, released with
 * it. A batch that fails to commit, or an fsync that fails, cuts every
 * connection with nothing held sent: nothing of it was acknowledged, so
 * nothing acknowledged is lost, and the machine's view of each connection
 * (what it pushed, what was acknowledged) cannot outlive the writes it
 * rested on. After a failed fsync the store is not trusted again (what it
 * reads may not be durable): the gate refuses to release anything more.
 * Devices reconnect and resume from what is durable; retries carry the same
 * idempotency keys (CONN-10).
 */
export class CommitGate {
  readonly #store: BatchingStore;
  readonly #log: Logger;
  readonly #schedule: (flush: () => void) => void;
  readonly #gated = new Set<GatedTransport>();
  /** Connections holding frames, in the order they were first held. */
  readonly #holding = new Set<GatedTransport>();
  /** The number of the open batch, or of the last one when none is open. */
  #batch = 0;
  /** Every batch up to this one is durable: its frames may go. */
  #durable = 0;
  /** The newest committed batch, durable or not. */
  #committed = 0;
  #syncing = false;
  /** flush() callers, each waiting for a batch to be durable (or for the gate to give up). */
  /** Failed commits so far: an afterDurable action registered before one never runs. */
  #failures = 0;
  /** When the open batch opened (performance.now()). */
  #openedAt = 0;
  readonly #waiters: { target: number; resolve: () => void }[] = [];
  #flushScheduled = false;
  #discarded = false;
  #broken = false;
  /** Batches committed, for tests and benchmarks: how many requests share a commit. */
  commits = 0;
  /** fsyncs run after commits (each may cover several batches). */
  syncs = 0;

  constructor(store: BatchingStore, log: Logger, { schedule = setImmediate, fsyncAfterCommit = true }: { schedule?: (flush: () => void) => void; fsyncAfterCommit?: boolean } = {}) {
    this.#store = store;
    this.#log = log;
    this.#schedule = schedule;
    const opened = () => {
      this.#batch++;
      this.#openedAt = performance.now();
      this.#scheduleFlush();
    };
    store.enableGroupCommit(opened, { fsyncAfterCommit });
  }

  /**
   * Commit the open batch now if it has been open `ms` or longer. Called
   * between inputs: a turn that reads many pipelined requests otherwise
   * holds one batch — and, on PostgreSQL, the cluster's writer lock — for
   * all of them, and every other node waits that long.
   */
  commitIfOpenFor(ms: number): void {
    if (this.#store.batchOpen && performance.now() - this.#openedAt >= ms) this.#commit();
  }

  /** The transport the server runner gets: frames sent through it wait for the batch they may depend on. */
  wrap(transport: FrameTransport): FrameTransport {
    const gated = new GatedTransport(transport, this);
    this.#gated.add(gated);
    return gated;
  }

  /**
   * Commit the open batch now, and release what is durable (a graceful
   * shutdown, before the store closes, awaits it: it resolves once every
   * committed batch is durable and released).
   */
  flush(): Promise<void> {
    this.#commit();
    if (this.#discarded || this.#broken || this.#durable >= this.#committed) return Promise.resolve();
    const target = this.#committed;
    return new Promise((resolve) => this.#waiters.push({ target, resolve }));
  }

  /** As a crash: what is held is never sent and the open batch is never committed (kill()). */
  discard(): void {
    this.#discarded = true;
    this.#holding.clear();
    this.#wake(() => true);
  }

  /**
   * Which batch a frame sent now waits for; 0 for none. A frame may reveal
   * anything written before it was made, so it waits for the open batch, or,
   * with none open, for the newest committed one that is not yet durable (a
   * push made on a later turn, an answer to a read): committed is not yet
   * durable while its fsync runs. With everything durable, nothing is held
   * on any connection either, so order needs no waiting.
   */
  waitFor(): number {
    if (this.#discarded) return 0;
    if (this.#store.batchOpen) return this.#batch;
    return this.#committed > this.#durable ? this.#committed : 0;
  }

  /** Run `action` once everything written so far is durable: at once when it is (CLU-2: a cluster notice names only durable positions). */
  afterDurable(action: () => void): void {
    if (this.#discarded || this.#broken) return;
    const target = this.waitFor();
    if (target === 0) return action();
    // A failed commit wakes every waiter: what it held never became durable, so its action is dropped.
    const failures = this.#failures;
    this.#waiters.push({ target, resolve: () => failures === this.#failures && !this.#discarded && action() });
  }

  held(transport: GatedTransport): void {
    this.#holding.add(transport);
  }

  forget(transport: GatedTransport): void {
    this.#gated.delete(transport);
    this.#holding.delete(transport);
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#discarded) return;
    this.#flushScheduled = true;
    this.#schedule(() => {
      this.#flushScheduled = false;
      this.#commit();
    });
  }

  #commit(): void {
    if (this.#discarded || this.#broken) return;
    if (this.#store.batchOpen) {
      try {
        this.#store.commitBatch();
        this.commits++;
      } catch (error) {
        this.#fail("group commit failed", error);
        return;
      }
    }
    this.#committed = this.#batch;
    void this.#sync();
  }

  /** One fsync covering every batch committed when it starts; then release, and go on if more were committed meanwhile. */
  async #sync(): Promise<void> {
    if (this.#syncing) return;
    this.#syncing = true;
    const covered = this.#committed;
    try {
      // Undefined when the commits were durable by themselves: then this runs on, synchronously, to the release.
      const pending = this.#store.syncCommitted?.();
      if (pending) {
        await pending;
        this.syncs++;
      }
    } catch (error) {
      this.#syncing = false;
      this.#broken = true;
      this.#fail("the commit could not be made durable (fsync failed); the store is no longer trusted", error);
      return;
    }
    this.#syncing = false;
    if (this.#discarded) return;
    this.#durable = Math.max(this.#durable, covered);
    this.#release();
    if (this.#durable < this.#committed) void this.#sync();
  }

  #release(): void {
    for (const transport of [...this.#holding]) {
      if (transport.release(this.#durable)) this.#holding.delete(transport);
    }
    this.#wake((target) => target <= this.#durable);
  }

  #wake(due: (target: number) => boolean): void {
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const waiter = this.#waiters[i]!;
      if (!due(waiter.target)) continue;
      this.#waiters.splice(i, 1);
      waiter.resolve();
    }
  }

  #fail(what: string, error: unknown): void {
    this.#failures++;
    this.#log.error(`${what}, every connection cut (nothing of the batch was acknowledged): ${(error as Error).message}`);
    try {
      this.#store.rollbackBatch();
    } catch {
      // Already rolled back by the failed commit.
    }
    this.#holding.clear();
    for (const transport of [...this.#gated]) transport.destroy();
    // Nothing more will become durable here: a shutdown waiting for it goes on.
    this.#wake(() => true);
  }
}

/** A connection behind the gate: frames held until the batch they wait for is durable, a close kept behind them. */
class GatedTransport extends TransportDecorator {
  readonly #gate: CommitGate;
  /** Held frames, oldest first, each with the batch it waits for. */
  readonly #frames: Frame[] = [];
  readonly #batches: number[] = [];
  #heldBytes = 0;
  #maxFrameSize = Infinity;
  #closeWaiting = false;

  constructor(inner: FrameTransport, gate: CommitGate) {
    super(inner);
    this.#gate = gate;
  }

  get holding(): boolean {
    return this.#frames.length > 0;
  }

  /** FLOW-3 counts what the gate holds too: it is this connection's output, in this process. */
  override get bufferedAmount(): number {
    return this.inner.bufferedAmount + this.#heldBytes;
  }

  protected override closed(): void {
    this.#gate.forget(this);
    super.closed();
  }

  override setMaxFrameSize(size: number): void {
    this.#maxFrameSize = size;
    super.setMaxFrameSize(size);
  }

  override send(frame: Frame): void {
    const batch = this.#gate.waitFor();
    if (batch === 0) {
      this.inner.send(frame);
      return;
    }
    // FRM-9 now, as an unheld send would: the runner answers INTERNAL in its place. Before welcome the
    // limit is the transport's own, which it checks again when the frame is written.
    const size = sizeFrame(frame);
    checkOutgoingSize(size, this.#maxFrameSize);
    this.#heldBytes += size;
    this.#frames.push(frame);
    this.#batches.push(batch);
    this.#gate.held(this);
  }

  override close(): void {
    // Closing now would drop what is held: wait for it.
    if (this.holding) this.#closeWaiting = true;
    else this.inner.close();
  }

  override destroy(): void {
    this.#gate.forget(this);
    this.#frames.length = 0;
    this.#batches.length = 0;
    this.#heldBytes = 0;
    this.inner.destroy();
  }

  /** Write the frames waiting for batches up to `durable`, in one burst; true when nothing is left held. */
  release(durable: number): boolean {
    let n = 0;
    while (n < this.#batches.length && this.#batches[n]! <= durable) n++;
    if (n > 0) {
      const frames = this.#frames.splice(0, n);
      this.#batches.splice(0, n);
      this.#heldBytes = this.#frames.length === 0 ? 0 : this.#heldBytes - frames.reduce((sum, f) => sum + sizeFrame(f), 0);
      this.inner.holdWrites?.();
      try {
        for (const frame of frames) this.inner.send(frame);
      } finally {
        this.inner.releaseWrites?.();
      }
    }
    if (this.#frames.length > 0) return false;
    if (this.#closeWaiting) {
      this.#closeWaiting = false;
      this.inner.close();
    }
    return true;
  }
}
