/** A rate: `perSecond` on average, up to `burst` at once (FLOW-4). */
export interface Rate {
  readonly perSecond: number;
  readonly burst: number;
}

/**
 * A token bucket on the caller's clock (no timers: time comes in as `now`).
 * Each request takes a token; tokens come back at `perSecond`, up to `burst`.
 */
export class TokenBucket {
  readonly #rate: Rate;
  #tokens: number;
  #at: number;

  constructor(rate: Rate, now: number) {
    this.#rate = rate;
    this.#tokens = rate.burst;
    this.#at = now;
  }

  /** Take a token: 0 when one was there, else the milliseconds until one will be. */
  take(now: number): number {
    this.#refill(now);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.#tokens) * 1000) / this.#rate.perSecond);
  }

  /** Whether the bucket is full at `now`: a full bucket of an idle user can be forgotten. */
  full(now: number): boolean {
    this.#refill(now);
    return this.#tokens >= this.#rate.burst;
  }

  #refill(now: number): void {
    if (now > this.#at) {
      this.#tokens = Math.min(this.#rate.burst, this.#tokens + ((now - this.#at) * this.#rate.perSecond) / 1000);
      this.#at = now;
    }
  }
}
