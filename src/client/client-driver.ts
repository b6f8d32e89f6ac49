import { ImwireError, isImwireError } from "../errors.js";
import { ErrorCode } from "../gen/imwire/v1/error_pb.js";
import type { Frame } from "../gen/imwire/v1/frame_pb.js";
import type { ClientMachine } from "../machines/client/client-machine.js";
import type { ClientEvent, ClientOutput, MemberList } from "../machines/client/types.js";
import { DriveLoop } from "../runtime/drive-loop.js";
import { clockTimers, type WakeupTimerFactory } from "../runtime/wakeup-timer.js";
import type { FrameTransport } from "../transport/frame-transport.js";
import type { ClientStore } from "./client-store.js";

export interface ClientDriverOptions {
  /**
   * Open the transport for the machine's connection number `connection`. A
   * rejection is a connection that could not be opened: the machine backs off
   * and tries again.
   */
  readonly connect: (connection: number) => Promise<FrameTransport>;
  /** The machine's wake-ups (default: setTimeout on `now`'s clock, holding a Node process alive). */
  readonly timer?: WakeupTimerFactory;
  readonly now?: () => number;
  readonly onEvent: (event: ClientEvent) => void;
  /**
   * Why a connection could not be opened (the machine only learns that it
   * failed, and backs off): for an application to show "connection refused"
   * rather than a bare "offline".
   */
  readonly onConnectError?: (error: unknown) => void;
  /**
   * CLI-1: where the device's state survives the process. start() loads it
   * and restores the machine from it before connecting; every "persist"
   * output is saved, and nothing the machine asked for after it is carried
   * out until the save resolves (frames, events, connections alike). `now`
   * must then be a wall clock: the outbox's dedup window (IDEM-4) runs
   * across restarts on it. Without a store the device keeps nothing.
   */
  readonly store?: ClientStore;
  /** A save or load failed: the client is killed (kill()), since it can no longer keep its promises; the next start restores the last state saved. */
  readonly onStoreError?: (error: unknown) => void;
}

/**
 * Runs a ClientMachine (one device) on any transport and any clock: the
 * browser's WebSocket, Node's sockets (ClientRunner), an in-memory link on
 * virtual time. Portable: nothing here needs Node or the DOM.
 */
export class ClientDriver {
  readonly machine: ClientMachine;
  readonly #connect: ClientDriverOptions["connect"];
  readonly #onEvent: ClientDriverOptions["onEvent"];
  readonly #onConnectError: ClientDriverOptions["onConnectError"];
  readonly #now: () => number;
  readonly #loop: DriveLoop<ClientOutput>;
  /** The connection the machine is using, by the number it gave it. */
  #current: { readonly id: number; readonly transport: FrameTransport } | undefined;
  #stopped = false;
  readonly #store: ClientStore | undefined;
  readonly #onStoreError: ClientDriverOptions["onStoreError"];
  /** The store's load and the machine's restore(), once per driver. */
  #restoring: Promise<void> | undefined;
  /** A save under way: every output after it waits in #held. */
  #saving = false;
  #held: ClientOutput[] = [];
  /** kill(): nothing more goes in or out. */
  #killed = false;
  /** listMembers calls awaiting their "members" or "failed" event, by operation id. */
  readonly #listings = new Map<string, { resolve: (list: MemberList) => void; reject: (error: ImwireError) => void }>();

