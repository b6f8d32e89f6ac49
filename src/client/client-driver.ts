import { ImwireError, isImwireError } from "../errors.js";
import { ErrorCode } from "../gen/imwire/v1/error_pb.js";
import type { Frame } from "../gen/imwire/v1/frame_pb.js";
import type { ClientMachine } from "../machines/client/client-machine.js";
import type { ClientEvent, ClientOutput, MemberList } from "../machines/client/types.js";
import { DriveLoop } from "../runtime/drive-loop.js";
import { clockTimers, type WakeupTimerFactory } from "../runtime/wakeup-timer.js";
import type { FrameTransport } from "../transport/frame-transport.js";

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
  /** listMembers calls awaiting their "members" or "failed" event, by operation id. */
  readonly #listings = new Map<string, { resolve: (list: MemberList) => void; reject: (error: ImwireError) => void }>();

  constructor(machine: ClientMachine, options: ClientDriverOptions) {
    this.machine = machine;
    this.#connect = options.connect;
    this.#onEvent = options.onEvent;
    this.#onConnectError = options.onConnectError;
    this.#now = options.now ?? Date.now;
    this.#loop = new DriveLoop<ClientOutput>({
      take: () => this.machine.takeOutputs(),
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
      },
      nextWakeup: () => this.machine.nextWakeup(),
      tick: (now) => this.machine.tick(now),
      now: this.#now,
      // A client's heartbeats and reconnects are what keep a client process alive.
      timer: options.timer ?? clockTimers(this.#now, { holdsProcess: true }),
    });
  }

  start(): void {
    this.#stopped = false;
    this.machine.start(this.#now());
    this.#loop.drive();
  }

  /** Close the connection and never reconnect; no wake-up is left behind. */
  stop(): void {
    this.#stopped = true;
    this.machine.stop(this.#now());
    this.#loop.drive();
    this.#loop.cancel();
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
      this.#loop.drive();
    });
  }

  /** Run an application command against the machine, then carry out what it asks for. */
  act<T>(command: (machine: ClientMachine, now: number) => T): T {
    const result = command(this.machine, this.#now());
    this.#loop.drive();
    return result;
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
      this.#loop.drive();
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
        this.#loop.drive();
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
      this.#loop.drive();
    };
    transport.onProgress = () => {
      if (live()) this.machine.peerActive(this.#now());
    };
    transport.onInputError = (error) => {
      if (!live()) return;
      this.machine.inputError(error, this.#now());
      this.#loop.drive();
    };
    transport.onClose = () => {
      if (live()) this.#current = undefined;
      this.machine.disconnected(connection, this.#now());
      this.#loop.drive();
    };
    this.machine.connected(connection, this.#now());
    this.#loop.drive();
  }
}
