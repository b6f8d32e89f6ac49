import type { WakeupTimer } from "./wakeup-timer.js";

/** Anything that runs callbacks at virtual times: the simulator's EventQueue, a test's clock. */
export interface VirtualScheduler {
  at(time: number, run: () => void): void;
}

/**
 * A wake-up on virtual time. A scheduler has no way to take an event back, so
 * a wake-up superseded by an earlier one still fires at its own time: the
 * machine, ticked when nothing is due, does nothing, and the simulator's
 * seeded histories stay exactly as they were when each runner kept its own
 * timer this way. Only cancel() silences what is pending.
 */
export class VirtualTimer implements WakeupTimer {
  #at = Infinity;
  /** Bumped by cancel(): wake-ups scheduled before it are ignored. */
  #generation = 0;

  constructor(
    private readonly scheduler: VirtualScheduler,
    private readonly wake: () => void,
  ) {}

  schedule(at: number | undefined): void {
    if (at === undefined || at >= this.#at) return;
    this.#at = at;
    const generation = this.#generation;
    this.scheduler.at(at, () => {
      if (generation !== this.#generation) return;
      if (this.#at === at) this.#at = Infinity;
      this.wake();
    });
  }

  cancel(): void {
    this.#generation++;
    this.#at = Infinity;
  }
}

/** A factory of VirtualTimers on `scheduler`, for a loop's `timer` option. */
export function virtualTimers(scheduler: VirtualScheduler): (wake: () => void) => VirtualTimer {
  return (wake) => new VirtualTimer(scheduler, wake);
}
