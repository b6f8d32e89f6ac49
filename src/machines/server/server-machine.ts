import { create } from "@bufbuild/protobuf";
import { AuthenticatedSchema, type Authenticate } from "../../gen/imwire/v1/auth_pb.js";
import { Feature, GoAwaySchema, PingSchema, PongSchema, WelcomeSchema, type Hello } from "../../gen/imwire/v1/connection_pb.js";
import type { DeliveryAck } from "../../gen/imwire/v1/delivery_pb.js";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import { FrameSchema, type Frame } from "../../gen/imwire/v1/frame_pb.js";
import { DeviceState, ReceiveMode } from "../../gen/imwire/v1/settings_pb.js";
import { errorFrame } from "../../codec/error-frame.js";
import { frameCatalogue, maySend } from "../../codec/frame-catalogue.js";
import type { ImwireError } from "../../errors.js";
import { SUPPORTED_VERSIONS } from "../../limits.js";
import { RECEIVE_WINDOW_BYTES_RANGE } from "../../codec/welcome.js";
import { sizeFrame } from "../../gen/imwire/v1/frame_fast.js";
import { sizeConversationEvent } from "../../gen/imwire/v1/message_fast.js";
import type { ConversationEvent } from "../../gen/imwire/v1/message_pb.js";
import type { UserEvent } from "../../gen/imwire/v1/delivery_pb.js";
import { TokenBucket } from "./rate-limit.js";
import type { Store, StoredUserEntryBody } from "../../store/store.js";
import { Connection, deviceKey } from "./connection.js";
import { leaveConversation, openConversation, setHistoryVisibility } from "./conversations.js";
import type { ServerCore } from "./core.js";
import { effectiveMode, materialize } from "./delivery.js";
import { checkId, isValidId, toNumber } from "./ids.js";
import { hideMessage, markRead, sendMessage } from "./messaging.js";
import { listReceipts, noteDelivered } from "./receipts.js";
import { serverOptions, type ServerOptions } from "./options.js";
import { RequestError } from "./request-error.js";
import { setDeviceState, setReceiveSettings } from "./settings.js";
import { syncConversation, syncUser } from "./sync.js";
import { listMembers } from "./members.js";
import { actOnMessage } from "./message-actions.js";
import { PushFanOut } from "./fan-out.js";
import { EphemeralSignals } from "./ephemeral.js";
import type { ConnectionId, ServerDeps, ServerOutput } from "./types.js";
import { ClusterNotices, type ClusterNotice } from "./cluster-notices.js";
import { ALIVE_INTERVAL_MS, RemoteDevices, type RemoteChange } from "./remote-devices.js";
import { isStoreUnavailable } from "../../store/store-errors.js";

type Body = Frame["body"];

/**
 * A `deliver` frame's envelope around its event at most: the frame's tag and
 * length, the user event's cursor and prev_cursor (10-byte varints at most),
 * the event's tag and length (FLOW-2).
 */
const PUSH_ENVELOPE_BYTES = 32;

/** Event sizes, measured once per stored event however many members it is pushed to (FLOW-2). */
const eventSizes = new WeakMap<ConversationEvent, number>();

/**
 * The bytes a push counts against the window: an upper bound on its encoded
 * size, so the window is never exceeded, without measuring the same event
 * for every member of a large conversation.
 */
function pushSize(frame: Frame, event: UserEvent): number {
  if (event.body.case !== "event") return sizeFrame(frame);
  const stored = event.body.value;
  let size = eventSizes.get(stored);
  if (size === undefined) eventSizes.set(stored, (size = sizeConversationEvent(stored)));
  return size + PUSH_ENVELOPE_BYTES;
}

/** EXT-5: the features this server implements, offered to every client that asks. */
const SERVER_FEATURES: ReadonlySet<Feature> = new Set([Feature.CONVERSATION_SUMMARIES, Feature.MEMBER_PAGES, Feature.MESSAGE_ACTIONS, Feature.EPHEMERAL, Feature.THREADS, Feature.HISTORY_VISIBILITY, Feature.DELETE_FOR_ME, Feature.RECEIPTS]);

/**
 * Users whose devices one input or tick pushes to at most: the rest wait for
 * the next tick, so that answers go first and a commit's completion is not
 * kept waiting behind a long run of pushes.
 */
const USERS_PUMPED_PER_TURN = 128;

/** Keys forgotten per input at most (IDEM-4). */
const DEDUP_EXPIRY_BATCH = 1_000;

/** Makes the server machine a runner drives: what a simulator or the reference server takes to run another (a subclass, say). */
export type ServerMachineFactory = (deps: ServerDeps, options: Partial<ServerOptions>) => ServerMachine;

export const newServerMachine: ServerMachineFactory = (deps, options) => new ServerMachine(deps, options);

/**
 * The imwire server as a pure state machine (SPEC.md §5 to §19): frames and
 * connection events in, frames and actions out, time passed in by the caller.
 * One instance serves every connection of one server.
 *
 * Drive it with connectionOpened / frameReceived / inputError /
 * connectionClosed / tick, then carry out takeOutputs() in order, and call
 * tick again at nextWakeup().
 */
