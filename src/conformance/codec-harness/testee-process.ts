import { spawn, type ChildProcess } from "node:child_process";
import { encodeMessage, MessageFramingError, MessageReader } from "./message-framing.js";
import { harnessHello, parseAnswer, parseTesteeHello, ProtocolViolation, type Request, type TesteeHello } from "./protocol.js";
import type { RequestOutcome, TesteeSession } from "./session.js";

/**
 * A testee in a child process, spoken to over its stdin and stdout. Whatever
 * the testee does — exits, stops answering, prints text on stdout — every
 * request ends in an outcome within its timeout, so the harness never hangs.
 */

export interface TesteeProcessOptions {
  /** The program and its arguments, run without a shell. */
  readonly argv: readonly string[];
  readonly cwd?: string;
  readonly handshakeTimeoutMs: number;
  /** How long close() waits for the testee to exit after shutdown before killing it. */
  readonly shutdownGraceMs?: number;
}

/** The testee did not get through the handshake. */
export class TesteeStartError extends Error {
  override readonly name = "TesteeStartError";
}

const STDERR_TAIL_BYTES = 4096;

type Waiter = (message: Record<string, unknown> | BrokenEvent) => void;
interface BrokenEvent {
  readonly broken: "crash" | "timeout" | "garbage";
  readonly summary: string;
  readonly detail: string;
}

class ProcessSession implements TesteeSession {
  hello!: TesteeHello;
  readonly #child: ChildProcess;
  readonly #reader = new MessageReader();
  readonly #options: TesteeProcessOptions;
  #waiter: Waiter | undefined;
  #failure: BrokenEvent | undefined;
  #exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #exited = false;
  #stderr = "";

