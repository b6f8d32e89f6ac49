import type { Frame } from "../gen/imwire/v1/frame_pb.js";
import type { FrameTransport } from "../transport/frame-transport.js";
import { TransportDecorator } from "../transport/transport-decorator.js";
import type { Logger } from "./logger.js";

/** A store that collects writes into batches and commits them when told (SqliteStore in group-commit mode). */
export interface BatchingStore {
  enableGroupCommit(onBatchOpened: () => void): void;
  readonly batchOpen: boolean;
  /** Make the open batch durable; throws, the batch rolled back, if it cannot. */
  commitBatch(): void;
  rollbackBatch(): void;
}

export function isBatchingStore(store: object): store is BatchingStore {
  return typeof (store as Partial<BatchingStore>).enableGroupCommit === "function";
}

/**
 * Group commit for the reference server (SEQ-2): many requests share one
 * durable commit, and nothing that depends on them leaves the process before
 * it. While a batch is open, every frame sent is held in its connection
 * (written, encoded and counted, but corked), and a close waits behind them;
 * at the end of the event-loop turn that opened the batch the store commits
 * once, then every held connection is released, each in the order it was
 * written. Requests that arrive during the commit (which blocks the loop)
 * are read on the next turn and form the next batch, so the batch grows
 * with the load and one request alone waits for one fsync, as before.
 *
 * Order and idempotency: a connection's frames go out in the order the
 * machine made them, after everything they could depend on is durable; a
 * retry inside the same batch reads the first attempt's idempotency record
 * (the store's reads see the open batch) and gets its answer, released with
 * it. A batch that fails to commit is rolled back and every connection is
 * cut, held frames unsent: nothing of the batch was acknowledged, so nothing
 * acknowledged is lost, and the machine's view of each connection (what it
 * pushed, what was acknowledged) cannot outlive the writes it rested on.
 * Devices reconnect and resume from what is durable; retries carry the same
 * idempotency keys (CONN-10).
 */
export class CommitGate {
  readonly #store: BatchingStore;
  readonly #log: Logger;
  readonly #schedule: (flush: () => void) => void;
  readonly #gated = new Set<GatedTransport>();
  /** Connections written to while the batch was open, in the order they were first written. */
  readonly #held = new Set<GatedTransport>();
  #flushScheduled = false;
  #discarded = false;
  /** Batches committed, for tests and benchmarks: how many requests share a commit. */
  commits = 0;

  constructor(store: BatchingStore, log: Logger, schedule: (flush: () => void) => void = setImmediate) {
    this.#store = store;
    this.#log = log;
    this.#schedule = schedule;
    store.enableGroupCommit(() => this.#scheduleFlush());
  }

  /** The transport the server runner gets: frames sent through it wait for the batch they may depend on. */
  wrap(transport: FrameTransport): FrameTransport {
    if (!transport.holdWrites || !transport.releaseWrites) throw new TypeError(`${transport.description} cannot hold writes: it cannot sit behind a commit gate`);
    const gated = new GatedTransport(transport, this);
    this.#gated.add(gated);
    return gated;
  }

  /** Commit the open batch now and release what waits for it (a graceful shutdown, before the store closes). */
  flush(): void {
    if (this.#discarded) return;
    try {
      if (this.#store.batchOpen) {
        this.#store.commitBatch();
        this.commits++;
      }
    } catch (error) {
      this.#failed(error);
      return;
    }
    const held = [...this.#held];
    this.#held.clear();
    for (const transport of held) transport.release();
  }

  /** As a crash: what is held is never sent and the open batch is never committed (kill()). */
  discard(): void {
    this.#discarded = true;
    this.#held.clear();
  }

  /** Called by a gated transport before it writes: hold it if a batch is open. */
  holdIfBatchOpen(transport: GatedTransport): boolean {
    if (this.#discarded || !this.#store.batchOpen) return false;
    if (!this.#held.has(transport)) {
      this.#held.add(transport);
      transport.hold();
    }
    return true;
  }

  isHeld(transport: GatedTransport): boolean {
    return this.#held.has(transport);
  }

  forget(transport: GatedTransport): void {
    this.#gated.delete(transport);
    this.#held.delete(transport);
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#discarded) return;
    this.#flushScheduled = true;
    this.#schedule(() => {
      this.#flushScheduled = false;
      this.flush();
    });
  }

  #failed(error: unknown): void {
    this.#log.error(`group commit failed, every connection cut (nothing of the batch was acknowledged): ${(error as Error).message}`);
    try {
      this.#store.rollbackBatch();
    } catch {
      // Already rolled back by the failed commit.
    }
    this.#held.clear();
    for (const transport of [...this.#gated]) transport.destroy();
  }
}

/** A connection behind the gate: writes held while a batch is open, a close kept behind them. */
class GatedTransport extends TransportDecorator {
  readonly #gate: CommitGate;
  #closeWaiting = false;

  constructor(inner: FrameTransport, gate: CommitGate) {
    super(inner);
    this.#gate = gate;
  }

  protected override closed(): void {
    this.#gate.forget(this);
    super.closed();
  }

  override send(frame: Frame): void {
    this.#gate.holdIfBatchOpen(this);
    // Encoded and size-checked now (FRM-9 throws to the runner as without the gate); only the network waits.
    this.inner.send(frame);
  }

  override close(): void {
    // Closing would flush what is held (a socket's end() uncorks it): wait for the commit.
    if (this.#gate.isHeld(this)) this.#closeWaiting = true;
    else this.inner.close();
  }

  override destroy(): void {
    this.#gate.forget(this);
    this.inner.destroy();
  }

  hold(): void {
    this.inner.holdWrites!();
  }

  release(): void {
    this.inner.releaseWrites!();
    if (this.#closeWaiting) {
      this.#closeWaiting = false;
      this.inner.close();
    }
  }
}
