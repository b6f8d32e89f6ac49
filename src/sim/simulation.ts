import { ErrorCode } from "../gen/imwire/v1/error_pb.js";
import type { Frame } from "../gen/imwire/v1/frame_pb.js";
import type { ConversationEvent, SendAck } from "../gen/imwire/v1/message_pb.js";
import { decodeFrame, encodeFrame } from "../codec/frame-codec.js";
import { isImwireError } from "../errors.js";
import { MemoryClientStore } from "../client/client-store.js";
import { ClientMachine } from "../machines/client/client-machine.js";
import type { ClientOptions } from "../machines/client/options.js";
import type { ClientPolicy } from "../machines/client/policy.js";
import type { Transition } from "../machines/client/states.js";
import type { ClientEvent, ClientOutput } from "../machines/client/types.js";
import type { ServerOptions } from "../machines/server/options.js";
import { newServerMachine, type ServerMachine, type ServerMachineFactory } from "../machines/server/server-machine.js";
import type { ServerOutput, TokenCheck } from "../machines/server/types.js";
import { DriveLoop } from "../runtime/drive-loop.js";
import { virtualTimers } from "../runtime/virtual-timer.js";
import { MemoryStore } from "../store/memory-store.js";
import type { Store } from "../store/store.js";
import { SimDurability, type DurabilityModel } from "./sim-durability.js";
import { EventQueue } from "./event-queue.js";
import { Random } from "./random.js";

/** How a link treats each frame. */
export interface LinkFaults {
  /** Probability that a frame is lost. */
  readonly loss: number;
  /** Probability that a frame arrives twice. */
  readonly duplicate: number;
  /** Base one-way delay, ms. */
  readonly delayMs: number;
  /** Extra random delay in [0, jitterMs): frames overtake each other. */
  readonly jitterMs: number;
}

export const perfectLink: LinkFaults = { loss: 0, duplicate: 0, delayMs: 5, jitterMs: 0 };

export interface SimulationConfig {
  readonly seed: number;
  readonly users: number;
  readonly devicesPerUser: number;
  readonly faults?: LinkFaults;
  readonly server?: Partial<ServerOptions>;
  readonly client?: Partial<Omit<ClientOptions, "deviceId">>;
  /**
   * Options for one device on top of `client`, by its user and its place in
   * creation order: how a run mixes version 1.0 devices (`features: []`)
   * with devices that negotiate features (EXT-5).
   */
  readonly deviceOptions?: (userIndex: number, ordinal: number) => Partial<Omit<ClientOptions, "deviceId">>;
  /** Makes the server machine (default: ServerMachine); tests plant server bugs through it. */
  readonly serverMachine?: ServerMachineFactory;
  /** Makes each device's client policy (default: the correct one); tests plant client bugs through it. */
  readonly clientPolicy?: () => Partial<ClientPolicy>;
  /** Told of every client state change, by device. */
  readonly onClientTransition?: (deviceId: string, transition: Transition) => void;
  /** Receives every trace line as it happens (frames sent, connections opened and closed). */
  readonly onTrace?: (line: string) => void;
  /**
   * Makes the server's store: once at the start, and again at each restart
   * that loses state, with a new epoch to use if the store takes one (CUR-4).
   * A MemoryStore when absent.
   */
  readonly store?: (epoch: string) => Store;
  /**
   * Group commit with a commit latency: the server on a write-behind store,
   * its outputs held until what they depend on is durable, and a restart
   * that keeps state keeping only durable batches (a crash). Replaces `store`.
   */
  readonly durability?: DurabilityModel;
}

/** Timings that make a simulated minute eventful: seconds-long heartbeats and retries. */
export const simServerOptions: Partial<ServerOptions> = {
  heartbeatIntervalMs: 2_000,
  handshakeTimeoutMs: 5_000,
  drainTimeoutMs: 1_000,
  receiveWindow: 32,
};
export const simClientOptions: Partial<Omit<ClientOptions, "deviceId">> = {
  lossyTransport: true,
  attemptTimeoutMs: 1_000,
  maxAttemptTimeoutMs: 8_000,
  reconnectBaseMs: 200,
  reconnectMaxMs: 4_000,
  handshakeTimeoutMs: 3_000,
  gapWaitMs: 100,
  ackDelayMs: 50,
};

