import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { HistoryVisibility, OpenConversationSchema } from "../../gen/imwire/v1/conversation_pb.js";
import type { MessageContentSchema } from "../../gen/imwire/v1/content_pb.js";
import type { ActOnMessageSchema } from "../../gen/imwire/v1/message_pb.js";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import { FrameSchema, type Frame } from "../../gen/imwire/v1/frame_pb.js";
import { Feature } from "../../gen/imwire/v1/connection_pb.js";
import { DeviceState, ReceiveMode } from "../../gen/imwire/v1/settings_pb.js";
import { errorFrameFor } from "../../codec/error-frame.js";
import { maySend } from "../../codec/frame-catalogue.js";
import type { ImwireError } from "../../errors.js";
import { Connection } from "./connection.js";
import type { ClientContext } from "./context.js";
import type { ConversationView } from "./conversation-state.js";
import { ConversationSync } from "./conversation-sync.js";
import { Handshake } from "./handshake.js";
import { MemberLists } from "./member-lists.js";
import { Operations } from "./operations.js";
import { defaultClientOptions, type ClientDeps, type ClientOptions } from "./options.js";
import type { RequestBody } from "./outbox.js";
import { PERSISTED_STATE_VERSION, type PersistedClientState, type PersistedConversation, type PersistedOperation, type PersistedStream } from "./persisted-state.js";
import { correctPolicy, type ClientPolicy } from "./policy.js";
import { Replies } from "./replies.js";
import { mayRequest } from "./states.js";
import type { ClientEvent, ClientOutput, ClientStatus } from "./types.js";
import { UserStream } from "./user-stream.js";

const NEVER = Infinity;

/** CONN-11: what a server may send before authenticated. */
const BEFORE_AUTHENTICATED = new Set<Frame["body"]["case"]>(["welcome", "authenticated", "error", "ping", "pong", "goAway"]);

/**
 * The imwire client (one device) as a pure state machine (SPEC.md §5 to
 * §18): it connects, authenticates, resumes or resynchronises, keeps an
 * outbox of idempotent requests, hands the application each conversation's
 * events in order and exactly once, fetches what it misses, acknowledges
 * cumulatively, keeps the connection alive and reconnects with backoff.
 *
 * It survives connections: what it holds is the device's state. Drive it with
 * start / connected / frameReceived / inputError / disconnected / tick and
 * the application commands, carry out takeOutputs() in order, and call tick
 * at nextWakeup().
 *
 * This class coordinates: it routes inputs to the parts — connection.ts
 * (the state, through states.ts's table), handshake.ts, user-stream.ts,
 * conversation-sync.ts and operations.ts.
 */
export class ClientMachine {
  readonly options: ClientOptions;
  readonly #deps: ClientDeps;

  #outputs: ClientOutput[] = [];
  /** The time of the input being handled. */
  #now = 0;
  /** A sync waited for a free slot under the in-flight limit (FLOW-1). */
  #syncDeferred = false;
  #deviceState = DeviceState.FOREGROUND;
  #pushService = "";
  #pushToken = "";
  /** EPH-2: the conversation the application shows ("" for none), announced with the device state. */
  #viewing = "";
  /** CLI-1: restore() was called: durable state changes go out as "persist" outputs. */
  #persisting = false;
  /** The state last handed out in a "persist" output (or restored). */
  #persisted: PersistedClientState | undefined;
  #started = false;

  readonly #connection: Connection;
  readonly #conversations: ConversationSync;
  readonly #stream: UserStream;
  readonly #operations: Operations;
  readonly #members: MemberLists;
  readonly #handshake: Handshake;
  readonly #replies: Replies;

