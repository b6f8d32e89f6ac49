import type { ConversationEvent } from "../../gen/imwire/v1/message_pb.js";

/**
 * One conversation's reorder buffer (SEQ-3, SEQ-4, SEQ-5): events go in in
 * any order and any number of times, and come out once each, in seq order.
 */
export class Timeline {
  /** Every event up to this seq has been handed out (or lies before the visible range). */
  #held: bigint;
  /** The highest seq known to exist: from events, notify entries or conversation descriptions. */
  #knownHead: bigint;
  readonly #ahead = new Map<bigint, ConversationEvent>();

  constructor(held = 0n) {
    this.#held = held;
    this.#knownHead = held;
  }

  get held(): bigint {
    return this.#held;
  }

  get knownHead(): bigint {
    return this.#knownHead;
  }

  /** Events are missing between what was handed out and what is known to exist. */
  get hasGap(): boolean {
    return this.#knownHead > this.#held;
  }

  get bufferedCount(): number {
    return this.#ahead.size;
  }

  /** Take in an event; returns the events now deliverable, in order (possibly none). */
  accept(event: ConversationEvent): ConversationEvent[] {
    const seq = event.seq;
    if (seq > this.#knownHead) this.#knownHead = seq;
    if (seq <= this.#held) return []; // a duplicate
    if (seq > this.#held + 1n) {
      this.#ahead.set(seq, event); // ahead of a gap
      return [];
    }
    const ready = [event];
    this.#held = seq;
    for (let next = this.#ahead.get(this.#held + 1n); next !== undefined; next = this.#ahead.get(this.#held + 1n)) {
      this.#ahead.delete(this.#held + 1n);
      ready.push(next);
      this.#held = next.seq;
    }
    return ready;
  }

  /** Something says events up to `seq` exist. */
  noteHead(seq: bigint): void {
    if (seq > this.#knownHead) this.#knownHead = seq;
  }

  /** The server says nothing beyond `seq` is readable: stop expecting more (guards against pulling forever). */
  capHead(seq: bigint): void {
    const floor = seq > this.#held ? seq : this.#held;
    if (this.#knownHead > floor) this.#knownHead = floor;
  }

  /**
   * SEQ-5: nothing below `firstVisible` will ever come (membership or
   * retention). Returns the buffered events that became deliverable.
   */
  startAt(firstVisible: bigint): ConversationEvent[] {
    if (firstVisible - 1n <= this.#held) return [];
    this.#held = firstVisible - 1n;
    if (this.#knownHead < this.#held) this.#knownHead = this.#held;
    for (const seq of [...this.#ahead.keys()]) if (seq <= this.#held) this.#ahead.delete(seq);
    const next = this.#ahead.get(this.#held + 1n);
    if (!next) return [];
    this.#ahead.delete(next.seq);
    return this.accept(next);
  }
}
