import { errorFrame } from "../codec/error-frame.js";
import { isImwireError } from "../errors.js";
import { ErrorCode } from "../gen/imwire/v1/error_pb.js";
import type { Frame } from "../gen/imwire/v1/frame_pb.js";
import type { ServerMachine } from "../machines/server/server-machine.js";
import type { ConnectionId, ServerOutput } from "../machines/server/types.js";
import type { ClusterNotice } from "../machines/server/cluster-notices.js";
import { DriveLoop } from "../runtime/drive-loop.js";
import { clockTimers, type WakeupTimerFactory } from "../runtime/wakeup-timer.js";
import type { FrameTransport } from "../transport/frame-transport.js";
import type { Logger } from "./logger.js";
import type { PushWebhook } from "./push-webhook.js";

export interface ServerRunnerOptions {
  /** The clock handed to the machine. */
  readonly now?: () => number;
  readonly log: Logger;
  /** FLOW-3: stop reading from a connection with more unsent bytes than this (default twice max_frame_size). */
  readonly pauseReadingAbove?: number;
  /** Where push hand-offs go (HOOK-3); without one they are only logged. */
  readonly pushWebhook?: PushWebhook;
  /** CLU-2: where the machine's cluster notices go (a node of a cluster); the caller sends each once what caused it is durable. */
  readonly clusterNotice?: (notice: ClusterNotice) => void;
  /** Called after each frame is handled (the reference server bounds how long a group-commit batch stays open). */
  readonly afterInput?: () => void;
  /** The machine's wake-ups (default: setTimeout on `now`'s clock, not holding the process); a test passes virtual time. */
  readonly timer?: WakeupTimerFactory;
}

/**
 * Runs a ServerMachine on real connections and a real clock: the only place
 * where the server's sockets and timers meet its state machine.
 */
export class ServerRunner {
  readonly machine: ServerMachine;
  /** After shutdown or abort: transport events no longer reach the machine (its store may be closed). */
  #detached = false;
  readonly #transports = new Map<ConnectionId, FrameTransport>();
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #pauseReadingAbove: number;
  /** FLOW-3: connections not read from until their output drains, with the bytes they had taken when last looked at. */
  readonly #heldBack = new Map<ConnectionId, number>();
  #heldBackPoll: NodeJS.Timeout | undefined;
  #nextId = 1;
  readonly #loop: DriveLoop<ServerOutput>;
  #allClosed: (() => void) | undefined;
  /** Answers written during the current read, counted as written once it is all handled (FLOW-1). */
  #unsettled: ServerOutput[] = [];
  #settleQueued = false;
  readonly #pushWebhook: PushWebhook | undefined;
  readonly #afterInput: (() => void) | undefined;

  constructor(machine: ServerMachine, options: ServerRunnerOptions) {
    this.machine = machine;
    this.#now = options.now ?? Date.now;
    this.#log = options.log;
    this.#pauseReadingAbove = options.pauseReadingAbove ?? 2 * machine.options.maxFrameSize;
    this.#pushWebhook = options.pushWebhook;
    this.#afterInput = options.afterInput;
    this.#loop = new DriveLoop<ServerOutput>({
      take: () => {
        const outputs = this.machine.takeOutputsUnsettled();
        this.#settleAfterRead(outputs);
        return outputs;
      },
      handlers: {
        send: (output) => {
          const transport = this.#transports.get(output.connection);
          if (transport) this.#write(output.connection, transport, output.frame);
        },
        close: (output) => {
          const transport = this.#transports.get(output.connection);
          transport?.close();
          this.#logClose(transport?.description ?? String(output.connection), output.reason, output.byPeer === true);
        },
        "cluster-notice": (output) => options.clusterNotice?.(output.notice),
        "frame-limit": (output) => this.#transports.get(output.connection)?.setMaxFrameSize(output.maxFrameSize),
        "push-handoff": (output) => {
          if (this.#pushWebhook) this.#pushWebhook.deliver(output);
          else this.#log.info(`push hand-off to ${output.pushService} for ${output.userId}/${output.deviceId}: ${output.conversationId}#${output.seq}`);
        },
        "internal-error": (output) => {
          this.#log.error(`internal error on connection ${output.connection}: ${output.error instanceof Error ? output.error.stack : String(output.error)}`);
        },
      },
      // FLOW-3: a connection these writes took over its bound is not read from before its next frame is handled.
      afterBatch: (outputs) => {
        const written = new Set<ConnectionId>();
        for (const output of outputs) if (output.kind === "send") written.add(output.connection);
        for (const id of written) this.#holdBackIfFull(id);
      },
      nextWakeup: () => this.machine.nextWakeup(),
      tick: (now) => this.machine.tick(now),
      now: this.#now,
      timer: options.timer ?? clockTimers(this.#now),
    });
  }

  get connectionCount(): number {
    return this.#transports.size;
  }

