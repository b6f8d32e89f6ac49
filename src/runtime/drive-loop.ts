import type { WakeupTimer, WakeupTimerFactory } from "./wakeup-timer.js";

/**
 * One handler per kind of output, each given its own variant: a machine that
 * gains a kind of output is a compile error in every runner until each
 * decides what to do with it.
 */
export type OutputHandlers<Output extends { readonly kind: string }> = {
  readonly [Kind in Output["kind"]]: (output: Extract<Output, { readonly kind: Kind }>) => void;
};

export interface DriveLoopOptions<Output extends { readonly kind: string }> {
  /** The machine's outputs since the last call: takeOutputs(), or the server runner's unsettled variant. */
  readonly take: () => readonly Output[];
  readonly handlers: OutputHandlers<Output>;
  /** Runs after each batch is carried out, before the wake-up is re-armed. */
  readonly afterBatch?: (outputs: readonly Output[]) => void;
  readonly nextWakeup: () => number | undefined;
  readonly tick: (now: number) => void;
  readonly now: () => number;
  readonly timer: WakeupTimerFactory;
}

/**
 * What every runner does after each input to a sans-I/O machine (SPEC.md's
 * machines, client and server alike): carry out its outputs in order, then
 * arm one wake-up for when it next needs a tick. The real client and server
 * runners, the simulator and the browser all drive their machines with it.
 */
export class DriveLoop<Output extends { readonly kind: string }> {
  readonly #options: DriveLoopOptions<Output>;
  readonly #timer: WakeupTimer;
  #driving = false;
  #again = false;

  constructor(options: DriveLoopOptions<Output>) {
    this.#options = options;
    this.#timer = options.timer(() => {
      options.tick(options.now());
      this.drive();
    });
  }

  /**
   * Carry out what the machine asked for, until it asks for nothing more. A
   * handler that feeds the machine an input (an application reacting to an
   * event with a command, a refused write) does not start a second pass
   * inside the first: its outputs follow those already taken, in order.
   */
  drive(): void {
    if (this.#driving) {
      this.#again = true;
      return;
    }
    this.#driving = true;
    const { take, handlers, afterBatch } = this.#options;
    try {
      do {
        this.#again = false;
        const outputs = take();
        for (const output of outputs) (handlers[output.kind as Output["kind"]] as (output: Output) => void)(output);
        afterBatch?.(outputs);
      } while (this.#again);
    } finally {
      this.#driving = false;
    }
    this.#timer.schedule(this.#options.nextWakeup());
  }

  /** No more wake-ups until the next drive(). */
  cancel(): void {
    this.#timer.cancel();
  }
}
