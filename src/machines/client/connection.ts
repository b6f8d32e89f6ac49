import { create } from "@bufbuild/protobuf";
import type { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import { FrameSchema } from "../../gen/imwire/v1/frame_pb.js";
import { errorFrame } from "../../codec/error-frame.js";
import { Link } from "./link.js";
import type { ClientDeps, ClientOptions } from "./options.js";
import { nextState, statusOf, type ClientInput, type ClientState } from "./states.js";
import type { ClientOutput, ClientStatus } from "./types.js";

const NEVER = Infinity;

/** What the connection's life needs from the rest of the machine. */
export interface ConnectionHooks {
  readonly output: (output: ClientOutput) => void;
  /** The transport is open: start the handshake (CONN-1). */
  readonly opened: () => void;
  /** The connection is gone: everything that was only its is forgotten. */
  readonly dropped: () => void;
  /** A ping went out (HB-1). */
  readonly pinged: () => void;
}

/**
 * The client's state (states.ts) and the life of its connections (§5.1):
 * asking for one when the backoff allows (CONN-8), the handshake's and the
 * heartbeat's deadlines (CONN-6, HB-4), pings (HB-1), the go_away drain
 * (CONN-7), and the final states that hold none.
 */
export class Connection {
  readonly #options: ClientOptions;
  readonly #deps: ClientDeps;
  readonly #hooks: ConnectionHooks;
  #state: ClientState = "OFFLINE";
  #status: ClientStatus = "offline";
  #link: Link | undefined;
  /** The connection asked for and not yet reported, in CONNECTING. */
  #connecting: number | undefined;
  #lastConnection = 0;
  #reconnectAt = NEVER;
  #reconnectAttempt = 0;

  constructor(options: ClientOptions, deps: ClientDeps, hooks: ConnectionHooks) {
    this.#options = options;
    this.#deps = deps;
    this.#hooks = hooks;
  }

  get state(): ClientState {
    return this.#state;
  }

  get status(): ClientStatus {
    return this.#status;
  }

  get link(): Link | undefined {
    return this.#link;
  }

  /** Ask for a connection now; after UNAUTHENTICATED, with the token the application has since renewed. */
  start(now: number): void {
    if (this.#state === "UNAUTHENTICATED") this.transition("restart");
    if (this.#state === "OFFLINE") this.#reconnectAt = now;
  }

  connected(connection: number, now: number): void {
    if (this.#state !== "CONNECTING" || connection !== this.#connecting) return;
    this.#connecting = undefined;
    this.#link = new Link(connection, now);
    this.transition("transport_open");
    this.#hooks.opened();
  }

  disconnected(connection: number, now: number): void {
    if (this.#state === "CONNECTING" && connection === this.#connecting) {
      this.#connecting = undefined;
      this.end("transport_failed", now);
    } else if (this.#link !== undefined && connection === this.#link.connection) {
      this.end("transport_lost", now);
    }
  }

  /** CONN-7: no new requests; reconnect reconnect_delay_ms after go_away, plus up to as much jitter. */
  goAway(reconnectDelayMs: number, now: number): void {
    this.#link!.reconnectAfterDrainAt = now + reconnectDelayMs * (1 + this.#deps.random());
    this.transition("go_away");
  }

  /** Authenticated: the next loss starts the backoff over (CONN-8). */
  authenticated(): void {
    this.#reconnectAttempt = 0;
  }

  /** The connection's part of tick; returns the link when the connection lives on and the rest of tick is due. */
  tick(now: number): Link | undefined {
    const link = this.#link;
    if (!link) {
      if (this.#state === "OFFLINE" && now >= this.#reconnectAt) {
        this.#connecting = ++this.#lastConnection;
        this.#reconnectAt = NEVER;
        this.transition("reconnect_due");
        this.#hooks.output({ kind: "connect", connection: this.#connecting });
      }
      return undefined;
    }
    const deadline = this.#deadline(link);
    if (now >= deadline.at) return void this.abandon(deadline.input, now);
    if (this.#state === "DRAINING" && (now >= link.reconnectAfterDrainAt || link.pending.size === 0)) {
      const reconnectAt = link.reconnectAfterDrainAt;
      this.end("drained", now, true, true);
      this.#reconnectAt = reconnectAt;
      return undefined;
    }
    if (now >= link.nextPingAt) {
      this.#hooks.output({ kind: "send", frame: create(FrameSchema, { body: { case: "ping", value: { nonce: link.nextNonce() } } }) });
      link.nextPingAt = now + 0.8 * link.heartbeatMs;
      this.#hooks.pinged();
    }
    return link;
  }

  /** The connection's own next wake-up: a reconnect, a deadline, a ping, the drain's end. */
  nextWakeup(): number {
    const link = this.#link;
    if (!link) return this.#state === "OFFLINE" ? this.#reconnectAt : NEVER;
    return Math.min(this.#deadline(link).at, link.nextPingAt, link.reconnectAfterDrainAt);
  }

  /** Move through the table; the status follows the state (DRAINING keeps its own). */
  transition(input: ClientInput): ClientState {
    const from = this.#state;
    const to = nextState(from, input);
    this.#state = to;
    this.#deps.onTransition?.({ from, input, to });
    const status = statusOf(to);
    if (status !== undefined && status !== this.#status) {
      this.#status = status;
      this.#hooks.output({ kind: "app", event: { kind: "status", status } });
    }
    return to;
  }

  /** Close the connection ourselves, reporting why when there is a reason to. */
  abandon(input: ClientInput, now: number, code?: ErrorCode, message = "", requirement = ""): void {
    if (code !== undefined) this.#hooks.output({ kind: "send", frame: errorFrame(code, { message, requirement }) });
    this.end(input, now, true);
  }

  /** The connection (or the attempt at one) is over: move on `input`, and when that is OFFLINE, schedule the reconnect (CONN-8). */
  end(input: ClientInput, now: number, close = false, deliberate = false): void {
    if (close && this.#link) this.#hooks.output({ kind: "close", connection: this.#link.connection });
    this.#drop();
    if (this.transition(input) !== "OFFLINE") return;
    const ceiling = Math.min(this.#options.reconnectMaxMs, this.#options.reconnectBaseMs * 2 ** this.#reconnectAttempt);
    this.#reconnectAttempt++;
    this.#reconnectAt = deliberate ? now : now + this.#deps.random() * ceiling;
  }

  /** The application stops the client: close what is open, and ask for nothing ever again. */
  stop(): void {
    if (this.#state === "STOPPED") return;
    if (this.#link) this.#hooks.output({ kind: "close", connection: this.#link.connection });
    this.#drop();
    this.#connecting = undefined;
    this.#reconnectAt = NEVER;
    this.transition("stop");
  }

  #drop(): void {
    if (this.#link === undefined) return;
    this.#link = undefined;
    this.#hooks.dropped();
  }

  /** When the connection counts as dead: the handshake's bound until authenticated (CONN-6), then HB-4's. */
  #deadline(link: Link): { at: number; input: ClientInput } {
    return !link.authenticated
      ? { at: link.openedAt + this.#options.handshakeTimeoutMs, input: "handshake_timeout" }
      : { at: link.lastReceivedAt + 1.5 * link.heartbeatMs, input: "heartbeat_timeout" };
  }
}
