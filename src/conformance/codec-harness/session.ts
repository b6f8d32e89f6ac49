import type { Answer, HarnessHello, Request, TesteeHello } from "./protocol.js";

/**
 * A conversation with one testee. The runner neither knows nor cares whether
 * the testee is another process (testee-process.ts) or a function in this one
 * (for imwire vectors verify).
 */

export type BrokenReason = "crash" | "timeout" | "garbage";

export type RequestOutcome =
  | { readonly kind: "answer"; readonly answer: Answer }
  /** The session can no longer be trusted: the runner closes it and starts another. */
  | {
      readonly kind: "broken";
      readonly reason: BrokenReason;
      /** Short and the same on every run (no timings, no stderr): it goes into failure signatures. */
      readonly summary: string;
      readonly detail: string;
    };

export interface TesteeSession {
  readonly hello: TesteeHello;
  request(request: Request, timeoutMs: number): Promise<RequestOutcome>;
  /** End the session: shutdown, then force if need be. Resolves to a problem description, or undefined when the testee exited cleanly. */
  close(): Promise<string | undefined>;
}

export type StartSession = () => Promise<TesteeSession>;

/** A testee implemented as functions: answers one request at a time. */
export interface Testee {
  hello(harness: HarnessHello): TesteeHello;
  answer(request: Request): Answer | Promise<Answer>;
}

/**
 * A session with an in-process testee. Requests and answers go through
 * JSON.stringify/parse, so the testee sees exactly what a process would.
 */
export function inProcessSession(testee: Testee, harness: HarnessHello): TesteeSession {
  const wire = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
  return {
    hello: wire(testee.hello(wire(harness))),
    async request(request) {
      try {
        return { kind: "answer", answer: wire(await testee.answer(wire(request))) };
      } catch (error) {
        return { kind: "broken", reason: "crash", summary: `the testee threw ${(error as Error).name}`, detail: `the testee threw: ${(error as Error).stack ?? String(error)}` };
      }
    },
    async close() {
      return undefined;
    },
  };
}