export class ServerMachine implements ServerCore {
  readonly store: Store;
  readonly options: ServerOptions;
  readonly deps: ServerDeps;

  readonly #connections = new Map<ConnectionId, Connection>();
  readonly #byDevice = new Map<string, Connection>();
  readonly #byUser = new Map<string, Set<Connection>>();
  /** FLOW-4: per-user buckets, kept while the user has a connection or its bucket is not full. */
  readonly #userRates = new Map<string, TokenBucket>();
  #outputs: ServerOutput[] = [];
  /** Users whose streams grew: their devices are pumped once the input is handled, or on the next ticks when they are many. */
  readonly #grownStreams = new Set<string>();
  readonly #notices: ClusterNotices;
  /** CLU-5: the devices connected to the other nodes of the cluster. */
  readonly #remote = new RemoteDevices();
  /** CLU-5: when this node next lists its devices to the others (never when it runs alone). */
  #aliveAt = Infinity;
  /** CUR-7: finds the connected readers of events published under read fan-out. */
  readonly #fanOut: PushFanOut;
  /** EPH-1 to EPH-5: typing and presence. */
  readonly #ephemeral: EphemeralSignals;
  /** PSH-1: stream entries made for users whose away devices may need an alert, checked once the input is handled. */
  #awayAlerts: { userId: string; conversationId: string; seq: number }[] = [];
  /** PSH-3: by device, the conversations it was alerted of since it last connected: one alert each until it comes back. */
  readonly #alerted = new Map<string, Set<string>>();
  #wakeup = Infinity;
  /** The time of the latest input: when pushes left over from it are due (at once). */
  #lastInputAt = 0;
  /** When to look next for idempotency keys past the window (IDEM-4). */
  #dedupExpiryAt = 0;