  /** Bytes written to connections and not yet taken by the network, all connections together (FLOW-3). */
  get unsentBytes(): number {
    let total = 0;
    for (const transport of this.#transports.values()) total += transport.bufferedAmount;
    return total;
  }

  /** Connections not read from until their output drains (FLOW-3). */
  get heldBackCount(): number {
    return this.#heldBack.size;
  }

  /** Serve a new connection; `openedAt` when it opened before the transport existed (a WebSocket upgrade, CONN-6). */
  attach(transport: FrameTransport, openedAt = this.#now()): void {
    const id = this.#nextId++;
    this.#transports.set(id, transport);
    transport.onFrame = (frame, size) => {
      if (this.#detached) return;
      this.machine.frameReceived(id, frame, this.#now(), size);
      this.#carryOut();
      this.#afterInput?.();
    };
    transport.onInputError = (error) => {
      if (this.#detached) return;
      this.machine.inputError(id, error, this.#now());
      this.#carryOut();
    };
    // HB-3, HB-4: bytes arriving are life, whole frames or not.
    transport.onProgress = () => {
      if (this.#detached) return;
      this.machine.peerActive(id, this.#now());
      this.#carryOut();
    };
    transport.onClose = () => {
      if (this.#detached) return;
      this.#transports.delete(id);
      this.#heldBack.delete(id);
      this.machine.connectionClosed(id, this.#now());
      this.#carryOut();
      if (this.#transports.size === 0) this.#allClosed?.();
    };
    this.machine.connectionOpened(id, openedAt);
    this.#carryOut();
  }

  /**
   * CONN-7: go_away to everyone, then wait for the connections to close: the
   * machine closes each at the end of its drain window, so that, with a
   * second for the closes to finish, is as long as this waits.
   */
  /** CLU-2: another node committed these positions. */
  remoteNotice(notice: ClusterNotice): void {
    if (this.#detached) return;
    this.machine.remoteNotice(notice, this.#now());
    this.#carryOut();
  }

  async shutdown(reason: string): Promise<void> {
    const timeoutMs = this.machine.options.drainTimeoutMs + 1_000;
    this.machine.shutdown(this.#now(), reason);
    this.#carryOut();
    if (this.#transports.size === 0) {
      this.#detached = true;
      return;
    }
    await new Promise<void>((resolve) => {
      this.#allClosed = resolve;
      setTimeout(resolve, timeoutMs).unref();
    });
    // What comes after the drain is not the machine's business: the store behind it may be closed next.
    this.#detached = true;
    for (const transport of this.#transports.values()) transport.close();
    this.#loop.cancel();
    clearInterval(this.#heldBackPoll);
  }

  /** Stop as a crash would: every connection cut at once, nothing more written, no timer left. */
  abort(): void {
    this.#detached = true;
    this.#loop.cancel();
    clearInterval(this.#heldBackPoll);
    for (const transport of this.#transports.values()) transport.destroy();
  }

  /**
   * Output is written as each frame is handled, so that a connection over its
   * bound is held back at once (FLOW-3), even inside one read. But a
   * transport hands over one read's frames synchronously, and requests that
   * arrive together count together (FLOW-1): their answers count as written
   * in a microtask, once the whole read has been handled.
   */
  #settleAfterRead(outputs: ServerOutput[]): void {
    for (const output of outputs) if (output.kind === "send" && output.frame.requestId !== 0) this.#unsettled.push(output);
    if (this.#settleQueued || this.#unsettled.length === 0) return;
    this.#settleQueued = true;
    queueMicrotask(() => {
      this.#settleQueued = false;
      const unsettled = this.#unsettled;
      this.#unsettled = [];
      this.machine.settle(unsettled);
    });
  }

  #carryOut(): void {
    this.#loop.drive();
  }

  /**
   * FRM-9: the transport refuses a frame over the limit in force. An answer
   * becomes ERROR_CODE_INTERNAL to its request; a push the device could never
   * get past closes the connection with it.
   */
  #write(id: ConnectionId, transport: FrameTransport, frame: Frame): void {
    try {
      transport.send(frame);
    } catch (error) {
      if (!isImwireError(error)) throw error;
      this.#log.error(`${transport.description}: ${error.message} (${frame.body.case ?? "empty frame"}, FRM-9)`);
      const answer = frame.requestId !== 0;
      transport.send(errorFrame(ErrorCode.INTERNAL, { requestId: frame.requestId, message: "the answer would exceed max_frame_size", requirement: "FRM-9" }));
      if (!answer) {
        this.#transports.delete(id);
        transport.close();
      }
    }
  }

  /** One line per close, saying who closed and why. */
  #logClose(description: string, reason: ErrorCode | "graceful", byPeer: boolean): void {
    if (reason === "graceful" || reason === ErrorCode.SESSION_REPLACED) return;
    const code = ErrorCode[reason] ?? String(reason);
    this.#log.info(byPeer ? `${description}: closed by the client (${code})` : `${description}: closed by the server (${code})`);
  }

  /**
   * FLOW-3: a connection whose unsent output is over the bound is not read
   * from until it drains, so that a peer that does not read holds at most
   * that much, and its requests wait in the network rather than in memory.
   */
  #holdBackIfFull(id: ConnectionId): void {
    const transport = this.#transports.get(id);
    if (!transport || this.#heldBack.has(id) || transport.bufferedAmount <= this.#pauseReadingAbove) return;
    transport.pauseReading();
    this.#heldBack.set(id, transport.flushedBytes);
    this.#heldBackPoll ??= setInterval(() => this.#pollHeldBack(), HELD_BACK_POLL_MS);
    this.#heldBackPoll.unref?.();
  }

  /**
   * While a connection is held back its pings wait unread: its reading what
   * was sent counts as life (HB-3), and a peer that neither sends nor reads
   * is closed by HB-3 as a silent one is.
   */
  #pollHeldBack(): void {
    const now = this.#now();
    for (const [id, flushed] of this.#heldBack) {
      const transport = this.#transports.get(id);
      if (!transport) {
        this.#heldBack.delete(id);
        continue;
      }
      if (transport.flushedBytes > flushed) {
        this.#heldBack.set(id, transport.flushedBytes);
        this.machine.peerActive(id, now);
      }
      if (transport.bufferedAmount <= this.#pauseReadingAbove / 2) {
        this.#heldBack.delete(id);
        transport.resumeReading();
      }
    }
    if (this.#heldBack.size === 0) {
      clearInterval(this.#heldBackPoll);
      this.#heldBackPoll = undefined;
    }
    this.#carryOut();
  }
}

/** How often held-back connections are looked at (FLOW-3). */
const HELD_BACK_POLL_MS = 50;
