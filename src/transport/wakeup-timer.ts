/**
 * The one real timer a runner needs: it wakes the machine at the earliest
 * time the machine asked for (nextWakeup), on the real clock. Asking for a
 * later time than the one already set changes nothing: the earlier wake-up
 * will ask the machine again.
 */
export class WakeupTimer {
  #timer: NodeJS.Timeout | undefined;
  #at = Infinity;

  constructor(
    private readonly now: () => number,
    private readonly wake: () => void,
    /** Whether a pending wake-up alone keeps the process alive. */
    private readonly holdsProcess = false,
  ) {}

  /** Wake at `at` (a time on `now`'s clock), unless a wake-up is already due sooner. */
  schedule(at: number | undefined): void {
    if (at === undefined || at >= this.#at) return;
    clearTimeout(this.#timer);
    this.#at = at;
    this.#timer = setTimeout(() => {
      this.#at = Infinity;
      this.wake();
    }, Math.max(0, at - this.now()));
    if (!this.holdsProcess) this.#timer.unref();
  }

  cancel(): void {
    clearTimeout(this.#timer);
    this.#at = Infinity;
  }
}