  /** `policy` replaces some of the machine's decisions (policy.ts); only tests pass one, to plant a wrong decision. */
  constructor(options: Partial<ClientOptions> & { deviceId: string }, deps: ClientDeps, policy: Partial<ClientPolicy> = {}) {
    this.options = { ...defaultClientOptions, ...options };
    this.#deps = deps;
    const ctx = this.#context({ ...correctPolicy, ...policy });
    const output = (o: ClientOutput) => this.#outputs.push(o);
    this.#conversations = new ConversationSync(ctx);
    this.#stream = new UserStream(ctx, this.#conversations);
    this.#operations = new Operations(ctx);
    this.#members = new MemberLists(ctx, this.#operations);
    this.#handshake = new Handshake(ctx, this.#stream, output);
    this.#connection = new Connection(this.options, deps, {
      output,
      opened: () => this.#handshake.opened(),
      dropped: () => {
        this.#operations.connectionLost();
        this.#conversations.connectionLost();
        this.#stream.connectionLost();
      },
      pinged: () => this.#stream.heartbeat(),
    });
    this.#replies = new Replies({
      connection: this.#connection,
      handshake: this.#handshake,
      stream: this.#stream,
      conversations: this.#conversations,
      operations: this.#operations,
      authenticated: () => {
        if (this.#deviceState !== DeviceState.FOREGROUND || this.#pushService !== "" || this.#viewing !== "") this.#announceDeviceState();
        this.#conversations.pullAll();
      },
    });
  }

  // ---- inputs from the runner -------------------------------------------

  /**
   * CLI-1, CLI-5: before start, take back what a previous run of this device
   * persisted (undefined: nothing, a first run), and from now on hand out
   * "persist" outputs whenever the durable state changes. A machine on which
   * restore() is never called persists nothing. Throws for a state of
   * another device or an unknown layout: starting without it would lose its
   * outbox silently.
   */
  restore(state: PersistedClientState | undefined, now: number): void {
    if (this.#started) throw new Error("restore() comes before start()");
    this.#now = now;
    this.#persisting = true;
    if (state === undefined) return;
    if (state.version !== PERSISTED_STATE_VERSION) throw new Error(`persisted client state of version ${String(state.version)}; this client reads version ${PERSISTED_STATE_VERSION}`);
    if (state.deviceId !== this.options.deviceId) throw new Error(`persisted client state of device ${state.deviceId}, not ${this.options.deviceId}`);
    if (state.stream) this.#stream.restore(state.stream);
    this.#conversations.restore(state.conversations, state.defaultReceiveMode);
    this.#operations.restore(state.outbox);
    this.#persisted = state;
  }

  /** Begin: ask for a connection. After UNAUTHENTICATED, start again with a new token. */
  start(now: number): void {
    this.#started = true;
    this.#now = now;
    this.#connection.start(now);
    if (this.#connection.state === "OFFLINE") this.tick(now);
  }

  /** The transport connection asked for is open. News of any other connection is ignored. */
  connected(connection: number, now: number): void {
    this.#now = now;
    this.#connection.connected(connection, now);
  }

  /** The transport connection closed, or could not be opened. News of any other connection is ignored. */
  disconnected(connection: number, now: number): void {
    this.#now = now;
    this.#connection.disconnected(connection, now);
  }

  /** Bytes of a frame arrived: the server is alive, however long a large frame takes to cross (HB-4). */
  peerActive(now: number): void {
    this.#now = now;
    const link = this.#connection.link;
    if (link) link.lastReceivedAt = now;
  }

  frameReceived(frame: Frame, now: number): void {
    this.#now = now;
    const link = this.#connection.link;
    if (!link) return;
    link.lastReceivedAt = now;
    const body = frame.body;
    if (body.case === undefined || !maySend("server", body.case)) {
      return this.#connection.abandon("fatal_error", now, ErrorCode.PROTOCOL_VIOLATION, `unexpected ${body.case ?? "frame"} from the server`, "ENV-7");
    }
    if (!link.authenticated && !BEFORE_AUTHENTICATED.has(body.case)) {
      return this.#connection.abandon("fatal_error", now, ErrorCode.PROTOCOL_VIOLATION, `${body.case} before authenticated`, "CONN-11");
    }
    switch (body.case) {
      case "ping":
        this.#send(create(FrameSchema, { body: { case: "pong", value: { nonce: body.value.nonce } } }));
        return;
      case "pong":
        this.#stream.pong(body.value.headCursor);
        return;
      case "deliver":
        this.#stream.pushed(body.value);
        return;
      case "goAway":
        this.#connection.goAway(body.value.reconnectDelayMs, now);
        return;
      // EPH-1: ephemeral notices go to the application as they come; nothing is kept or acknowledged.
      case "typing":
        this.#outputs.push({ kind: "app", event: { kind: "typing", conversationId: body.value.conversationId, userId: body.value.userId, typing: body.value.typing, expiresInMs: body.value.expiresInMs } });
        return;
      case "presence":
        this.#outputs.push({ kind: "app", event: { kind: "presence", userId: body.value.userId, online: body.value.online, lastSeenMs: body.value.lastSeenMs } });
        return;
    }
    if (body.case === "error" && body.value.code === ErrorCode.SESSION_REPLACED) return this.#connection.end("session_replaced", now, true); // AUTH-4
    const pending = link.take(frame.requestId);
    if (pending === undefined) return; // a report, or an answer already taken
    if (body.case === "error") this.#replies.refused(pending, body.value, now);
    else this.#replies.answered(link, pending, body, now);
    this.#operations.flush();
    if (this.#syncDeferred) {
      this.#syncDeferred = false;
      this.#stream.syncIfBehind();
      this.#conversations.pullAll();
    }
  }

  /** The server sent something this client could not read. */
  inputError(error: ImwireError, now: number): void {
    this.#now = now;
    if (!this.#connection.link) return;
    this.#send(errorFrameFor(error));
    if (error.closesConnection) this.#connection.abandon("fatal_error", now);
  }

  tick(now: number): void {
    this.#now = now;
    const link = this.#connection.tick(now);
    if (!link) return;
    if (this.options.lossyTransport) this.#replies.expireSyncRequests(link, now, this.options.attemptTimeoutMs);
    this.#stream.tickGap(now);
    this.#conversations.tick(now);
    this.#operations.flush();
    this.#stream.tickAck(now);
  }

  nextWakeup(): number | undefined {
    const link = this.#connection.link;
    let next = this.#connection.nextWakeup();
    if (link) {
      next = Math.min(next, this.#stream.nextWakeup, this.#conversations.nextWakeup);
      if (mayRequest(this.#connection.state)) {
        const oldestSync = this.options.lossyTransport ? link.oldestSyncSentAt() : NEVER;
        next = Math.min(next, this.#operations.nextWakeup(link), oldestSync + this.options.attemptTimeoutMs);
      }
    }
    return next === NEVER ? undefined : next;
  }

  takeOutputs(): ClientOutput[] {
    this.#checkpoint();
    const outputs = this.#outputs;
    this.#outputs = [];
    return outputs;
  }

  // ---- application commands ---------------------------------------------

  /** Send a message; returns its client_message_id, which "sent" or "failed" events name. */
  send(conversationId: string, content: MessageInitShape<typeof MessageContentSchema>, now: number, extra: { replyToSeq?: bigint; threadRootSeq?: bigint } = {}): string {
    const clientMessageId = this.#deps.newId();
    // THR-1: a reply into a thread carries its root.
    const thread = extra.threadRootSeq ? { threadRootSeq: extra.threadRootSeq } : {};
    return this.#operation(clientMessageId, { case: "sendMessage", value: { conversationId, clientMessageId, content, replyToSeq: extra.replyToSeq ?? 0n, ...thread } }, now);
  }

  /**
   * ACT-1: edit, redact or react to the message at `targetSeq`; returns the
   * action's client_message_id (its idempotency key, kept across retries),
   * which "sent" or "failed" events name. EXT-5: only with
   * FEATURE_MESSAGE_ACTIONS in force; otherwise it fails with
   * ERROR_CODE_UNKNOWN_FRAME without sending anything.
   */
  act(conversationId: string, targetSeq: bigint, action: MessageInitShape<typeof ActOnMessageSchema>["action"], now: number): string {
    const clientMessageId = this.#deps.newId();
    return this.#operation(clientMessageId, { case: "actOnMessage", value: { conversationId, clientMessageId, targetSeq, action } }, now);
  }

  /**
   * EPH-2: tell the members viewing the conversation that the user is (or
   * stopped) typing. A notice, never retried or kept; dropped unless
   * FEATURE_EPHEMERAL is in force on a ready connection.
   */
  setTyping(conversationId: string, typing: boolean, now: number): boolean {
    this.#now = now;
    if (this.#connection.state !== "READY" || !this.features.has(Feature.EPHEMERAL)) return false;
    this.#send(create(FrameSchema, { body: { case: "setTyping", value: { conversationId, typing } } }));
    return true;
  }

  /** EPH-5: hide or share the user's presence (an operation, answered presence_sharing in a "done" event). */
  setPresenceSharing(hidden: boolean, now: number): string {
    return this.#operation(this.#deps.newId(), { case: "setPresenceSharing", value: { hidden } }, now);
  }

  /** THR-2: one page of a thread (its root and replies after `afterSeq`); the page comes in a "done" event. */
  fetchThread(conversationId: string, rootSeq: bigint, now: number, extra: { afterSeq?: bigint; limit?: number } = {}): string {
    return this.#operation(this.#deps.newId(), { case: "syncConversation", value: { conversationId, threadRootSeq: rootSeq, afterSeq: extra.afterSeq ?? 0n, limit: extra.limit ?? 0 } }, now);
  }

  /** THR-3: move the user's marker of a thread. */
  markThreadRead(conversationId: string, rootSeq: bigint, seq: bigint, now: number): string {
    return this.#operation(this.#deps.newId(), { case: "markRead", value: { conversationId, seq, threadRootSeq: rootSeq } }, now);
  }

  /** RCPT-4: who of the other members holds and has read the event at seq; answered by a "done" event carrying `receipts`. */
  listReceipts(conversationId: string, seq: bigint, now: number): string {
    return this.#operation(this.#deps.newId(), { case: "listReceipts", value: { conversationId, seq } }, now);
  }

  /** HID-1: delete for me: hide an event from every device of this user (not from anyone else). */
  hideMessage(conversationId: string, seq: bigint, now: number): string {
    return this.#operation(this.#deps.newId(), { case: "hideMessage", value: { conversationId, seq } }, now);
  }

  /** HIS-2: an owner changes what a group's new members may read from before they joined. */
  setHistoryVisibility(conversationId: string, visibility: HistoryVisibility, now: number, historyEvents = 0): string {
    return this.#operation(this.#deps.newId(), { case: "setHistoryVisibility", value: { conversationId, visibility, historyEvents } }, now);
  }

  /** Open, create or add members to a conversation; creation gets an idempotency key (IDEM-6). */
  open(request: MessageInitShape<typeof OpenConversationSchema>, now: number): string {
    const id = this.#deps.newId();
    const needsKey = request.conversationId === undefined || request.conversationId === "";
    const value = { ...request, clientConversationId: needsKey ? request.clientConversationId || id : "" };
    return this.#operation(id, { case: "openConversation", value }, now);
  }

  leave(conversationId: string, now: number): string {
    return this.#operation(this.#deps.newId(), { case: "leaveConversation", value: { conversationId } }, now);
  }

  setReceiveMode(conversationId: string, mode: ReceiveMode, now: number): string {
    return this.#operation(this.#deps.newId(), { case: "setReceiveSettings", value: { settings: { conversationId, mode } } }, now);
  }

  markRead(conversationId: string, seq: bigint, now: number): string {
    return this.#operation(this.#deps.newId(), { case: "markRead", value: { conversationId, seq } }, now);
  }

  /**
   * CONV-10: every member of a conversation, read page after page (following
   * continue_after); returns an operation id, which one "members" event
   * (types.ts's MemberList says what it reflects) or one "failed" event
   * names. EXT-5: only with FEATURE_MEMBER_PAGES in force; otherwise it
   * fails with ERROR_CODE_UNKNOWN_FRAME without sending anything — at once
   * when this client does not offer the feature, else when a connection
   * without it would carry the request.
   */
  listMembers(conversationId: string, now: number, extra: { limit?: number } = {}): string {
    this.#now = now;
    const id = this.#deps.newId();
    this.#members.list(id, conversationId, extra.limit ?? 0);
    return id;
  }

  /** CONV-10: one page, the members after `afterUserId` ("" for the first); answered by a "done" event with the memberPage, or "failed", as listMembers. */
  listMembersPage(conversationId: string, now: number, extra: { afterUserId?: string; limit?: number } = {}): string {
    this.#now = now;
    const id = this.#deps.newId();
    this.#members.page(id, conversationId, extra.afterUserId ?? "", extra.limit ?? 0);
    return id;
  }

  /** RECV-5. Remembered across connections; returning to the foreground pulls what notify entries announced. */
  setDeviceState(state: DeviceState, now: number, push?: { service: string; token: string }, viewing?: string): void {
    this.#now = now;
    this.#deviceState = state;
    if (viewing !== undefined) this.#viewing = viewing;
    if (push) {
      this.#pushService = push.service;
      this.#pushToken = push.token;
    }
    if (mayRequest(this.#connection.state)) this.#announceDeviceState();
    if (state === DeviceState.FOREGROUND) this.#conversations.pullAll();
    this.#operations.flush();
  }

  /** Stop for good: close the connection and never reconnect; nothing more comes out of the machine. */
  stop(now: number): void {
    this.#now = now;
    this.#connection.stop();
  }

  // ---- what the application may read ------------------------------------

  get status(): ClientStatus {
    return this.#connection.status;
  }

  get epoch(): string | undefined {
    return this.#stream.epoch;
  }

  /** CUR-3: the cursor up to which the device holds its stream. */
  get cursor(): bigint {
    return this.#stream.held;
  }

  /** EXT-5: the features in force on the current connection (Welcome.features); none while there is no welcomed one. */
  get features(): ReadonlySet<Feature> {
    return this.#connection.link?.features ?? new Set();
  }

  /** CONN-3: why the last welcome was refused (a version or feature not offered, a value out of range); undefined once one is accepted. */
  get welcomeRefusal(): ImwireError | undefined {
    return this.#handshake.refusal;
  }

  get pendingOperations(): number {
    return this.#operations.size;
  }

  get defaultReceiveMode(): ReceiveMode {
    return this.#conversations.defaultMode;
  }

  /** The device's view of every conversation it may read, by id. */
  conversations(): Map<string, ConversationView> {
    return this.#conversations.views();
  }

  /** True when nothing is pending: no gap to fill, nothing unsent or unacknowledged. */
  get settled(): boolean {
    const link = this.#connection.link;
    if (!link || this.#connection.state !== "READY" || link.pending.size > 0 || this.#operations.size > 0 || this.#stream.hasGap) return false;
    return this.#stream.acknowledged && !this.#conversations.anyNeedsPull && !this.#conversations.unreported;
  }

  /** CLI-1: a "persist" output, if the durable state changed since the last one. */
  #checkpoint(): void {
    if (!this.#persisting) return;
    const stream = this.#stream.persisted();
    const state: PersistedClientState = {
      version: PERSISTED_STATE_VERSION,
      deviceId: this.options.deviceId,
      ...(stream && { stream }),
      defaultReceiveMode: this.#conversations.defaultMode,
      conversations: this.#conversations.persisted(),
      outbox: this.#operations.persisted(),
    };
    if (this.#persisted && samePersistedState(this.#persisted, state)) return;
    this.#persisted = state;
    this.#outputs.push({ kind: "persist", state });
  }

  #operation(id: string, body: RequestBody, now: number): string {
    this.#now = now;
    return this.#operations.add(id, body);
  }

  #announceDeviceState(): void {
    const push = this.#pushService === "" ? {} : { pushService: this.#pushService, pushToken: this.#pushToken };
    // EPH-2: which conversation the device shows, for its typing indicators; only where the feature is in force.
    const viewing = this.features.has(Feature.EPHEMERAL) ? { viewingConversationId: this.#viewing } : {};
    this.#operations.add(this.#deps.newId(), { case: "setDeviceState", value: { state: this.#deviceState, ...push, ...viewing } });
  }

  #send(frame: Frame): void {
    this.#outputs.push({ kind: "send", frame });
  }

  #emit(event: ClientEvent): void {
    this.#outputs.push({ kind: "app", event });
  }

  #context(policy: ClientPolicy): ClientContext {
    // The parts see the machine through this view; the getters read the machine's current values.
    const machine = this;
    return {
      options: this.options,
      deps: this.#deps,
      policy,
      get now() {
        return machine.#now;
      },
      get state() {
        return machine.#connection.state;
      },
      get link() {
        return machine.#connection.link;
      },
      get deviceState() {
        return machine.#deviceState;
      },
      request: (body, pending) => {
        const requestId = this.#connection.link!.register(pending);
        this.#send(create(FrameSchema, { requestId, body }));
        return requestId;
      },
      send: (frame) => this.#send(frame),
      emit: (event) => this.#emit(event),
      checkpoint: () => this.#checkpoint(),
      conversationHeld: () => this.#stream.ackSoon(),
      deferSync: () => {
        this.#syncDeferred = true;
      },
      transition: (input) => {
        this.#connection.transition(input);
      },
    };
  }
}

/** Whether two persisted states hold the same (the parts' objects are never mutated, so identity stands for equality). */
function samePersistedState(a: PersistedClientState, b: PersistedClientState): boolean {
  return (
    a.defaultReceiveMode === b.defaultReceiveMode &&
    sameStream(a.stream, b.stream) &&
    sameList(a.conversations, b.conversations, sameConversation) &&
    sameList(a.outbox, b.outbox, (x: PersistedOperation, y: PersistedOperation) => x.id === y.id && x.body === y.body && x.createdAt === y.createdAt)
  );
}

function sameStream(a: PersistedStream | undefined, b: PersistedStream | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.epoch === b.epoch && a.cursor === b.cursor && sameList(a.describedAt, b.describedAt, (x, y) => x[0] === y[0] && x[1] === y[1]);
}

function sameConversation(a: PersistedConversation, b: PersistedConversation): boolean {
  return (
    a.meta === b.meta &&
    a.metaSeq === b.metaSeq &&
    a.mode === b.mode &&
    a.readSeq === b.readSeq &&
    a.held === b.held &&
    a.knownHead === b.knownHead &&
    sameList(a.members, b.members, (x, y) => x === y) &&
    sameList(a.membershipLog, b.membershipLog, (x, y) => x === y)
  );
}

function sameList<T>(a: readonly T[], b: readonly T[], same: (x: T, y: T) => boolean): boolean {
  return a.length === b.length && a.every((x, i) => same(x, b[i]!));
}
