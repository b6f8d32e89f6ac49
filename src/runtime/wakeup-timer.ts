/**
 * One pending wake-up for a machine: the earliest time it asked to be ticked
 * (nextWakeup). Real time and the simulator's virtual time both sit behind it,
 * so one driving loop serves both.
 */
export interface WakeupTimer {
  /** Wake at `at` (a time on the loop's clock), unless a wake-up is already due sooner; undefined asks for nothing. */
  schedule(at: number | undefined): void;
  /** Forget the pending wake-up, if any. */
  cancel(): void;
}

/** Makes the timer of one loop, given what to do when it fires. */
export type WakeupTimerFactory = (wake: () => void) => WakeupTimer;

/**
 * The timer functions every JavaScript host has (browsers, Node, Deno, Bun),
 * read from globalThis so that this module needs neither the DOM's nor
 * Node's type declarations: their handle types differ, and only Node's has unref.
 */
interface TimerHost {
  setTimeout(run: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Node's: after the I/O the loop has ready, without setTimeout's 1 ms floor. */
  setImmediate?(run: () => void): unknown;
  clearImmediate?(handle: unknown): void;
}
const host = globalThis as unknown as TimerHost;

/** Run `run` once after `delayMs` on any host, without holding a Node process alive; returns what cancels it. */
export function afterDelay(delayMs: number, run: () => void): () => void {
  const handle = host.setTimeout(run, delayMs);
  (handle as { unref?: () => void }).unref?.();
  return () => host.clearTimeout(handle);
}

export interface ClockTimerOptions {
  /**
   * Whether a pending wake-up alone keeps a Node process alive. A client's
   * heartbeats and reconnects are what keep it running; a server's timers
   * must not hold a process that has nothing else left. Browsers have no such notion.
   */
  readonly holdsProcess?: boolean;
}

/**
 * A wake-up on the real clock, with setTimeout. Asking for a later time than
 * the one already set changes nothing: the earlier wake-up will ask the
 * machine again.
 */
export class ClockTimer implements WakeupTimer {
  #handle: unknown;
  #immediate = false;
  #at = Infinity;

  constructor(
    private readonly now: () => number,
    private readonly wake: () => void,
    private readonly options: ClockTimerOptions = {},
  ) {}

  schedule(at: number | undefined): void {
    if (at === undefined || at >= this.#at) return;
    this.#clear();
    this.#at = at;
    const fire = () => {
      this.#at = Infinity;
      this.#handle = undefined;
      this.wake();
    };
    const delay = at - this.now();
    // Work due now (pushes left over from an input) runs after the I/O already waiting — a commit's fsync, the
    // next requests — and not a millisecond later, as setTimeout(0) would.
    this.#immediate = delay <= 0 && host.setImmediate !== undefined;
    if (this.#immediate) this.#handle = host.setImmediate!(fire);
    else {
      // A deadline met late, after the loop was busy (a long input, storage waits), is judged after the I/O that
      // came in meanwhile: Node runs timers before reading sockets, so a peer whose ping waits unread would be
      // taken for silent (HB-3, HB-4). The hop through setImmediate lets the loop read it first.
      const hop = () => {
        if (host.setImmediate === undefined) return fire();
        this.#immediate = true;
        // Not unref'd: the wake-up is due, and one loop turn is all it holds (a process whose last handle was the
        // timer would otherwise exit with the wake-up undone, as a server's drain deadline did).
        this.#handle = host.setImmediate(fire);
      };
      this.#handle = host.setTimeout(hop, Math.max(0, delay));
    }
    if (this.options.holdsProcess !== true) (this.#handle as { unref?: () => void }).unref?.();
  }

  cancel(): void {
    this.#clear();
    this.#at = Infinity;
  }

  #clear(): void {
    if (this.#handle === undefined) return;
    if (this.#immediate) host.clearImmediate!(this.#handle);
    else host.clearTimeout(this.#handle);
    this.#handle = undefined;
  }
}

/** A factory of ClockTimers on `now`'s clock, for a loop's `timer` option. */
export function clockTimers(now: () => number, options: ClockTimerOptions = {}): WakeupTimerFactory {
  return (wake) => new ClockTimer(now, wake, options);
}