interface SimConnection {
  readonly id: number;
  /** The id the device's client gave this connection. */
  readonly clientId: number;
  readonly device: SimDevice;
  /** Each end's own idea of whether the connection is open. */
  clientOpen: boolean;
  serverOpen: boolean;
  /** Frames, and notices that the other end closed, vanish. */
  blackholed: boolean;
  /** The cursor the client offered to resume from, until the server answers. */
  resumeOffered?: bigint;
  /** DLV-3: after a resume, the first push must link to this cursor. */
  firstPushLinksTo?: bigint;
}

/** Who closed a connection, when, and why. */
export interface CloseRecord {
  readonly at: number;
  readonly deviceId: string;
  readonly by: "server" | "client";
  readonly reason: string;
}

/** One device: a client machine and everything its application saw. */
export class SimDevice {
  /** The running process's machine: a restart (Simulation.restartClient) replaces it with one restored from `store`. */
  client: ClientMachine;
  /** CLI-1: what the device persisted, as its last "persist" output left it; all a restarted process has. */
  readonly store = new MemoryClientStore();
  /** How many times its process was killed and restarted. */
  restarts = 0;
  connection: SimConnection | undefined;
  partitionedUntil = 0;
  /** Events handed to the application, per conversation, in the order handed. */
  readonly delivered = new Map<string, ConversationEvent[]>();
  /** HID-2, HID-3: "conversation#seq" of every event the application was told its user hid. */
  readonly hidden = new Set<string>();
  /** Every send the application made, in order. */
  readonly sends: string[] = [];
  readonly acked = new Map<string, SendAck>();
  readonly failed = new Map<string, ErrorCode | "expired">();
  readonly done = new Set<string>();
  resyncs = 0;
  /** Status changes, with their times. */
  readonly statusLog: { readonly at: number; readonly status: string }[] = [];
  #lastCursor = 0n;
  #lastEpoch: string | undefined;

  constructor(
    readonly userId: string,
    readonly deviceId: string,
    client: ClientMachine,
    /** The options it was made with beyond the simulation's own (SimulationConfig.deviceOptions). */
    readonly options: Partial<Omit<ClientOptions, "deviceId">> = {},
    /** Makes the policy of each of its processes' machines. */
    readonly policy: () => Partial<ClientPolicy> = () => ({}),
  ) {
    this.client = client;
  }

  /** Property 8: within an epoch, the cursor a device holds never decreases. */
  checkCursor(violations: string[]): void {
    const { cursor, epoch } = this.client;
    if (epoch === this.#lastEpoch && cursor < this.#lastCursor) {
      violations.push(`${this.deviceId}: cursor went back from ${this.#lastCursor} to ${cursor} (CUR-5)`);
    }
    this.#lastCursor = cursor;
    this.#lastEpoch = epoch;
  }
}

/**
 * A deterministic world: one server machine, users with several devices,
 * links that lose, duplicate, delay and reorder frames, connections that drop,
 * partitions that heal, all on a virtual clock and one seed. Frames cross the
 * links encoded, so the codec is exercised too.
 */
export class Simulation {
  readonly queue = new EventQueue();
  readonly random: Random;
  readonly #networkRandom: Random;
  store: Store;
  server: ServerMachine;
  readonly devices: SimDevice[] = [];
  faults: LinkFaults;
  /** Runtime monitors' findings: broken invariants, in the order seen. */
  readonly violations: string[] = [];
  /** The last frames and events, for explaining a failure. */
  readonly trace: string[] = [];
  framesCarried = 0;
  /** Frames on the wire, not yet arrived (or lost on arrival): a world with any is not quiet. */
  #inTransit = 0;
  /** Every connection close the machines asked for. */
  readonly closes: CloseRecord[] = [];
  /** At each restart that lost state: what every device held then. */
  readonly stateLosses: { readonly at: number; readonly devices: ReadonlyMap<SimDevice, { epoch: string | undefined; resyncs: number }> }[] = [];
  #connections = new Map<number, SimConnection>();
  #nextConnection = 1;
  /** The loop driving the current server machine; a restart starts a new one, so the old one's wake-ups are dropped. */
  #serverLoop: { readonly server: ServerMachine; readonly loop: DriveLoop<ServerOutput> } | undefined;
  readonly #clientLoops = new Map<SimDevice, DriveLoop<ClientOutput>>();
  #serverDownUntil = 0;
  #epochCounter = 1;
  readonly #config: SimulationConfig;
  /** Group commit in virtual time, when the config asks for it. */
  readonly durability: SimDurability | undefined;

