import { randomBytes, randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import { issueToken } from "../auth/hmac-token.js";
import { ClientRunner } from "../client/client-runner.js";
import { ErrorCode } from "../gen/imwire/v1/error_pb.js";
import { ClientMachine } from "../machines/client/client-machine.js";
import type { ClientEvent } from "../machines/client/types.js";
import type { DialOptions } from "../transport/dial.js";
import { CliError, UsageError, type CliIO } from "./io.js";
import { readOptionFile, serverAddressOption } from "./options.js";
import { resolveSecret } from "./secret.js";

/**
 * What the terminal commands (chat, send, tail) may be given besides CliIO:
 * a line source and an interrupt source. Tests pass streams here so the
 * commands run in-process through runCli; the process uses its own stdin and
 * signals. (CliIO is shared by every command, so these stay optional extras.)
 */
export interface TerminalIO extends CliIO {
  readonly input?: Readable;
  /** Emits "SIGINT" when the user interrupts; default the process. */
  readonly interrupts?: NodeJS.EventEmitter;
}

export const DEFAULT_SERVER = "tcp://127.0.0.1:5300";

/** The parseArgs options every terminal command shares. */
export const sessionOptionConfig = {
  server: { type: "string", default: DEFAULT_SERVER },
  user: { type: "string" },
  device: { type: "string" },
  token: { type: "string" },
  "token-file": { type: "string" },
  secret: { type: "string" },
  "secret-file": { type: "string" },
  insecure: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

export const sessionHelp = `Connection:
  --server URL        tcp://, tls://, ws:// or wss:// address (default ${DEFAULT_SERVER})
  --user NAME         who you are (required)
  --device NAME       this device's id (default: see above)
  --token TEXT        the bearer token to present...
  --token-file PATH   ...or read it from a file
  --secret TEXT       else mint a token with the server's secret (default:
                      IMWIRE_SECRET, else the development secret "imwire serve" uses)
  --secret-file PATH  read that secret from a file
  --insecure          tls:// and wss://: accept any certificate (self-signed, tests)
  -h, --help          show this help`;

export interface SessionSettings {
  readonly url: string;
  readonly userId: string;
  readonly deviceId: string;
  /** Called on every connection: a minted token is fresh each time. */
  readonly token: () => string;
  readonly dial: DialOptions;
}

interface SessionValues {
  server: string;
  user?: string;
  device?: string;
  token?: string;
  "token-file"?: string;
  secret?: string;
  "secret-file"?: string;
  insecure: boolean;
}

/** A lifetime long enough for any session, short enough that a leaked token from a log soon stops working. */
const MINTED_TOKEN_TTL_MS = 60 * 60 * 1000;

/** Validate the shared flags and settle the token; `defaultDevice` applies when --device is absent. */
export async function sessionSettings(values: SessionValues, io: CliIO, defaultDevice: string): Promise<SessionSettings> {
  const url = serverAddressOption(values.server, "--server");
  if (values.user === undefined || values.user === "") throw new UsageError("give --user NAME");
  if (values.device === "") throw new UsageError("--device takes a non-empty name");
  const given = [values.token, values["token-file"], values.secret, values["secret-file"]].filter((v) => v !== undefined).length;
  if (given > 1) throw new UsageError("give one of --token, --token-file, --secret and --secret-file");
  const userId = values.user;
  const deviceId = values.device ?? defaultDevice;
  const dialOptions: DialOptions = values.insecure ? { tls: { rejectUnauthorized: false } } : {};
  const settings = (token: () => string): SessionSettings => ({ url, userId, deviceId, token, dial: dialOptions });

  if (values.token !== undefined) {
    const token = values.token.trim();
    return settings(() => token);
  }
  if (values["token-file"] !== undefined) {
    const token = Buffer.from(await readOptionFile(io.readFile, values["token-file"], "--token-file")).toString("utf8").trim();
    if (token === "") throw new CliError(`--token-file: the file is empty: ${values["token-file"]}`);
    return settings(() => token);
  }
  // resolveSecret reads --secret-file without the CLI's file errors, so the file is read here.
  const secret = values["secret-file"] !== undefined ? Buffer.from(await readOptionFile(io.readFile, values["secret-file"], "--secret-file")) : await resolveSecret({ secret: values.secret }, io.writeErr);
  return settings(() => issueToken({ userId, deviceId, expiresAtMs: Date.now() + MINTED_TOKEN_TTL_MS }, secret));
}

/** "cli-send-3f9a1c": a device of its own per run, so two runs never replace each other (AUTH-4). */
export function oneOffDevice(command: string): string {
  return `cli-${command}-${randomBytes(3).toString("hex")}`;
}

export type OperationOutcome = Extract<ClientEvent, { kind: "done" | "failed" }>;

type Waiter = { readonly match: (event: ClientEvent) => boolean; readonly resolve: (event: ClientEvent) => void; readonly reject: (error: Error) => void };

/**
 * One device on the reference client, with what every terminal command needs
 * on top: waiting for events, and ending the session with one line when it
 * cannot go on — the first connection fails, the token is refused, or
 * another connection of the device takes over. Outages after the first
 * connection are the machine's to ride out: it reconnects, retries and
 * catches up.
 */
export class ClientSession {
  readonly runner: ClientRunner;
  readonly settings: SessionSettings;
  /** Rejects with a CliError when the session cannot go on; never resolves. */
  readonly ended: Promise<never>;
  #endedWith: CliError | undefined;
  #rejectEnded!: (error: CliError) => void;
  #waiters: Waiter[] = [];
  #everAuthenticated = false;
  /** Why the last connection could not be opened, if it could not. */
  #lastConnectError: unknown;
  #listeners: ((event: ClientEvent) => void)[] = [];

  constructor(settings: SessionSettings) {
    this.settings = settings;
    this.ended = new Promise<never>((_, reject) => (this.#rejectEnded = reject));
    // Whoever awaits the session's end handles it; an unobserved end must not crash the process.
    this.ended.catch(() => {});
    const machine = new ClientMachine({ deviceId: settings.deviceId, userAgent: "imwire-cli" }, { token: settings.token, random: Math.random, newId: randomUUID });
    this.runner = new ClientRunner(machine, { url: settings.url, dial: settings.dial, onEvent: (event) => this.#onEvent(event), onConnectError: (error) => (this.#lastConnectError = error) });
  }

  get machine(): ClientMachine {
    return this.runner.machine;
  }

  /** Receive every event the machine reports, after the session's own handling. */
  onEvent(listener: (event: ClientEvent) => void): void {
    this.#listeners.push(listener);
  }

  start(): void {
    this.runner.start();
  }

  stop(): void {
    if (this.machine.status !== "stopped") this.runner.stop();
    for (const waiter of this.#waiters.splice(0)) waiter.reject(new CliError("stopped"));
  }

  /** The next event (from now on) that matches, or a CliError when the session ends first. */
  next(match: (event: ClientEvent) => boolean): Promise<ClientEvent> {
    if (this.#endedWith) return Promise.reject(this.#endedWith);
    return new Promise((resolve, reject) => this.#waiters.push({ match, resolve, reject }));
  }

  /** How an operation (open, mark read, leave…) ended: its answer, or its refusal. */
  outcome(operationId: string): Promise<OperationOutcome> {
    return this.next((e) => (e.kind === "done" || e.kind === "failed") && e.operationId === operationId) as Promise<OperationOutcome>;
  }

  /** The answer to an operation; a refusal is a CliError starting with `what`. */
  async answer(operationId: string, what: string): Promise<ClientEvent & { kind: "done" }> {
    const event = await this.outcome(operationId);
    if (event.kind === "failed") throw new CliError(`${what}: ${failureText(event.code, event.message)}`);
    return event;
  }

  /** Wait up to `graceMs` for the operations under way (sends above all) to be answered; how many are left unanswered. */
  async settle(graceMs: number): Promise<number> {
    const deadline = Date.now() + graceMs;
    while (this.machine.pendingOperations > 0 && this.machine.status !== "stopped") {
      const left = deadline - Date.now();
      if (left <= 0) return this.machine.pendingOperations;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.next((e) => e.kind === "sent" || e.kind === "failed" || e.kind === "done").catch(() => {}),
        new Promise((resolve) => (timer = setTimeout(resolve, left))),
      ]);
      clearTimeout(timer);
    }
    return 0;
  }

  #onEvent(event: ClientEvent): void {
    if (event.kind === "status") this.#statusChanged(event.status);
    for (const listener of this.#listeners) listener(event);
    for (const waiter of this.#waiters.splice(0)) {
      if (waiter.match(event)) waiter.resolve(event);
      else this.#waiters.push(waiter);
    }
  }

  #statusChanged(status: string): void {
    const { url, userId, deviceId } = this.settings;
    if (status === "syncing" || status === "ready") this.#everAuthenticated = true;
    else if (status === "unauthenticated") this.#end(new CliError(`${url} refused the token for user ${userId}, device ${deviceId} (UNAUTHENTICATED): check --token, or the secret the server uses`));
    else if (status === "replaced") this.#end(new CliError(`another connection of device ${deviceId} took over (SESSION_REPLACED); give each terminal its own --device`));
    else if (status === "offline" && !this.#everAuthenticated) this.#firstConnectionFailed();
  }

  /** The first connection failed: say why once, rather than retry silently forever. */
  #firstConnectionFailed(): void {
    const reason =
      this.#lastConnectError === undefined
        ? "the server closed the connection before authenticating (an incompatible server?)"
        : (this.#lastConnectError as Error).message;
    this.#end(new CliError(`cannot connect to ${this.settings.url}: ${reason}`));
  }

  #end(error: CliError): void {
    if (this.#endedWith) return;
    this.#endedWith = error;
    if (this.machine.status !== "stopped") this.runner.stop();
    this.#rejectEnded(error);
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
  }
}

/** "NOT_FOUND: no user bob" — an error code by its name, as SPEC.md §19 spells it without the prefix. */
export function failureText(code: ErrorCode | "expired", message: string): string {
  const name = code === "expired" ? "not acknowledged within the server's dedup window" : (ErrorCode[code] ?? `error ${code}`);
  return message === "" ? name : `${name}: ${message}`;
}

/** Reject with a CliError after `ms`; the timer never keeps the process alive on its own. */
export function deadline(ms: number, describe: () => string): { readonly expired: Promise<never>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CliError(describe())), ms);
  });
  expired.catch(() => {});
  return { expired, cancel: () => clearTimeout(timer) };
}

/**
 * Resolves when the user asks to stop: SIGINT, or the end of the input
 * stream. Call the returned stop() to let go of both.
 */
export function stopRequests(io: TerminalIO, options: { readonly watchInput: boolean }): { readonly requested: Promise<"interrupt" | "input-closed">; stop(): void } {
  const interrupts = io.interrupts ?? process;
  const input = io.input ?? process.stdin;
  let resolve!: (why: "interrupt" | "input-closed") => void;
  const requested = new Promise<"interrupt" | "input-closed">((r) => (resolve = r));
  const onInterrupt = () => resolve("interrupt");
  const onEnd = () => resolve("input-closed");
  const discard = () => {};
  interrupts.on("SIGINT", onInterrupt);
  if (options.watchInput) {
    input.on("end", onEnd);
    input.on("close", onEnd);
    // The end of a stream is only seen by reading it.
    input.on("data", discard);
  }
  return {
    requested,
    stop() {
      interrupts.off("SIGINT", onInterrupt);
      if (!options.watchInput) return;
      input.off("end", onEnd);
      input.off("close", onEnd);
      input.off("data", discard);
      // A paused stdin no longer keeps the process alive.
      input.pause();
    },
  };
}