  constructor(options: TesteeProcessOptions) {
    this.#options = options;
    const [program, ...args] = options.argv;
    // Its own process group, so that killing it also ends what it started (npx, shell wrappers).
    this.#child = spawn(program!, args, { cwd: options.cwd, stdio: ["pipe", "pipe", "pipe"], detached: true });
    this.#child.stdin!.on("error", () => {
      // EPIPE when the testee has exited; the exit event reports it.
    });
    this.#child.stderr!.on("data", (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString("utf8")).slice(-STDERR_TAIL_BYTES);
    });
    this.#child.stdout!.on("data", (chunk: Buffer) => this.#onData(chunk));
    // In its own process group the testee would outlive a harness that exits early; take it along.
    const killOnExit = () => this.kill();
    process.once("exit", killOnExit);
    this.#exit = new Promise((resolve) => {
      this.#child.on("error", (error) => {
        process.removeListener("exit", killOnExit);
        this.#exited = true;
        this.#fail({ broken: "crash", summary: "the testee could not be started", detail: `could not start ${JSON.stringify(program)}: ${error.message}` });
        resolve({ code: null, signal: null });
      });
      // "close", not "exit": it comes after stdout is drained, so an answer written just before exiting still counts.
      this.#child.on("close", (code, signal) => {
        process.removeListener("exit", killOnExit);
        this.#exited = true;
        this.#fail({ broken: "crash", summary: `the testee exited (${exitDescription(code, signal)})`, detail: `the testee exited (${exitDescription(code, signal)})${this.#stderrNote()}` });
        resolve({ code, signal });
      });
    });
  }

  async handshake(): Promise<void> {
    this.#child.stdin!.write(encodeMessage(harnessHello()));
    const message = await this.#nextMessage(this.#options.handshakeTimeoutMs);
    if (message === "timeout") throw new TesteeStartError(`no hello from the testee within ${this.#options.handshakeTimeoutMs} ms${this.#stderrNote()}`);
    if ("broken" in message) throw new TesteeStartError(`${message.detail}`);
    try {
      this.hello = parseTesteeHello(message);
    } catch (error) {
      throw new TesteeStartError((error as Error).message);
    }
  }

  async request(request: Request, timeoutMs: number): Promise<RequestOutcome> {
    if (this.#failure) return this.#brokenOutcome();
    this.#child.stdin!.write(encodeMessage(request));
    const message = await this.#nextMessage(timeoutMs);
    if (message === "timeout") {
      this.#fail({ broken: "timeout", summary: "no answer within the timeout", detail: `no answer within ${timeoutMs} ms${this.#stderrNote()}` });
      return this.#brokenOutcome();
    }
    if ("broken" in message) return this.#brokenOutcome();
    try {
      return { kind: "answer", answer: parseAnswer(message, request.id) };
    } catch (error) {
      if (!(error instanceof ProtocolViolation)) throw error;
      this.#fail({ broken: "garbage", summary: "the testee broke the harness protocol", detail: error.message });
      return this.#brokenOutcome();
    }
  }

  async close(): Promise<string | undefined> {
    if (this.#failure !== undefined) {
      // Already reported by the request that found it; only make sure it is gone.
      this.kill();
      await this.#exit;
      return undefined;
    }
    this.#child.stdin!.end(encodeMessage({ type: "shutdown" }));
    const graceMs = this.#options.shutdownGraceMs ?? 5000;
    const exited = await Promise.race([this.#exit, delay(graceMs)]);
    if (exited !== undefined) return exited.code === 0 ? undefined : `the testee ended with ${exitDescription(exited.code, exited.signal)} after shutdown, not exit code 0${this.#stderrNote()}`;
    this.kill();
    await this.#exit;
    return `the testee did not exit within ${graceMs} ms of shutdown and was killed`;
  }

  /** End the testee and anything it started. */
  kill(): void {
    if (this.#exited || this.#child.pid === undefined) return;
    try {
      process.kill(-this.#child.pid, "SIGKILL");
    } catch {
      this.#child.kill("SIGKILL");
    }
  }

  #onData(chunk: Buffer): void {
    if (this.#failure) return;
    this.#reader.push(chunk);
    try {
      for (let message = this.#reader.next(); message !== undefined; message = this.#reader.next()) {
        const waiter = this.#waiter;
        if (waiter === undefined) {
          this.#fail({ broken: "garbage", summary: "the testee broke the harness protocol", detail: `the testee sent a message nobody asked for: ${JSON.stringify(message).slice(0, 200)}` });
          return;
        }
        this.#waiter = undefined;
        waiter(message);
      }
    } catch (error) {
      if (!(error instanceof MessageFramingError)) throw error;
      this.#fail({ broken: "garbage", summary: "the testee wrote something that is not a harness message", detail: `the testee wrote something that is not a harness message: ${error.message}` });
    }
  }

  #brokenOutcome(): RequestOutcome {
    const failure = this.#failure!;
    return { kind: "broken", reason: failure.broken, summary: failure.summary, detail: failure.detail };
  }

  #fail(event: BrokenEvent): void {
    this.#failure ??= event;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.(this.#failure);
  }

  #nextMessage(timeoutMs: number): Promise<Record<string, unknown> | BrokenEvent | "timeout"> {
    if (this.#failure) return Promise.resolve(this.#failure);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        resolve("timeout");
      }, timeoutMs);
      this.#waiter = (message) => {
        clearTimeout(timer);
        resolve(message);
      };
    });
  }

  #stderrNote(): string {
    const tail = this.#stderr.trim();
    return tail === "" ? "" : `; its stderr ends with: ${tail.slice(-600)}`;
  }
}

/** Start a testee and complete the handshake, or throw TesteeStartError (the process is killed). */
export async function startTesteeProcess(options: TesteeProcessOptions): Promise<TesteeSession> {
  if (options.argv.length === 0) throw new TesteeStartError("the testee command is empty");
  const session = new ProcessSession(options);
  try {
    await session.handshake();
  } catch (error) {
    session.kill();
    throw error;
  }
  return session;
}

function exitDescription(code: number | null, signal: NodeJS.Signals | null): string {
  return signal !== null ? `killed by ${signal}` : `exit code ${code}`;
}

function delay(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms).unref());
}