  constructor(config: SimulationConfig) {
    this.#config = config;
    this.durability = config.durability ? new SimDurability(this.queue, config.durability) : undefined;
    this.random = new Random(config.seed);
    this.#networkRandom = this.random.fork();
    this.faults = config.faults ?? perfectLink;
    this.store = this.#newStore();
    this.server = this.#newServer();
    for (let u = 0; u < config.users; u++) {
      for (let d = 0; d < config.devicesPerUser; d++) this.addDevice(u);
    }
  }

  get now(): number {
    return this.queue.now;
  }

  userId(index: number): string {
    return `u${index}`;
  }

  devicesOf(userId: string): SimDevice[] {
    return this.devices.filter((d) => d.userId === userId);
  }

  /** Add a device for user `userIndex` (a fresh installation) and start it; `options` default to SimulationConfig.deviceOptions'. */
  addDevice(
    userIndex: number,
    policy?: Partial<ClientPolicy>,
    options: Partial<Omit<ClientOptions, "deviceId">> = this.#config.deviceOptions?.(userIndex, this.devices.length) ?? {},
  ): SimDevice {
    const userId = this.userId(userIndex);
    this.store.addUser(userId);
    const deviceId = `${userId}d${this.devicesOf(userId).length}`;
    const policies = policy ? () => policy : () => this.#config.clientPolicy?.() ?? {};
    const client = this.#newClient(userId, deviceId, options, policies(), `${deviceId}-`);
    const device = new SimDevice(userId, deviceId, client, options, policies);
    this.devices.push(device);
    this.queue.after(0, () => {
      client.start(this.now);
      this.#driveClient(device);
    });
    return device;
  }