  constructor(machine: ClientMachine, options: ClientDriverOptions) {
    this.machine = machine;
    this.#connect = options.connect;
    this.#onEvent = options.onEvent;
    this.#onConnectError = options.onConnectError;
    this.#now = options.now ?? Date.now;
    this.#store = options.store;
    this.#onStoreError = options.onStoreError;
    this.#loop = new DriveLoop<ClientOutput>({
      take: () => this.#releasable(),
      handlers: {
        connect: (output) => this.#open(output.connection),
        send: (output) => this.#send(output.frame),
        close: (output) => {
          if (this.#current?.id !== output.connection) return;
          this.#current.transport.close();
          this.#current = undefined;
        },
        "frame-limit": (output) => {
          if (this.#current?.id === output.connection) this.#current.transport.setMaxFrameSize(output.maxFrameSize);
        },
        app: (output) => {
          this.#settleListing(output.event);
          this.#onEvent(output.event);
        },
        persist: (output) => this.#save(output.state),
      },
      nextWakeup: () => this.machine.nextWakeup(),
      tick: (now) => this.machine.tick(now),
      now: this.#now,
      // A client's heartbeats and reconnects are what keep a client process alive.
      timer: options.timer ?? clockTimers(this.#now, { holdsProcess: true }),
    });
  }

  /**
   * Connect, and keep connected. With a store, the first start loads it and
   * restores the machine first (CLI-5): the promise resolves once the
   * machine has started, and rejects when the store cannot be read. Without
   * one the machine starts at once.
   */
  start(): Promise<void> {
    this.#stopped = false;
    if (!this.#store) {
      this.#startMachine();
      return Promise.resolve();
    }
    const store = this.#store;
    this.#restoring ??= store.load().then((state) => this.machine.restore(state, this.#now()));
    return this.#restoring.then(
      () => {
        if (!this.#stopped && !this.#killed) this.#startMachine();
      },
      (error: unknown) => {
        this.#onStoreError?.(error);
        throw error;
      },
    );
  }

  /** Close the connection and never reconnect; no wake-up is left behind. */
  stop(): void {
    this.#stopped = true;
    if (this.#killed) return;
    this.machine.stop(this.#now());
    this.#drive();
    this.#loop.cancel();
    this.#rejectListings();
  }

  #rejectListings(): void {
    for (const [id, listing] of this.#listings) {
      this.#listings.delete(id);
      listing.reject(new ImwireError(ErrorCode.UNAVAILABLE, "the client stopped before the member list was read"));
    }
  }

  /**
   * CONV-10: every member of a conversation, all pages read (the machine's
   * listMembers; MemberList says what the result reflects while members
   * change). Rejects with an ImwireError: ERROR_CODE_UNKNOWN_FRAME without
   * anything sent when FEATURE_MEMBER_PAGES is not in force (EXT-5), the
   * server's code when it refuses (PERMISSION_DENIED, NOT_FOUND), TIMEOUT
   * when the dedup window passes unanswered.
   */
  listMembers(conversationId: string, extra: { limit?: number } = {}): Promise<MemberList> {
    return new Promise((resolve, reject) => {
      // Registered before the loop runs: the machine may fail the listing in the same call.
      const id = this.machine.listMembers(conversationId, this.#now(), extra);
      this.#listings.set(id, { resolve, reject });
      this.#drive();
    });
  }

  /**
   * As if the process died here: the connection is cut at once (unsent
   * output lost), no save is started or awaited, no wake-up is left, and
   * nothing that arrives reaches the machine any more. What the store holds
   * is what a new driver's start() restores. For crash drills and tests, and
   * for a store that failed (onStoreError).
   */
  kill(): void {
    if (this.#killed) return;
    this.#killed = true;
    this.#stopped = true;
    this.#held = [];
    this.#loop.cancel();
    const current = this.#current;
    this.#current = undefined;
    current?.transport.destroy();
    this.#rejectListings();
  }

  /** Run an application command against the machine, then carry out what it asks for. */
  act<T>(command: (machine: ClientMachine, now: number) => T): T {
    const result = command(this.machine, this.#now());
    this.#drive();
    return result;
  }

  #startMachine(): void {
    this.machine.start(this.#now());
    this.#drive();
  }

  #drive(): void {
    if (!this.#killed) this.#loop.drive();
  }

  /**
   * CLI-1: the outputs that may be carried out now — up to and including
   * the first "persist"; the rest wait for its save. A "persist" followed by
   * another with no frame between them is superseded, and skipped.
   */
  #releasable(): ClientOutput[] {
    const taken = this.machine.takeOutputs();
    if (this.#killed) return [];
    const outputs = this.#held.length > 0 ? [...this.#held.splice(0), ...taken] : taken;
    if (!this.#store) return outputs;
    if (this.#saving) {
      this.#held = outputs;
      return [];
    }
    const kept = supersede(outputs);
    const at = kept.findIndex((o) => o.kind === "persist");
    if (at < 0) return kept;
    this.#held = kept.slice(at + 1);
    return kept.slice(0, at + 1);
  }

  #save(state: Parameters<ClientStore["save"]>[0]): void {
    const store = this.#store;
    if (!store || this.#killed) return;
    this.#saving = true;
    store.save(state).then(
      () => {
        this.#saving = false;
        this.#drive();
      },
      (error: unknown) => {
        this.#saving = false;
        this.kill();
        this.#onStoreError?.(error);
      },
    );
  }

  #settleListing(event: ClientEvent): void {
    if (event.kind !== "members" && event.kind !== "failed") return;
    const listing = this.#listings.get(event.operationId);
    if (!listing) return;
    this.#listings.delete(event.operationId);
    if (event.kind === "members") listing.resolve(event.list);
    else if (event.code === "expired") listing.reject(new ImwireError(ErrorCode.TIMEOUT, event.message, { requirement: "IDEM-4" }));
    else listing.reject(new ImwireError(event.code, event.message));
  }

  #send(frame: Frame): void {
    const current = this.#current;
    if (!current) return;
    try {
      current.transport.send(frame);
    } catch (error) {
      if (!isImwireError(error)) throw error;
      // FRM-9: a frame over the limit in force cannot go, and the request it carries would wait for an answer forever: the connection is given up, as the machine gives up one that stops answering.
      this.#current = undefined;
      current.transport.close();
      this.machine.disconnected(current.id, this.#now());
      this.#drive();
    }
  }

  #open(connection: number): void {
    let opening: Promise<FrameTransport>;
    try {
      opening = this.#connect(connection);
    } catch (error) {
      opening = Promise.reject(error);
    }
    opening.then(
      (transport) => this.#adopt(connection, transport),
      (error: unknown) => {
        this.#onConnectError?.(error);
        this.machine.disconnected(connection, this.#now());
        this.#drive();
      },
    );
  }

  #adopt(connection: number, transport: FrameTransport): void {
    // stop() came while it was opening: the machine forgot this connection and will never close it.
    if (this.#stopped) {
      transport.close();
      return;
    }
    this.#current = { id: connection, transport };
    // A transport the machine has closed may still hand over what was already read: it belongs to no link the machine has now.
    const live = () => this.#current?.transport === transport;
    transport.onFrame = (frame) => {
      if (!live()) return;
      this.machine.frameReceived(frame, this.#now());
      this.#drive();
    };
    transport.onProgress = () => {
      if (live()) this.machine.peerActive(this.#now());
    };
    transport.onInputError = (error) => {
      if (!live()) return;
      this.machine.inputError(error, this.#now());
      this.#drive();
    };
    transport.onClose = () => {
      if (live()) this.#current = undefined;
      this.machine.disconnected(connection, this.#now());
      this.#drive();
    };
    this.machine.connected(connection, this.#now());
    this.#drive();
  }
}

/** Drop each "persist" that a later one replaces before any frame goes: its save would be overwritten unread. */
function supersede(outputs: readonly ClientOutput[]): ClientOutput[] {
  const kept: ClientOutput[] = [];
  let replaced = false;
  for (let i = outputs.length - 1; i >= 0; i--) {
    const output = outputs[i]!;
    if (output.kind === "persist") {
      if (replaced) continue;
      replaced = true;
    } else if (output.kind === "send") {
      replaced = false;
    }
    kept.push(output);
  }
  return kept.reverse();
}
