import type { Authenticated } from "../../gen/imwire/v1/auth_pb.js";
import type { Feature as WireFeature, Welcome } from "../../gen/imwire/v1/connection_pb.js";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import type { Frame } from "../../gen/imwire/v1/frame_pb.js";
import { Random } from "../../sim/random.js";
import type { DialOptions } from "../../transport/dial.js";
import { FaultProxy, type FaultPlan } from "./fault-proxy.js";
import { describe, ScriptedConnection, type FrameBody, type Transcript } from "./scripted-connection.js";
import { Ledger } from "./ledger.js";
import type { OperatorHooks } from "./operator-hooks.js";
import type { PushHandoff, PushListener } from "./push-listener.js";
import type { TokenSource } from "./tokens.js";
import { Unsupported, Violation, type Feature } from "./types.js";

type BodyCase = NonNullable<Frame["body"]["case"]>;
/** The value of a frame body of kind K. */
export type BodyValue<K extends BodyCase> = Extract<Frame["body"], { case: K }>["value"];

/** The server under test, as the runner reaches it. */
export interface Target {
  /** tcp://, tls://, ws:// or wss:// address the tests connect to. */
  readonly url: string;
  readonly dial: DialOptions;
  readonly tokens: TokenSource;
  readonly features: ReadonlySet<Feature>;
  /** Prefix that makes this run's user ids its own, so runs never see each other's state. */
  readonly runId: string;
  /** What the operator lets the runner do to the server (SPEC.md Appendix C). */
  readonly hooks: OperatorHooks;
  /** The runner's end of hooks.pushWebhook, listening for the whole run. */
  readonly pushes?: PushListener;
  /** Limits the profile declares that welcome does not announce (Appendix C). */
  readonly limits?: ProfileLimits;
  /**
   * CLU-1: other nodes of the same server, on the same transport: each
   * test's connections are spread over `url` and these in turn, so that
   * its devices meet on different nodes.
   */
  readonly nodes?: readonly string[];
}

/** The profile's "limits" (SPEC.md Appendix C). */
export interface ProfileLimits {
  /** LIM-4: the largest group the server allows. */
  readonly maxGroupSize?: number;
  /** CUR-5: how many entries behind the head a cursor may be and still be served. */
  readonly streamRetentionEntries?: number;
  /** CUR-7: groups above this many members are under read fan-out (channels always are). */
  readonly readFanOutMembers?: number;
  /** LIM-9: groups above this many members are paged, and one request brings in at most this many users. */
  readonly maxInlineMembers?: number;
  /** RCPT-3 to RCPT-5: the receipt bound; direct conversations and groups of at most this many members get receipts and member lists, larger groups counts only. */
  readonly receiptMembers?: number;
}

/** The names a profile's "limits" may use (Appendix C). */
export const PROFILE_LIMITS = ["maxGroupSize", "streamRetentionEntries", "readFanOutMembers", "maxInlineMembers", "receiptMembers"] as const satisfies readonly (keyof ProfileLimits)[];

export interface ConnectOptions {
  /** Connect through this address (a fault proxy's) instead of the target's. */
  readonly via?: string;
  readonly resume?: { readonly epoch: string; readonly cursor: bigint };
  /** Set the delivery position after connecting (default true). */
  readonly position?: boolean;
  /** Ping within the heartbeat interval (default true). */
  readonly keepAlive?: boolean;
  /** hello.receive_window: the push window the device asks for (FLOW-2); 0 or absent leaves it to the server. */
  readonly receiveWindow?: number;
  /** hello.receive_window_bytes (FLOW-2); 0 or absent leaves it to the server. */
  readonly receiveWindowBytes?: number;
  /** Acknowledge pushes on arrival (default true). */
  readonly autoAck?: boolean;
  /** hello.features: the optional features the device offers (EXT-5); none by default, as a version 1 device as first published. */
  readonly features?: readonly WireFeature[];
}

/** An authenticated connection with its delivery position set (SYNC-5), ready for requests and pushes. */
export interface Session {
  readonly conn: ScriptedConnection;
  readonly userId: string;
  readonly deviceId: string;
  readonly welcome: Welcome;
  readonly authenticated: Authenticated;
}

/** What a test works with: connections, users, tokens, faults, and expectations that fail with a full account. */
export class TestContext {
  readonly random: Random;
  /** What the test's connections have seen together: the same event everywhere, acks that match, one stream per user. */
  readonly ledger = new Ledger();
  readonly #connections: ScriptedConnection[] = [];
  readonly #proxies: FaultProxy[] = [];
  #names = 0;

  constructor(
    readonly target: Target,
    readonly transcript: Transcript,
    /** How long to wait for anything the server should send promptly. */
    readonly timeoutMs: number,
    readonly seed: number,
    /** How long to watch for something that must not happen (a push to a former member, an answer after a closing error). */
    readonly quietMs = 500,
  ) {
    this.random = new Random(seed);
  }

  get isWebSocket(): boolean {
    return this.target.url.startsWith("ws");
  }

