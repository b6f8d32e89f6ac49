/** A virtual clock and the events due on it, in time order, ties in the order they were scheduled. */
export class EventQueue {
  #now = 0;
  #sequence = 0;
  readonly #heap: { time: number; sequence: number; run: () => void }[] = [];

  get now(): number {
    return this.#now;
  }

  get size(): number {
    return this.#heap.length;
  }

  at(time: number, run: () => void): void {
    this.#push({ time: Math.max(time, this.#now), sequence: this.#sequence++, run });
  }

  after(delay: number, run: () => void): void {
    this.at(this.#now + delay, run);
  }

  /** Run events until none is due before `until`; the clock ends at `until`. Returns how many ran. */
  runUntil(until: number, maxEvents = Infinity): number {
    let ran = 0;
    while (this.#heap.length > 0 && this.#heap[0]!.time <= until) {
      if (ran >= maxEvents) throw new Error(`more than ${maxEvents} events before t=${until}: a livelock?`);
      const event = this.#pop();
      this.#now = event.time;
      event.run();
      ran++;
    }
    this.#now = Math.max(this.#now, until);
    return ran;
  }

  /**
   * Run the one next event if it is due by `until`; returns whether one ran.
   * For callers that must let promises settle between events (a runner whose
   * transports open asynchronously), which runUntil does not.
   */
  runNext(until: number): boolean {
    if (this.#heap.length === 0 || this.#heap[0]!.time > until) return false;
    const event = this.#pop();
    this.#now = event.time;
    event.run();
    return true;
  }

  #push(item: { time: number; sequence: number; run: () => void }): void {
    const heap = this.#heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  #pop(): { time: number; sequence: number; run: () => void } {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let smallest = i;
        if (l < heap.length && before(heap[l]!, heap[smallest]!)) smallest = l;
        if (r < heap.length && before(heap[r]!, heap[smallest]!)) smallest = r;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
        i = smallest;
      }
    }
    return top;
  }
}

function before(a: { time: number; sequence: number }, b: { time: number; sequence: number }): boolean {
  return a.time < b.time || (a.time === b.time && a.sequence < b.sequence);
}
