import { ErrorCode } from "../gen/imwire/v1/error_pb.js";
import type { ServerMachine } from "../machines/server/server-machine.js";
import type { ConnectionId } from "../machines/server/types.js";
import type { FrameTransport } from "../transport/frame-transport.js";
import { WakeupTimer } from "../transport/wakeup-timer.js";
import type { Logger } from "./logger.js";
import type { PushWebhook } from "./push-webhook.js";

export interface ServerRunnerOptions {
  /** The clock handed to the machine. */
  readonly now?: () => number;
  readonly log: Logger;
  /** FLOW-3: a connection with more unsent bytes than this is closed. */
  readonly maxWriteBuffer?: number;
  /** Where push hand-offs go (HOOK-3); without one they are only logged. */
  readonly pushWebhook?: PushWebhook;
}

/**
 * Runs a ServerMachine on real connections and a real clock: the only place
 * where the server's sockets and timers meet its state machine.
 */
export class ServerRunner {
  readonly machine: ServerMachine;
  readonly #transports = new Map<ConnectionId, FrameTransport>();
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #maxWriteBuffer: number;
  #nextId = 1;
  readonly #timer: WakeupTimer;
  #allClosed: (() => void) | undefined;
  #carryOutQueued = false;
  readonly #pushWebhook: PushWebhook | undefined;

  constructor(machine: ServerMachine, options: ServerRunnerOptions) {
    this.machine = machine;
    this.#now = options.now ?? Date.now;
    this.#log = options.log;
    this.#maxWriteBuffer = options.maxWriteBuffer ?? 8 * 1024 * 1024;
    this.#pushWebhook = options.pushWebhook;
    this.#timer = new WakeupTimer(this.#now, () => {
      this.machine.tick(this.#now());
      this.#carryOut();
    });
  }

  get connectionCount(): number {
    return this.#transports.size;
  }

  attach(transport: FrameTransport): void {
    const id = this.#nextId++;
    this.#transports.set(id, transport);
    transport.onFrame = (frame, size) => {
      this.machine.frameReceived(id, frame, this.#now(), size);
      this.#carryOutAfterRead();
    };
    transport.onInputError = (error) => {
      this.machine.inputError(id, error, this.#now());
      this.#carryOutAfterRead();
    };
    transport.onClose = () => {
      this.#transports.delete(id);
      this.machine.connectionClosed(id, this.#now());
      this.#carryOut();
      if (this.#transports.size === 0) this.#allClosed?.();
    };
    this.machine.connectionOpened(id, this.#now());
    this.#carryOut();
  }

  /**
   * CONN-7: go_away to everyone, then wait for the connections to close: the
   * machine closes each at the end of its drain window, so that, with a
   * second for the closes to finish, is as long as this waits.
   */
  async shutdown(reason: string): Promise<void> {
    const timeoutMs = this.machine.options.drainTimeoutMs + 1_000;
    this.machine.shutdown(this.#now(), reason);
    this.#carryOut();
    if (this.#transports.size === 0) return;
    await new Promise<void>((resolve) => {
      this.#allClosed = resolve;
      setTimeout(resolve, timeoutMs).unref();
    });
    for (const transport of this.#transports.values()) transport.close();
    this.#timer.cancel();
  }

  /**
   * Carry out once the frames of the current read have all been handed to
   * the machine: a transport delivers a read's frames synchronously, so a
   * microtask runs after the last. Requests that arrive together are then in
   * flight together, as FLOW-1 counts them, and their answers go out in one
   * pass.
   */
  /** Stop as a crash would: every connection cut at once, nothing more written, no timer left. */
  abort(): void {
    this.#timer.cancel();
    for (const transport of this.#transports.values()) transport.destroy();
  }

  #carryOutAfterRead(): void {
    if (this.#carryOutQueued) return;
    this.#carryOutQueued = true;
    queueMicrotask(() => {
      this.#carryOutQueued = false;
      this.#carryOut();
    });
  }

  #carryOut(): void {
    for (const output of this.machine.takeOutputs()) {
      switch (output.kind) {
        case "send": {
          const transport = this.#transports.get(output.connection);
          if (!transport) break;
          transport.send(output.frame);
          if (transport.bufferedAmount > this.#maxWriteBuffer) {
            this.#log.warn(`${transport.description}: peer does not read (${transport.bufferedAmount} bytes unsent); closing (FLOW-3)`);
            // Nothing more is written to it: the rest of this pass, and anything after, is dropped.
            this.#transports.delete(output.connection);
            transport.close();
          }
          break;
        }
        case "close":
          this.#transports.get(output.connection)?.close();
          if (output.reason !== "graceful" && output.reason !== ErrorCode.SESSION_REPLACED) {
            this.#log.info(`${this.#transports.get(output.connection)?.description ?? output.connection}: closed (${ErrorCode[output.reason] ?? output.reason})`);
          }
          break;
        case "frame-limit":
          this.#transports.get(output.connection)?.setMaxFrameSize(output.maxFrameSize);
          break;
        case "push-handoff":
          if (this.#pushWebhook) this.#pushWebhook.deliver(output);
          else this.#log.info(`push hand-off to ${output.pushService} for ${output.userId}/${output.deviceId}: ${output.conversationId}#${output.seq}`);
          break;
        case "internal-error":
          this.#log.error(`internal error on connection ${output.connection}: ${output.error instanceof Error ? output.error.stack : String(output.error)}`);
          break;
      }
    }
    this.#timer.schedule(this.machine.nextWakeup());
  }
}