  constructor(deps: ServerDeps, options: Partial<ServerOptions> = {}) {
    this.deps = deps;
    this.store = deps.store;
    this.options = serverOptions(options);
    this.#notices = new ClusterNotices(this.options.clusterNotices, this.options.clusterNodeId);
    if (this.options.clusterNotices) this.#aliveAt = 0;
    this.#fanOut = new PushFanOut(this.store, () => this.#byUser, (userId) => this.#grownStreams.add(userId));
    this.#ephemeral = new EphemeralSignals({
      store: this.store,
      connectionsOf: (userId) => this.#byUser.get(userId) ?? [],
      send: (connection, frame) => this.#send(connection, frame),
      notices: this.#notices,
      remote: this.#remote,
    });
  }

  /**
   * Everything the machine has asked for since the last call, in order. The
   * caller writes what it takes: an answer taken counts as written, so the
   * requests it answers leave their connection's in-flight count (FLOW-1).
   */
  takeOutputs(): ServerOutput[] {
    const outputs = this.takeOutputsUnsettled();
    this.settle(outputs);
    return outputs;
  }

  /**
   * As takeOutputs, for a caller that writes frame by frame as it reads, to
   * bound what it holds (FLOW-3), but must count the requests of one read
   * together (FLOW-1): the answers taken stay in flight until settle().
   */
  takeOutputsUnsettled(): ServerOutput[] {
    const notice = this.#notices.take();
    if (notice) this.#outputs.push({ kind: "cluster-notice", notice });
    const outputs = this.#outputs;
    this.#outputs = [];
    return outputs;
  }

  /** The answers among `outputs` are written: their requests leave the in-flight count (FLOW-1). */
  settle(outputs: readonly ServerOutput[]): void {
    for (const output of outputs) {
      if (output.kind !== "send" || output.frame.requestId === 0) continue;
      const connection = this.#connections.get(output.connection);
      if (connection && connection.inFlight > 0) connection.inFlight--;
    }
  }

  /** When tick() must next be called, or undefined when no timer runs. */
  nextWakeup(): number | undefined {
    const pushesDue = this.#grownStreams.size > 0 || this.#fanOut.pending ? this.#lastInputAt : Infinity;
    const wakeup = Math.min(this.#wakeup, pushesDue, this.#aliveAt);
    return wakeup === Infinity ? undefined : wakeup;
  }

  /** How many connections are open. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  connectionOpened(id: ConnectionId, now: number): void {
    this.#connections.set(id, new Connection(id, now));
    this.#wakeAt(now + this.options.handshakeTimeoutMs);
  }

  connectionClosed(id: ConnectionId, _now: number): void {
    const connection = this.#connections.get(id);
    if (connection) this.#forget(connection);
  }

  /**
   * The peer is alive though no whole frame arrived: bytes of a frame came
   * in, or, while its input is held back (FLOW-3), it read what was sent.
   * HB-3 counts silence from here too, so a large frame over a slow link is
   * not cut for taking longer than the timeout.
   */
  peerActive(id: ConnectionId, now: number): void {
    const connection = this.#connections.get(id);
    if (!connection) return;
    connection.lastReceivedAt = now;
    // HB-5: the client's pings wait behind the frame it is sending; it hears from us instead.
    const half = this.options.heartbeatIntervalMs / 2;
    if (connection.state !== "await-hello" && now - connection.lastFrameAt >= half && now - connection.lastPingAt >= half) {
      connection.lastPingAt = now;
      this.#send(connection, create(FrameSchema, { body: { case: "ping", value: create(PingSchema, { nonce: BigInt(Math.floor(now)) }) } }));
    }
  }

  /** A frame the transport decoded and validated (decodeFrame). `payloadSize` is its encoded size, when known. */
  frameReceived(id: ConnectionId, frame: Frame, now: number, payloadSize?: number): void {
    const connection = this.#connections.get(id);
    if (!connection) return;
    this.#lastInputAt = now;
    connection.lastReceivedAt = now;
    connection.lastFrameAt = now;
    if (now >= this.#dedupExpiryAt) this.#expireDedupKeys(now);
    const body = frame.body;
    if (body.case === undefined) {
      this.#send(connection, errorFrame(ErrorCode.UNKNOWN_FRAME, { requestId: frame.requestId, requirement: "ENV-4" }));
      return;
    }
    if (!maySend("client", body.case)) {
      this.#fatal(connection, ErrorCode.PROTOCOL_VIOLATION, "ENV-7", `${body.case} is sent by servers only`, frame.requestId);
      return;
    }
    if (frameCatalogue[body.case].kind === "request") {
      if (frame.requestId === 0) {
        this.#fatal(connection, ErrorCode.PROTOCOL_VIOLATION, "ENV-2", `${body.case} with request_id 0: its answer could not be matched`);
        return;
      }
      // FLOW-1: read and not yet answered, an answer counting once the runner has taken it.
      if (connection.inFlight >= this.options.maxInFlight) {
        this.#fatal(connection, ErrorCode.PROTOCOL_VIOLATION, "FLOW-1", `more than max_in_flight ${this.options.maxInFlight} requests awaiting an answer`, frame.requestId);
        return;
      }
      connection.inFlight++;
    }
    try {
      this.#dispatch(connection, frame, now, payloadSize);
    } catch (error) {
      // CLU-3: storage away outside a request's own handling (authentication, an acknowledgement, a push):
      // the connection's state may be half made, so it is closed, retryable, and the device comes back.
      if (!isStoreUnavailable(error)) throw error;
      if (this.#connections.has(connection.id)) this.#fatal(connection, ErrorCode.UNAVAILABLE, "CLU-3", "storage unavailable", frame.requestId);
    }
  }

  #dispatch(connection: Connection, frame: Frame, now: number, payloadSize: number | undefined): void {
    const body = frame.body;
    switch (connection.state) {
      case "await-hello":
        if (body.case === "hello") this.#hello(connection, frame.requestId, body.value, now);
        else this.#fatal(connection, ErrorCode.PROTOCOL_VIOLATION, "CONN-1", "the first frame must be hello", frame.requestId);
        break;
      case "await-auth":
        if (body.case === "authenticate") this.#authenticate(connection, frame.requestId, body.value, now);
        else if (body.case === "hello") this.#fatal(connection, ErrorCode.PROTOCOL_VIOLATION, "CONN-5", "hello was already received", frame.requestId);
        else if (!this.#heartbeat(connection, body)) {
          this.#fatal(connection, ErrorCode.UNAUTHENTICATED, "CONN-4", `${body.case} before authentication`, frame.requestId);
        }
        break;
      case "ready":
      case "draining":
        this.#whenReady(connection, frame.requestId, body, now, payloadSize);
        break;
    }
    this.#pumpGrownStreams();
  }

  /**
   * Input the transport could not turn into a valid frame (decodeFrame's or
   * the splitter's ImwireError): reported to the peer, and the connection
   * closed when the error says so (ENV-3 to ENV-5, FRM-2, FRM-4).
   */
  inputError(id: ConnectionId, error: ImwireError, now: number): void {
    const connection = this.#connections.get(id);
    if (!connection) return;
    connection.lastReceivedAt = now;
    const frame = errorFrame(error.code, { requestId: error.requestId, message: error.message, requirement: error.requirement });
    this.#send(connection, frame);
    if (error.closesConnection) this.#close(connection, error.code);
  }

  /** Run the timers due at `now`: handshake (CONN-6), heartbeat (HB-3) and drain (CONN-7) deadlines. */
  tick(now: number): void {
    try {
      this.#tick(now);
    } catch (error) {
      // CLU-3: storage away: what this tick would have pushed or swept waits for the next one.
      if (!isStoreUnavailable(error)) throw error;
      this.#wakeAt(now + 1_000);
    }
  }

  #tick(now: number): void {
    if (now >= this.#aliveAt) this.#alive(now);
    if (this.#grownStreams.size > 0 || this.#fanOut.pending) {
      this.#fanOut.step();
      this.#pumpGrownStreams();
    }
    if (now < this.#wakeup) return;
    this.#wakeup = Infinity;
    const silence = 1.5 * this.options.heartbeatIntervalMs;
    for (const connection of [...this.#connections.values()]) {
      const handshakeDeadline = connection.openedAt + this.options.handshakeTimeoutMs;
      const silenceDeadline = connection.lastReceivedAt + silence;
      // HB-3 counts from welcome: before it, the client cannot know the interval, and CONN-6 alone applies.
      const heard = connection.state !== "await-hello";
      if ((connection.state === "await-hello" || connection.state === "await-auth") && now >= handshakeDeadline) {
        this.#fatal(connection, ErrorCode.TIMEOUT, "CONN-6", "the handshake did not complete in time");
      } else if (heard && now >= silenceDeadline) {
        this.#fatal(connection, ErrorCode.TIMEOUT, "HB-3", `nothing received for ${silence} ms`);
      } else if (connection.state === "draining" && now >= connection.drainDeadline) {
        this.#close(connection, "graceful");
      } else {
        const awaiting = connection.state === "await-hello" || connection.state === "await-auth";
        const silence = heard ? silenceDeadline : Infinity;
        this.#wakeAt(Math.min(awaiting ? handshakeDeadline : Infinity, silence, connection.drainDeadline));
      }
    }
  }

  /** Begin a graceful shutdown (CONN-7): go_away to every ready connection, close the rest. */
  shutdown(now: number, reason: string, reconnectDelayMs = 1_000): void {
    for (const connection of [...this.#connections.values()]) {
      if (connection.state === "ready") {
        this.#send(connection, create(FrameSchema, { body: { case: "goAway", value: create(GoAwaySchema, { reason, reconnectDelayMs }) } }));
        connection.state = "draining";
        connection.drainDeadline = now + this.options.drainTimeoutMs;
        this.#wakeAt(connection.drainDeadline);
      } else if (connection.state !== "draining") {
        this.#close(connection, "graceful");
      }
    }
  }

  appendUserEntry(userId: string, body: StoredUserEntryBody): number {
    const cursor = this.store.appendUserEntry(userId, body);
    this.#grownStreams.add(userId);
    this.#notices.streamGrew(userId);
    if (body.case === "eventRef") this.#awayAlerts.push({ userId, conversationId: body.conversationId, seq: body.seq });
    return cursor;
  }

  eventPublished(conversationId: string, seq: number): void {
    this.#fanOut.published(conversationId, seq);
    this.#notices.published(conversationId, seq);
  }

  /**
   * CLU-2: another node of the cluster committed these positions: the
   * devices connected here of users whose streams grew are pushed what they
   * lack (read from the shared store), readers here of a read-fan-out
   * conversation are walked, and a device that authenticated there replaces
   * its connection here (AUTH-4).
   */
  remoteNotice(notice: ClusterNotice, now: number): void {
    try {
      this.#remoteNotice(notice, now);
    } catch (error) {
      // CLU-3: storage away: the devices here catch up by themselves (CUR-6), as with a lost notice.
      if (!isStoreUnavailable(error)) throw error;
    }
  }

  #remoteNotice(notice: ClusterNotice, now: number): void {
    this.#lastInputAt = now;
    const { node } = notice;
    this.#remote.heard(node, now);
    // The list was made before the arrivals and departures the same notice names, at the node's tick.
    if (notice.alive) for (const change of this.#remote.replace(node, notice.alive, now)) this.#remoteChanged(change);
    for (const userId of notice.users) if (this.#byUser.has(userId)) this.#grownStreams.add(userId);
    for (const [conversationId, seq] of notice.published) this.#fanOut.published(conversationId, seq);
    const openedAt = new Map(notice.openedAt);
    for (const key of notice.devices) {
      const remoteOpenedAt = openedAt.get(key) ?? Infinity; // a node of an older version: taken as the newer
      // Counted there before it is replaced here, so that presence sees a device that moved, not one that left.
      this.#remoteChanged(this.#remote.arrived(node, key, remoteOpenedAt));
      this.#alerted.delete(key); // PSH-3: back, on another node
      const connection = this.#byDevice.get(key);
      if (!connection) continue;
      if (connection.openedAt <= remoteOpenedAt) {
        this.#fatal(connection, ErrorCode.SESSION_REPLACED, "AUTH-4", "a newer connection of this device authenticated on another node");
      } else {
        // The one there is older (it authenticated late, after a stall): it goes, told by this device's notice again.
        this.#notices.authenticated(key, connection.openedAt);
      }
    }
    for (const [key, lastSeenMs] of notice.departed) this.#remoteChanged(this.#remote.departed(node, key, lastSeenMs));
    for (const signal of notice.typing) this.#ephemeral.remoteTyping(signal, now);
    for (const [userId, hidden] of notice.sharing) this.#ephemeral.remoteSharingChanged(userId, hidden);
    for (const [key, conversationId] of notice.alerted) this.#alertedOf(key).add(conversationId);
    this.#fanOut.step();
    this.#pumpGrownStreams();
  }

  #remoteChanged(change: RemoteChange | undefined): void {
    if (change) this.#ephemeral.remoteChanged(change);
  }

  #alertedOf(deviceKey: string): Set<string> {
    let alerted = this.#alerted.get(deviceKey);
    if (!alerted) this.#alerted.set(deviceKey, (alerted = new Set()));
    return alerted;
  }

  /** CLU-5: tell the other nodes every device connected here, and forget the devices of nodes fallen silent. */
  #alive(now: number): void {
    this.#aliveAt = now + ALIVE_INTERVAL_MS;
    this.#notices.alive([...this.#byDevice.keys()]);
    for (const change of this.#remote.expire(now)) this.#ephemeral.remoteChanged(change);
  }

  noteSent(connection: Connection, cursor: number): void {
    if (cursor > connection.highestSent) connection.highestSent = cursor;
  }

  #hello(connection: Connection, requestId: number, hello: Hello, now: number): void {
    const version = Math.max(...hello.versions.filter((v) => SUPPORTED_VERSIONS.includes(v)));
    if (version === -Infinity) {
      this.#fatal(connection, ErrorCode.UNSUPPORTED_VERSION, "CONN-2", `no version in common with ${hello.versions.join(", ")}`, requestId);
      return;
    }
    try {
      checkId(hello.deviceId, "device_id");
    } catch (error) {
      this.#answerError(connection, requestId, error);
      return;
    }
    const { options } = this;
    connection.helloDeviceId = hello.deviceId;
    // EXT-5: what the client offered and this server implements, nothing else; numbers it does not know are ignored.
    const features = [...new Set(hello.features)].filter((f) => SERVER_FEATURES.has(f)).sort((a, b) => a - b);
    connection.summaries = features.includes(Feature.CONVERSATION_SUMMARIES);
    connection.ephemeral = features.includes(Feature.EPHEMERAL);
    connection.receiveWindow = hello.receiveWindow === 0 ? options.receiveWindow : Math.min(hello.receiveWindow, options.receiveWindow);
    // A client's wish below a frame's worth still gets one frame at a time (FLOW-2): the floor keeps Welcome within LIM-6.
    connection.receiveWindowBytes = hello.receiveWindowBytes === 0 ? options.receiveWindowBytes : Math.max(RECEIVE_WINDOW_BYTES_RANGE[0], Math.min(hello.receiveWindowBytes, options.receiveWindowBytes));
    connection.state = "await-auth";
    const welcome = create(WelcomeSchema, {
      version,
      maxFrameSize: options.maxFrameSize,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      maxInFlight: options.maxInFlight,
      receiveWindow: connection.receiveWindow,
      receiveWindowBytes: connection.receiveWindowBytes,
      dedupWindowS: options.dedupWindowS,
      serverAgent: options.serverAgent,
      features,
      editWindowS: features.includes(Feature.MESSAGE_ACTIONS) ? options.editWindowS : 0,
    });
    this.#send(connection, create(FrameSchema, { requestId, body: { case: "welcome", value: welcome } }));
    this.#outputs.push({ kind: "frame-limit", connection: connection.id, maxFrameSize: options.maxFrameSize });
    this.#wakeAt(now + 1.5 * options.heartbeatIntervalMs); // HB-3 counts from welcome
  }

  #authenticate(connection: Connection, requestId: number, request: Authenticate, now: number): void {
    if (request.resume) {
      try {
        checkId(request.resume.epoch, "resume.epoch");
      } catch (error) {
        this.#answerError(connection, requestId, error);
        return;
      }
    }
    const check = this.deps.verifyToken(request.token, now);
    if (!check.ok) {
      const code = check.expired ? ErrorCode.TOKEN_EXPIRED : ErrorCode.UNAUTHENTICATED;
      this.#fatal(connection, code, "AUTH-1", check.expired ? "the token has expired" : "the token is not valid", requestId);
      return;
    }
    // LIM-2 wherever an id comes from: a token naming an over-long user cannot make it into the store.
    if (!isValidId(check.userId) || !isValidId(check.deviceId)) {
      this.#fatal(connection, ErrorCode.UNAUTHENTICATED, "LIM-2", "the token names an identifier outside 1 to 128 bytes", requestId);
      return;
    }
    if (check.deviceId !== connection.helloDeviceId) {
      this.#fatal(connection, ErrorCode.UNAUTHENTICATED, "AUTH-3", "the token belongs to another device", requestId);
      return;
    }
    const { store, options } = this;
    const key = deviceKey(check.userId, check.deviceId);
    const previous = this.#byDevice.get(key);
    // AUTH-4: of two connections of a device the one opened later stays, whichever authenticates last — one the
    // device gave up on (a handshake that timed out) may still be authenticated late, after the one that replaced it.
    if ((previous !== undefined && previous.openedAt > connection.openedAt) || this.#remote.newestOpenedAt(key) > connection.openedAt) {
      this.#fatal(connection, ErrorCode.SESSION_REPLACED, "AUTH-4", "a newer connection of this device is open", requestId);
      return;
    }
    // A user known already costs no write transaction (on a cluster, none takes the writer lock); a user is never removed.
    if (!store.hasUser(check.userId)) store.transaction(() => store.addUser(check.userId));
    if (previous) this.#fatal(previous, ErrorCode.SESSION_REPLACED, "AUTH-4", "a newer connection of this device authenticated");

    connection.userId = check.userId;
    connection.deviceId = check.deviceId;
    connection.state = "ready";
    connection.rate = new TokenBucket(options.rateLimits.connection, now);
    this.#byDevice.set(connection.deviceKey, connection);
    this.#notices.authenticated(connection.deviceKey, connection.openedAt);
    this.#alerted.delete(connection.deviceKey); // PSH-3: back, so the next time it is away it is alerted again
    let devices = this.#byUser.get(check.userId);
    if (!devices) this.#byUser.set(check.userId, (devices = new Set()));
    const firstDevice = devices.size === 0;
    devices.add(connection);

    const epoch = store.epoch(check.userId);
    const head = store.headCursor(check.userId);
    const resume = request.resume;
    let resumed = false;
    if (resume !== undefined && resume.epoch === epoch) {
      const cursor = toNumber(resume.cursor);
      if (cursor <= head && store.storedEntriesAfter(check.userId, cursor, options.snapshotAfterEntries + 1) <= options.snapshotAfterEntries) {
        resumed = true;
        connection.position = cursor;
        connection.lastPushed = cursor;
        this.noteSent(connection, cursor);
      }
    }
    const authenticated = create(AuthenticatedSchema, {
      userId: check.userId,
      deviceId: check.deviceId,
      epoch,
      headCursor: BigInt(head),
      resumed,
      tokenExpiresAtMs: BigInt(check.expiresAtMs),
    });
    this.#send(connection, create(FrameSchema, { requestId, body: { case: "authenticated", value: authenticated } }));
    this.#ephemeral.authenticated(connection, firstDevice);
    this.#wakeAt(now + 1.5 * options.heartbeatIntervalMs);
    this.#pump(connection);
  }

  /** Ping, pong and error frames, which any state past hello accepts. Returns false for anything else. */
  #heartbeat(connection: Connection, body: Body): boolean {
    switch (body.case) {
      case "ping": {
        const head = connection.state === "ready" || connection.state === "draining" ? this.store.headCursor(connection.userId) : 0;
        const pong = create(PongSchema, { nonce: body.value.nonce, headCursor: BigInt(head) });
        this.#send(connection, create(FrameSchema, { body: { case: "pong", value: pong } }));
        return true;
      }
      case "pong":
        return true;
      case "error":
        // ERR-1: never answered. A closing error means the client is going away.
        if (body.value.closing) this.#close(connection, body.value.code, true);
        return true;
      default:
        return false;
    }
  }

  #whenReady(connection: Connection, requestId: number, body: Body, now: number, payloadSize: number | undefined): void {
    if (this.#heartbeat(connection, body)) return;
    switch (body.case) {
      case "hello":
      case "authenticate":
        this.#fatal(connection, ErrorCode.PROTOCOL_VIOLATION, "CONN-5", `${body.case} after authentication`, requestId);
        return;
      case "deliveryAck":
        this.#deliveryAck(connection, body.value);
        return;
      case "setTyping":
        // EPH-1: a notice; under FLOW-4's limit it is dropped, never answered.
        if (connection.state === "ready") this.#ephemeral.typing(connection, body.value, now);
        return;
    }
    if (connection.state === "draining") {
      this.#send(connection, errorFrame(ErrorCode.UNAVAILABLE, { requestId, message: "the server is shutting down", requirement: "CONN-7", retryAfterMs: 1_000 }));
      return;
    }
    // FLOW-4, before any work: the connection's bucket, then its user's (every device together).
    const wait = Math.max(connection.rate!.take(now), this.#userRate(connection.userId, now).take(now));
    if (wait > 0) {
      this.#send(connection, errorFrame(ErrorCode.RATE_LIMITED, { requestId, message: `too many requests; retry after ${wait} ms`, requirement: "FLOW-4", retryAfterMs: wait }));
      return;
    }
    try {
      const answer = this.store.transaction(() => this.#answer(connection, body, now, payloadSize));
      this.#send(connection, create(FrameSchema, { requestId, body: answer }));
    } catch (error) {
      this.#answerError(connection, requestId, error);
    }
  }

  #answer(connection: Connection, body: Body, now: number, payloadSize: number | undefined): Body {
    switch (body.case) {
      case "sendMessage":
        return { case: "sendAck", value: sendMessage(this, connection, body.value, now, payloadSize) };
      case "syncConversation":
        return { case: "conversationPage", value: syncConversation(this, connection, body.value) };
      case "syncUser":
        return { case: "userPage", value: syncUser(this, connection, body.value) };
      case "markRead":
        return { case: "readMarker", value: markRead(this, connection, body.value) };
      case "openConversation":
        return { case: "conversationOpened", value: openConversation(this, connection, body.value, now) };
      case "leaveConversation":
        return { case: "conversationLeft", value: leaveConversation(this, connection, body.value, now) };
      case "setReceiveSettings":
        return { case: "receiveSettings", value: setReceiveSettings(this, connection, body.value) };
      case "setDeviceState": {
        const answer = setDeviceState(this, connection, body.value);
        this.#ephemeral.view(connection, body.value.viewingConversationId);
        return { case: "deviceStateSet", value: answer };
      }
      case "setPresenceSharing": {
        const hidden = body.value.hidden;
        if (this.store.presenceHidden(connection.userId) !== hidden) {
          this.store.setPresenceHidden(connection.userId, hidden);
          this.#ephemeral.sharingChanged(connection.userId, hidden, true);
        }
        return { case: "presenceSharing", value: { $typeName: "imwire.v1.PresenceSharing", hidden } };
      }
      case "listMembers":
        return { case: "memberPage", value: listMembers(this, connection, body.value) };
      case "hideMessage":
        return { case: "messageHidden", value: hideMessage(this, connection, body.value) };
      case "listReceipts":
        return { case: "receipts", value: listReceipts(this, connection, body.value) };
      case "setHistoryVisibility":
        return { case: "conversationOpened", value: setHistoryVisibility(this, connection, body.value, now) };
      case "actOnMessage":
        return { case: "sendAck", value: actOnMessage(this, connection, body.value, now, payloadSize) };
      default:
        throw new RequestError(ErrorCode.UNKNOWN_FRAME, `${body.case} is not a request`, "ENV-4");
    }
  }

  #answerError(connection: Connection, requestId: number, error: unknown): void {
    if (error instanceof RequestError) {
      this.#send(connection, errorFrame(error.code, { requestId, message: error.message, requirement: error.requirement }));
      return;
    }
    if (isStoreUnavailable(error)) {
      // ERR-2: the storage is away (a database restarting): nothing was stored, and a retry may succeed.
      this.#send(connection, errorFrame(ErrorCode.UNAVAILABLE, { requestId, message: "storage unavailable", retryAfterMs: 1_000 }));
      return;
    }
    this.#outputs.push({ kind: "internal-error", connection: connection.id, error });
    this.#send(connection, errorFrame(ErrorCode.INTERNAL, { requestId, message: "internal error" }));
  }

  /** ACK-1 to ACK-5, DLV-2, FLOW-2. */
  #deliveryAck(connection: Connection, ack: DeliveryAck): void {
    for (const conversationAck of ack.conversations) {
      const membership = this.store.membership(conversationAck.conversationId, connection.userId);
      const readable = membership ? membership.lastVisibleSeq || this.store.lastSeq(conversationAck.conversationId) : 0;
      if (toNumber(conversationAck.seq) > readable) {
        this.#fatal(connection, ErrorCode.PROTOCOL_VIOLATION, "ACK-4", `acknowledged seq ${conversationAck.seq} of ${conversationAck.conversationId} beyond ${readable}`);
        return;
      }
    }
    // RCPT-2, RCPT-3: what the device holds of each conversation; a write, so in a transaction of its own.
    // A failure here costs a receipt, not the acknowledgement: the stream part still counts (and storage away is CLU-3's).
    if (ack.conversations.length > 0) {
      try {
        this.store.transaction(() => noteDelivered(this, connection.userId, ack.conversations));
      } catch (error) {
        if (isStoreUnavailable(error)) throw error;
        this.#outputs.push({ kind: "internal-error", connection: connection.id, error });
      }
    }
    // A cursor of 0 beside conversation acknowledgements says nothing about the stream.
    if (ack.cursor === 0n && ack.conversations.length > 0) return;
    const cursor = toNumber(ack.cursor);
    if (cursor > connection.highestSent) {
      this.#fatal(connection, ErrorCode.PROTOCOL_VIOLATION, "ACK-2", `acknowledged cursor ${ack.cursor} beyond the ${connection.highestSent} sent`);
      return;
    }
    if (connection.position !== undefined && cursor <= connection.position) return; // ACK-3
    connection.position = cursor;
    while (connection.unacked.length > 0 && connection.unacked[0]! <= cursor) {
      connection.unacked.shift();
      connection.unackedBytes -= connection.unackedSizes.shift()!;
    }
    if (cursor > connection.lastPushed) connection.lastPushed = cursor;
    this.#pump(connection);
  }

  #userRate(userId: string, now: number): TokenBucket {
    let bucket = this.#userRates.get(userId);
    if (!bucket) this.#userRates.set(userId, (bucket = new TokenBucket(this.options.rateLimits.user, now)));
    return bucket;
  }

  /**
   * PSH-1 to PSH-3: alert the registered devices that are away (no
   * connection) of the events their users' streams gained — never of the
   * user's own, never for a muted conversation, once per conversation until
   * the device comes back. Checked after the input: an entry whose request
   * was refused (rolled back) has no event to alert of.
   */
  #alertAwayDevices(): void {
    const alerts = this.#awayAlerts;
    if (alerts.length === 0) return;
    this.#awayAlerts = [];
    for (const { userId, conversationId, seq } of alerts) {
      const registrations = this.store.pushRegistrations(userId);
      if (registrations.length === 0) continue;
      const event = this.store.event(conversationId, seq);
      if (!event || event.senderUserId === userId || effectiveMode(this.store, userId, conversationId) === ReceiveMode.MUTED) continue;
      for (const registration of registrations) {
        const key = deviceKey(userId, registration.deviceId);
        if (this.#byDevice.has(key) || this.#remote.deviceConnected(key)) continue; // connected, here or on another node: RECV-5 applies instead
        const alerted = this.#alertedOf(key);
        if (alerted.has(conversationId)) continue;
        alerted.add(conversationId);
        this.#notices.alerted(key, conversationId);
        this.#outputs.push({ kind: "push-handoff", userId, deviceId: registration.deviceId, pushService: registration.pushService, pushToken: registration.pushToken, conversationId, seq });
      }
    }
  }

  /** Pump the devices of users whose streams grew, a bounded number of users per turn (the rest on the next ticks). */
  #pumpGrownStreams(): void {
    this.#alertAwayDevices();
    let budget = USERS_PUMPED_PER_TURN;
    // Events read for one pass are shared by every device it pushes them to; the pass ends before any other input.
    const events = new Map<string, ConversationEvent>();
    for (const userId of this.#grownStreams) {
      if (budget-- === 0) return;
      this.#grownStreams.delete(userId);
      for (const connection of this.#byUser.get(userId) ?? []) this.#pump(connection, events);
    }
  }

  /** DLV-1, FLOW-2: push the entries after what was pushed, as far as the window allows. */
  #pump(connection: Connection, events?: Map<string, ConversationEvent>): void {
    if (connection.state !== "ready" || connection.position === undefined) return;
    const space = connection.receiveWindow - connection.unacked.length;
    if (space <= 0 || connection.unackedBytes >= connection.receiveWindowBytes) return;
    const frames: Frame[] = [];
    // SYNC-8: with summaries in force, a backlog of a read-fan-out conversation goes as one notify entry.
    for (const entry of this.store.userEntries(connection.userId, connection.lastPushed, space, connection.summaries)) {
      const event = materialize(this.store, connection, entry, connection.lastPushed, events);
      const frame = create(FrameSchema, { body: { case: "deliver", value: event } });
      // FLOW-2 in bytes too: a window of large frames is bounded by what the device takes, yet one frame always goes.
      const size = pushSize(frame, event);
      if (connection.unacked.length > 0 && connection.unackedBytes + size > connection.receiveWindowBytes) break;
      frames.push(frame);
      connection.lastPushed = entry.cursor;
      connection.unacked.push(entry.cursor);
      connection.unackedSizes.push(size);
      connection.unackedBytes += size;
      this.noteSent(connection, entry.cursor);
      // RECV-5: an alert only for a device in the background that registered a push service, never for a muted conversation (RECV-2).
      if (event.body.case === "notify" && connection.deviceState === DeviceState.BACKGROUND && connection.pushService !== "" && effectiveMode(this.store, connection.userId, event.body.value.conversationId) !== ReceiveMode.MUTED) {
        this.#outputs.push({
          kind: "push-handoff",
          userId: connection.userId,
          deviceId: connection.deviceId,
          pushService: connection.pushService,
          pushToken: connection.pushToken,
          conversationId: event.body.value.conversationId,
          seq: Number(event.body.value.seq),
        });
      }
    }
    for (const frame of frames) this.#send(connection, frame);
  }

  #send(connection: Connection, frame: Frame): void {
    this.#outputs.push({ kind: "send", connection: connection.id, frame });
  }

  #fatal(connection: Connection, code: ErrorCode, requirement: string, message: string, requestId = 0): void {
    this.#send(connection, errorFrame(code, { requestId, message, requirement }));
    this.#close(connection, code);
  }

  #close(connection: Connection, reason: ErrorCode | "graceful", byPeer = false): void {
    this.#outputs.push(byPeer ? { kind: "close", connection: connection.id, reason, byPeer } : { kind: "close", connection: connection.id, reason });
    this.#forget(connection);
  }

  #forget(connection: Connection): void {
    this.#connections.delete(connection.id);
    if (connection.userId === "") return;
    if (this.#byDevice.get(connection.deviceKey) === connection) {
      this.#byDevice.delete(connection.deviceKey);
      this.#notices.departed(connection.deviceKey, connection.lastReceivedAt);
    }
    const devices = this.#byUser.get(connection.userId);
    devices?.delete(connection);
    try {
      this.#ephemeral.closed(connection, devices?.size === 0, connection.lastReceivedAt);
    } catch (error) {
      // CLU-3: storage away while a connection goes (a close is an input of its own, outside any request):
      // the contacts miss one offline signal, which is ephemeral; the connection is forgotten all the same.
      if (!isStoreUnavailable(error)) throw error;
    }
    // A reconnect must not refill a user's bucket: it is dropped only once full again, on a later close.
    if (devices?.size === 0 && this.#userRates.get(connection.userId)?.full(connection.lastReceivedAt)) this.#userRates.delete(connection.userId);
  }

  /**
   * IDEM-4: forget keys older than the window, a bounded batch per input so
   * that no request waits behind a large delete; while batches come back
   * full, the next input takes another. Done on inputs rather than on a
   * timer: a server that receives nothing records no keys either.
   */
  #expireDedupKeys(now: number): void {
    const forgotten = this.store.forgetDedupBefore(now - this.options.dedupWindowS * 1000, DEDUP_EXPIRY_BATCH);
    this.#dedupExpiryAt = forgotten === DEDUP_EXPIRY_BATCH ? now : now + this.options.dedupExpiryIntervalMs;
  }

  #wakeAt(time: number): void {
    if (time < this.#wakeup) this.#wakeup = time;
  }
}
