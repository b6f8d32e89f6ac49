import type { ClientMachine } from "../machines/client/client-machine.js";
import type { ClientEvent } from "../machines/client/types.js";
import { dial, type DialOptions } from "../transport/dial.js";
import { ClientDriver } from "./client-driver.js";
import type { ClientStore } from "./client-store.js";

export interface ClientRunnerOptions {
  /** tcp://, tls://, ws:// or wss:// address of the server. */
  readonly url: string;
  readonly dial?: DialOptions;
  readonly onEvent: (event: ClientEvent) => void;
  readonly now?: () => number;
  /** Why a connection could not be opened ("connect ECONNREFUSED …"); the machine retries either way. */
  readonly onConnectError?: (error: unknown) => void;
  /** CLI-1: where the device's state survives restarts (a FileClientStore); ClientDriverOptions.store. */
  readonly store?: ClientStore;
  readonly onStoreError?: (error: unknown) => void;
}

/** Runs a ClientMachine (one device) on Node's connections and the real clock: the reference client. */
export class ClientRunner extends ClientDriver {
  constructor(machine: ClientMachine, options: ClientRunnerOptions) {
    super(machine, {
      connect: () => dial(options.url, options.dial),
      onEvent: options.onEvent,
      now: options.now,
      onConnectError: options.onConnectError,
      store: options.store,
      onStoreError: options.onStoreError,
    });
  }
}