  /** CLU-1: the test's connections in turn on each node; the target itself when it has none. */
  #nextNode(): string {
    const nodes = this.target.nodes ?? [];
    if (nodes.length === 0) return this.target.url;
    const all = [this.target.url, ...nodes];
    return all[this.#names % all.length]!;
  }

  /** A user id of this run's own. */
  user(name: string): string {
    return `${this.target.runId}-${name}`;
  }

  token(userId: string, deviceId: string, ttlMs = 3_600_000): Promise<string> {
    return this.target.tokens(userId, deviceId, ttlMs);
  }

  /** A new connection with nothing sent yet (through `via`, a proxy's address, when given). */
  async open(via?: string): Promise<ScriptedConnection> {
    const connection = await ScriptedConnection.open(via ?? this.#nextNode(), `c${++this.#names}`, this.transcript, this.target.dial, this.ledger);
    if (via !== undefined && this.#proxies.some((p) => p.url === via && p.lossy)) connection.referee.throughLossyLink();
    this.#connections.push(connection);
    return connection;
  }

  /** hello → welcome on a fresh connection. */
  async hello(connection: ScriptedConnection, deviceId: string, versions = [1], receiveWindow = 0, receiveWindowBytes = 0, features: readonly WireFeature[] = []): Promise<Welcome> {
    const answer = await connection.request({ case: "hello", value: { versions, deviceId, receiveWindow, receiveWindowBytes, features: [...features] } }, this.timeoutMs);
    return this.answerOf(answer, "welcome", "CONN-2");
  }

  /**
   * Connect, hello, authenticate; then (unless `position` is false, or the
   * resume was accepted) set the delivery position from a sync, as a device
   * does (SYNC-5), so pushes flow. Like a device, the session pings within
   * the heartbeat interval and acknowledges pushes as they come, unless told
   * not to (`keepAlive`, `autoAck`).
   */
  async connect(userId: string, deviceId: string, options: ConnectOptions = {}): Promise<Session> {
    const conn = await this.open(options.via);
    const welcome = await this.hello(conn, deviceId, [1], options.receiveWindow ?? 0, options.receiveWindowBytes ?? 0, options.features);
    if (options.keepAlive !== false) conn.keepAlive(Math.max(100, welcome.heartbeatIntervalMs / 2));
    conn.autoAck = options.autoAck !== false;
    const token = await this.token(userId, deviceId);
    const answer = await conn.request({ case: "authenticate", value: { token, resume: options.resume } }, this.timeoutMs);
    const authenticated = this.answerOf(answer, "authenticated", "AUTH-1");
    if (options.position !== false && !authenticated.resumed) {
      const page = this.answerOf(await conn.request({ case: "syncUser", value: {} }, this.timeoutMs), "userPage", "SYNC-4");
      const cursor = page.snapshot?.cursor ?? page.events.at(-1)?.cursor ?? 0n;
      conn.send({ case: "deliveryAck", value: { cursor } }, 0);
    }
    return { conn, userId, deviceId, welcome, authenticated };
  }

  /** Restart the server with its stored state (HOOK-1); connections open before it are gone after it. */
  async restart(): Promise<void> {
    this.transcript.note("runner", "!", "restarting the server (restart hook)");
    await this.target.hooks.restart!();
    this.transcript.note("runner", "!", "the server accepts connections again");
  }

  /** Ask the server for a graceful shutdown (HOOK-2). */
  async shutdown(): Promise<void> {
    this.transcript.note("runner", "!", "asking the server to shut down (shutdown hook)");
    await this.target.hooks.shutdown!();
  }

  /** A limit the profile declares (Appendix C); a test that needs an undeclared one is unsupported. */
  limit(name: keyof ProfileLimits): number {
    const value = this.target.limits?.[name];
    if (value === undefined) throw new Unsupported(`the server's profile does not declare limits.${name}`);
    return value;
  }

  /** The next push hand-off (HOOK-3) that matches, or undefined if none comes within `timeoutMs`. */
  async handoff(match: (handoff: PushHandoff) => boolean, timeoutMs = this.timeoutMs): Promise<PushHandoff | undefined> {
    const found = await this.target.pushes!.next(match, timeoutMs);
    if (found) this.transcript.note("webhook", "←", JSON.stringify(found));
    return found;
  }

  /** A fault-injecting proxy in front of the target (for stream targets). */
  async proxy(plan: FaultPlan): Promise<FaultProxy> {
    const proxy = await FaultProxy.start(this.target.url, plan, this.random.fork(), this.transcript);
    this.#proxies.push(proxy);
    return proxy;
  }

  // ---- expectations -----------------------------------------------------

  /** The body of an expected answer, or a Violation naming `requirement`. */
  answerOf<K extends BodyCase>(frame: Frame, kind: K, requirement: string): BodyValue<K> {
    if (frame.body.case !== kind) throw new Violation(`${requirement}: expected ${kind}`, [kind], describe(frame));
    return frame.body.value as unknown as BodyValue<K>;
  }

  /** The frame must be an error with one of `codes` (and close the connection when `closing` says so). */
  expectError(frame: Frame, codes: readonly ErrorCode[], requirement: string, closing?: boolean): void {
    const acceptable = codes.map((c) => `error ${ErrorCode[c] ? `ERROR_CODE_${ErrorCode[c]}` : c}${closing === undefined ? "" : closing ? ", closing" : ", not closing"}`);
    if (frame.body.case !== "error" || !codes.includes(frame.body.value.code) || (closing !== undefined && frame.body.value.closing !== closing)) {
      throw new Violation(`${requirement}: expected ${acceptable.join(" or ")}`, acceptable, describe(frame));
    }
  }

  /** Wait for an error frame (the answer to `requestId`, or any report) and check it. */
  async expectErrorFrom(connection: ScriptedConnection, codes: readonly ErrorCode[], requirement: string, options: { requestId?: number; closing?: boolean } = {}): Promise<Frame> {
    const frame = await this.nextOrViolation(
      connection,
      (f) => f.body.case === "error" || (options.requestId !== undefined && f.requestId === options.requestId),
      requirement,
      codes.map((c) => `error ERROR_CODE_${ErrorCode[c]}`),
    );
    this.expectError(frame, codes, requirement, options.closing);
    if (options.requestId !== undefined && frame.requestId !== options.requestId) {
      throw new Violation(`ENV-2: the error must carry the request id ${options.requestId}`, [`request_id ${options.requestId}`], describe(frame));
    }
    return frame;
  }

  /** The next matching frame, or a Violation saying what was acceptable and that nothing came. */
  async nextOrViolation(connection: ScriptedConnection, match: (f: Frame) => boolean, requirement: string, acceptable: readonly string[], timeoutMs = this.timeoutMs): Promise<Frame> {
    try {
      return await connection.next(match, timeoutMs);
    } catch (error) {
      const left = connection.drain().map(describe);
      throw new Violation(`${requirement}: nothing acceptable arrived within ${timeoutMs} ms`, acceptable, left.length > 0 ? `other frames: ${left.join(" | ")}` : connection.closed ? "the connection closed" : "nothing");
    }
  }

  /** The server must close the connection within `timeoutMs`. */
  async expectClosed(connection: ScriptedConnection, requirement: string, timeoutMs = this.timeoutMs): Promise<void> {
    if (!(await connection.waitClosed(timeoutMs))) {
      throw new Violation(`${requirement}: the server must close the connection`, ["the connection closed"], `still open after ${timeoutMs} ms`);
    }
  }

  /** Nothing matching may arrive for `ms` milliseconds. */
  async expectNothing(connection: ScriptedConnection, match: (f: Frame) => boolean, requirement: string, what: string, ms = this.quietMs): Promise<void> {
    const frame = await connection.next(match, ms).catch(() => undefined);
    if (frame) throw new Violation(`${requirement}: ${what}`, [`no ${what.replace(/^no /, "")}`], describe(frame));
  }

  /** Send a request and expect a positive answer of `kind`. */
  async ask<K extends BodyCase>(session: Session | ScriptedConnection, body: FrameBody, kind: K, requirement: string): Promise<BodyValue<K>> {
    const connection = session instanceof ScriptedConnection ? session : session.conn;
    return this.answerOf(await connection.request(body, this.timeoutMs), kind, requirement);
  }

  /**
   * Close everything the test opened and report what the server got wrong on
   * the way, whatever the test checked: input that is not a valid frame, and
   * the referee's fouls. Before closing, every connection still open must
   * settle: its requests answered (ENV-2), and closed if the server sent a
   * closing error (ERR-2).
   */
  async finish(): Promise<void> {
    await Promise.all(this.#connections.map((c) => this.#settle(c)));
    const invalid = this.#connections.flatMap((c) => c.invalid.map((text) => `${c.name}: ${text}`));
    const fouls = [...this.#connections.flatMap((c) => c.referee.fouls.map((f) => ({ ...f, connection: c.name }))), ...this.ledger.fouls.map((f) => ({ ...f, connection: "the test's connections" }))];
    for (const connection of this.#connections) connection.close();
    for (const proxy of this.#proxies) await proxy.stop();
    if (invalid.length > 0) throw new Violation("ENV-3: the server sent input that is not a valid frame", ["valid frames only"], invalid.join("; "));
    if (fouls.length > 0) {
      const first = fouls[0]!;
      throw new Violation(`${first.requirement}: ${first.message}`, [`no frame breaking ${[...new Set(fouls.map((f) => f.requirement))].join(", ")}`], fouls.map((f) => `${f.connection}: ${f.requirement} ${f.message}`).join("; "));
    }
  }

  async #settle(connection: ScriptedConnection): Promise<void> {
    if (connection.closed) return;
    if (connection.referee.closingError) {
      if (!(await connection.waitClosed(this.timeoutMs))) connection.referee.fouls.push({ requirement: "ERR-2", message: `still open ${this.timeoutMs} ms after a closing error` });
      return;
    }
    if (!(await connection.settled(this.timeoutMs))) {
      connection.referee.fouls.push({ requirement: "ENV-2", message: `requests ${connection.referee.unanswered!.join(", ")} unanswered after ${this.timeoutMs} ms` });
    }
  }
}