  /**
   * CLI-5: the device's process dies now — its machine is dropped with
   * everything it held in memory, its connection is cut (the server learns
   * after the link delay), and news of the old process's connections never
   * reaches the new one — and restarts after `downForMs` with a machine
   * restored from what the device persisted, and nothing else.
   */
  restartClient(device: SimDevice, downForMs = 50): void {
    this.#clientLoops.get(device)?.cancel();
    this.#clientLoops.delete(device);
    for (const connection of [...this.#connections.values()]) {
      if (connection.device !== device || !connection.clientOpen) continue;
      connection.clientOpen = false; // no one is left to tell
      this.#cut(connection, true);
    }
    device.connection = undefined;
    device.restarts++;
    const client = this.#newClient(device.userId, device.deviceId, device.options, device.policy(), `${device.deviceId}-r${device.restarts}-`);
    client.restore(device.store.current, this.now);
    device.client = client;
    this.#note(`! ${device.deviceId} killed, restarting as run ${device.restarts} at cursor ${client.cursor}, ${client.pendingOperations} pending`);
    this.queue.after(downForMs, () => {
      if (device.client !== client) return;
      client.start(this.now);
      this.#driveClient(device);
    });
  }

  /** A device's machine, persisting (CLI-1) into the device's store from its first input; ids are `idPrefix` and a count. */
  #newClient(userId: string, deviceId: string, options: Partial<Omit<ClientOptions, "deviceId">>, policy: Partial<ClientPolicy>, idPrefix: string): ClientMachine {
    const random = this.random.fork();
    let ids = 0;
    const onTransition = this.#config.onClientTransition;
    const client = new ClientMachine(
      { ...simClientOptions, ...this.#config.client, ...options, deviceId },
      { token: () => `${userId}|${deviceId}`, random: () => random.next(), newId: () => `${idPrefix}${++ids}`, onTransition: (t) => onTransition?.(deviceId, t) },
      policy,
    );
    client.restore(undefined, this.now);
    return client;
  }

  /** Carry out what a device's client was asked to do outside its own inputs (a send from the application), now. */
  drive(device: SimDevice): void {
    this.#driveClient(device);
  }

  /** Run the world until virtual time `until`. */
  run(until: number): void {
    this.queue.runUntil(until, 5_000_000);
  }

  /**
   * Whether the world is quiet, judged with the omniscience only a simulator
   * has: every device settled, and holding its user's stream up to the
   * server's head. A device cannot know it missed the stream's tail until its
   * next pong (CUR-6), so its own "settled" is not enough.
   */
  quiescent(): boolean {
    // Nothing on the wire and no commit pending: a frame a settled device just sent (a conversation
    // acknowledgement, RCPT-1) may still make the server write, and a commit delays what follows it.
    if (this.#inTransit > 0 || !(this.durability?.idle ?? true)) return false;
    return this.devices.every(
      (d) => d.client.settled && d.client.epoch === this.store.epoch(d.userId) && d.client.cursor === BigInt(this.store.headCursor(d.userId)),
    );
  }

  /** Run until the world is quiescent or `deadline` passes; returns whether it became quiescent. */
  runUntilSettled(deadline: number, step = 250): boolean {
    while (this.now < deadline) {
      this.run(Math.min(deadline, this.now + step));
      if (this.quiescent()) return true;
    }
    return this.quiescent();
  }

  /** Faults stop, partitions end, black holes close. */
  heal(): void {
    this.faults = perfectLink;
    for (const device of this.devices) {
      device.partitionedUntil = 0;
    }
    for (const connection of [...this.#connections.values()]) {
      if (connection.blackholed) this.#cut(connection, true);
    }
  }

  /** Cut the device's connection at both ends. */
  dropConnection(device: SimDevice): void {
    const connection = device.connection;
    if (connection) this.#cut(connection, true);
  }

  /** The network cuts a connection: each end still open learns of it after the link delay (a reset). */
  #cut(connection: SimConnection, tellServer: boolean): void {
    const server = this.server;
    const device = connection.device;
    const client = device.client;
    const { clientOpen, serverOpen } = connection;
    connection.clientOpen = false;
    connection.serverOpen = false;
    connection.blackholed = false;
    this.#connections.delete(connection.id);
    if (device.connection === connection) device.connection = undefined;
    this.#note(`x ${device.deviceId} connection ${connection.id} cut`);
    this.queue.after(this.faults.delayMs, () => {
      if (serverOpen && tellServer && this.server === server) {
        server.connectionClosed(connection.id, this.now);
        this.#driveServer();
      }
      if (clientOpen && device.client === client) {
        client.disconnected(connection.clientId, this.now);
        this.#driveClient(device);
      }
    });
  }

  /** The device cannot reach the server until `until`; its connection drops now. */
  partition(device: SimDevice, until: number): void {
    device.partitionedUntil = Math.max(device.partitionedUntil, until);
    this.dropConnection(device);
  }

  /** Frames on the device's connection vanish from now on, and neither end is told. */
  blackhole(device: SimDevice): void {
    if (device.connection) device.connection.blackholed = true;
  }

  /**
   * The server process restarts: every connection drops. With `loseState`
   * its store starts empty under a new epoch (CUR-4); otherwise the store
   * survives, as a durable one does.
   */
  restartServer(loseState: boolean, downForMs = 500): void {
    for (const connection of [...this.#connections.values()]) this.#cut(connection, false);
    if (loseState) {
      this.stateLosses.push({ at: this.now, devices: new Map(this.devices.map((d) => [d, { epoch: d.client.epoch, resyncs: d.resyncs }])) });
      ++this.#epochCounter;
      this.durability?.loseEverything();
      this.store = this.#newStore();
      for (const device of this.devices) this.store.addUser(device.userId);
    } else if (this.durability) {
      this.store = this.durability.crash(`e${this.#epochCounter}`);
    }
    this.server = this.#newServer();
    this.#serverLoop?.loop.cancel();
    this.#serverLoop = undefined;
    this.#serverDownUntil = this.now + downForMs;
  }

  /** Every conversation id the server has, in creation order. */
  conversationIds(): string[] {
    return this.#conversationOrder.filter((id) => this.store.conversation(id) !== undefined);
  }

  readonly #conversationOrder: string[] = [];

  #newStore(): Store {
    const epoch = `e${this.#epochCounter}`;
    if (this.durability) return this.durability.open(epoch);
    return this.#config.store ? this.#config.store(epoch) : new MemoryStore(epoch);
  }

  #newServer(): ServerMachine {
    const random = this.random.fork();
    const server = (this.#config.serverMachine ?? newServerMachine)(
      {
        store: this.store,
        verifyToken: (token): TokenCheck => {
          const [userId, deviceId] = token.split("|");
          return userId && deviceId ? { ok: true, userId, deviceId, expiresAtMs: 0 } : { ok: false, expired: false };
        },
        randomId: () => {
          const id = `c${random.hex(12)}`;
          this.#conversationOrder.push(id);
          return id;
        },
      },
      { ...simServerOptions, ...this.#config.server },
    );
    return server;
  }

  // ---- wiring ------------------------------------------------------------

  #driveClient(device: SimDevice): void {
    let loop = this.#clientLoops.get(device);
    if (!loop) this.#clientLoops.set(device, (loop = this.#newClientLoop(device)));
    loop.drive();
  }

  #newClientLoop(device: SimDevice): DriveLoop<ClientOutput> {
    // One loop per process: a restarted device gets a new one, and what the old one still had scheduled does nothing.
    const client = device.client;
    const alive = () => device.client === client;
    return new DriveLoop<ClientOutput>({
      take: () => (alive() ? client.takeOutputs() : []),
      handlers: {
        send: (output) => {
          this.#checkAcknowledgement(device, output.frame);
          if (device.connection?.clientOpen) this.#transmit(device.connection, "up", output.frame);
        },
        connect: (output) => {
          const clientId = output.connection;
          this.queue.after(this.faults.delayMs, () => {
            if (alive()) this.#open(device, clientId);
          });
        },
        close: (output) => {
          this.closes.push({ at: this.now, deviceId: device.deviceId, by: "client", reason: client.status });
          if (device.connection?.clientId === output.connection) this.#closeEnd(device.connection, "client");
        },
        // Simulated links carry frames of any size: FRM-5 limits are the real transports' to keep, and tested there.
        "frame-limit": () => {},
        app: (output) => this.#record(device, output.event),
        // CLI-1: a durable write the process cannot die in the middle of; a restart reads what the last one left.
        persist: (output) => device.store.put(output.state),
      },
      afterBatch: () => device.checkCursor(this.violations),
      nextWakeup: () => (alive() ? client.nextWakeup() : undefined),
      tick: (now) => {
        if (alive()) client.tick(now);
      },
      now: () => this.now,
      timer: virtualTimers(this.queue),
    });
  }

  /**
   * ACK-1: a device acknowledges the cursor it holds, never an entry it holds
   * after a gap. The server cannot see this (ACK-2 only bounds an ack by what
   * was sent), and a device that acknowledges past a gap loses the gap's
   * entries only if it reconnects before fetching them: so it is watched here.
   */
  #checkAcknowledgement(device: SimDevice, frame: Frame): void {
    if (frame.body.case !== "deliveryAck" || frame.body.value.conversations.length > 0) return;
    const held = device.client.cursor;
    if (frame.body.value.cursor > held) this.violations.push(`ACK-1: ${device.deviceId} acknowledged cursor ${frame.body.value.cursor} but holds the stream only up to ${held}`);
  }

