import type { UserEvent } from "../../gen/imwire/v1/delivery_pb.js";

/** How many entries after a gap are kept while it is filled; beyond that they are fetched again. */
const MAX_AHEAD = 4096;

/**
 * A device's position in its user's stream (CUR-3): entries are applied when
 * they link to what is held (prev_cursor <= held < cursor), dropped when
 * already held, and kept aside after a gap until it is filled.
 */
export class StreamCursor {
  #held: bigint;
  #highestSeen: bigint;
  readonly #ahead = new Map<bigint, UserEvent>();

  constructor(held = 0n) {
    this.#held = held;
    this.#highestSeen = held;
  }

  get held(): bigint {
    return this.#held;
  }

  /** The highest cursor received, gaps or not (never to be acknowledged: ACK-1). */
  get highestSeen(): bigint {
    return this.#highestSeen;
  }

  /** True when entries after a gap are waiting. */
  get hasGap(): boolean {
    return this.#ahead.size > 0;
  }

  /** Take in an entry; returns the entries now applicable, in order. */
  accept(entry: UserEvent): UserEvent[] {
    if (entry.cursor > this.#highestSeen) this.#highestSeen = entry.cursor;
    if (entry.cursor <= this.#held) return [];
    if (entry.prevCursor > this.#held) {
      if (this.#ahead.size < MAX_AHEAD) this.#ahead.set(entry.cursor, entry);
      return [];
    }
    const ready = [entry];
    this.#held = entry.cursor;
    for (let progressed = true; progressed && this.#ahead.size > 0; ) {
      progressed = false;
      for (const [cursor, waiting] of [...this.#ahead].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
        if (cursor <= this.#held) {
          this.#ahead.delete(cursor);
        } else if (waiting.prevCursor <= this.#held) {
          this.#ahead.delete(cursor);
          ready.push(waiting);
          this.#held = cursor;
          progressed = true;
        } else {
          break;
        }
      }
    }
    return ready;
  }

  /** CUR-4, SYNC-4: start over from a snapshot's cursor. */
  reset(held: bigint): void {
    this.#held = held;
    this.#highestSeen = held;
    this.#ahead.clear();
  }
}
