import { ClientMachine } from "../machines/client/client-machine.js";
import type { ClientEvent } from "../machines/client/types.js";
import { dial, type DialOptions } from "../transport/dial.js";
import type { FrameTransport } from "../transport/frame-transport.js";
import { WakeupTimer } from "../transport/wakeup-timer.js";

export interface ClientRunnerOptions {
  /** tcp://, tls://, ws:// or wss:// address of the server. */
  readonly url: string;
  readonly dial?: DialOptions;
  readonly onEvent: (event: ClientEvent) => void;
  readonly now?: () => number;
}

/** Runs a ClientMachine (one device) on real connections and a real clock: the reference client. */
export class ClientRunner {
  readonly machine: ClientMachine;
  readonly #options: ClientRunnerOptions;
  readonly #now: () => number;
  /** The connection the machine is using, by the id it gave it. */
  #current: { readonly id: number; readonly transport: FrameTransport } | undefined;
  readonly #timer: WakeupTimer;

  constructor(machine: ClientMachine, options: ClientRunnerOptions) {
    this.machine = machine;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    // The client's timers (heartbeats, reconnects) are what keep a client process alive.
    this.#timer = new WakeupTimer(this.#now, () => {
      this.machine.tick(this.#now());
      this.#carryOut();
    }, true);
  }

  start(): void {
    this.machine.start(this.#now());
    this.#carryOut();
  }

  stop(): void {
    this.machine.stop(this.#now());
    this.#carryOut();
    this.#timer.cancel();
  }

  /** Run an application command against the machine, then carry out what it asks for. */
  act<T>(command: (machine: ClientMachine, now: number) => T): T {
    const result = command(this.machine, this.#now());
    this.#carryOut();
    return result;
  }

  #carryOut(): void {
    for (const output of this.machine.takeOutputs()) {
      switch (output.kind) {
        case "connect":
          this.#connect(output.connection);
          break;
        case "send":
          this.#current?.transport.send(output.frame);
          break;
        case "close":
          if (this.#current?.id === output.connection) {
            this.#current.transport.close();
            this.#current = undefined;
          }
          break;
        case "frame-limit":
          if (this.#current?.id === output.connection) this.#current.transport.setMaxFrameSize(output.maxFrameSize);
          break;
        case "app":
          this.#options.onEvent(output.event);
          break;
      }
    }
    this.#timer.schedule(this.machine.nextWakeup());
  }

  #connect(connection: number): void {
    dial(this.#options.url, this.#options.dial).then(
      (transport) => {
        this.#current = { id: connection, transport };
        transport.onFrame = (frame) => {
          this.machine.frameReceived(frame, this.#now());
          this.#carryOut();
        };
        transport.onProgress = () => this.machine.peerActive(this.#now());
        transport.onInputError = (error) => {
          this.machine.inputError(error, this.#now());
          this.#carryOut();
        };
        transport.onClose = () => {
          if (this.#current?.transport === transport) this.#current = undefined;
          this.machine.disconnected(connection, this.#now());
          this.#carryOut();
        };
        this.machine.connected(connection, this.#now());
        this.#carryOut();
      },
      () => {
        this.machine.disconnected(connection, this.#now());
        this.#carryOut();
      },
    );
  }
}
