/**
 * PostgresStore's answers to reads, kept for the rest of the transaction
 * that made them. Every statement is a round trip (SyncPostgres), and the
 * machine asks the same few things again and again within one request
 * (a conversation, a membership, a member count), and once per
 * conversation across a snapshot page (SYNC-7). Inside a transaction those
 * answers cannot change but by the transaction's own writes: every
 * transaction holds the cluster's writer lock, so no other node commits
 * meanwhile. PostgresSession.readGeneration says when they may have changed
 * (a write, a rollback to a savepoint, the transaction's end), and the kept
 * answers are dropped then. Outside a transaction nothing is kept: another
 * node may commit between two statements.
 */
export class TransactionReads {
  readonly #generation: () => number | undefined;
  /** The generation the kept answers were read under. */
  #keptUnder: number | undefined;
  /** Per kind of read (a method's name), its answers by their arguments. */
  readonly #kept = new Map<string, Map<string, unknown>>();

  constructor(generation: () => number | undefined) {
    this.#generation = generation;
  }

  /** What `read()` answers for the read named `kind` with `args`: from the transaction's earlier answer, or read now (and kept). */
  get<T>(kind: string, args: readonly (string | number)[], read: () => T): T {
    const answers = this.#answers(kind);
    if (answers === undefined) return read();
    const key = keyOf(args);
    if (answers.has(key)) return answers.get(key) as T;
    const answer = read();
    // The read itself may have failed the transaction (then it threw), never changed it: the generation still holds.
    answers.set(key, answer);
    return answer;
  }

  /** Keep an answer learned from a wider statement (one that answered many reads at once), if inside a transaction. */
  put(kind: string, args: readonly (string | number)[], answer: unknown): void {
    this.#answers(kind)?.set(keyOf(args), answer);
  }

  /** Whether answers are kept now: inside a healthy transaction. */
  get keeping(): boolean {
    return this.#generation() !== undefined;
  }

  #answers(kind: string): Map<string, unknown> | undefined {
    const generation = this.#generation();
    if (generation === undefined) return undefined;
    if (generation !== this.#keptUnder) {
      this.#kept.clear();
      this.#keptUnder = generation;
    }
    let answers = this.#kept.get(kind);
    if (answers === undefined) this.#kept.set(kind, (answers = new Map()));
    return answers;
  }
}

/** Arguments as one unambiguous key (ids may hold any character). */
function keyOf(args: readonly (string | number)[]): string {
  return args.length === 1 && typeof args[0] === "string" ? args[0] : JSON.stringify(args);
}
