/**
 * The status line of a run on a terminal: "[123/370] tcp HB-3/silent-… 12 s
 * (+3 running)", rewritten in place and cleared before each result line, so
 * results scroll above it. Off a terminal (CI logs, pipes) it writes the
 * result lines only: a rewritten line there is noise.
 */
export interface LiveProgressOptions {
  readonly write: (text: string) => void;
  readonly total: number;
  /** Terminal width, when stdout is a terminal; undefined turns the status line off. */
  readonly columns: number | undefined;
  readonly now?: () => number;
  /** Redraw this often, so the running test's seconds count up (0: only on events). */
  readonly tickMs?: number;
}

const CLEAR_LINE = "\r\x1b[2K";

export class LiveProgress {
  readonly #options: LiveProgressOptions;
  readonly #now: () => number;
  /** Running tests by key, in the order they started: the oldest is the one holding the run up. */
  readonly #running = new Map<string, number>();
  #done = 0;
  #shown = false;
  #stopped = false;
  #ticker: NodeJS.Timeout | undefined;

  constructor(options: LiveProgressOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    if (options.columns !== undefined && (options.tickMs ?? 1_000) > 0) {
      this.#ticker = setInterval(() => this.#draw(), options.tickMs ?? 1_000);
      this.#ticker.unref();
    }
  }

  get enabled(): boolean {
    return this.#options.columns !== undefined;
  }

  started(key: string): void {
    this.#running.set(key, this.#now());
    this.#draw();
  }

  /** A result: its line goes above the status line, which is then redrawn. */
  finished(key: string, line: string): void {
    this.#running.delete(key);
    this.#done++;
    this.#clear();
    this.#options.write(`${line}\n`);
    this.#draw();
  }

  /** Before anything else is printed: the status line goes away for good. */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#ticker);
    this.#ticker = undefined;
    this.#clear();
  }

  /** The status text, without terminal control characters. */
  status(): string {
    const [oldest] = this.#running;
    const counter = `[${this.#done}/${this.#options.total}]`;
    if (oldest === undefined) return counter;
    const seconds = Math.floor((this.#now() - oldest[1]) / 1000);
    const others = this.#running.size - 1;
    return `${counter} ${oldest[0]} …${seconds >= 2 ? ` ${seconds} s` : ""}${others > 0 ? ` (+${others} running)` : ""}`;
  }

  #draw(): void {
    const columns = this.#options.columns;
    if (columns === undefined || this.#stopped) return;
    // One character short of the width: a line that fills it wraps on some terminals, and \r then clears only its last row.
    const text = [...this.status()].slice(0, Math.max(10, columns - 1)).join("");
    this.#options.write(`${CLEAR_LINE}${text}`);
    this.#shown = true;
  }

  #clear(): void {
    if (!this.#shown) return;
    this.#options.write(CLEAR_LINE);
    this.#shown = false;
  }
}