  #driveServer(): void {
    if (this.#serverLoop?.server !== this.server) this.#serverLoop = { server: this.server, loop: this.#newServerLoop(this.server) };
    this.#serverLoop.loop.drive();
  }

  /** A server output, now or, under group commit, once what it may depend on is durable. */
  #released(output: () => void): void {
    if (this.durability) this.durability.release(output);
    else output();
  }

  #newServerLoop(server: ServerMachine): DriveLoop<ServerOutput> {
    return new DriveLoop<ServerOutput>({
      take: () => server.takeOutputs(),
      handlers: {
        // One node: nobody to tell.
        "cluster-notice": () => {},
        send: (output) =>
          this.#released(() => {
            const connection = this.#connections.get(output.connection);
            if (!connection?.serverOpen) return;
            this.#noteServerFrame(connection, output.frame);
            this.#transmit(connection, "down", output.frame);
          }),
        close: (output) =>
          this.#released(() => {
            const connection = this.#connections.get(output.connection);
            if (!connection?.serverOpen) return;
            this.closes.push({ at: this.now, deviceId: connection.device.deviceId, by: "server", reason: typeof output.reason === "string" ? output.reason : ErrorCode[output.reason] ?? String(output.reason) });
            this.#closeEnd(connection, "server");
          }),
        "internal-error": (output) => {
          this.violations.push(`server internal error: ${String(output.error)}${output.error instanceof Error ? `\n${output.error.stack}` : ""}`);
        },
        "frame-limit": () => {},
        // No push service in the simulated world: a device catches up when it reconnects.
        "push-handoff": () => {},
      },
      nextWakeup: () => server.nextWakeup(),
      tick: (now) => server.tick(now),
      now: () => this.now,
      timer: virtualTimers(this.queue),
    });
  }

  /** Errors the server sends that a correct client never causes, and DLV-3's resume check. */
  #noteServerFrame(connection: SimConnection, frame: Frame): void {
    if (frame.body.case === "authenticated" && frame.body.value.resumed) connection.firstPushLinksTo = connection.resumeOffered;
    if (frame.body.case === "deliver" && connection.firstPushLinksTo !== undefined) {
      if (frame.body.value.prevCursor !== connection.firstPushLinksTo) {
        this.violations.push(`DLV-3: ${connection.device.deviceId} resumed at ${connection.firstPushLinksTo} but the first push follows ${frame.body.value.prevCursor}`);
      }
      connection.firstPushLinksTo = undefined;
    }
    if (frame.body.case !== "error") return;
    const { code, requirement, message } = frame.body.value;
    const expected = code === ErrorCode.TIMEOUT || code === ErrorCode.SESSION_REPLACED || code === ErrorCode.UNAVAILABLE;
    const requestRefusal = code === ErrorCode.PERMISSION_DENIED || code === ErrorCode.NOT_FOUND || code === ErrorCode.FAILED_PRECONDITION || code === ErrorCode.INVALID_ARGUMENT;
    if (!expected && !requestRefusal) {
      this.violations.push(`server sent ${ErrorCode[code]} (${requirement}) to ${connection.device.deviceId}: ${message}`);
    }
  }

  #open(device: SimDevice, clientId: number): void {
    if (this.now < device.partitionedUntil || this.now < this.#serverDownUntil) {
      device.client.disconnected(clientId, this.now);
      this.#driveClient(device);
      return;
    }
    const connection: SimConnection = { id: this.#nextConnection++, clientId, device, clientOpen: true, serverOpen: true, blackholed: false };
    this.#note(`+ ${device.deviceId} connection ${connection.id}`);
    this.#connections.set(connection.id, connection);
    device.connection = connection;
    this.server.connectionOpened(connection.id, this.now);
    this.#driveServer();
    device.client.connected(clientId, this.now);
    this.#driveClient(device);
  }

  /**
   * One end closes the connection: at once for that end, and after the link
   * delay for the other, unless a black hole swallows the notice (then only a
   * timeout tells it).
   */
  #closeEnd(connection: SimConnection, end: "client" | "server"): void {
    const server = this.server;
    const device = connection.device;
    const client = device.client;
    if (end === "client") {
      if (!connection.clientOpen) return;
      connection.clientOpen = false;
      if (device.connection === connection) device.connection = undefined;
    } else {
      if (!connection.serverOpen) return;
      connection.serverOpen = false;
    }
    this.#note(`x ${device.deviceId} connection ${connection.id} closed by the ${end}`);
    if (!connection.clientOpen && !connection.serverOpen) this.#connections.delete(connection.id);
    if (connection.blackholed) return;
    this.queue.after(this.faults.delayMs, () => {
      if (end === "client" && connection.serverOpen && this.server === server) {
        connection.serverOpen = false;
        this.#connections.delete(connection.id);
        server.connectionClosed(connection.id, this.now);
        this.#driveServer();
      } else if (end === "server" && connection.clientOpen) {
        connection.clientOpen = false;
        this.#connections.delete(connection.id);
        if (device.connection === connection) device.connection = undefined;
        if (device.client !== client) return;
        client.disconnected(connection.clientId, this.now);
        this.#driveClient(device);
      }
    });
  }

  #transmit(connection: SimConnection, direction: "up" | "down", frame: Frame): void {
    if (frame.body.case === "authenticate") connection.resumeOffered = frame.body.value.resume?.cursor;
    const payload = encodeFrame(frame);
    this.framesCarried++;
    this.#note(`${direction === "up" ? "→" : "←"} ${connection.device.deviceId} ${describe(frame)}${connection.blackholed ? " (black hole)" : ""}`);
    if (connection.blackholed) return;
    const faults = this.faults;
    const random = this.#networkRandom;
    // A duplicated handshake frame closes the connection (CONN-5), which no byte stream can cause: those four are never doubled.
    const copies = random.chance(faults.duplicate) && !HANDSHAKE.has(frame.body.case) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      if (random.chance(faults.loss)) continue;
      const delay = faults.delayMs + random.next() * faults.jitterMs;
      this.#inTransit++;
      this.queue.after(delay, () => {
        this.#inTransit--;
        this.#arrive(connection, direction, payload);
      });
    }
  }

  #arrive(connection: SimConnection, direction: "up" | "down", payload: Uint8Array): void {
    if (connection.blackholed || !(direction === "up" ? connection.serverOpen : connection.clientOpen)) return;
    let frame: Frame;
    try {
      frame = decodeFrame(payload);
    } catch (error) {
      if (!isImwireError(error)) throw error;
      this.violations.push(`undecodable frame on the ${direction} link: ${error.message}`);
      return;
    }
    if (direction === "up") {
      this.server.frameReceived(connection.id, frame, this.now, payload.length);
      this.#driveServer();
    } else {
      connection.device.client.frameReceived(frame, this.now);
      this.#driveClient(connection.device);
    }
  }

  #record(device: SimDevice, event: ClientEvent): void {
    switch (event.kind) {
      case "event": {
        let list = device.delivered.get(event.conversationId);
        if (!list) device.delivered.set(event.conversationId, (list = []));
        list.push(event.event);
        break;
      }
      case "sent":
        if (device.acked.has(event.clientMessageId)) this.violations.push(`${device.deviceId}: ${event.clientMessageId} acknowledged twice`);
        device.acked.set(event.clientMessageId, event.ack);
        break;
      case "failed":
        device.failed.set(event.operationId, event.code);
        break;
      case "hidden":
        device.hidden.add(`${event.conversationId}#${event.seq}`);
        break;
      case "done":
        device.done.add(event.operationId);
        break;
      case "resynced":
        device.resyncs++;
        break;
      case "status":
        device.statusLog.push({ at: this.now, status: event.status });
        break;
      default:
        break;
    }
  }

  #note(line: string): void {
    const stamped = `${this.now.toFixed(1)} ${line}`;
    this.#config.onTrace?.(stamped);
    this.trace.push(stamped);
    if (this.trace.length > 400) this.trace.splice(0, this.trace.length - 300);
  }
}

const HANDSHAKE = new Set<Frame["body"]["case"]>(["hello", "welcome", "authenticate", "authenticated"]);

function describe(frame: Frame): string {
  const body = frame.body;
  const id = frame.requestId === 0 ? "" : `#${frame.requestId} `;
  switch (body.case) {
    case "deliver":
      return `${id}deliver cursor=${body.value.cursor} prev=${body.value.prevCursor} ${body.value.body.case}`;
    case "deliveryAck":
      return `${id}ack cursor=${body.value.cursor}`;
    case "error":
      return `${id}error ${ErrorCode[body.value.code]} ${body.value.requirement}`;
    default:
      return `${id}${body.case}`;
  }
}
