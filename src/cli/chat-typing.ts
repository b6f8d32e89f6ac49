/**
 * EPH-3: when to tell the server the user is typing. `set_typing` true at
 * most every REPEAT_MS while keys are pressed, false when the line is
 * sent, the conversation changes, or no key came for IDLE_MS. Pure: time is
 * the `now` argument; `send` is the machine's setTyping, which answers
 * false when it dropped the notice (no ready connection, or no
 * FEATURE_EPHEMERAL): then nothing is taken as said, and the next key
 * tries again.
 */

/** EPH-3: "at most every 3 seconds while typing". */
export const TYPING_REPEAT_MS = 3_000;
/** No key for this long is "stopped typing". */
export const TYPING_IDLE_MS = 5_000;

export type SetTyping = (conversationId: string, typing: boolean) => boolean;

export class TypingNotifier {
  readonly #send: SetTyping;
  /** The conversation the server was last told the user types in, and when. */
  #said: { readonly conversationId: string; readonly at: number } | undefined;
  #lastKeyAt = 0;

  constructor(send: SetTyping) {
    this.#send = send;
  }

  /** A key was pressed while `conversationId` is open. */
  keypress(conversationId: string, now: number): void {
    this.#lastKeyAt = now;
    if (this.#said !== undefined && this.#said.conversationId !== conversationId) this.stopped();
    if (this.#said !== undefined && now - this.#said.at < TYPING_REPEAT_MS) return;
    if (this.#send(conversationId, true)) this.#said = { conversationId, at: now };
  }

  /** The line was sent or dropped, or the conversation closed: the user no longer types. */
  stopped(): void {
    const said = this.#said;
    if (said === undefined) return;
    this.#said = undefined;
    this.#send(said.conversationId, false);
  }

  /** Call at `idleAt()`: stops when no key came since. */
  tick(now: number): void {
    if (this.#said !== undefined && now - this.#lastKeyAt >= TYPING_IDLE_MS) this.stopped();
  }

  /** When tick() should next run; undefined when the user is not typing. */
  idleAt(): number | undefined {
    return this.#said === undefined ? undefined : this.#lastKeyAt + TYPING_IDLE_MS;
  }
}

/** Whether a line being typed becomes a message: text, "//text", or a thread reply; other commands are not typing to anyone. */
export function writesMessage(line: string): boolean {
  const start = line.trimStart();
  return !start.startsWith("/") || start.startsWith("//") || /^\/reply\s/.test(start);
}
